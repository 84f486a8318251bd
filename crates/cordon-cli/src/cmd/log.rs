//! `cordon log list|show|export|verify|session|key`: the evidence log from the command line.
//!
//! Reading commands open the database without a signing key (no keychain needed); `verify`
//! compares the checkpoints' key with `--trusted-key` or, failing that, the configured key store.

use std::fmt::Write as _;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use cordon_evidence::{
    DECISIONS, EvidenceLog, ExportFormat, Filter, KeyStore, Outcome, Phase, Record, SessionTrail,
    TOPIC_PREFIX, TrailEntry, TrustSource, VerifyOptions, VerifyReport,
};
use cordon_gateway::Config;
use cordon_gateway::config::SigningKey;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::EXIT_FINDING;

/// Where the evidence database is.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Evidence database (default: the `evidence` of --config or $CORDON_CONFIG, else
    /// $CORDON_EVIDENCE, else the default config file's, else <data dir>/cordon/evidence.db).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Cordon config file whose `evidence` key names the database.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// A team store instead of this machine's database (see `cordon fleet`).
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Query the team store (`postgres://…`) across machines instead of the local database.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// With --store: only this machine.
    #[arg(long, value_name = "NAME", requires = "store")]
    machine: Option<String>,
}

/// Which records to select.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Only this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Only this session id.
    #[arg(long)]
    session: Option<String>,
    /// Topic pattern, NATS style: `*` one token, `>` the rest (`git.*`, `job.mcp-bridge.read.>`).
    #[arg(long, value_name = "PATTERN")]
    action: Option<String>,
    /// Only this decision.
    #[arg(long, value_parser = DECISIONS)]
    decision: Option<String>,
    /// Only this outcome (allowed, denied, approved, rejected, timed_out, error).
    #[arg(long, value_parser = parse_outcome)]
    outcome: Option<Outcome>,
    /// Records at or after this time: RFC 3339, a date (YYYY-MM-DD, UTC) or relative (30m, 1h, 2d, 1w).
    #[arg(long, value_parser = parse_when, value_name = "WHEN")]
    since: Option<OffsetDateTime>,
    /// Records before this time (same forms as --since).
    #[arg(long, value_parser = parse_when, value_name = "WHEN")]
    until: Option<OffsetDateTime>,
    /// At most this many records.
    #[arg(long)]
    limit: Option<usize>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON record per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// Signed bundle for offline `cordon log verify --bundle`.
    Bundle,
}

