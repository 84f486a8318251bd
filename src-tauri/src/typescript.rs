//! The TypeScript declarations of the shell's own answer types, generated from the Rust types
//! with ts-rs: `ui/src/generated/shell.ts` is this module's output, and `tests/typescript.rs`
//! fails when the checked-in file differs. The engine's types are generated the same way by
//! cordon-admin (`ui/src/generated/engine.ts`); [`DesktopError`](crate::core::DesktopError)
//! serialises by hand and is declared in `ui/src/types.ts`.

use cordon_admin::typescript::Declarations;

/// Where [`declarations`] is checked in, relative to the repository root.
pub const GENERATED_PATH: &str = "ui/src/generated/shell.ts";

/// The generated file's text.
pub fn declarations() -> String {
    Declarations::new(
        "// Generated from the Rust types by src-tauri (src/typescript.rs): do not edit.\n\
         // Regenerate: CORDON_WRITE_TS=1 cargo test --test typescript (in src-tauri)\n\
         import type { Review } from \"./engine\";\n",
    )
    .declare::<crate::commands::approvals::PendingFeed>()
    .declare::<crate::core::Decided>()
    .declare::<crate::updates::UpdateSettings>()
    .declare::<crate::updates::CheckOutcome>()
    .text()
}
