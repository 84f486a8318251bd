//! The front end's generated types match the Rust types: regenerating leaves the tree unchanged.

use std::path::Path;

use cordon_admin::typescript::{GENERATED_PATH, check_generated, declarations};

#[test]
fn generated_typescript_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(GENERATED_PATH);
    if let Err(why) = check_generated(&path, &declarations()) {
        panic!("{why}");
    }
}