/// Evidence log subcommands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// List records, newest first, as a table (or JSON).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Continue after this seq (the last seq of the previous page).
        #[arg(long, value_name = "SEQ")]
        after_seq: Option<u64>,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show one record in full, with its args and diff.
    Show {
        /// Record id (or a unique prefix of at least 6 characters).
        id: String,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Export records (oldest first) as JSON Lines, CSV or a verifiable bundle.
    Export {
        /// Output format.
        #[arg(long, value_enum)]
        format: Format,
        #[command(flatten)]
        filter: FilterArgs,
        /// Write to this file instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check the hash chain and the signed checkpoints (exit 1 naming the first bad record).
    Verify {
        /// Verify an exported bundle instead of the database.
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// Public key the checkpoints must be signed with: a file (PEM or hex) or 64 hex digits.
        /// Repeat for a rotated key.
        #[arg(long = "trusted-key", value_name = "KEY")]
        trusted_keys: Vec<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The audit trail of one agent session: files read and written, commands, pushes, denials.
    Session {
        /// Session id.
        id: String,
        /// Print the trail as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the public key (and fingerprint) of the configured signing key, for --trusted-key.
    Key {
        /// Cordon config file whose `signing_key` names the key (default: $CORDON_CONFIG, else
        /// the default config file).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Runs a log subcommand.
pub fn run(command: LogCommand) -> anyhow::Result<ExitCode> {
    match command {
        // Every field is named (no `..`): a filter added to `list` must be handled here too, or
        // this stops compiling. (This arm used to end in `..`, which silently dropped
        // --after-seq, and it left --action/--outcome/--since/--until out of the store query;
        // a refusal written in the local arm below never ran, because this arm catches every
        // --store call first.)
        LogCommand::List {
            filter:
                FilterArgs {
                    agent,
                    session,
                    action,
                    decision,
                    outcome,
                    since,
                    until,
                    limit,
                },
            after_seq,
            json,
            db: _,
            store:
                StoreArgs {
                    store: Some(store),
                    machine,
                },
        } => {
            if after_seq.is_some() && machine.is_none() {
                bail!(
                    "--after-seq with --store needs --machine: each machine numbers its own \
                     records, so a seq means nothing across machines"
                );
            }
            let when = |t: Option<OffsetDateTime>| -> anyhow::Result<Option<String>> {
                t.map(|t| t.format(&Rfc3339))
                    .transpose()
                    .map_err(Into::into)
            };
            super::fleet::list(
                &store,
                cordon_fleet::postgres::StoreFilter {
                    machine,
                    agent,
                    session,
                    action,
                    decision,
                    outcome: outcome.map(|o| o.as_str().to_owned()),
                    since: when(since)?,
                    until: when(until)?,
                    after_seq: after_seq
                        .map(i64::try_from)
                        .transpose()
                        .context("--after-seq is too large")?,
                    limit: Some(i64::try_from(limit.unwrap_or(50)).unwrap_or(i64::MAX)),
                    oldest_first: false,
                },
                json,
            )
        }
        LogCommand::List {
            filter,
            after_seq,
            json,
            db,
            store: _,
        } => {
            let log = open_read_only(&db)?;
            let mut filter = to_filter(&filter);
            filter.limit = Some(filter.limit.unwrap_or(50));
            filter.after_seq = after_seq;
            let records = log.query(&filter)?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &records)?;
                writeln!(out)?;
            } else {
                out.write_all(render_table(&records).as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Show { id, json, db } => {
            let log = open_read_only(&db)?;
            let Some(record) = log.get(&id)? else {
                bail!("no evidence record with id {id:?}");
            };
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &record)?;
                writeln!(out)?;
            } else {
                out.write_all(render_record(&record)?.as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Export {
            format,
            filter,
            output,
            db,
        } => {
            let log = open_read_only(&db)?;
            let mut filter = to_filter(&filter);
            filter.oldest_first = true;
            let format = match format {
                Format::Jsonl => ExportFormat::Jsonl,
                Format::Csv => ExportFormat::Csv,
                Format::Bundle => ExportFormat::Bundle,
            };
            let n = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    let mut writer = std::io::BufWriter::new(file);
                    let n = log.export(&filter, format, &mut writer)?;
                    writer
                        .into_inner()
                        .map_err(|e| e.into_error())
                        .and_then(|f| f.sync_all())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    n
                }
                None => log.export(&filter, format, &mut std::io::stdout().lock())?,
            };
            if let Some(path) = output {
                eprintln!("exported {n} records to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Verify {
            trusted_keys,
            json,
            store:
                StoreArgs {
                    store: Some(store),
                    machine,
                },
            ..
        } => super::fleet::verify(&store, &trusted_keys, machine.as_deref(), json),
        LogCommand::Verify {
            bundle,
            trusted_keys,
            json,
            db,
            store: _,
        } => verify(bundle.as_deref(), &trusted_keys, json, &db),
        LogCommand::Session {
            id,
            json,
            store:
                StoreArgs {
                    store: Some(store),
                    machine,
                },
            ..
        } => super::fleet::list(
            &store,
            cordon_fleet::postgres::StoreFilter {
                machine,
                session: Some(id),
                oldest_first: true,
                ..Default::default()
            },
            json,
        ),
        LogCommand::Session { id, json, db, .. } => {
            let log = open_read_only(&db)?;
            let trail = log.session(&id)?;
            if trail.records == 0 {
                bail!("no evidence records for session {id:?}");
            }
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &trail)?;
                writeln!(out)?;
            } else {
                out.write_all(render_session(&trail).as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Key { config } => {
            let store = key_store(config.as_deref())?;
            let Some(key) = store.existing_public_key()? else {
                bail!(
                    "no evidence signing key exists yet in {}",
                    describe_store(&store)
                );
            };
            println!("{}", cordon_evidence::fingerprint(&key));
            println!("{}", cordon_evidence::public_key_hex(&key));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn verify(
    bundle: Option<&Path>,
    trusted_keys: &[String],
    json: bool,
    db: &DbArgs,
) -> anyhow::Result<ExitCode> {
    let mut keys = Vec::new();
    for k in trusted_keys {
        keys.push(read_trusted_key(k)?);
    }
    let mut source_note = None;
    if keys.is_empty() {
        // Compare with this machine's signing key when it is reachable.
        match key_store(db.config.as_deref()).and_then(|s| Ok((s.existing_public_key()?, s))) {
            Ok((Some(key), store)) => {
                keys.push(key);
                source_note = Some(format!("the signing key in {}", describe_store(&store)));
            }
            Ok((None, store)) => eprintln!(
                "warning: no signing key in {}: trusting the key recorded in the data itself; \
                 pass --trusted-key to pin it",
                describe_store(&store)
            ),
            Err(e) => eprintln!(
                "warning: cannot read the signing key ({e:#}): trusting the key recorded in the \
                 data itself; pass --trusted-key to pin it"
            ),
        }
    }
    let options = VerifyOptions { trusted_keys: keys };
    let report = match bundle {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open bundle {}", path.display()))?;
            cordon_evidence::verify_bundle_with(BufReader::new(file), &options)?
        }
        None => open_read_only(db)?.verify_with(&options)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_report(&report, source_note.as_deref()));
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDING)
    })
}

pub(super) fn render_report(report: &VerifyReport, source_note: Option<&str>) -> String {
    let mut s = String::new();
    let key = report
        .trusted_fingerprints
        .first()
        .cloned()
        .unwrap_or_else(|| "none".to_string());
    match &report.failure {
        None => {
            let _ = writeln!(
                s,
                "ok: {} records, {} checkpoints, key {key}",
                report.records, report.checkpoints
            );
        }
        Some(f) => {
            let id =
                f.id.as_deref()
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default();
            let at = f
                .seq
                .map(|q| format!("record {q}{id}: "))
                .unwrap_or_default();
            let _ = writeln!(s, "FAILED: {at}{}", f.message);
            let kind = serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let _ = writeln!(s, "  kind: {kind}");
        }
    }
    let trust = match (report.trust, source_note) {
        (TrustSource::Pinned, Some(note)) => format!("trusted key: {note}"),
        (TrustSource::Pinned, None) => "trusted key: pinned with --trusted-key".to_string(),
        (TrustSource::KeyStore, _) => "trusted key: the signing key in the key store".to_string(),
        (TrustSource::Recorded, _) => {
            "trusted key: NOT PINNED (the first key recorded in the data \
             itself; compare its fingerprint with a known one or pass --trusted-key)"
                .to_string()
        }
    };
    let _ = writeln!(s, "  {trust}");
    for k in &report.keys {
        let _ = writeln!(
            s,
            "  key {} signed {} checkpoint(s){}",
            k.fingerprint,
            k.checkpoints,
            if k.trusted { "" } else { " (NOT TRUSTED)" }
        );
    }
    if report.elided > 0 {
        let _ = writeln!(
            s,
            "  {} records present as hashes only (filtered bundle)",
            report.elided
        );
    }
    if report.intents > 0 {
        let _ = writeln!(
            s,
            "  {} write-ahead intent(s), {} without an outcome yet (calls in flight or held; a crash's are closed as interrupted at the next start)",
            report.intents, report.open_intents
        );
    }
    if report.ok && report.unsigned_tail > 0 {
        let _ = writeln!(
            s,
            "  warning: the last {} record(s) are chained but not yet covered by a signed checkpoint",
            report.unsigned_tail
        );
    }
    if let Some(h) = &report.head_hash {
        let _ = writeln!(s, "  head: record {} {h}", report.head_seq);
    }
    let _ = writeln!(
        s,
        "  checked in {:.3}s ({:.0} records/s)",
        report.seconds, report.records_per_second
    );
    s
}

/// `--trusted-key`: a file holding a PEM or hex key, or the hex itself.
pub(super) fn read_trusted_key(text: &str) -> anyhow::Result<cordon_evidence::VerifyingKey> {
    let path = Path::new(text);
    let content = if path.is_file() {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    } else {
        text.to_string()
    };
    cordon_evidence::parse_public_key(&content).with_context(|| format!("--trusted-key {text}"))
}

/// The config file a log command follows, loaded by the gateway's own loader: `--config`, else
/// `CORDON_CONFIG` (an explicit file must load), else the default config file if it exists.
fn config_file(flag: Option<&Path>) -> anyhow::Result<Option<Config>> {
    let explicit = flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(cordon_gateway::config::CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let path = match explicit {
        Some(path) => path,
        None => match Config::default_path() {
            Some(path) if path.exists() => path,
            _ => return Ok(None),
        },
    };
    Config::load(&path)
        .map(Some)
        .with_context(|| format!("cannot use config {}", path.display()))
}

/// The signing key store: `CORDON_SIGNING_KEY` (`keychain` or `file:PATH`, with
/// `CORDON_KEYCHAIN_SERVICE`, default `cordon`) when set, else the config's `signing_key` and
/// `keychain_service` (the key the engine signs with), else the keychain.
fn key_store(config: Option<&Path>) -> anyhow::Result<KeyStore> {
    let service =
        || std::env::var("CORDON_KEYCHAIN_SERVICE").unwrap_or_else(|_| "cordon".to_string());
    let Ok(choice) = std::env::var("CORDON_SIGNING_KEY") else {
        return Ok(match config_file(config)? {
            Some(config) => match config.signing_key {
                SigningKey::Keychain => KeyStore::Keychain {
                    service: config.keychain_service,
                },
                SigningKey::File(path) => KeyStore::File(path),
            },
            None => KeyStore::Keychain { service: service() },
        });
    };
    if choice == "keychain" {
        return Ok(KeyStore::Keychain { service: service() });
    }
    match choice.strip_prefix("file:") {
        Some(path) if !path.is_empty() => Ok(KeyStore::File(PathBuf::from(path))),
        _ => bail!("CORDON_SIGNING_KEY must be `keychain` or `file:PATH`, not {choice:?}"),
    }
}

fn describe_store(store: &KeyStore) -> String {
    match store {
        KeyStore::Keychain { service } => format!("the OS keychain (service {service:?})"),
        KeyStore::File(path) => format!("the key file {}", path.display()),
        KeyStore::ReadOnly => "no key store".to_string(),
    }
}

/// The database: `--db`, else the `evidence` of the config given by `--config` or
/// `CORDON_CONFIG`, else `CORDON_EVIDENCE`, else the default config file's, else the default path.
/// (The engine opens the same one: the config's `evidence`.)
fn resolve_db(args: &DbArgs) -> anyhow::Result<PathBuf> {
    if let Some(db) = &args.db {
        return Ok(db.clone());
    }
    let explicit = args.config.is_some()
        || std::env::var_os(cordon_gateway::config::CONFIG_ENV).is_some_and(|v| !v.is_empty());
    if explicit && let Some(config) = config_file(args.config.as_deref())? {
        return Ok(config.evidence);
    }
    if let Some(env) = std::env::var_os("CORDON_EVIDENCE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(env));
    }
    if let Some(config) = config_file(None)? {
        return Ok(config.evidence);
    }
    cordon_evidence::default_path()
        .context("no data directory on this system: pass --db or set CORDON_EVIDENCE")
}

fn open_read_only(args: &DbArgs) -> anyhow::Result<EvidenceLog> {
    let path = resolve_db(args)?;
    if !path.exists() {
        bail!(
            "no evidence database at {} (nothing recorded yet? pass --db or set CORDON_EVIDENCE)",
            path.display()
        );
    }
    EvidenceLog::open(&path, KeyStore::ReadOnly)
        .with_context(|| format!("cannot open evidence database {}", path.display()))
}

fn to_filter(args: &FilterArgs) -> Filter {
    Filter {
        agent: args.agent.clone(),
        session: args.session.clone(),
        action: args.action.clone(),
        decision: args.decision.clone(),
        outcome: args.outcome,
        since: args.since,
        until: args.until,
        limit: args.limit,
        ..Filter::default()
    }
}

fn parse_outcome(text: &str) -> Result<Outcome, String> {
    Outcome::parse(text).ok_or_else(|| {
        "expected one of allowed, denied, approved, rejected, timed_out, error".to_string()
    })
}

/// RFC 3339, a plain date (UTC midnight) or a relative age (`30s`, `15m`, `1h`, `2d`, `1w`).
fn parse_when(text: &str) -> Result<OffsetDateTime, String> {
    parse_when_at(text, OffsetDateTime::now_utc())
}

fn parse_when_at(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    if let Ok(t) = OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339) {
        return Ok(t);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not RFC 3339, YYYY-MM-DD or an age like 1h, 2d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use s, m, h, d or w"
            ));
        }
    };
    let age = n
        .checked_mul(seconds)
        .ok_or_else(|| format!("{text:?} is too far back"))?;
    now.checked_sub(time::Duration::seconds(age))
        .ok_or_else(|| format!("{text:?} is too far back"))
}

/// Makes text safe for a terminal: control characters, escape sequences and bidi overrides
/// from a hostile agent are shown escaped, never interpreted (one owner: [`cordon_text`]).
/// `keep_newlines` keeps `\n` and `\t` as layout (diffs, pretty-printed args).
fn clean(text: &str, keep_newlines: bool) -> String {
    if keep_newlines {
        cordon_text::visible_lines(text).into_owned()
    } else {
        cordon_text::visible(text).into_owned()
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn short_action(action: &str) -> &str {
    action.strip_prefix(TOPIC_PREFIX).unwrap_or(action)
}

fn render_table(records: &[Record]) -> String {
    let header = [
        "SEQ", "TIME", "AGENT", "ACTION", "TARGET", "DECISION", "OUTCOME", "REVIEWER", "ID",
    ];
    let rows: Vec<[String; 9]> = records
        .iter()
        .map(|r| {
            [
                r.seq.to_string(),
                r.timestamp.clone(),
                truncate(&clean(&r.agent, false), 20),
                truncate(&clean(short_action(&r.action), false), 28),
                truncate(&clean(r.target.as_deref().unwrap_or("-"), false), 40),
                r.decision.clone(),
                match r.phase {
                    // An intent says what is about to happen; its outcome record follows.
                    Some(Phase::Intent) => format!("intent:{}", r.outcome),
                    _ => r.outcome.as_str().to_string(),
                },
                truncate(&clean(r.reviewer.as_deref().unwrap_or("-"), false), 24),
                r.id.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths.iter()).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(cell);
            if i + 1 < cells.len() {
                l.extend(std::iter::repeat_n(
                    ' ',
                    w.saturating_sub(cell.chars().count()),
                ));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    if records.is_empty() {
        out.push_str("(no records)\n");
    }
    out
}

fn render_record(r: &Record) -> anyhow::Result<String> {
    let opt = |o: &Option<String>| clean(o.as_deref().unwrap_or("-"), false);
    let fields: Vec<(&str, String)> = vec![
        ("id", r.id.clone()),
        ("seq", r.seq.to_string()),
        ("timestamp", r.timestamp.clone()),
        ("agent", clean(&r.agent, false)),
        ("session_id", clean(&r.session_id, false)),
        ("server", clean(&r.server, false)),
        ("tool", clean(&r.tool, false)),
        ("action", clean(&r.action, false)),
        ("target", opt(&r.target)),
        ("risk_tags", clean(&r.risk_tags.join(", "), false)),
        ("decision", r.decision.clone()),
        ("rule_id", opt(&r.rule_id)),
        ("reason", clean(&r.reason, false)),
        ("policy_version", clean(&r.policy_version, false)),
        ("reviewer", opt(&r.reviewer)),
        ("approval_channel", opt(&r.approval_channel)),
        ("outcome", r.outcome.as_str().to_string()),
        ("phase", r.phase.map_or("-", Phase::as_str).to_string()),
        ("intent_id", opt(&r.intent_id)),
        ("duration_ms", r.duration_ms.to_string()),
        ("error", opt(&r.error)),
        ("prev_hash", r.prev_hash.clone()),
        ("hash", r.hash.clone()),
    ];
    let mut s = String::new();
    for (name, value) in fields {
        let _ = writeln!(s, "{:<15} {value}", format!("{name}:"));
    }
    let _ = writeln!(s, "args:");
    for l in clean(&serde_json::to_string_pretty(&r.args)?, true).lines() {
        let _ = writeln!(s, "  {l}");
    }
    match &r.diff {
        Some(diff) => {
            let _ = writeln!(s, "diff:");
            for l in clean(diff, true).lines() {
                let _ = writeln!(s, "  {l}");
            }
        }
        None => {
            let _ = writeln!(s, "diff:           -");
        }
    }
    Ok(s)
}

fn render_session(t: &SessionTrail) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "session {}", clean(&t.session_id, false));
    let _ = writeln!(
        s,
        "  agents:          {}",
        clean(&t.agents.join(", "), false)
    );
    let _ = writeln!(s, "  records:         {}", t.records);
    let _ = writeln!(
        s,
        "  from:            {}",
        t.first_timestamp.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        s,
        "  to:              {}",
        t.last_timestamp.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        s,
        "  duration:        {} (wall), {} in calls",
        ms(t.wall_ms),
        ms(t.total_call_ms)
    );
    let _ = writeln!(
        s,
        "  policy versions: {}",
        clean(&t.policy_versions.join(", "), false)
    );
    let sections: [(&str, &[TrailEntry]); 7] = [
        ("Files read", &t.files_read),
        ("Files written", &t.files_written),
        ("Commands run", &t.commands),
        ("Pushes", &t.pushes),
        ("Other calls", &t.other),
        (
            "Denied, rejected, timed out, failed or interrupted",
            &t.denials,
        ),
        (
            "In flight or held now (intent recorded, no outcome yet)",
            &t.in_flight,
        ),
    ];
    for (title, entries) in sections {
        let _ = writeln!(s, "\n{title} ({}):", entries.len());
        for e in entries {
            let mut who = String::new();
            if let Some(r) = &e.reviewer {
                who = format!("  by {}", clean(r, false));
            }
            let mut why = String::new();
            if matches!(e.outcome, Outcome::Allowed | Outcome::Approved) {
                if e.outcome == Outcome::Approved {
                    why = " approved".to_string();
                }
            } else {
                why = format!(
                    " {} ({}{})",
                    e.outcome,
                    e.rule_id
                        .as_deref()
                        .map(|r| format!("{}: ", clean(r, false)))
                        .unwrap_or_default(),
                    clean(&e.reason, false)
                );
            }
            let _ = writeln!(
                s,
                "  {}  {:<20} {}{why}{who}  [{}]",
                e.timestamp,
                clean(short_action(&e.action), false),
                clean(e.target.as_deref().unwrap_or("-"), false),
                e.seq
            );
        }
    }
    s
}

fn ms(n: u64) -> String {
    if n < 1000 {
        format!("{n} ms")
    } else if n < 60_000 {
        format!("{:.1} s", n as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", n / 60_000, (n % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_parses_relative_dates_and_rfc3339() {
        let now = time::macros::datetime!(2026-04-02 12:00:00 UTC);
        assert_eq!(
            parse_when_at("1h", now).unwrap(),
            time::macros::datetime!(2026-04-02 11:00:00 UTC)
        );
        assert_eq!(
            parse_when_at("2d", now).unwrap(),
            time::macros::datetime!(2026-03-31 12:00:00 UTC)
        );
        assert_eq!(
            parse_when_at("2026-04-01", now).unwrap(),
            time::macros::datetime!(2026-04-01 00:00:00 UTC)
        );
        assert_eq!(
            parse_when_at("2026-04-01T10:41:55+02:00", now).unwrap(),
            time::macros::datetime!(2026-04-01 08:41:55 UTC)
        );
        for bad in ["", "h", "1y", "yesterday", "99999999999999999999d", "-1h"] {
            assert!(parse_when_at(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_evidence_and_key_come_from_the_gateways_loader() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cordon.yaml");
        std::fs::write(
            &cfg,
            "evidence: data/ev.db  # here\nsigning_key: file:keys/k.pem\n",
        )
        .unwrap();
        let config = config_file(Some(&cfg)).unwrap().unwrap();
        assert_eq!(config.evidence, dir.path().join("data/ev.db"));
        assert_eq!(
            config.signing_key,
            SigningKey::File(dir.path().join("keys/k.pem"))
        );
        assert!(config_file(Some(&dir.path().join("missing.yaml"))).is_err());
    }

    #[test]
    fn terminal_output_escapes_control_characters() {
        // One escaping owner (cordon-text): C0 controls as `\xNN`, bidi overrides by code point.
        assert_eq!(clean("a\u{1b}[31mred\nb", false), "a\\x1b[31mred\\nb");
        assert_eq!(clean("a\nb\u{7}", true), "a\nb\\x07");
        assert_eq!(clean("x\u{202e}gpj.exe\r", true), "x\\u{202e}gpj.exe\\r");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
