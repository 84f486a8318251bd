//! Cordon's desktop tray app: everything lives in the library so it can be tested.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    // Before anything else runs (no other thread exists yet): see the function's doc.
    cordon_desktop::prefer_software_webkit();
    cordon_desktop::run()
}
