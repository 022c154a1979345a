//! The benchmark harness: our runtimes beside the seed's Python connector (and the Python SDK
//! for memory), on the same embedded dev server, in one run.
//!
//! `cargo bench -p unicat-tests --bench compare` prints the table; `-- --quick` runs smaller
//! sizes for a smoke test. Results also go to `target/bench-compare.json`.
//!
//! * connect: auth + socket connected + caught up;
//! * catch-up: the client holds 10,000 records, its transport is dropped, the server changes
//!   all of them, and the time runs from the reconnect to the store converged; HTTP requests
//!   served come from the dev server's counters;
//! * propagation: 1,000 single ERP changes one after another, from the control call to the
//!   client's store holding the new value; p50 and p99;
//! * memory: peak resident memory (VmHWM) of a process holding 100,000 records, against the
//!   JSON size of those records and against the Python SDK holding the same.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_blocking::UnicatApi;
use unicat_core::client::Event;
use unicat_devserver::{DevConfig, DevServer};
use unicat_tests::peers::{python, repo_root};

const WAIT: Duration = Duration::from_secs(600);

struct Sizes {
    connect_runs: usize,
    catchup: usize,
    propagation: usize,
    memory: usize,
}

fn control(url: &str, op: &str, body: Value) -> Value {
    let mut resp = ureq::post(format!("{url}/_dev/{op}"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("/_dev/{op}: {e}"));
    let text = resp.body_mut().read_to_string().expect("control answer");
    serde_json::from_str(&text).expect("control answer is JSON")
}

fn seed(scenario: &str, server: &DevServer, n: usize) -> Value {
    let out = Command::new(python())
        .arg(repo_root().join("tests/peers/bench_seed.py"))
        .args([
            scenario,
            server.url(),
            server.project(),
            server.api_key(),
            &n.to_string(),
        ])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "bench_seed.py {scenario}: {e}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn server(records: usize) -> DevServer {
    DevServer::start(DevConfig {
        records,
        ..DevConfig::default()
    })
    .expect("dev server")
}

fn client(server: &DevServer) -> UnicatApi {
    let api = UnicatApi::builder(server.url(), server.project())
        .keep_api_key(true)
        .build()
        .unwrap();
    api.connect(server.api_key()).unwrap();
    api.wait_caught_up(WAIT).unwrap();
    api
}

fn load(api: &UnicatApi, gids: &[String]) {
    for chunk in gids.chunks(100) {
        api.call("/records/get", json!({"records": chunk})).unwrap();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// From `connect` to caught up; building the client (threads, TLS roots) is not counted, as
/// the seed builds its TLS context once at import.
fn ours_connect(n: usize) -> f64 {
    let server = server(1000);
    median(
        (0..n)
            .map(|_| {
                let api = UnicatApi::builder(server.url(), server.project())
                    .build()
                    .unwrap();
                let start = Instant::now();
                api.connect(server.api_key()).unwrap();
                api.wait_caught_up(WAIT).unwrap();
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn ours_catchup(n: usize) -> (f64, u64) {
    let server = server(n);
    let api = client(&server);
    let c = server.control();
    load(&api, &c.record_gids(n));
    while api.next_event(Duration::ZERO).is_some() {}
    c.pause_sync();
    c.reset_counters();
    c.drop_transports();
    c.change_records(n, Some("price")).unwrap();
    let (_, target) = c.cursors();
    c.resume_sync();
    let deadline = Instant::now() + WAIT;
    let reconnected = loop {
        assert!(Instant::now() < deadline, "no reconnect");
        if let Some(Event::Connected) = api.next_event(Duration::from_secs(1)) {
            break Instant::now();
        }
    };
    while api.store().cursor() as u64 != target {
        assert!(Instant::now() < deadline, "no convergence");
        std::thread::sleep(Duration::from_micros(200));
    }
    let t = reconnected.elapsed().as_secs_f64();
    let requests: u64 = c
        .counters()
        .iter()
        .filter(|(k, _)| !k.starts_with("socket") && k.as_str() != "initsync")
        .map(|(_, v)| v)
        .sum();
    (t, requests)
}

fn ours_propagation(n: usize) -> (f64, f64) {
    let server = server(100);
    let api = client(&server);
    let gid = server.control().record_gids(1)[0].clone();
    load(&api, std::slice::from_ref(&gid));
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let price = json!(((10.0 + i as f64 * 0.01) * 100.0).round() / 100.0);
        let start = Instant::now();
        control(
            server.url(),
            "set_field",
            json!({"record": gid, "language": "en", "field": "price", "value": price}),
        );
        loop {
            let now = api
                .store()
                .record(&gid)
                .and_then(|r| r.pointer("/fields/en/price"));
            if now.as_ref() == Some(&price) {
                break;
            }
            api.next_event(Duration::from_millis(50));
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "change {i} never arrived"
            );
        }
        latencies.push(start.elapsed().as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    (latencies[n / 2], latencies[(n * 99 / 100).min(n - 1)])
}

fn vm(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .strip_prefix(':')?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
        * 1024
}

/// In a child process of its own: the client holding `n` records, then its peak RSS.
fn memory_child(url: &str, project: &str, key: &str, n: usize) {
    let before = vm("VmRSS");
    let api = UnicatApi::builder(url, project).build().unwrap();
    api.connect(key).unwrap();
    let gids: Vec<String> =
        serde_json::from_value(control(url, "record_gids", json!({"count": n}))["records"].clone())
            .unwrap();
    load(&api, &gids);
    let held = api.store().records().len();
    let result = json!({"peak_rss": vm("VmHWM"), "rss_before": before, "records": held});
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{result}\n").as_bytes()).unwrap();
}

fn ours_memory(server: &DevServer, n: usize) -> Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--memory-child",
            server.url(),
            server.project(),
            server.api_key(),
            &n.to_string(),
        ])
        .output()
        .expect("the memory child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| {
        panic!(
            "memory child: {e}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        let a = &args[i + 1..];
        memory_child(&a[0], &a[1], &a[2], a[3].parse().unwrap());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            connect_runs: 3,
            catchup: 1000,
            propagation: 100,
            memory: 10_000,
        }
    } else {
        Sizes {
            connect_runs: 5,
            catchup: 10_000,
            propagation: 1000,
            memory: 100_000,
        }
    };
    let mut results: BTreeMap<&str, Value> = BTreeMap::new();
    let line = |s: String| {
        let mut out = std::io::stdout().lock();
        let _ = std::io::Write::write_all(&mut out, format!("{s}\n").as_bytes());
    };

    // Connect.
    let ours = ours_connect(sizes.connect_runs);
    let server_c = server(1000);
    let theirs = seed("connect", &server_c, sizes.connect_runs)["connect_s"]
        .as_f64()
        .unwrap();
    drop(server_c);
    results.insert("connect", json!({"blocking_s": ours, "seed_s": theirs}));
    line(format!(
        "connect: blocking {:.1} ms, seed {:.1} ms",
        ours * 1e3,
        theirs * 1e3
    ));

    // Catch-up.
    let (ours_t, ours_req) = ours_catchup(sizes.catchup);
    let server_s = server(sizes.catchup);
    let seed_c = seed("catchup", &server_s, sizes.catchup);
    drop(server_s);
    let (seed_t, seed_req) = (
        seed_c["catchup_s"].as_f64().unwrap(),
        seed_c["requests"].as_u64().unwrap(),
    );
    results.insert("catchup", json!({"changed": sizes.catchup, "blocking_s": ours_t, "blocking_requests": ours_req, "seed_s": seed_t, "seed_requests": seed_req}));
    line(format!(
        "catch-up of {}: blocking {:.3} s with {ours_req} requests, seed {:.3} s with {seed_req} requests",
        sizes.catchup, ours_t, seed_t
    ));

    // Propagation.
    let (p50, p99) = ours_propagation(sizes.propagation);
    let server_p = server(100);
    let seed_p = seed("propagation", &server_p, sizes.propagation);
    drop(server_p);
    let (sp50, sp99) = (
        seed_p["p50_s"].as_f64().unwrap(),
        seed_p["p99_s"].as_f64().unwrap(),
    );
    results.insert("propagation", json!({"changes": sizes.propagation, "blocking_p50_s": p50, "blocking_p99_s": p99, "seed_p50_s": sp50, "seed_p99_s": sp99}));
    line(format!(
        "propagation of {}: blocking p50 {:.2} ms p99 {:.2} ms, seed p50 {:.2} ms p99 {:.2} ms",
        sizes.propagation,
        p50 * 1e3,
        p99 * 1e3,
        sp50 * 1e3,
        sp99 * 1e3
    ));

    // Memory.
    let server_m = server(sizes.memory);
    let state = server_m.control().state();
    let json_bytes: usize = state["data"]["records"]
        .as_object()
        .unwrap()
        .values()
        .take(sizes.memory + 1)
        .map(|r| r.to_string().len())
        .sum();
    let ours_m = ours_memory(&server_m, sizes.memory);
    let sdk_m = seed("memory-sdk", &server_m, sizes.memory);
    drop(server_m);
    let ours_peak = ours_m["peak_rss"].as_u64().unwrap();
    let sdk_peak = sdk_m["peak_rss"].as_u64().unwrap();
    results.insert("memory", json!({"records": sizes.memory, "json_bytes": json_bytes, "blocking_peak_rss": ours_peak, "blocking_rss_before": ours_m["rss_before"], "sdk_peak_rss": sdk_peak, "sdk_rss_before": sdk_m["rss_before"]}));
    line(format!(
        "memory holding {}: JSON {:.1} MB, blocking peak {:.1} MB, Python SDK peak {:.1} MB",
        sizes.memory,
        json_bytes as f64 / 1e6,
        ours_peak as f64 / 1e6,
        sdk_peak as f64 / 1e6
    ));

    // The table of ratios.
    line(String::new());
    line("| measure | ours (blocking) | baseline | ratio | target |".into());
    line("|---|---|---|---|---|".into());
    line(format!(
        "| connect | {:.1} ms | seed {:.1} ms | {:.2}× | — |",
        ours * 1e3,
        theirs * 1e3,
        ours / theirs
    ));
    line(format!(
        "| catch-up of {} records | {:.3} s | seed {:.2} s | {:.0}× faster | ≥ 50× |",
        sizes.catchup,
        ours_t,
        seed_t,
        seed_t / ours_t
    ));
    line(format!(
        "| catch-up requests | {ours_req} ({:.2} per 100 records) | seed {seed_req} | — | ≤ 1 per 100 |",
        ours_req as f64 * 100.0 / sizes.catchup as f64
    ));
    line(format!(
        "| propagation p50 | {:.2} ms | seed {:.2} ms | {:.2}× | ≤ 0.2× |",
        p50 * 1e3,
        sp50 * 1e3,
        p50 / sp50
    ));
    line(format!(
        "| propagation p99 | {:.2} ms | seed {:.2} ms | — | ≤ 3 ms |",
        p99 * 1e3,
        sp99 * 1e3
    ));
    line(format!(
        "| peak RSS holding {} records | {:.1} MB | JSON {:.1} MB / SDK {:.1} MB | {:.2}× JSON, {:.2}× SDK | ≤ 2× JSON |",
        sizes.memory,
        ours_peak as f64 / 1e6,
        json_bytes as f64 / 1e6,
        sdk_peak as f64 / 1e6,
        ours_peak as f64 / json_bytes as f64,
        ours_peak as f64 / sdk_peak as f64
    ));
    let path = repo_root().join("target/bench-compare.json");
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap());
}
