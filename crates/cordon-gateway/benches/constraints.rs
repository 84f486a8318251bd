//! The per-call cost of the runtime constraints (issue 9): the default policy's verdict, then
//! `Constraints::govern` with no limits (kill switch and blast radius only) and with three
//! limits (call budget, write budget, rate limit) that apply to every call, counters in memory
//! with the write-behind to an evidence database.
//!
//! Run: `cargo bench -p cordon-gateway --bench constraints`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use cordon_gateway::constraints::Constraints;
use cordon_policy::{Policy, Source, ToolCall};
use criterion::{Criterion, criterion_group, criterion_main};

fn with_limits() -> Policy {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/default.yaml"),
    )
    .unwrap();
    let text = format!(
        "{text}\nlimits:\n  - id: calls\n    max_tool_calls: 18446744073709551615\n  - id: writes\n    max_file_writes: 18446744073709551615\n    max_files_changed: 18446744073709551615\n  - id: rate\n    calls_per_minute: 18446744073709551615\n"
    );
    Policy::from_sources(&[Source {
        name: "default.yaml".into(),
        text,
    }])
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let call = ToolCall {
        agent: "claude-code".into(),
        server: "filesystem".into(),
        tool: "read_file".into(),
        args: serde_json::json!({"path": "src/main.rs"}),
    };
    let dir = tempfile::tempdir().unwrap();
    let log = cordon_evidence::EvidenceLog::open(
        &dir.path().join("e.db"),
        cordon_evidence::KeyStore::File(dir.path().join("k.pem")),
    )
    .unwrap();
    let roots = vec![dir.path().to_path_buf()];
    let constraints = Constraints::new(
        Some(cordon_evidence::RuntimeState::new(Arc::new(log))),
        Default::default(),
        roots,
    );
    let plain = Policy::shipped_default();
    let limited = with_limits();
    let base = dir.path();
    c.bench_function("policy verdict only (default policy, read)", |b| {
        b.iter(|| black_box(plain.evaluate(black_box(&call))))
    });
    c.bench_function("verdict + govern, no limits", |b| {
        b.iter(|| {
            let mut v = plain.evaluate(&call);
            black_box(constraints.govern(&plain, &call, &mut v, "s", base, None))
        })
    });
    c.bench_function("verdict + govern, 3 limits counting every call", |b| {
        b.iter(|| {
            let mut v = limited.evaluate(&call);
            black_box(constraints.govern(&limited, &call, &mut v, "s", base, None))
        })
    });
    constraints.flush(std::time::Duration::from_secs(10));
}

criterion_group!(benches, bench);
criterion_main!(benches);
