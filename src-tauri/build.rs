//! Tauri's build step, with the app's commands declared so each window's capability file can
//! grant exactly the ones it needs (least privilege).

fn main() {
    // `generate_context!` needs the front end's dist folder. A fresh clone has none until
    // `scripts/desktop build` runs Vite; a stub page says so instead of failing to compile.
    let dist = std::path::Path::new("../ui/dist");
    if !dist.join("approval.html").exists() {
        let stub = "<!doctype html><meta charset=utf-8><title>Cordon</title>\
                    <p>The front end is not built: run <code>scripts/desktop build</code>.</p>";
        let made = std::fs::create_dir_all(dist).and_then(|()| {
            for page in ["approval.html", "evidence.html", "settings.html"] {
                std::fs::write(dist.join(page), stub)?;
            }
            Ok(())
        });
        if let Err(error) = made {
            println!("cargo::warning=cannot create a stub ui/dist: {error}");
        }
    }
    println!("cargo::rerun-if-changed=../ui/dist");
    let attributes =
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(&[
            "list_pending",
            "wait_pending",
            "get_approval",
            "approve",
            "deny",
            "engine_status",
            "set_paused",
            "set_autostart",
            "policy_get",
            "policy_validate",
            "policy_test",
            "policy_replay",
            "policy_save",
            "policy_events",
            "config_get",
            "server_save",
            "server_remove",
            "settings_save",
            "restart_engine",
            "secrets_list",
            "secret_set",
            "secret_remove",
            "agents_list",
            "agent_install",
            "agent_uninstall",
            "evidence_query",
            "evidence_record",
            "evidence_agents",
            "evidence_activity",
            "evidence_verify",
            "evidence_export",
            "get_update_settings",
            "set_update_settings",
            "check_for_updates",
        ]));
    if let Err(error) = tauri_build::try_build(attributes) {
        eprintln!("tauri build step failed: {error:#}");
        std::process::exit(1);
    }
}
