//! The same `echo` call, direct and through Cordon, side by side in one run.
//!
//! Direct: an rmcp client → the `echo_upstream` example (stdio child).
//! Through Cordon: an rmcp client → the engine's control socket (what `cordon mcp` uses) or
//! Streamable HTTP → policy (allow) → durable evidence record → the same kind of child.
//!
//! Run: `cargo build --release -p cordon-gateway --example echo_upstream &&
//!       cargo bench -p cordon-gateway --bench gateway`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cordon_gateway::{Config, Engine, control};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{Peer, RoleClient};

const N: usize = 2000;
const WARMUP: usize = 200;
const CONCURRENT: usize = 16;
const TOKEN: &str = "bench-token-0123456789abcdef";

fn echo_upstream() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap().parent().unwrap();
    for profile in ["release", "debug"] {
        let path = target.join(profile).join("examples").join("echo_upstream");
        if path.exists() {
            return path;
        }
    }
    panic!(
        "build the upstream first: cargo build --release -p cordon-gateway --example echo_upstream"
    );
}

fn params(i: usize) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new("echo");
    p.arguments = serde_json::json!({"text": format!("call {i}")})
        .as_object()
        .cloned();
    p
}

async fn sequential(peer: &Peer<RoleClient>, name: &str, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let mut p = params(i);
        p.name = name.to_owned().into();
        let start = Instant::now();
        let r = peer.call_tool(p).await.unwrap();
        times.push(start.elapsed());
        assert_ne!(r.is_error, Some(true), "call failed: {r:?}");
    }
    times
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn throughput(peers: Vec<(Peer<RoleClient>, String)>, per_client: usize) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (peer, name) in peers {
        tasks.push(tokio::spawn(async move {
            sequential(&peer, &name, per_client).await.len()
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let echo = echo_upstream();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        "version: bench\ndefault_decision: deny\nrules:\n  - id: allow-echo\n    match:\n      tools: [\"echo\"]\n    decision: allow\n    reason: bench\n",
    )
    .unwrap();
    let config_path = dir.path().join("config.yaml");
    std::fs::write(
        &config_path,
        format!(
            "socket: ./c.sock\npolicy: ./policy.yaml\nevidence: ./evidence.db\nsigning_key: file:./key.pem\npins: ./pins.json\n\
             listen: 127.0.0.1:0\nagents:\n  bench:\n    token: {TOKEN}\nservers:\n  echo:\n    command: {}\n",
            echo.display()
        ),
    )
    .unwrap();
    let engine = Engine::start(Config::load(&config_path).unwrap())
        .await
        .unwrap();
    let socket = engine.config().socket.clone();

    // Direct client.
    let direct = ()
        .serve(
            rmcp::transport::TokioChildProcess::new(tokio::process::Command::new(&echo)).unwrap(),
        )
        .await
        .unwrap();
    // Through Cordon (control socket).
    let connect = || {
        let socket = socket.clone();
        async move {
            let (r, w, _) = control::connect_mcp(&socket, "bench").await.unwrap();
            ().serve((r, w)).await.unwrap()
        }
    };
    let via_socket = connect().await;
    // Through Cordon (HTTP).
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let url = format!("http://{}/mcp", engine.http_addr().unwrap());
    let via_http = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(TOKEN),
        ))
        .await
        .unwrap();

    sequential(direct.peer(), "echo", WARMUP).await;
    sequential(via_socket.peer(), "echo__echo", WARMUP).await;
    sequential(via_http.peer(), "echo__echo", WARMUP).await;

    // Interleave in blocks so drift (other load on the machine) hits both sides alike.
    let (mut d, mut s, mut h) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..(N / 100) {
        d.extend(sequential(direct.peer(), "echo", 100).await);
        s.extend(sequential(via_socket.peer(), "echo__echo", 100).await);
        h.extend(sequential(via_http.peer(), "echo__echo", 100).await);
    }
    for v in [&mut d, &mut s, &mut h] {
        v.sort();
    }
    println!("latency, N={N} sequential calls (ms)      median      p99");
    let row = |label: &str, v: &[Duration]| {
        println!(
            "  {label:<36} {:>8.3} {:>8.3}",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99))
        );
    };
    row("direct (stdio child)", &d);
    row("through Cordon, control socket", &s);
    row("through Cordon, HTTP", &h);
    let added = |v: &[Duration]| {
        (
            ms(percentile(v, 0.5)) - ms(percentile(&d, 0.5)),
            ms(percentile(v, 0.99)) - ms(percentile(&d, 0.99)),
        )
    };
    let (sm, sp) = added(&s);
    let (hm, hp) = added(&h);
    println!("  added by Cordon, socket              {sm:>8.3} {sp:>8.3}");
    println!("  added by Cordon, HTTP                {hm:>8.3} {hp:>8.3}");

    // Throughput: 1 client, then 16 concurrent clients (16 agent sessions).
    let direct_1 = throughput(vec![(direct.peer().clone(), "echo".into())], N).await;
    let direct_16 = throughput(
        (0..CONCURRENT)
            .map(|_| (direct.peer().clone(), "echo".to_owned()))
            .collect(),
        N / 4,
    )
    .await;
    let cordon_1 = throughput(vec![(via_socket.peer().clone(), "echo__echo".into())], N).await;
    let mut clients = Vec::new();
    for _ in 0..CONCURRENT {
        clients.push(connect().await);
    }
    let cordon_16 = throughput(
        clients
            .iter()
            .map(|c| (c.peer().clone(), "echo__echo".to_owned()))
            .collect(),
        N / 4,
    )
    .await;
    println!("throughput (calls/s)                  1 client  {CONCURRENT} clients");
    println!("  direct (one stdio child)             {direct_1:>8.0} {direct_16:>9.0}");
    println!("  through Cordon, control socket       {cordon_1:>8.0} {cordon_16:>9.0}");
    let records = engine.pipeline().recorder().log().count().unwrap();
    println!(
        "evidence records written: {records} (one per call through Cordon, durable before each answer)"
    );

    for c in clients {
        let _ = c.cancel().await;
    }
    let _ = via_socket.cancel().await;
    let _ = via_http.cancel().await;
    let _ = direct.cancel().await;
    engine.shutdown().await.unwrap();
}
