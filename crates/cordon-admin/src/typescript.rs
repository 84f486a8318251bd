//! The TypeScript declarations of every engine type the desktop front end receives, generated
//! from the Rust types with ts-rs: `ui/src/generated/engine.ts` is this module's output, and a
//! test (`tests/typescript.rs`) fails when the checked-in file differs, so the front end's types
//! cannot drift from what the engine serialises.
//!
//! The shell's own answer types (`Decided`, `PendingFeed`, update settings) are generated into
//! `ui/src/generated/shell.ts` the same way by `src-tauri/src/typescript.rs`.

use ts_rs::{Config, TS};

/// Where [`declarations`] is checked in, relative to the repository root.
pub const GENERATED_PATH: &str = "ui/src/generated/engine.ts";

/// Appends `T`'s declaration, exported, with its doc comment.
fn declare<T: TS>(cfg: &Config, out: &mut String) {
    out.push('\n');
    if let Some(docs) = T::docs() {
        out.push_str(&docs);
    }
    out.push_str("export ");
    out.push_str(&T::decl(cfg));
    out.push('\n');
}

/// The generated file's text: every type the settings window, the evidence viewer and the
/// approval window receive from the engine (integers as `number`: no count or seq the engine
/// writes comes near 2^53).
pub fn declarations() -> String {
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from the Rust types by cordon-admin (src/typescript.rs): do not edit.\n\
         // Regenerate: CORDON_WRITE_TS=1 cargo test -p cordon-admin --test typescript\n",
    );
    // Evidence: the viewer's rows, pages and full records.
    declare::<cordon_evidence::Outcome>(&cfg, &mut out);
    declare::<cordon_evidence::Phase>(&cfg, &mut out);
    declare::<cordon_evidence::Record>(&cfg, &mut out);
    declare::<cordon_evidence::browse::RecordRow>(&cfg, &mut out);
    declare::<cordon_evidence::browse::Page>(&cfg, &mut out);
    declare::<crate::EvidenceQuery>(&cfg, &mut out);
    declare::<crate::ActivityBucket>(&cfg, &mut out);
    declare::<crate::VerifySummary>(&cfg, &mut out);
    declare::<crate::ExportKind>(&cfg, &mut out);
    declare::<crate::Exported>(&cfg, &mut out);
    // Approvals: a held call as the approval window shows it.
    declare::<cordon_gateway::summary::Review>(&cfg, &mut out);
    // Engine status, policy editor, servers, secrets, agents.
    declare::<crate::Status>(&cfg, &mut out);
    declare::<crate::policy::SourceKind>(&cfg, &mut out);
    declare::<crate::PolicyFile>(&cfg, &mut out);
    declare::<crate::PolicyDoc>(&cfg, &mut out);
    declare::<crate::policy::DiagSeverity>(&cfg, &mut out);
    declare::<crate::Diagnostic>(&cfg, &mut out);
    declare::<crate::Validation>(&cfg, &mut out);
    declare::<crate::TestResult>(&cfg, &mut out);
    declare::<crate::TestRun>(&cfg, &mut out);
    declare::<crate::ReplayChange>(&cfg, &mut out);
    declare::<crate::Replay>(&cfg, &mut out);
    declare::<crate::Saved>(&cfg, &mut out);
    declare::<crate::PolicyEvent>(&cfg, &mut out);
    declare::<crate::Transport>(&cfg, &mut out);
    declare::<crate::ServerEntry>(&cfg, &mut out);
    declare::<crate::Settings>(&cfg, &mut out);
    declare::<crate::SecretEntry>(&cfg, &mut out);
    declare::<crate::AgentEntry>(&cfg, &mut out);
    // ts-rs leaves a space at the end of some lines.
    out.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}
