//! The TypeScript declarations of the shell's own answer types, generated from the Rust types
//! with ts-rs: `ui/src/generated/shell.ts` is this module's output, and `tests/typescript.rs`
//! fails when the checked-in file differs. The engine's types are generated the same way by
//! cordon-admin (`ui/src/generated/engine.ts`); [`DesktopError`](crate::core::DesktopError)
//! serialises by hand and is declared in `ui/src/types.ts`.

use ts_rs::{Config, TS};

/// Where [`declarations`] is checked in, relative to the repository root.
pub const GENERATED_PATH: &str = "ui/src/generated/shell.ts";

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

/// The generated file's text (integers as `number`, as in the engine's file).
pub fn declarations() -> String {
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri (src/typescript.rs): do not edit.\n\
         // Regenerate: CORDON_WRITE_TS=1 cargo test --test typescript (in src-tauri)\n\
         import type { Review } from \"./engine\";\n",
    );
    declare::<crate::commands::approvals::PendingFeed>(&cfg, &mut out);
    declare::<crate::core::Decided>(&cfg, &mut out);
    declare::<crate::updates::UpdateSettings>(&cfg, &mut out);
    declare::<crate::updates::CheckOutcome>(&cfg, &mut out);
    // ts-rs leaves a space at the end of some lines.
    out.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}
