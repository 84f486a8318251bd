//! The TypeScript declarations of every engine type the desktop front end receives, generated
//! from the Rust types with ts-rs: `ui/src/generated/engine.ts` is this module's output, and a
//! test (`tests/typescript.rs`) fails when the checked-in file differs, so the front end's types
//! cannot drift from what the engine serialises.
//!
//! The shell's own answer types (`Decided`, `PendingFeed`, update settings) are generated into
//! `ui/src/generated/shell.ts` the same way by `src-tauri/src/typescript.rs`, with the helpers
//! here ([`Declarations`], [`check_generated`]).

use std::path::Path;

use ts_rs::{Config, TS};

/// Where [`declarations`] is checked in, relative to the repository root.
pub const GENERATED_PATH: &str = "ui/src/generated/engine.ts";

/// The environment variable that makes [`check_generated`] rewrite the file first.
pub const WRITE_VAR: &str = "CORDON_WRITE_TS";

/// A generated TypeScript file being built: a header, then exported declarations.
pub struct Declarations {
    cfg: Config,
    out: String,
}

impl Declarations {
    /// Starts a file with `header` (comment and import lines). Integers become `number`: no
    /// count, seq or duration the engine writes comes near 2^53.
    pub fn new(header: &str) -> Declarations {
        Declarations {
            cfg: Config::new().with_large_int("number"),
            out: header.to_owned(),
        }
    }

    /// Appends `T`'s declaration, exported, with its doc comment.
    pub fn declare<T: TS>(&mut self) -> &mut Declarations {
        self.out.push('\n');
        if let Some(docs) = T::docs() {
            self.out.push_str(&docs);
        }
        self.out.push_str("export ");
        self.out.push_str(&T::decl(&self.cfg));
        self.out.push('\n');
        self
    }

    /// The file's text (ts-rs leaves a space at the end of some lines: trimmed).
    pub fn text(&self) -> String {
        self.out
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect()
    }
}

/// The generated file's text: every type the settings window, the evidence viewer and the
/// approval window receive from the engine.
pub fn declarations() -> String {
    Declarations::new(
        "// Generated from the Rust types by cordon-admin (src/typescript.rs): do not edit.\n\
         // Regenerate: CORDON_WRITE_TS=1 cargo test -p cordon-admin --test typescript\n",
    )
    // Evidence: the viewer's rows, pages and full records.
    .declare::<cordon_evidence::Outcome>()
    .declare::<cordon_evidence::Phase>()
    .declare::<cordon_evidence::Record>()
    .declare::<cordon_evidence::browse::RecordRow>()
    .declare::<cordon_evidence::browse::Page>()
    .declare::<crate::EvidenceQuery>()
    .declare::<crate::ActivityBucket>()
    .declare::<crate::VerifySummary>()
    .declare::<crate::ExportKind>()
    .declare::<crate::Exported>()
    // Approvals: a held call as the approval window shows it.
    .declare::<cordon_gateway::summary::Review>()
    // Engine status, policy editor, servers, secrets, agents.
    .declare::<crate::Status>()
    .declare::<crate::policy::SourceKind>()
    .declare::<crate::PolicyFile>()
    .declare::<crate::PolicyDoc>()
    .declare::<crate::policy::DiagSeverity>()
    .declare::<crate::Diagnostic>()
    .declare::<crate::Validation>()
    .declare::<crate::TestResult>()
    .declare::<crate::TestRun>()
    .declare::<crate::ReplayChange>()
    .declare::<crate::Replay>()
    .declare::<crate::Saved>()
    .declare::<crate::PolicyEvent>()
    .declare::<crate::Transport>()
    .declare::<crate::ServerEntry>()
    .declare::<crate::Settings>()
    .declare::<crate::SecretEntry>()
    .declare::<crate::AgentEntry>()
    .text()
}

/// The check the tests run: the checked-in file at `path` is exactly `want`. With
/// [`WRITE_VAR`] set, the file is rewritten first (how a change to a Rust type is taken up).
pub fn check_generated(path: &Path, want: &str) -> Result<(), String> {
    if std::env::var_os(WRITE_VAR).is_some() {
        std::fs::write(path, want).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    if have == want {
        Ok(())
    } else {
        Err(format!(
            "{} is not what the Rust types generate: run the test again with {WRITE_VAR}=1 and \
             commit the result",
            path.display()
        ))
    }
}
