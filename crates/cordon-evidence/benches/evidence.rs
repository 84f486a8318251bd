//! Evidence log figures: durable appends/s (single and grouped), verify records/s, and filtered
//! query latency on a large log.
//!
//! `cargo bench -p cordon-evidence --bench evidence` (env `CORDON_BENCH_RECORDS`, default
//! 1,000,000; `CORDON_BENCH_DIR` for the temp files, default the system temp dir).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]
#![allow(clippy::cast_precision_loss)]

use std::time::{Duration, Instant};

use cordon_evidence::{Durability, EvidenceLog, Filter, KeyStore, NewRecord, Outcome, Phase};

const TOPICS: [(&str, &str, Outcome); 8] = [
    ("job.mcp-bridge.read.file", "allow", Outcome::Allowed),
    ("job.mcp-bridge.read.dir", "allow", Outcome::Allowed),
    ("job.mcp-bridge.read.search", "allow", Outcome::Allowed),
    (
        "job.mcp-bridge.write.file",
        "require_approval",
        Outcome::Approved,
    ),
    (
        "job.mcp-bridge.git.push",
        "require_approval",
        Outcome::Rejected,
    ),
    (
        "job.mcp-bridge.exec.shell",
        "require_approval",
        Outcome::TimedOut,
    ),
    ("job.mcp-bridge.read.env", "deny", Outcome::Denied),
    ("job.mcp-bridge.infra.destroy", "deny", Outcome::Denied),
];

fn record(i: u64) -> NewRecord {
    let (action, decision, outcome) = TOPICS[(i % 8) as usize];
    NewRecord {
        agent: format!("agent-{}", i % 10),
        session_id: format!("sess-{}", (i / 7) % 1000),
        server: "filesystem".into(),
        tool: "tool".into(),
        action: action.into(),
        target: Some(format!("src/module_{}/file_{i}.rs", i % 50)),
        risk_tags: vec!["code-change".into()],
        decision: decision.into(),
        rule_id: Some("rule".into()),
        reason: "matched rule".into(),
        policy_version: "v1+0123abcd".into(),
        reviewer: None,
        approval_channel: None,
        outcome,
        args: serde_json::json!({"path": format!("src/module_{}/file_{i}.rs", i % 50), "offset": i}),
        diff: None,
        duration_ms: i % 1000,
        error: None,
        phase: None,
        intent_id: None,
    }
}

