//! The front end's generated shell types match the Rust types: regenerating leaves the tree
//! unchanged.

use std::path::Path;

use cordon_admin::typescript::check_generated;
use cordon_desktop::typescript::{GENERATED_PATH, declarations};

#[test]
fn generated_typescript_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(GENERATED_PATH);
    if let Err(why) = check_generated(&path, &declarations()) {
        panic!("{why}");
    }
}
