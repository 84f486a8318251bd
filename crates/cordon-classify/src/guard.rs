//! Paths that need more than a file-change review: places that run code later (persistence)
//! and Cordon's own state (self-protection).
//!
//! Both are matched on path components, case-insensitively, so `~/.bashrc`,
//! `/home/u/.bashrc` and a symlink's resolved target all count; the match is lexical and pure.
//!
//! - **Persistence** ([`persistence`]): a write into `.git/config`, `.git/hooks/`,
//!   `.gitattributes`, shell startup files, `~/.ssh/authorized_keys`, crontabs, systemd units,
//!   autostart entries, `.envrc`, editor task files... runs code the next time something
//!   ordinary happens (`git status`, a new shell, a login). Such a write gains the
//!   `persistence` tag and a reason; the silent ones (they run without anyone opening
//!   anything) also gain `persistence-silent`.
//! - **Cordon's state** ([`CordonPaths`]): its config, policies, evidence database (and
//!   `-wal`/`-shm`), signing key, data and socket directories, tool pins, and the agent config
//!   and hook files it installs. Any call touching them, read or write, becomes
//!   `cordon.state`.

use serde::{Deserialize, Serialize};

/// Where a persistence target runs code, and whether it does so silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    /// Why writing here runs code later.
    pub reason: &'static str,
    /// It runs without anyone opening anything (a hook, a shell start-up file, cron, a login).
    pub silent: bool,
}

fn comps_of(path: &str) -> Vec<String> {
    let cut = path.split('\0').next().unwrap_or(path);
    cut.to_lowercase()
        .split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
        .collect()
}

/// Whether `comps` contains `seq` as consecutive components.
fn has_seq(comps: &[String], seq: &[&str]) -> bool {
    seq.len() <= comps.len()
        && comps
            .windows(seq.len())
            .any(|w| w.iter().zip(seq).all(|(a, b)| a == b))
}

/// Whether `comps` ends with `seq`.
fn ends_with(comps: &[String], seq: &[&str]) -> bool {
    comps.len() >= seq.len()
        && comps
            .iter()
            .rev()
            .zip(seq.iter().rev())
            .all(|(a, b)| a == b)
}

