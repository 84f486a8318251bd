//! `cordon secret set|list|rm NAME`: upstream credentials in the OS keychain.
//!
//! Values are read from a hidden prompt (stdin is a terminal) or from stdin (piped), never from
//! the command line: argv is readable by every local user (`ps`, `/proc/PID/cmdline`) and lands
//! in shell history. Nothing here ever prints a value.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use cordon_gateway::Config;
use cordon_gateway::config::ServerSpec;
use cordon_secrets::{
    DEFAULT_SERVICE, MAX_SECRET_LEN, SERVICE_ENV, Secret, SecretName, SecretStore, SecretUsage,
    record_usage,
};

use super::{EXIT_FINDING, EXIT_USAGE};

/// Secret subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret (value from a hidden prompt or stdin, never from argv).
    Set {
        /// The secret's name, as referenced by `${keychain:NAME}` in the config.
        name: String,
        /// Refused: a value on the command line is visible to other users.
        #[arg(
            hide = true,
            num_args = 0..,
            allow_hyphen_values = true,
            trailing_var_arg = true
        )]
        value: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List stored and referenced secrets with where the config uses them (never values).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a secret from the keychain.
    Rm {
        /// The secret's name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which keychain service and config file to use.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Keychain service name [default: $CORDON_KEYCHAIN_SERVICE, else the config's
    /// `keychain_service`, else `cordon`].
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// Config file (for `keychain_service` and where each secret is used) [default:
    /// $CORDON_CONFIG, else the default config path].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl StoreArgs {
    /// The config (defaults when none exists) and the keychain store it selects.
    fn open(self) -> anyhow::Result<(Config, SecretStore)> {
        let config = Config::resolve(self.config)?;
        let service = self
            .service
            .or_else(|| std::env::var(SERVICE_ENV).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| {
                if config.keychain_service.is_empty() {
                    DEFAULT_SERVICE.to_owned()
                } else {
                    config.keychain_service.clone()
                }
            });
        Ok((config, SecretStore::new(&service)?))
    }
}

/// Runs a secret subcommand.
pub fn run(command: SecretCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretCommand::Set { name, value, store } => {
            if !value.is_empty() {
                eprintln!(
                    "cordon: refusing to take a secret value from the command line: arguments are \
                     visible to other users (ps, /proc/PID/cmdline) and end up in shell history. \
                     Nothing was stored. Run `cordon secret set {name}` and type the value at the \
                     hidden prompt, or pipe it on stdin (e.g. `cordon secret set {name} < file`)."
                );
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            set(&name, store)
        }
        SecretCommand::List { json, store } => list(json, store),
        SecretCommand::Rm { name, store } => {
            let name = SecretName::new(&name)?;
            let (_, store) = store.open()?;
            match store.remove(&name) {
                Ok(()) => {}
                Err(cordon_secrets::SecretError::Missing { .. }) => bail!(
                    "secret `{name}` is not in keychain service `{}`: nothing to remove",
                    store.service()
                ),
                Err(other) => return Err(other.into()),
            }
            println!(
                "removed secret `{name}` from keychain service `{}`",
                store.service()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn set(name: &str, args: StoreArgs) -> anyhow::Result<ExitCode> {
    let name = SecretName::new(name)?;
    let (config, store) = args.open()?;
    let secret = read_value(&name)?;
    cordon_secrets::check_value(&name, secret.expose())?;
    store.set(&name, secret.expose())?;
    println!(
        "stored secret `{name}` in keychain service `{}`",
        store.service()
    );
    let (usage, _) = usage(&config);
    if !usage.contains_key(&name) {
        eprintln!(
            "note: no server in the config references it yet; use `${{keychain:{name}}}` in a \
             server's env, args or headers"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The value: hidden prompt (twice) on a terminal, else all of stdin minus one trailing newline.
fn read_value(name: &SecretName) -> anyhow::Result<Secret> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Value for {name} (hidden): "))
            .context("cannot read the value from the terminal")?;
        let first = Secret::new(name.clone(), first);
        let again = rpassword::prompt_password(format!("Repeat the value for {name}: "))
            .context("cannot read the value from the terminal")?;
        let again = Secret::new(name.clone(), again);
        if first.expose() != again.expose() {
            bail!("the two values differ; nothing was stored");
        }
        return Ok(first);
    }
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_SECRET_LEN + 2).unwrap_or(u64::MAX);
    std::io::stdin()
        .take(limit)
        .read_to_end(&mut bytes)
        .context("cannot read the value from stdin")?;
    if bytes.len() > MAX_SECRET_LEN + 1 {
        bail!("the value on stdin is longer than {MAX_SECRET_LEN} bytes; nothing was stored");
    }
    let mut value = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("the value on stdin is not UTF-8; nothing was stored"))?;
    // Exactly one trailing newline (as `echo` or a file adds) is not part of the value.
    if value.ends_with("\r\n") {
        value.truncate(value.len() - 2);
    } else if value.ends_with('\n') {
        value.truncate(value.len() - 1);
    }
    Ok(Secret::new(name.clone(), value))
}

/// Where each secret is referenced in the config, and the references that do not parse.
fn usage(config: &Config) -> (SecretUsage, Vec<String>) {
    let mut usage = SecretUsage::new();
    let mut problems = Vec::new();
    let mut note = |text: &str, place: String, path: String| {
        if let Err(error) = record_usage(&mut usage, text, &place) {
            problems.push(format!("{path}: {error}"));
        }
    };
    for (server, spec) in &config.servers {
        if let ServerSpec::Stdio { args, env, .. } = spec {
            for (i, arg) in args.iter().enumerate() {
                note(
                    arg,
                    format!("{server} (args[{i}])"),
                    format!("servers.{server}.args[{i}]"),
                );
            }
            for (key, value) in env {
                note(
                    value,
                    format!("{server} (env {key})"),
                    format!("servers.{server}.env.{key}"),
                );
            }
        }
        if let ServerSpec::Remote { headers, .. } = spec {
            for (key, value) in headers {
                note(
                    value,
                    format!("{server} (header {key})"),
                    format!("servers.{server}.headers.{key}"),
                );
            }
        }
    }
    (usage, problems)
}

fn list(json: bool, args: StoreArgs) -> anyhow::Result<ExitCode> {
    let (config, store) = args.open()?;
    let (usage, problems) = usage(&config);
    let infos = store.list(&usage)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&infos)?);
    } else if infos.is_empty() {
        println!(
            "no secrets in keychain service `{}` and none referenced by the config",
            store.service()
        );
    } else {
        let width = infos
            .iter()
            .map(|i| i.name.as_str().len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!("{:width$}  {:7}  USED BY", "NAME", "STATUS");
        for info in &infos {
            let status = if info.stored { "stored" } else { "MISSING" };
            let used = if info.used_by.is_empty() {
                "-".to_owned()
            } else {
                info.used_by.join(", ")
            };
            println!("{:width$}  {status:7}  {used}", info.name.as_str());
        }
    }
    for problem in &problems {
        eprintln!("cordon: config problem: {problem}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDING)
    })
}