/// Median and 99th percentile.
fn spread(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let at = |p: usize| {
        v.get((v.len().saturating_sub(1)) * p / 100)
            .copied()
            .unwrap_or_default()
    };
    (at(50), at(99))
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CPU time (user + system) of this process so far, from /proc (Linux; zero elsewhere), so the
/// figures can be read independently of other load on the machine.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let total: u64 = std::env::var("CORDON_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base = std::env::var_os("CORDON_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let keys = KeyStore::File(dir.path().join("key.pem"));
    println!("evidence bench in {}", dir.path().display());

    // 0. One governed call's evidence, as the gate writes it: an intent committed and then the
    //    write-ahead log flushed, then its outcome committed (two transactions, one fsync), one
    //    call at a time.
    let log = EvidenceLog::open(&dir.path().join("pairs.db"), keys.clone()).unwrap();
    let pairs = 2_000u64;
    let (mut intents, mut outcomes) = (Vec::new(), Vec::new());
    for i in 0..pairs {
        let mut intent = record(i);
        intent.phase = Some(Phase::Intent);
        intent.outcome = Outcome::Allowed;
        intent.decision = "allow".into();
        let t = Instant::now();
        // As the gate appends a lone call: on the calling thread, into the journal.
        let written = log
            .try_append_batch_now(vec![intent.clone()], Durability::Committed)
            .unwrap()
            .unwrap();
        log.flush_committed().unwrap();
        intents.push(t.elapsed());
        let mut outcome = intent;
        outcome.phase = Some(Phase::Outcome);
        outcome.intent_id = written.first().map(|r| r.id.clone());
        let t = Instant::now();
        log.try_append_batch_now(vec![outcome], Durability::Committed)
            .unwrap()
            .unwrap();
        outcomes.push(t.elapsed());
    }
    let (i50, i99) = spread(intents);
    let (o50, o99) = spread(outcomes);
    println!(
        "one call's records, {pairs} calls: intent (committed, then the log flushed) p50 {i50:.2?} p99 {i99:.2?}; outcome (committed) p50 {o50:.2?} p99 {o99:.2?}"
    );
    drop(log);
    if std::env::var_os("CORDON_BENCH_PAIRS_ONLY").is_some() {
        return;
    }

    // 1. Durable single appends (one transaction + fsync each).
    let log = EvidenceLog::open(&dir.path().join("appends.db"), keys.clone()).unwrap();
    let n = 3_000u64;
    let t = Instant::now();
    for i in 0..n {
        log.append(record(i)).unwrap();
    }
    let single = t.elapsed();
    println!(
        "single durable appends: {n} in {single:.2?} = {:.0} appends/s",
        rate(n, single)
    );

    // 1b. Durable single appends from 8 threads (group commit: concurrent calls share an fsync).
    let log = std::sync::Arc::new(log);
    let per_thread = 1_000u64;
    let t = Instant::now();
    let threads: Vec<_> = (0..8u64)
        .map(|th| {
            let log = std::sync::Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    log.append(record(th * per_thread + i)).unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let concurrent = t.elapsed();
    println!(
        "single durable appends, 8 threads (group commit): {} in {concurrent:.2?} = {:.0} appends/s",
        8 * per_thread,
        rate(8 * per_thread, concurrent)
    );

    // 2. Grouped commits: batches of 100.
    let batches = 100u64;
    let t = Instant::now();
    for b in 0..batches {
        log.append_batch((0..100).map(|i| record(b * 100 + i)).collect())
            .unwrap();
    }
    let grouped = t.elapsed();
    println!(
        "grouped durable appends (batch 100): {} in {grouped:.2?} = {:.0} records/s",
        batches * 100,
        rate(batches * 100, grouped)
    );
    drop(log);

    // 3. A large log, built with large batches.
    let path = dir.path().join("large.db");
    let log = EvidenceLog::open(&path, keys.clone()).unwrap();
    let t = Instant::now();
    let batch = 10_000u64;
    let mut done = 0u64;
    while done < total {
        let k = batch.min(total - done);
        log.append_batch((done..done + k).map(record).collect())
            .unwrap();
        done += k;
    }
    log.checkpoint().unwrap();
    let build = t.elapsed();
    println!(
        "built {total}-record log in {build:.2?} ({:.0} records/s)",
        rate(total, build)
    );
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(path.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!("database size: {:.1} MiB", size as f64 / (1024.0 * 1024.0));

    // 4. Verify (best of 3 runs; CPU time shown too).
    let mut best: Option<(f64, f64)> = None;
    for _ in 0..3 {
        let cpu = cpu_time();
        let report = log.verify().unwrap();
        let cpu = (cpu_time() - cpu).as_secs_f64();
        assert!(report.ok, "{report:?}");
        if best.is_none_or(|(s, _)| report.seconds < s) {
            best = Some((report.seconds, cpu));
        }
    }
    let (seconds, cpu) = best.unwrap();
    println!(
        "verify: {total} records in {seconds:.2}s = {:.0} records/s (best of 3; {cpu:.2} CPU-s)",
        total as f64 / seconds
    );

    // 5. Filtered queries of 100 records (what `cordon log list` runs), median of 21 runs.
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let cases: Vec<(&str, Filter)> = vec![
        ("no filter", Filter::default()),
        (
            "--since 1h",
            Filter {
                since: Some(hour_ago),
                ..Filter::default()
            },
        ),
        (
            "--action read.env --outcome denied",
            Filter {
                action: Some("read.env".into()),
                outcome: Some(Outcome::Denied),
                ..Filter::default()
            },
        ),
        (
            "--session sess-7 --action exec.*",
            Filter {
                session: Some("sess-7".into()),
                action: Some("exec.*".into()),
                ..Filter::default()
            },
        ),
        (
            "--agent agent-3",
            Filter {
                agent: Some("agent-3".into()),
                ..Filter::default()
            },
        ),
        (
            "--session sess-7",
            Filter {
                session: Some("sess-7".into()),
                ..Filter::default()
            },
        ),
        (
            "--action git.*",
            Filter {
                action: Some("git.*".into()),
                ..Filter::default()
            },
        ),
        (
            "--decision deny",
            Filter {
                decision: Some("deny".into()),
                ..Filter::default()
            },
        ),
        (
            "--outcome timed_out",
            Filter {
                outcome: Some(Outcome::TimedOut),
                ..Filter::default()
            },
        ),
        (
            "--agent agent-3 --action read.> --since 1h",
            Filter {
                agent: Some("agent-3".into()),
                action: Some("read.>".into()),
                since: Some(hour_ago),
                ..Filter::default()
            },
        ),
        (
            "--agent agent-3, page 2",
            Filter {
                agent: Some("agent-3".into()),
                after_seq: Some(total / 2),
                ..Filter::default()
            },
        ),
    ];
    for (name, mut filter) in cases {
        filter.limit = Some(100);
        let mut times = Vec::new();
        let mut got = 0;
        for _ in 0..21 {
            let t = Instant::now();
            got = log.query(&filter).unwrap().len();
            times.push(t.elapsed());
        }
        println!(
            "query {name:<45} -> {got:>3} records: median {:.2?}",
            median(times)
        );
    }
}
