//! `cordon policy check|test|explain`.
//!
//! Output contract: diagnostics (`file:line:col: error: ...`) and warnings go to stderr; `ok:`
//! lines, test failures, the `N passed, M failed` summary and the explain JSON go to stdout.
//! Exit codes: 0 ok, 1 a finding (invalid policy, failed test), 2 usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use cordon_classify::ToolCall;
use cordon_policy::{Policy, PolicyError};

use super::{EXIT_FINDING, EXIT_USAGE};

/// Environment variable naming the policy file or directory `explain` uses by default.
const POLICY_ENV: &str = "CORDON_POLICY";

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files or directories.
    ///
    /// Prints every problem as `file:line:col: error: message` (warnings likewise) on stderr and
    /// `ok: PATH (N rules, version V)` for each valid policy. Exits 1 if any policy is invalid.
    Check {
        /// Policy files or directories; all `*.yaml`/`*.yml` files in a directory (in name order)
        /// form one policy. Each argument is checked on its own.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Run the tests written inside the policies (`tests:`).
    ///
    /// Prints each failing test with its call, the expected and the actual decision and rule,
    /// then a summary line `N passed, M failed`. Exits 1 if a test fails or a policy is invalid.
    Test {
        /// Policy files or directories; each argument is one policy.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Classify and judge one call without running it; prints one JSON object with
    /// `topic`, `risk_tags`, `decision`, `rule`, `reason` and `policy_version`.
    ///
    /// Example: cordon policy explain --tool run_command --args '{"command":"cat .env"}'
    Explain {
        /// Policy file or directory. Default: $CORDON_POLICY, else the user's policy directory
        /// (e.g. ~/.config/cordon/policies) if it exists, else the policy shipped with Cordon.
        #[arg(long, value_name = "FILE|DIR")]
        policy: Option<PathBuf>,
        /// Tool name as the upstream server names it (e.g. `read_file`, `run_command`).
        #[arg(long)]
        tool: String,
        /// Upstream server name from the config (e.g. `filesystem`).
        #[arg(long, default_value = "")]
        server: String,
        /// The call's arguments as a JSON object, e.g. '{"path": ".env"}'.
        #[arg(long, default_value = "{}", value_name = "JSON")]
        args: String,
        /// Agent name (e.g. `claude-code`), for rules that match `agents`.
        #[arg(long, default_value = "")]
        agent: String,
    },
}

/// Runs a policy subcommand.
pub fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { paths } => Ok(check(&paths)),
        PolicyCommand::Test { paths } => Ok(test(&paths)),
        PolicyCommand::Explain {
            policy,
            tool,
            server,
            args,
            agent,
        } => explain(policy.as_deref(), tool, server, &args, agent),
    }
}

fn print_diagnostics(error: &PolicyError) {
    for d in &error.diagnostics {
        eprintln!("{d}");
    }
}

fn print_warnings(policy: &Policy) {
    for w in policy.warnings() {
        eprintln!("{w}");
    }
}

fn check(paths: &[PathBuf]) -> ExitCode {
    let mut invalid = 0usize;
    for path in paths {
        match Policy::load(path) {
            Ok(policy) => {
                print_warnings(&policy);
                println!(
                    "ok: {} ({} rule{}, version {})",
                    path.display(),
                    policy.rule_count(),
                    if policy.rule_count() == 1 { "" } else { "s" },
                    policy.version()
                );
            }
            Err(error) => {
                invalid += 1;
                print_diagnostics(&error);
                let errors = error.errors().count();
                eprintln!(
                    "invalid: {} ({errors} error{})",
                    path.display(),
                    if errors == 1 { "" } else { "s" }
                );
            }
        }
    }
    if invalid > 0 {
        ExitCode::from(EXIT_FINDING)
    } else {
        ExitCode::SUCCESS
    }
}

fn test(paths: &[PathBuf]) -> ExitCode {
    let mut passed = 0usize;
    let mut failed = 0usize;
    let mut invalid = 0usize;
    for path in paths {
        let policy = match Policy::load(path) {
            Ok(policy) => policy,
            Err(error) => {
                invalid += 1;
                print_diagnostics(&error);
                eprintln!("invalid: {} (tests not run)", path.display());
                continue;
            }
        };
        print_warnings(&policy);
        let report = policy.run_tests();
        for failure in &report.failures {
            println!("{failure}");
        }
        println!("{}: {report}", path.display());
        passed += report.passed;
        failed += report.failed;
    }
    println!("{passed} passed, {failed} failed");
    if invalid > 0 {
        eprintln!(
            "{invalid} invalid polic{}",
            if invalid == 1 { "y" } else { "ies" }
        );
    }
    if failed > 0 || invalid > 0 {
        ExitCode::from(EXIT_FINDING)
    } else {
        ExitCode::SUCCESS
    }
}

/// The policy `explain` uses: `--policy`, else $CORDON_POLICY, else the user's policy
/// directory if it exists, else the shipped default.
fn resolve_policy(explicit: Option<&Path>) -> Result<Policy, PolicyError> {
    if let Some(path) = explicit {
        return Policy::load(path);
    }
    if let Some(path) = std::env::var_os(POLICY_ENV).filter(|v| !v.is_empty()) {
        return Policy::load(Path::new(&path));
    }
    if let Some(dir) = dirs::config_dir().map(|d| d.join("cordon").join("policies"))
        && dir.is_dir()
    {
        return Policy::load(&dir);
    }
    Ok(Policy::shipped_default())
}

fn explain(
    policy: Option<&Path>,
    tool: String,
    server: String,
    args: &str,
    agent: String,
) -> anyhow::Result<ExitCode> {
    let args: serde_json::Value = match serde_json::from_str(args) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        Ok(other) => {
            eprintln!(
                "cordon: error: --args must be a JSON object such as '{{\"path\": \"README.md\"}}', got {other}"
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(error) => {
            eprintln!(
                "cordon: error: --args is not valid JSON ({error}); write a JSON object such as '{{\"path\": \"README.md\"}}'"
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let policy = match resolve_policy(policy) {
        Ok(policy) => policy,
        Err(error) => {
            print_diagnostics(&error);
            eprintln!("cordon: error: the policy is invalid; nothing was explained");
            return Ok(ExitCode::from(EXIT_FINDING));
        }
    };
    print_warnings(&policy);
    // Cordon's own paths as the user's config names them (standard locations when there is
    // none), so `explain` judges `cat <config>` the way the engine does.
    let policy = match cordon_gateway::Config::resolve(None) {
        Ok(config) => policy.with_cordon_paths(cordon_gateway::engine::cordon_paths(&config)),
        Err(_) => policy,
    };
    let call = ToolCall {
        agent,
        server,
        tool,
        args,
    };
    let verdict = policy.evaluate(&call);
    let out = serde_json::json!({
        "topic": verdict.classification.topic,
        "risk_tags": verdict.classification.risk_tags,
        "decision": verdict.decision,
        "rule": verdict.rule_id,
        "reason": verdict.reason,
        "policy_version": verdict.policy_version,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
