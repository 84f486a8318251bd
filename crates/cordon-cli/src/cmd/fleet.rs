//! `cordon fleet setup|ship|status` and the `--store` forms of `cordon log list|session|verify`:
//! one evidence trail for a team's machines (see the `cordon-fleet` crate).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use cordon_fleet::postgres::{self, PinnedKeys, StoreFilter};
use cordon_gateway::config::Config;

use super::EXIT_FINDING;

/// Fleet subcommands.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create the team store's append-only tables (run once, as the store's owner) and grant a
    /// shipping role INSERT and SELECT only.
    Setup {
        /// PostgreSQL connection string of the team store (as its owner).
        #[arg(long, value_name = "URL")]
        store: String,
        /// The role machines ship as: granted INSERT and SELECT, never UPDATE or DELETE.
        #[arg(long, value_name = "ROLE")]
        grant: Option<String>,
    },
    /// Ship this machine's evidence now (the engine ships continuously when `fleet:` is set;
    /// this is for machines where it is not running, and for cron).
    Ship {
        /// Cordon config file (default: $CORDON_CONFIG, else the standard location).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// How far each sink has acknowledged this machine's chain.
    Status {
        /// Cordon config file (default: $CORDON_CONFIG, else the standard location).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs a fleet subcommand.
pub fn run(command: FleetCommand) -> anyhow::Result<ExitCode> {
    match command {
        FleetCommand::Setup { store, grant } => {
            runtime()?.block_on(async {
                let client = postgres::connect(&store).await?;
                postgres::setup(&client, grant.as_deref()).await
            })?;
            println!(
                "team store ready{}",
                grant
                    .map(|g| format!("; role {g} may insert and select only"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        FleetCommand::Ship { config } => {
            let (fleet, evidence) = fleet_of(config)?;
            let machine = fleet.machine.clone();
            let mut shipper = cordon_fleet::Shipper::new(fleet, &evidence)?;
            let reports = runtime()?.block_on(shipper.ship_once());
            let mut failed = false;
            for r in &reports {
                match &r.error {
                    None => println!(
                        "{}: shipped {} record(s), {} checkpoint(s); acknowledged up to seq {} (machine {machine})",
                        r.sink, r.records, r.checkpoints, r.acknowledged_seq
                    ),
                    Some(e) => {
                        failed = true;
                        eprintln!("{}: FAILED after {} record(s): {e}", r.sink, r.records);
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(EXIT_FINDING)
            } else {
                ExitCode::SUCCESS
            })
        }
        FleetCommand::Status { config, json } => {
            let (fleet, evidence) = fleet_of(config)?;
            let outbox =
                cordon_fleet::outbox::Outbox::open(&cordon_fleet::outbox::path_for(&evidence))?;
            let mut sinks = Vec::new();
            if fleet.postgres.is_some() {
                sinks.push("postgres");
            }
            if fleet.otlp.is_some() {
                sinks.push("otlp");
            }
            let mut rows = Vec::new();
            for sink in sinks {
                let c = outbox.get(sink)?;
                rows.push(serde_json::json!({
                    "sink": sink, "machine": fleet.machine, "acknowledged_seq": c.record_seq,
                    "checkpoints": c.checkpoints, "keys": c.keys,
                }));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!(
                        "{}: machine {} acknowledged up to seq {} ({} checkpoint(s))",
                        r["sink"].as_str().unwrap_or_default(),
                        r["machine"].as_str().unwrap_or_default(),
                        r["acknowledged_seq"],
                        r["checkpoints"]
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn fleet_of(config: Option<PathBuf>) -> anyhow::Result<(cordon_fleet::FleetConfig, PathBuf)> {
    let config = Config::resolve(config)?;
    let Some(spec) = &config.fleet else {
        bail!(
            "no `fleet:` section in {}: name a team store (postgres and/or otlp) first",
            config
                .source
                .as_ref()
                .map_or("the config".to_string(), |p| p.display().to_string())
        );
    };
    let fleet = cordon_gateway::fleet::fleet_config(spec, &config.keychain_service)?;
    Ok((fleet, config.evidence.clone()))
}

/// `--trusted-key [MACHINE=]KEY`: a key for one machine, or for every machine.
fn pinned_keys(texts: &[String]) -> anyhow::Result<PinnedKeys> {
    let mut pinned: PinnedKeys = BTreeMap::new();
    for text in texts {
        let (machine, key) = match text.split_once('=') {
            Some((m, k)) if !m.is_empty() && !m.contains('/') => (Some(m.to_string()), k),
            _ => (None, text.as_str()),
        };
        pinned
            .entry(machine)
            .or_default()
            .push(super::log::read_trusted_key(key)?);
    }
    Ok(pinned)
}

/// `cordon log verify --store URL`: every machine's chain and signatures in the team store.
pub fn verify(
    store: &str,
    trusted_keys: &[String],
    machine: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let pinned = pinned_keys(trusted_keys)?;
    let reports = runtime()?.block_on(async {
        let client = postgres::connect(store).await?;
        postgres::verify(&client, &pinned, machine).await
    })?;
    if reports.is_empty() {
        bail!(
            "the team store holds no evidence{}",
            machine
                .map(|m| format!(" for machine {m}"))
                .unwrap_or_default()
        );
    }
    let ok = reports.iter().all(|r| r.report.ok);
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        let mut s = String::new();
        for r in &reports {
            let _ = writeln!(s, "machine {}:", r.machine);
            for line in super::log::render_report(&r.report, None).lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        let failed: Vec<&str> = reports
            .iter()
            .filter(|r| !r.report.ok)
            .map(|r| r.machine.as_str())
            .collect();
        if failed.is_empty() {
            let _ = writeln!(s, "fleet ok: {} machine(s)", reports.len());
        } else {
            let _ = writeln!(s, "fleet FAILED: {}", failed.join(", "));
        }
        print!("{s}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDING)
    })
}

/// `cordon log list|session --store URL`: records across machines.
pub fn list(store: &str, filter: StoreFilter, json: bool) -> anyhow::Result<ExitCode> {
    let rows = runtime()?.block_on(async {
        let client = postgres::connect(store).await?;
        postgres::query(&client, &filter).await
    })?;
    if filter.session.is_some() && rows.is_empty() {
        bail!(
            "no evidence records for session {:?} in the team store",
            filter.session.unwrap_or_default()
        );
    }
    if json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(machine, r)| serde_json::json!({"machine": machine, "record": r}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:<16} {:>6} {:<14} {:<34} {:<17} {:<9} TARGET",
        "TIME", "MACHINE", "SEQ", "AGENT", "ACTION", "DECISION", "OUTCOME"
    );
    for (machine, r) in &rows {
        let target = r.target.as_deref().unwrap_or("");
        let _ = writeln!(
            s,
            "{:<24} {:<16} {:>6} {:<14} {:<34} {:<17} {:<9} {}",
            r.timestamp,
            visible(machine),
            r.seq,
            visible(&r.agent),
            visible(
                r.action
                    .strip_prefix(cordon_evidence::TOPIC_PREFIX)
                    .unwrap_or(&r.action)
            ),
            r.decision,
            r.outcome.as_str(),
            visible(target)
        );
    }
    print!("{s}");
    Ok(ExitCode::SUCCESS)
}

/// Control characters shown escaped: a record's text must not drive the terminal.
fn visible(text: &str) -> String {
    text.chars()
        .flat_map(char::escape_debug)
        .collect::<String>()
}