/// The persistence target a written path is, if any.
pub fn persistence(path: &str) -> Option<Persistence> {
    let comps = comps_of(path);
    let base = comps.last().map(String::as_str).unwrap_or("");
    let silent = |reason| {
        Some(Persistence {
            reason,
            silent: true,
        })
    };
    let held = |reason| {
        Some(Persistence {
            reason,
            silent: false,
        })
    };
    // Git: config (core.fsmonitor, core.pager, aliases, filters run on `git status`), hooks,
    // and the repository's own info/attributes.
    if has_seq(&comps, &[".git", "hooks"]) || base == "hooks" && comps.iter().any(|c| c == ".git") {
        return silent("git hooks run on commit, checkout, merge and push");
    }
    if ends_with(&comps, &[".git", "config"])
        || ends_with(&comps, &[".git", "info", "attributes"])
        || base == ".git"
        || (comps.iter().any(|c| c == ".git")
            && matches!(base, "config" | "config.worktree" | "commondir" | "gitdir"))
        || base == ".gitconfig"
        || ends_with(&comps, &[".config", "git", "config"])
        || ends_with(&comps, &[".config", "git", "attributes"])
        || ends_with(&comps, &["etc", "gitconfig"])
    {
        return silent(
            "git configuration runs programs (core.fsmonitor, core.pager, filters) on ordinary git commands",
        );
    }
    if base == ".gitattributes" || base == ".gitmodules" {
        return held("git attributes and submodules name filters and drivers that git runs");
    }
    // Shell start-up files.
    const RC: &[&str] = &[
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".bash_logout",
        ".profile",
        ".zshrc",
        ".zshenv",
        ".zprofile",
        ".zlogin",
        ".zlogout",
        ".kshrc",
        ".mkshrc",
        ".cshrc",
        ".tcshrc",
        ".login",
        ".logout",
        ".xprofile",
        ".xinitrc",
        ".xsession",
        ".xsessionrc",
        ".pam_environment",
        "bash.bashrc",
        "environment",
    ];
    if RC.contains(&base)
        && (base != "environment" || comps.iter().any(|c| c == "etc" || c == ".ssh"))
        || has_seq(&comps, &[".config", "fish"])
        || has_seq(&comps, &["etc", "profile.d"])
        || ends_with(&comps, &["etc", "profile"])
        || has_seq(&comps, &[".config", "environment.d"])
        || has_seq(&comps, &[".oh-my-zsh", "custom"])
    {
        return silent("shell start-up files run in every new shell");
    }
    // SSH.
    if ends_with(&comps, &[".ssh", "authorized_keys"])
        || ends_with(&comps, &[".ssh", "authorized_keys2"])
        || ends_with(&comps, &[".ssh", "rc"])
        || ends_with(&comps, &[".ssh", "environment"])
    {
        return silent("SSH runs or admits what authorized_keys and rc name on every login");
    }
    if ends_with(&comps, &[".ssh", "config"]) || has_seq(&comps, &[".ssh", "config.d"]) {
        return silent("ssh config runs ProxyCommand and LocalCommand on every connection");
    }
    // Scheduled and started jobs.
    if has_seq(&comps, &["var", "spool", "cron"])
        || comps
            .iter()
            .any(|c| c.starts_with("cron.") || c == "crontab" || c == "crontabs")
        || has_seq(&comps, &["etc", "cron.d"])
    {
        return silent("cron runs crontab entries on schedule");
    }
    if has_seq(&comps, &["systemd", "user"])
        || has_seq(&comps, &[".config", "systemd"])
        || has_seq(&comps, &["etc", "systemd"])
        || has_seq(&comps, &["lib", "systemd"])
    {
        return silent("systemd units run services and timers");
    }
    if has_seq(&comps, &[".config", "autostart"])
        || has_seq(&comps, &["xdg", "autostart"])
        || has_seq(&comps, &["library", "launchagents"])
        || has_seq(&comps, &["library", "launchdaemons"])
        || has_seq(&comps, &["start menu", "programs", "startup"])
    {
        return silent("autostart entries run at login");
    }
    // Held: they run code when someone opens, enters or builds something.
    if base == ".envrc" || base == ".env.rc" {
        return held("direnv runs .envrc when a shell enters the directory");
    }
    if has_seq(&comps, &[".vscode"])
        && matches!(
            base,
            "tasks.json" | "settings.json" | "launch.json" | "extensions.json"
        )
        || has_seq(&comps, &[".idea"])
            && (base == "workspace.xml" || comps.iter().any(|c| c == "runconfigurations"))
        || has_seq(&comps, &[".devcontainer"])
        || has_seq(&comps, &[".zed"]) && matches!(base, "tasks.json" | "settings.json")
    {
        return held(
            "editor task, launch and container files run commands when the project is opened or built",
        );
    }
    if has_seq(&comps, &[".husky"])
        || base == ".pre-commit-config.yaml"
        || base == ".lefthook.yml"
        || base == "lefthook.yml"
    {
        return held("commit-hook managers run these commands on every commit");
    }
    if matches!(
        base,
        ".npmrc" | ".yarnrc" | ".yarnrc.yml" | ".pnpmfile.cjs" | ".pypirc"
    ) || ends_with(&comps, &[".cargo", "config.toml"])
        || ends_with(&comps, &[".cargo", "config"])
        || base == "sitecustomize.py"
        || base == "usercustomize.py"
        || base.ends_with(".pth") && comps.iter().any(|c| c.contains("site-packages"))
    {
        return held(
            "package manager and interpreter settings run code on install, build or start-up",
        );
    }
    if ends_with(&comps, &[".local", "bin"]) || has_seq(&comps, &[".local", "bin"]) {
        return held("programs in ~/.local/bin shadow the ones the agent and you run");
    }
    if matches!(
        base,
        ".vimrc"
            | ".exrc"
            | ".gvimrc"
            | ".emacs"
            | ".nanorc"
            | "init.vim"
            | "init.lua"
            | ".inputrc"
    ) || has_seq(&comps, &[".config", "nvim"])
        || has_seq(&comps, &[".emacs.d"])
    {
        return held("editor start-up files run code when the editor starts");
    }
    None
}

/// Cordon's own files and directories, as the gateway knows them from its configuration.
/// Standard locations are recognised without it (by their path components); paths configured
/// elsewhere (`evidence: /srv/cordon.db`, `signing_key: file:...`) are added with
/// [`CordonPaths::with_path`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CordonPaths {
    /// Absolute, normalised files and directories (a directory covers everything under it).
    pub paths: Vec<String>,
}

impl CordonPaths {
    /// Standard locations computed from the platform's base directories (the gateway passes
    /// `dirs::config_dir()` and friends; the classifier itself does no I/O).
    pub fn standard(
        config_dir: Option<&str>,
        data_dir: Option<&str>,
        runtime_dir: Option<&str>,
    ) -> CordonPaths {
        let mut p = CordonPaths::default();
        for dir in [config_dir, data_dir, runtime_dir].into_iter().flatten() {
            p = p.with_path(&format!("{}/cordon", dir.trim_end_matches('/')));
        }
        p
    }

    /// Also protect this file or directory (and, for a database, its `-wal`/`-shm`).
    pub fn with_path(mut self, path: &str) -> CordonPaths {
        let n = crate::normalize_path(path, None);
        if n.is_empty() || n == "/" || n == "." {
            return self;
        }
        for extra in ["", "-wal", "-shm", "-journal"] {
            let p = format!("{n}{extra}");
            if !self.paths.contains(&p) {
                self.paths.push(p);
            }
            if !n.ends_with(".db") {
                break;
            }
        }
        self
    }

