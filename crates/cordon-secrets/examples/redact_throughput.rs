//! Measures how fast the redactor builds and scans: `cargo run -p cordon-secrets --example
//! redact_throughput [--release]`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::Instant;

use cordon_secrets::{Redactor, Secret, SecretName};

fn main() {
    let secrets: Vec<Secret> = (0..20)
        .map(|i| {
            Secret::new(
                SecretName::new(&format!("SECRET_{i}")).unwrap(),
                format!("tok_{i:02}_aZ9/+=&~ {}", "x".repeat(24)),
            )
        })
        .collect();
    let started = Instant::now();
    let redactor = Redactor::new(&secrets).unwrap();
    let build = started.elapsed();

    // 8 MiB of log-like text with one secret (and one base64 form) every ~64 KiB.
    let line =
        "2026-11-25T01:00:00Z INFO upstream said: the quick brown fox jumps over 1234567890\n";
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 8 << 20 {
        text.push_str(line);
        i += 1;
        if i % 800 == 0 {
            text.push_str(&format!("token={}\n", secrets[i % 20].expose()));
        }
    }
    let started = Instant::now();
    let out = redactor.redact(&text);
    let scan = started.elapsed();
    let mb = text.len() as f64 / (1 << 20) as f64;
    println!(
        "{} secrets, {} patterns: built in {:.2} ms; redacted {mb:.1} MiB in {:.1} ms ({:.0} MiB/s), {} markers",
        secrets.len(),
        redactor.pattern_count(),
        build.as_secs_f64() * 1e3,
        scan.as_secs_f64() * 1e3,
        mb / scan.as_secs_f64(),
        out.matches("[REDACTED:").count()
    );

    let value = serde_json::json!({"content": [{"type": "text", "text": line.repeat(200)}], "isError": false});
    let started = Instant::now();
    let n = 2000;
    for _ in 0..n {
        std::hint::black_box(redactor.contains_secret(&value));
    }
    println!(
        "exfiltration check of a {} KiB JSON value: {:.1} µs each",
        value.to_string().len() / 1024,
        started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
}
