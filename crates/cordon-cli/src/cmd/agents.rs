//! `cordon agents list|install|uninstall`: onboarding coding agents.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use cordon_agents::{Agent, Bases, Options, Report};

/// Environment variable that replaces the home directory (tests, sandboxes).
pub const HOME_ENV: &str = "CORDON_AGENTS_HOME";

/// Agent onboarding subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Which agents are installed here and whether each is governed (and any drift: a bypassing
    /// server, a fail-closed setting removed, a stale path to Cordon's binary).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Route an agent's MCP servers through Cordon and set up its native-tool hooks.
    ///
    /// Agents: claude-code, cursor, codex, gemini, vscode, windsurf. The agent's files are backed
    /// up to `<file>.cordon-backup` first; a malformed file is refused and left untouched. Every
    /// entry and hook names this binary by its absolute path.
    Install {
        /// The agent.
        name: String,
        /// Show the change as a diff; write nothing.
        #[arg(long)]
        print: bool,
        /// Move the agent's other MCP servers out of its config and print them as Cordon
        /// upstreams (`servers:` YAML), so nothing bypasses Cordon.
        #[arg(long)]
        import: bool,
    },
    /// Put an agent's configuration back as it was before `install`.
    Uninstall {
        /// The agent.
        name: String,
        /// Show the change as a diff; write nothing.
        #[arg(long)]
        print: bool,
    },
}

fn bases() -> anyhow::Result<Bases> {
    if let Some(home) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
        return Ok(Bases::for_home(&PathBuf::from(home)));
    }
    let home = dirs::home_dir().context("cannot find the home directory")?;
    let config_dir = dirs::config_dir().unwrap_or_else(|| home.join(".config"));
    Ok(Bases {
        home,
        config_dir,
        path: std::env::var_os("PATH"),
    })
}

fn cordon_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running cordon binary")?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

/// Runs an agents subcommand.
pub fn run(command: AgentsCommand) -> anyhow::Result<ExitCode> {
    let bases = bases()?;
    match command {
        AgentsCommand::List { json } => list(&bases, json, cordon_binary().ok().as_deref()),
        AgentsCommand::Install {
            name,
            print,
            import,
        } => {
            let agent = Agent::parse(&name)?;
            let opts = Options {
                cordon: cordon_binary()?,
                import,
                dry_run: print,
            };
            let report = cordon_agents::install(agent, &bases, &opts)?;
            show_install(agent, &report, print);
            Ok(ExitCode::SUCCESS)
        }
        AgentsCommand::Uninstall { name, print } => {
            let agent = Agent::parse(&name)?;
            let opts = Options {
                cordon: cordon_binary()?,
                import: false,
                dry_run: print,
            };
            let report = cordon_agents::uninstall(agent, &bases, &opts)?;
            show_changes(&report, print);
            for note in &report.notes {
                println!("note: {note}");
            }
            if report.changes.is_empty() && report.notes.is_empty() {
                println!(
                    "{}: Cordon is not installed there: nothing to change",
                    agent.name()
                );
            } else if !print {
                println!(
                    "{} is no longer routed through Cordon; restart it",
                    agent.name()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(bases: &Bases, json: bool, cordon: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let statuses: Vec<_> = Agent::ALL
        .into_iter()
        .map(|a| cordon_agents::status_for(a, bases, cordon))
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12} {:<10} {:<10} {:<6} CONFIG",
        "AGENT", "INSTALLED", "GOVERNED", "HOOKS"
    );
    for s in &statuses {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let hooks = s.hooks.map_or("-", yes);
        println!(
            "{:<12} {:<10} {:<10} {:<6} {}",
            s.agent.name(),
            yes(s.installed),
            yes(s.governed),
            hooks,
            s.config.display()
        );
        if !s.ungoverned.is_empty() && s.problems.is_empty() {
            println!("    ungoverned MCP servers: {}", s.ungoverned.join(", "));
        }
        for problem in &s.problems {
            println!("    {problem}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show_changes(report: &Report, print: bool) {
    for change in &report.changes {
        if print {
            print!("{}", change.diff());
        } else {
            let action = if change.after.is_none() {
                "removed"
            } else {
                "updated"
            };
            println!("{action} {}", change.path.display());
        }
    }
    if print {
        println!("(--print: nothing was written)");
    }
}

fn show_install(agent: Agent, report: &Report, print: bool) {
    if report.changes.is_empty() {
        println!(
            "{} already routes through Cordon: nothing to change",
            agent.name()
        );
    } else {
        show_changes(report, print);
        if !print {
            println!(
                "{} now routes through `cordon mcp --agent {}` (originals backed up as <file>{}); restart it",
                agent.name(),
                agent.name(),
                cordon_agents::BACKUP_SUFFIX
            );
        }
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    if !report.ungoverned.is_empty() {
        println!(
            "warning: {} other MCP server(s) of {} bypass Cordon (ungoverned): {}",
            report.ungoverned.len(),
            agent.name(),
            report
                .ungoverned
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  run `cordon agents install {} --import` to move them under Cordon",
            agent.name()
        );
    }
    if let Some(yaml) = &report.import_yaml {
        let verb = if print { "would move" } else { "moved" };
        println!(
            "{verb} {} server(s) out of {}'s config; add them to Cordon's config as upstreams:\n",
            report.imported.len(),
            agent.name()
        );
        println!("{yaml}");
        for (server, var, secret) in &report.secrets {
            println!(
                "secret: {var} of server {server} looks like a credential (value not printed): store it with `cordon secret set {secret}`"
            );
        }
    }
}