    /// Why a path is Cordon's own state, if it is.
    pub fn touches(&self, path: &str) -> Option<String> {
        let lower = path.to_lowercase();
        for p in &self.paths {
            let pl = p.to_lowercase();
            if lower == pl || lower.starts_with(&format!("{pl}/")) {
                return Some(format!("{path} is Cordon's own state ({p})"));
            }
        }
        standard_state(path).map(|what| format!("{path} is {what}"))
    }
}

/// Cordon's standard locations and the agent files it installs, by path components.
fn standard_state(path: &str) -> Option<&'static str> {
    let comps = comps_of(path);
    let base = comps.last().map(String::as_str).unwrap_or("");
    let cordon_dir = comps.iter().position(|c| c == "cordon").filter(|&k| {
        let parent = k
            .checked_sub(1)
            .and_then(|i| comps.get(i))
            .map(String::as_str);
        let grand = k
            .checked_sub(2)
            .and_then(|i| comps.get(i))
            .map(String::as_str);
        matches!(parent, Some(".config" | "application support" | "roaming"))
            || matches!((grand, parent), (Some(".local"), Some("share" | "state")))
            || matches!((grand, parent), (Some("appdata"), Some("local")))
            || matches!(grand, Some("user"))
                && parent.is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
            || matches!(parent, Some("library")) && comps.iter().any(|c| c == "application support")
    });
    if cordon_dir.is_some() {
        return Some("Cordon's configuration, policy, evidence or key directory");
    }
    if base == ".claude.json"
        || ends_with(&comps, &[".claude", "settings.json"])
        || ends_with(&comps, &[".claude", "settings.local.json"])
        || ends_with(&comps, &[".cursor", "mcp.json"])
        || ends_with(&comps, &[".cursor", "hooks.json"])
        || ends_with(&comps, &[".codex", "config.toml"])
        || ends_with(&comps, &[".codex", "hooks.json"])
        || ends_with(&comps, &[".gemini", "settings.json"])
        || ends_with(&comps, &["code", "user", "mcp.json"])
        || ends_with(&comps, &["code", "user", "settings.json"])
        || ends_with(&comps, &[".vscode", "mcp.json"])
        || ends_with(&comps, &["windsurf", "mcp_config.json"])
    {
        return Some("an agent configuration or hook file that puts the agent behind Cordon");
    }
    None
}

/// Deletes that wipe a whole tree: `/`, `/*`, the home directory, the workspace root.
pub(crate) fn catastrophic_target(raw: &str, normalised: &str) -> bool {
    let t = raw.trim();
    const TARGETS: &[&str] = &[
        "/",
        "/*",
        "/.",
        "/..",
        "~",
        "~/",
        "~/*",
        "~/.",
        "$HOME",
        "$HOME/",
        "$HOME/*",
        "${HOME}",
        "${HOME}/",
        "${HOME}/*",
        ".",
        "./",
        "*",
        "./*",
        "..",
        "../",
        "../*",
        ".*",
        "/home",
        "/home/*",
        "/Users",
        "/Users/*",
        "/root",
        "/etc",
        "/usr",
        "/var",
        "/bin",
        "/lib",
        "/boot",
        "/opt",
        "/srv",
        "C:\\",
        "C:/",
    ];
    TARGETS.contains(&t)
        || TARGETS.contains(&normalised)
        || normalised.is_empty()
        || normalised == "/"
        || normalised == "~"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistence_table() {
        let cases: &[(&str, Option<bool>)] = &[
            (".git/config", Some(true)),
            ("repo/.git/hooks/pre-commit", Some(true)),
            ("/home/u/.bashrc", Some(true)),
            ("~/.ssh/authorized_keys", Some(true)),
            ("~/.config/systemd/user/x.service", Some(true)),
            ("~/.config/autostart/x.desktop", Some(true)),
            ("/var/spool/cron/crontabs/u", Some(true)),
            (".gitattributes", Some(false)),
            (".envrc", Some(false)),
            (".vscode/tasks.json", Some(false)),
            ("src/main.rs", None),
            ("config", None),
            ("docs/git/config.md", None),
        ];
        for (p, want) in cases {
            assert_eq!(persistence(p).map(|x| x.silent), *want, "{p}");
        }
    }

    #[test]
    fn cordon_state_table() {
        let c = CordonPaths::default().with_path("/srv/ev.db");
        for p in [
            "~/.config/cordon/config.yaml",
            "/home/u/.local/share/cordon/evidence.db-wal",
            "/run/user/1000/cordon/cordon.sock",
            "/Users/u/Library/Application Support/cordon/evidence.db",
            "~/.claude/settings.json",
            "/home/u/.claude.json",
            "~/.cursor/hooks.json",
            "/srv/ev.db-shm",
        ] {
            assert!(c.touches(p).is_some(), "{p}");
        }
        for p in [
            "src/cordon/lib.rs",
            "crates/cordon-classify/src/lib.rs",
            "/srv/other.db",
        ] {
            assert!(c.touches(p).is_none(), "{p}");
        }
    }
}
