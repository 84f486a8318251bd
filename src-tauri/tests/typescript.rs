//! The front end's generated shell types match the Rust types: regenerating leaves the tree
//! unchanged.

use std::path::PathBuf;

#[test]
fn generated_typescript_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(cordon_desktop::typescript::GENERATED_PATH);
    let want = cordon_desktop::typescript::declarations();
    if std::env::var_os("CORDON_WRITE_TS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not what the Rust types generate: run \
         `CORDON_WRITE_TS=1 cargo test --test typescript` in src-tauri and commit the result",
        path.display()
    );
}
