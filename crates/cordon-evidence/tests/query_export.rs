//! Filters, pagination, sessions, policy snapshots and export round trips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Fixture, sample};
use cordon_evidence::{
    EvidenceLog, ExportFormat, Filter, KeyStore, NewRecord, Outcome, Phase, Record, read_csv,
    read_jsonl,
};

fn filled(n: u64) -> (Fixture, EvidenceLog) {
    let f = Fixture::new();
    let log = f.open();
    log.append_batch((0..n).map(sample).collect()).unwrap();
    (f, log)
}

type Expect = Box<dyn Fn(&Record) -> bool>;

fn seqs(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

#[test]
fn filters_combine_and_order_newest_first() {
    let (_f, log) = filled(100);
    let all = log.query(&Filter::default()).unwrap();
    assert_eq!(all.len(), 100);
    assert_eq!(all[0].seq, 100, "newest first");

    let cases: Vec<(Filter, Expect)> = vec![
        (
            Filter {
                agent: Some("cursor".into()),
                ..Filter::default()
            },
            Box::new(|r| r.agent == "cursor"),
        ),
        (
            Filter {
                session: Some("sess_1".into()),
                ..Filter::default()
            },
            Box::new(|r| r.session_id == "sess_1"),
        ),
        (
            Filter {
                decision: Some("deny".into()),
                ..Filter::default()
            },
            Box::new(|r| r.decision == "deny"),
        ),
        (
            Filter {
                outcome: Some(Outcome::Approved),
                ..Filter::default()
            },
            Box::new(|r| r.outcome == Outcome::Approved),
        ),
        (
            Filter {
                action: Some("read.*".into()),
                ..Filter::default()
            },
            Box::new(|r| r.action.contains(".read.")),
        ),
        (
            Filter {
                action: Some("job.mcp-bridge.git.>".into()),
                ..Filter::default()
            },
            Box::new(|r| r.action.ends_with("git.push")),
        ),
        (
            Filter {
                action: Some("git.push".into()),
                ..Filter::default()
            },
            Box::new(|r| r.action.ends_with("git.push")),
        ),
        (
            Filter {
                action: Some("*.env".into()),
                ..Filter::default()
            },
            Box::new(|r| r.action.ends_with("read.env")),
        ),
        (
            Filter {
                agent: Some("claude-code".into()),
                action: Some("read.>".into()),
                ..Filter::default()
            },
            Box::new(|r| r.agent == "claude-code" && r.action.contains(".read.")),
        ),
    ];
    for (filter, expect) in cases {
        let got = log.query(&filter).unwrap();
        let want: Vec<u64> = all.iter().filter(|r| expect(r)).map(|r| r.seq).collect();
        assert!(!want.is_empty(), "{filter:?} selects nothing");
        assert_eq!(seqs(&got), want, "{filter:?}");
    }
    assert!(
        log.query(&Filter {
            agent: Some("nobody".into()),
            ..Filter::default()
        })
        .unwrap()
        .is_empty()
    );
    assert!(
        log.query(&Filter {
            action: Some("*".into()),
            ..Filter::default()
        })
        .unwrap()
        .is_empty()
    );
}

#[test]
fn time_filters() {
    let (_f, log) = filled(5);
    let now = time::OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    let q = |since, until| {
        log.query(&Filter {
            since,
            until,
            ..Filter::default()
        })
        .unwrap()
        .len()
    };
    assert_eq!(q(Some(now - hour), None), 5);
    assert_eq!(q(Some(now + hour), None), 0);
    assert_eq!(q(None, Some(now - hour)), 0);
    assert_eq!(q(Some(now - hour), Some(now + hour)), 5);
}

#[test]
fn pagination_with_a_cursor_visits_every_record_once() {
    let (_f, log) = filled(95);
    for oldest_first in [false, true] {
        let mut cursor = None;
        let mut visited = Vec::new();
        loop {
            let page = log
                .query(&Filter {
                    agent: Some("cursor".into()),
                    limit: Some(10),
                    after_seq: cursor,
                    oldest_first,
                    ..Filter::default()
                })
                .unwrap();
            let Some(last) = page.last() else { break };
            cursor = Some(last.seq);
            visited.extend(seqs(&page));
        }
        let mut expected: Vec<u64> = (1..=95).filter(|s| (s - 1) % 2 == 1).collect();
        if !oldest_first {
            expected.reverse();
        }
        assert_eq!(visited, expected);
    }
}

#[test]
fn session_trail_groups_what_happened() {
    let f = Fixture::new();
    let log = f.open();
    let base = |action: &str, target: &str, outcome: Outcome| NewRecord {
        agent: "claude-code".into(),
        session_id: "sess_A".into(),
        action: format!("job.mcp-bridge.{action}"),
        target: Some(target.into()),
        decision: "allow".into(),
        outcome,
        policy_version: "v1+aaa".into(),
        duration_ms: 10,
        ..NewRecord::default()
    };
    log.append(base("read.file", "src/main.rs", Outcome::Allowed))
        .unwrap();
    let mut write = base("write.file", "src/lib.rs", Outcome::Approved);
    write.reviewer = Some("alice@example.com".into());
    write.policy_version = "v1+bbb".into();
    log.append(write).unwrap();
    log.append(base("exec.shell", "cargo test", Outcome::Allowed))
        .unwrap();
    log.append(base("git.push", "origin/main", Outcome::Approved))
        .unwrap();
    log.append(base("read.env", ".env", Outcome::Denied))
        .unwrap();
    log.append(base(
        "infra.destroy",
        "terraform destroy",
        Outcome::TimedOut,
    ))
    .unwrap();
    let mut other = base("read.file", "x", Outcome::Allowed);
    other.session_id = "sess_B".into();
    log.append(other).unwrap();

    let trail = log.session("sess_A").unwrap();
    assert_eq!(trail.records, 6);
    let targets = |v: &[cordon_evidence::TrailEntry]| {
        v.iter()
            .map(|e| e.target.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(targets(&trail.files_read), ["src/main.rs"]);
    assert_eq!(targets(&trail.files_written), ["src/lib.rs"]);
    assert_eq!(
        trail.files_written[0].reviewer.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(targets(&trail.commands), ["cargo test"]);
    assert_eq!(targets(&trail.pushes), ["origin/main"]);
    assert_eq!(targets(&trail.denials), [".env", "terraform destroy"]);
    assert_eq!(trail.policy_versions, ["v1+aaa", "v1+bbb"]);
    assert_eq!(trail.total_call_ms, 60);
    assert!(trail.first_timestamp.is_some() && trail.first_timestamp <= trail.last_timestamp);
    assert_eq!(log.session("nope").unwrap().records, 0);
}

#[test]
fn policy_snapshots_are_stored_once() {
    let (_f, log) = filled(1);
    let sources = vec![(
        "safety.yaml".to_string(),
        "version: v1\nrules: []\n".to_string(),
    )];
    log.record_policy("v1+abc", &sources).unwrap();
    log.record_policy("v1+abc", &sources).unwrap();
    assert_eq!(log.policy_snapshot("v1+abc").unwrap(), Some(sources));
    assert_eq!(log.policy_snapshot("v2").unwrap(), None);
    let other = vec![(
        "safety.yaml".to_string(),
        "version: v1\nrules: [x]\n".to_string(),
    )];
    assert!(
        log.record_policy("v1+abc", &other).is_err(),
        "one version, one policy"
    );
}

fn awkward(i: u64) -> NewRecord {
    let mut r = sample(i);
    r.target = Some(format!("dir, with \"quotes\"/naïve 文件 🚀\r\nline2 {i}"));
    r.reason = "comma, \"quote\", newline\nand tab\t and ; semicolon".into();
    r.args = serde_json::json!({"content": "a,b\n\"c\"\u{0}é", "n": [1, 2.5, -3], "nested": {"z": 1, "a": null}});
    r.diff = Some("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old, \"v\"\n+new 🚀\n".into());
    r.error = Some("boom,\n\"why\"".into());
    r.reviewer = Some(
        if i.is_multiple_of(2) {
            "=HYPERLINK(\"http://evil\")"
        } else {
            "'quoted"
        }
        .into(),
    );
    r.rule_id = Some(format!("@rule-{i}"));
    r.risk_tags = vec!["code-change".into(), "weird,tag\"".into()];
    r
}

#[test]
fn exports_round_trip_with_awkward_text() {
    let f = Fixture::new();
    let log = f.open();
    log.append_batch((0..20).map(awkward).collect()).unwrap();
    log.append(sample(1)).unwrap(); // None-valued optionals too
    // A write-ahead pair approved on the desktop: phase, intent id and approval channel each
    // come back in their own column.
    let mut intent = sample(2);
    intent.decision = "require_approval".into();
    intent.outcome = Outcome::Approved;
    intent.reviewer = Some("dev".into());
    intent.approval_channel = Some("desktop".into());
    intent.phase = Some(Phase::Intent);
    let opened = log.append(intent.clone()).unwrap();
    let mut closing = intent;
    closing.phase = Some(Phase::Outcome);
    closing.intent_id = Some(opened.id.clone());
    log.append(closing).unwrap();
    let filter = Filter {
        oldest_first: true,
        ..Filter::default()
    };
    let records = log.query(&filter).unwrap();

    let mut jsonl = Vec::new();
    assert_eq!(
        log.export(&filter, ExportFormat::Jsonl, &mut jsonl)
            .unwrap(),
        23
    );
    let back = read_jsonl(&jsonl[..]).unwrap();
    assert_eq!(back, records);
    for r in &back {
        assert_eq!(
            r.compute_hash().unwrap(),
            r.hash,
            "hash survives the round trip"
        );
    }

    let mut csv = Vec::new();
    log.export(&filter, ExportFormat::Csv, &mut csv).unwrap();
    let text = String::from_utf8(csv.clone()).unwrap();
    assert!(text.starts_with("id,seq,timestamp,agent,session_id,"));
    assert!(
        !text.contains(",=HYPERLINK") && !text.contains(",\"=HYPERLINK"),
        "formula cells are defused"
    );
    assert!(text.contains(",\"'=HYPERLINK"), "{text}");
    let back = read_csv(&csv[..]).unwrap();
    assert_eq!(back, records);

    // Seed key names in every JSON record.
    let first: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&jsonl).unwrap().lines().next().unwrap()).unwrap();
    for key in [
        "agent",
        "session_id",
        "action",
        "target",
        "decision",
        "policy_version",
        "reviewer",
        "outcome",
        "timestamp",
    ] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    assert_eq!(first["outcome"], "allowed");

    let mut bundle = Vec::new();
    log.checkpoint().unwrap();
    log.export(&Filter::default(), ExportFormat::Bundle, &mut bundle)
        .unwrap();
    let report = cordon_evidence::verify_bundle_with(
        &bundle[..],
        &cordon_evidence::VerifyOptions {
            trusted_keys: vec![log.public_key().unwrap()],
        },
    )
    .unwrap();
    assert!(report.ok, "{report:?}");
}

#[test]
fn large_args_and_diffs_are_stored_whole() {
    let (f, log) = filled(0);
    let big = "x".repeat(3_000_000);
    let mut r = sample(1);
    r.args = serde_json::json!({"content": big});
    r.diff = Some(big.clone());
    let stored = log.append(r.clone()).unwrap();
    let log2 = EvidenceLog::open(&f.db(), KeyStore::ReadOnly).unwrap();
    let got = log2.get(&stored.id).unwrap().unwrap();
    assert_eq!(got.args, r.args);
    assert_eq!(got.diff, r.diff);
    // Identical content is stored once.
    log.append(r).unwrap();
    let n: i64 = f
        .raw()
        .query_row("SELECT count(*) FROM blobs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(n, 2);
    assert!(log.verify().unwrap().ok);
}

#[test]
fn dense_and_sparse_query_plans_agree_with_a_naive_filter() {
    // Enough rows that common topics and time ranges take the "dense" plan, rare ones the index.
    let f = Fixture::new();
    let log = f.open();
    let mut rare = sample(2);
    rare.action = "job.mcp-bridge.k8s.delete".into();
    log.append(rare).unwrap();
    for chunk in 0..7u64 {
        log.append_batch((0..1000).map(|i| sample(chunk * 1000 + i)).collect())
            .unwrap();
    }
    let all = log.query(&Filter::default()).unwrap();
    let hour = time::Duration::hours(1);
    let now = time::OffsetDateTime::now_utc();
    for action in [
        None,
        Some("read.*"),
        Some("job.mcp-bridge.>"),
        Some("k8s.*"),
        Some("*.push"),
        Some("nothing.*"),
    ] {
        for since in [None, Some(now - hour), Some(now + hour)] {
            for oldest_first in [false, true] {
                let filter = Filter {
                    action: action.map(str::to_string),
                    since,
                    limit: Some(100),
                    oldest_first,
                    ..Filter::default()
                };
                let got = seqs(&log.query(&filter).unwrap());
                let mut want: Vec<u64> = all
                    .iter()
                    .filter(|r| {
                        action.is_none_or(|p| cordon_evidence::action_matches(p, &r.action))
                    })
                    .filter(|_| since.is_none_or(|s| s < now))
                    .map(|r| r.seq)
                    .collect();
                if oldest_first {
                    want.reverse();
                }
                want.truncate(100);
                assert_eq!(got, want, "{filter:?}");
            }
        }
    }
}
