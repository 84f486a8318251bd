//! Cordon's desktop tray app: everything lives in the library so it can be tested.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    cordon_desktop::run()
}
