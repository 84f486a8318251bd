//! Classify + evaluate per call: the shipped default policy, and a generated 1,000-rule policy.
//! Goals: median under 10 µs and 100 µs per call respectively.

// Indexes are `i % len` into non-empty arrays: cannot panic, and keep the loop honest.
#![allow(clippy::indexing_slicing)]

use std::hint::black_box;

use cordon_policy::{Policy, Source, ToolCall};
use criterion::{Criterion, criterion_group, criterion_main};

fn calls() -> Vec<ToolCall> {
    let call = |server: &str, tool: &str, args: serde_json::Value| ToolCall {
        agent: "claude-code".into(),
        server: server.into(),
        tool: tool.into(),
        args,
    };
    vec![
        call(
            "filesystem",
            "read_file",
            serde_json::json!({"path": "src/main.rs"}),
        ),
        call(
            "filesystem",
            "write_file",
            serde_json::json!({"path": "src/lib.rs", "content": "fn main() {}"}),
        ),
        call(
            "shell",
            "run_command",
            serde_json::json!({"command": "cd infra && terraform plan && cat README.md | grep x"}),
        ),
        call(
            "shell",
            "run_command",
            serde_json::json!({"command": "git push origin main"}),
        ),
    ]
}

/// 1,000 rules over the whole taxonomy: topic patterns (literal and wildcard), tool and server
/// globs, path globs and command regexes, so most rules are checked and few match.
fn generated_policy() -> Policy {
    let topics = [
        "read.file",
        "read.dir",
        "write.file",
        "write.move",
        "git.push",
        "git.commit",
        "exec.shell",
        "infra.destroy",
        "k8s.delete",
        "deps.add",
        "net.fetch",
        "tool.github.>",
    ];
    let decisions = ["allow", "require_approval", "deny"];
    let mut text = String::from("version: gen\ndefault_decision: require_approval\nrules:\n");
    for i in 0..1000 {
        let topic = topics[i % topics.len()];
        let decision = decisions[i % decisions.len()];
        text.push_str(&format!("  - id: rule-{i}\n    match:\n"));
        match i % 4 {
            0 => text.push_str(&format!("      topics: [\"job.mcp-bridge.{topic}\"]\n      agents: [\"agent-{i}-*\"]\n")),
            1 => text.push_str(&format!("      topics: [\"job.mcp-bridge.*.x{i}\", \"job.mcp-bridge.{topic}\"]\n      tools: [\"tool_{i}_*\"]\n")),
            2 => text.push_str(&format!("      topics: [\"job.mcp-bridge.{topic}\"]\n      paths: [\"/srv/p{i}/**\"]\n")),
            _ => text.push_str(&format!("      topics: [\"job.mcp-bridge.{topic}\"]\n      commands: [\"^cmd{i} \"]\n")),
        }
        text.push_str(&format!(
            "    decision: {decision}\n    reason: generated {i}\n"
        ));
    }
    match Policy::from_sources(&[Source {
        name: "gen.yaml".into(),
        text,
    }]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    }
}

fn bench(c: &mut Criterion) {
    let calls = calls();
    let default = Policy::shipped_default();
    c.bench_function(
        "default policy: classify+evaluate (mix of 4 calls, per call)",
        |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(1);
                let call = &calls[i % calls.len()];
                black_box(default.evaluate(black_box(call)))
            })
        },
    );
    let generated = generated_policy();
    c.bench_function(
        "1000-rule policy: classify+evaluate (mix of 4 calls, per call)",
        |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(1);
                let call = &calls[i % calls.len()];
                black_box(generated.evaluate(black_box(call)))
            })
        },
    );
    // For context: the classifier's share of the compound shell call.
    if let Some(compound) = calls.get(2) {
        c.bench_function("classify only: shell compound", |b| {
            b.iter(|| black_box(default.classifier().classify(black_box(compound))))
        });
    }
    for (name, call) in ["read", "write", "shell compound", "push"]
        .iter()
        .zip(&calls)
    {
        c.bench_function(&format!("default policy: {name}"), |b| {
            b.iter(|| black_box(default.evaluate(black_box(call))))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
