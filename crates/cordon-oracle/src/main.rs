//! `cordon-oracle`: judges commands like the gateway's `run_command`, runs every one judged a
//! read in a sandbox, and reports any write, exec or socket. See tests/oracle/README.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;

use cordon_oracle::corpus::Candidate;
use cordon_oracle::corpus::Corpus;
use cordon_oracle::judge::Judge;
use cordon_oracle::judge::Judgement;
use cordon_oracle::report::{self, Figures, Finding};
use cordon_oracle::sandbox::{RunResult, Sandbox};

/// Differential oracle for Cordon's classifier.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The repository checkout (policies/ and the classifier's sources are read from it).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The policy judged against (default: <repo>/policies/default.yaml).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Seed of the command generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many commands to generate.
    #[arg(long, default_value_t = 300)]
    generate: usize,
    /// Judge and run only these commands (repeatable): no corpus, no generator.
    #[arg(long = "command", value_name = "COMMAND")]
    commands: Vec<String>,
    /// Skip the policies' tests and the classifier's cases (generated commands only).
    #[arg(long)]
    no_corpus: bool,
    /// Seconds a command may run before it is killed.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// Known findings (one JSON string per line): tolerated, but printed loudly.
    #[arg(long)]
    known: Option<PathBuf>,
    /// Append new findings to this Markdown log.
    #[arg(long)]
    findings_md: Option<PathBuf>,
    /// Write every finding's command, one JSON string per line (the known-findings format).
    #[arg(long)]
    findings_out: Option<PathBuf>,
    /// Sandboxes run side by side (each its own scratch world).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Print every command run and its verdict.
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cordon-oracle: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool> {
    let cli = Cli::parse();
    let started = Instant::now();
    let sandbox = Sandbox::new(Duration::from_secs(cli.timeout)).context("building the sandbox")?;

    // The oracle must see before it may judge.
    let problems = sandbox.self_test().context("the oracle's self-test")?;
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("cordon-oracle: SELF-TEST FAILED: {p}");
        }
        return Ok(false);
    }

    let policy = cli
        .policy
        .clone()
        .unwrap_or_else(|| cli.repo.join("policies/default.yaml"));
    let judge = Judge::load(&policy, &sandbox.repo, &sandbox.home)?;

    let mut corpus = Corpus::default();
    for (index, c) in cli.commands.iter().enumerate() {
        corpus.add(
            c,
            cordon_oracle::corpus::Origin::Generated { seed: 0, index },
        );
    }
    if !cli.no_corpus && cli.commands.is_empty() {
        corpus
            .add_policy_tests(&cli.repo.join("policies"))
            .context("reading the policies' tests")?;
        for dir in ["crates/cordon-classify/src", "crates/cordon-classify/tests"] {
            let d = cli.repo.join(dir);
            if d.is_dir() {
                corpus
                    .add_rust_literals(&d)
                    .context("reading the classifier's tests")?;
            }
        }
    }
    if cli.commands.is_empty() {
        corpus.add_generated(cli.seed, cli.generate);
    }

    println!(
        "== cordon-oracle: policy {} ({}), seed {}, {} generated",
        policy.display(),
        judge.policy_version(),
        cli.seed,
        cli.generate
    );
    let known = match &cli.known {
        Some(p) => report::load_known(p)?,
        None => Default::default(),
    };

    let mut figures = Figures {
        commands: corpus.candidates.len(),
        ..Figures::default()
    };
    // Judge everything first (pure and quick), then run the reads on `jobs` sandboxes.
    let mut to_run = Vec::new();
    for cand in &corpus.candidates {
        *figures.by_source.entry(cand.origin.kind()).or_default() += 1;
        let j = judge.judge(&cand.command);
        if !j.must_run() {
            if j.is_read_topic() {
                figures.denied_reads += 1;
            } else if j.decision == cordon_policy::Decision::Allow {
                *figures
                    .allowed_non_reads
                    .entry(j.topic.clone())
                    .or_default() += 1;
            }
            continue;
        }
        figures.reads += 1;
        figures.allowed += usize::from(j.decision == cordon_policy::Decision::Allow);
        to_run.push((cand, j));
    }
    let run_started = Instant::now();
    let results = run_all(&sandbox, &to_run, cli.jobs.max(1), cli.timeout)?;
    let mut findings: Vec<Finding> = Vec::new();
    let mut timed_out = Vec::new();
    for ((cand, j), r) in to_run.into_iter().zip(results) {
        if r.timed_out {
            timed_out.push(cand.command.clone());
        }
        figures.index_refreshes += usize::from(r.index_refresh);
        figures.run += 1;
        figures.timed_out += usize::from(r.timed_out);
        figures.helpers += usize::from(!r.helpers.is_empty());
        if cli.verbose {
            println!(
                "run [{}] {} -> {} effects{}",
                j.summary(),
                serde_json::to_string(&cand.command).unwrap_or_default(),
                r.effects.len(),
                if r.timed_out { " (timed out)" } else { "" }
            );
        }
        if r.effects.is_empty() {
            figures.confirmed += 1;
        } else {
            let f = Finding {
                candidate: cand.clone(),
                judgement: j,
                result: r,
            };
            for k in f.kinds() {
                *figures.by_kind.entry(k).or_default() += 1;
            }
            findings.push(f);
        }
    }
    let seconds = run_started.elapsed().as_secs_f64();

    let (old, new): (Vec<&Finding>, Vec<&Finding>) = findings
        .iter()
        .partition(|f| known.contains(&f.candidate.command));
    if !old.is_empty() {
        println!(
            "\n!! {} KNOWN FINDINGS STILL FAIL (listed in {}; the classifier still calls these reads):",
            old.len(),
            cli.known
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        for f in &old {
            print!("{}", report::render_finding(f));
        }
    }
    if !new.is_empty() {
        println!("\n!! {} NEW FINDINGS:", new.len());
        for f in &new {
            print!("{}", report::render_finding(f));
        }
    }
    let fixed: Vec<&String> = known
        .iter()
        .filter(|k| corpus.candidates.iter().any(|c| &c.command == *k))
        .filter(|k| !findings.iter().any(|f| &f.candidate.command == *k))
        .collect();
    if !fixed.is_empty() {
        println!(
            "\n{} known findings no longer fail (fixed, or no longer judged reads): remove them from the known list:",
            fixed.len()
        );
        for k in &fixed {
            println!("    {}", serde_json::to_string(k).unwrap_or_default());
        }
    }

    if !timed_out.is_empty() {
        println!(
            "\ntimed out (killed after {} s; not findings):",
            cli.timeout
        );
        for c in &timed_out {
            println!("    {}", serde_json::to_string(c).unwrap_or_default());
        }
    }
    println!();
    print!("{}", figures.render(findings.len(), seconds));
    println!(
        "new findings: {}; known findings still failing: {}; total time {:.1} s",
        new.len(),
        old.len(),
        started.elapsed().as_secs_f64()
    );

    if let Some(md) = &cli.findings_md {
        let header = format!(
            "cordon-oracle, seed {}, {} generated, policy {}",
            cli.seed,
            cli.generate,
            judge.policy_version()
        );
        let added = report::append_markdown(md, &findings, &header)?;
        println!("{added} findings added to {}", md.display());
    }
    if let Some(out) = &cli.findings_out {
        let mut text = String::new();
        for f in &findings {
            text.push_str(&serde_json::to_string(&f.candidate.command).unwrap_or_default());
            text.push('\n');
        }
        std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(new.is_empty())
}

/// Runs every command on `jobs` sandboxes (the first is the self-tested one; the others are
/// built the same way), results in input order.
fn run_all(
    first: &Sandbox,
    to_run: &[(&Candidate, Judgement)],
    jobs: usize,
    timeout: u64,
) -> Result<Vec<RunResult>> {
    let results: Vec<Result<Vec<(usize, RunResult)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|w| {
                scope.spawn(move || -> Result<Vec<(usize, RunResult)>> {
                    let own;
                    let sandbox = if w == 0 {
                        first
                    } else {
                        own = Sandbox::new(Duration::from_secs(timeout))
                            .context("building another sandbox")?;
                        &own
                    };
                    let mut out = Vec::new();
                    for (i, (cand, j)) in to_run.iter().enumerate().skip(w).step_by(jobs) {
                        out.push((i, sandbox.run(&cand.command, &j.own_words)?));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a sandbox worker crashed")))
            })
            .collect()
    });
    let mut all: Vec<(usize, RunResult)> = Vec::with_capacity(to_run.len());
    for r in results {
        all.extend(r?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}
