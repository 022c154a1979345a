//! The benchmark harness: our runtimes beside the seed's Python connector (and the Python SDK
//! for memory), on the same embedded dev server, in one run.
//!
//! `cargo bench -p unicat-tests --bench compare` prints the table; `-- --quick` runs smaller
//! sizes for a smoke test, `-- --tls` serves HTTPS and WSS (a self-signed certificate every
//! client is told to trust) as the real Unicat does. Results also go to
//! `target/bench-compare[-tls].json`.
//!
//! * connect: auth + socket connected + caught up;
//! * catch-up: the client holds 10,000 records, its transport is dropped, the server changes
//!   all of them, and the time runs from the reconnect to the store converged; HTTP requests
//!   served come from the dev server's counters;
//! * catch-up meeting faults: the same, with the first reconnects refused for 1 s, and with
//!   every API answer 20 ms late, timed from the drop;
//! * propagation: 1,000 single ERP changes one after another, from the control call to the
//!   client's store holding the new value; p50 and p99;
//! * memory: peak resident memory (VmHWM) of a process holding 100,000 records, against the
//!   JSON size of those records and against the Python SDK holding the same.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_core::client::Event;
use unicat_devserver::{DevConfig, DevServer};
use unicat_tests::e2e::{Options, UnicatHandle};
use unicat_tests::peers::{python, repo_root};
use unicat_tests::runtimes::{Blocking, Smol};

const WAIT: Duration = Duration::from_secs(600);

struct Sizes {
    connect_runs: usize,
    catchup: usize,
    propagation: usize,
    memory: usize,
}

/// Whether the run uses the dev server's TLS mode (`--tls`), as the real Unicat serves HTTPS.
static TLS: AtomicBool = AtomicBool::new(false);

/// The dev server's control surface over one kept-alive connection (trusting its certificate
/// in TLS mode), the same way the Python baseline reaches it.
struct Ctl {
    agent: ureq::Agent,
    url: String,
}

impl Ctl {
    fn new(url: &str, root: Option<&[u8]>) -> Ctl {
        let mut config = ureq::Agent::config_builder();
        if let Some(der) = root {
            let certs = vec![ureq::tls::Certificate::from_der(der).to_owned()];
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build(),
            );
        }
        Ctl {
            agent: config.build().into(),
            url: url.to_string(),
        }
    }

    fn of(server: &DevServer) -> Ctl {
        Ctl::new(server.url(), server.tls_root_der())
    }

    fn call(&self, op: &str, body: Value) -> Value {
        let mut resp = self
            .agent
            .post(format!("{}/_dev/{op}", self.url))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("/_dev/{op}: {e}"));
        let text = resp.body_mut().read_to_string().expect("control answer");
        serde_json::from_str(&text).expect("control answer is JSON")
    }
}

fn options(server: &DevServer) -> Options {
    Options {
        keep_api_key: true,
        tls_root: server.tls_root_der().map(<[u8]>::to_vec),
        ..Options::default()
    }
}

fn seed(scenario: &str, server: &DevServer, n: usize) -> Value {
    let mut cmd = Command::new(python());
    if let Some(pem) = server.tls_root_pem() {
        // The seed's own code is unchanged; only what it trusts is configured, through the
        // environment (aiohttp, requests) and bench_seed.py (the seed's certifi context).
        let path = std::env::temp_dir().join(format!("unicat-bench-ca-{}.pem", std::process::id()));
        std::fs::write(&path, pem).unwrap();
        cmd.env("UNICAT_BENCH_CA", &path)
            .env("SSL_CERT_FILE", &path)
            .env("REQUESTS_CA_BUNDLE", &path);
    }
    let out = cmd
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
        tls: TLS.load(Ordering::Relaxed),
        ..DevConfig::default()
    })
    .expect("dev server")
}

fn client<H: UnicatHandle>(server: &DevServer) -> H {
    let h = H::build(server.url(), server.project(), options(server));
    h.connect(server.api_key()).unwrap();
    assert!(h.wait_caught_up(WAIT));
    h
}

fn load<H: UnicatHandle>(h: &H, gids: &[String]) {
    for chunk in gids.chunks(100) {
        h.call("/records/get", json!({"records": chunk})).unwrap();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// From `connect` to caught up; building the client (threads, TLS roots) is not counted, as
/// the seed builds its TLS context once at import.
fn ours_connect<H: UnicatHandle>(n: usize) -> f64 {
    let server = server(1000);
    median(
        (0..n)
            .map(|_| {
                let h = H::build(server.url(), server.project(), options(&server));
                let start = Instant::now();
                h.connect(server.api_key()).unwrap();
                assert!(h.wait_caught_up(WAIT));
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// A fault the catch-up meets, as the seed's `bench_seed.py catchup-<fault>` meets it.
#[derive(Clone, Copy, PartialEq)]
enum Meets {
    Nothing,
    /// The reconnects are refused for the first second.
    Refusals,
    /// Every API answer comes 20 ms late.
    SlowAnswers,
}

impl Meets {
    fn scenario(self) -> &'static str {
        match self {
            Meets::Nothing => "catchup",
            Meets::Refusals => "catchup-refused",
            Meets::SlowAnswers => "catchup-slow",
        }
    }
}

/// The catch-up's time (from the reconnect, or with a fault from the drop) and requests.
fn ours_catchup<H: UnicatHandle>(n: usize, meets: Meets) -> (f64, u64) {
    let server = server(n);
    let h: H = client(&server);
    let c = server.control();
    load(&h, &c.record_gids(n));
    while h.next_event(Duration::ZERO).is_some() {}
    c.pause_sync();
    c.reset_counters();
    match meets {
        Meets::Nothing => {}
        Meets::Refusals => c.refuse_connects(Duration::from_secs(1), "Service unavailable"),
        Meets::SlowAnswers => c.delay_api(Duration::from_millis(20)),
    }
    let dropped = Instant::now();
    c.drop_transports();
    c.change_records(n, Some("price")).unwrap();
    let (_, target) = c.cursors();
    c.resume_sync();
    let deadline = Instant::now() + WAIT;
    let reconnected = loop {
        assert!(Instant::now() < deadline, "no reconnect");
        if let Some(Event::Connected) = h.next_event(Duration::from_secs(1)) {
            break Instant::now();
        }
    };
    while h.with_store(|s| s.cursor()) as u64 != target {
        assert!(Instant::now() < deadline, "no convergence");
        std::thread::sleep(Duration::from_micros(200));
    }
    let t = if meets == Meets::Nothing {
        reconnected.elapsed()
    } else {
        dropped.elapsed()
    }
    .as_secs_f64();
    c.clear_faults();
    let requests: u64 = c
        .counters()
        .iter()
        .filter(|(k, _)| !k.starts_with("socket") && k.as_str() != "initsync")
        .map(|(_, v)| v)
        .sum();
    (t, requests)
}

fn ours_propagation<H: UnicatHandle>(n: usize) -> (f64, f64) {
    let server = server(100);
    let h: H = client(&server);
    let gid = server.control().record_gids(1)[0].clone();
    load(&h, std::slice::from_ref(&gid));
    let ctl = Ctl::of(&server);
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let price = json!(((10.0 + i as f64 * 0.01) * 100.0).round() / 100.0);
        let start = Instant::now();
        ctl.call(
            "set_field",
            json!({"record": gid, "language": "en", "field": "price", "value": price}),
        );
        loop {
            let now = h.with_store(|s| s.record(&gid).and_then(|r| r.pointer("/fields/en/price")));
            if now.as_ref() == Some(&price) {
                break;
            }
            h.next_event(Duration::from_millis(50));
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
fn memory_child<H: UnicatHandle>(url: &str, project: &str, key: &str, n: usize) {
    let before = vm("VmRSS");
    let h = H::build(url, project, Options::default());
    h.connect(key).unwrap();
    let gids: Vec<String> = serde_json::from_value(
        Ctl::new(url, None).call("record_gids", json!({"count": n}))["records"].clone(),
    )
    .unwrap();
    load(&h, &gids);
    let held = h.with_store(|s| s.records().len());
    let result = json!({"peak_rss": vm("VmHWM"), "rss_before": before, "records": held});
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{result}\n").as_bytes()).unwrap();
}

fn ours_memory(runtime: &str, server: &DevServer, n: usize) -> Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--memory-child",
            runtime,
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
        let n = a[4].parse().unwrap();
        match a[0].as_str() {
            "blocking" => memory_child::<Blocking>(&a[1], &a[2], &a[3], n),
            _ => memory_child::<Smol>(&a[1], &a[2], &a[3], n),
        }
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let tls = args.iter().any(|a| a == "--tls");
    TLS.store(tls, Ordering::Relaxed);
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
    let ours_b = ours_connect::<Blocking>(sizes.connect_runs);
    let ours_s = ours_connect::<Smol>(sizes.connect_runs);
    let server_c = server(1000);
    let theirs = seed("connect", &server_c, sizes.connect_runs)["connect_s"]
        .as_f64()
        .unwrap();
    drop(server_c);
    results.insert(
        "connect",
        json!({"blocking_s": ours_b, "smol_s": ours_s, "seed_s": theirs}),
    );
    line(format!(
        "connect: blocking {:.1} ms, smol {:.1} ms, seed {:.1} ms",
        ours_b * 1e3,
        ours_s * 1e3,
        theirs * 1e3
    ));

    // Catch-up.
    let (cb_t, cb_req) = ours_catchup::<Blocking>(sizes.catchup, Meets::Nothing);
    let (cs_t, cs_req) = ours_catchup::<Smol>(sizes.catchup, Meets::Nothing);
    let server_s = server(sizes.catchup);
    let seed_c = seed("catchup", &server_s, sizes.catchup);
    drop(server_s);
    let (seed_t, seed_req) = (
        seed_c["catchup_s"].as_f64().unwrap(),
        seed_c["requests"].as_u64().unwrap(),
    );
    results.insert(
        "catchup",
        json!({"changed": sizes.catchup, "blocking_s": cb_t, "blocking_requests": cb_req, "smol_s": cs_t, "smol_requests": cs_req, "seed_s": seed_t, "seed_requests": seed_req}),
    );
    line(format!(
        "catch-up of {}: blocking {:.3} s ({cb_req} requests), smol {:.3} s ({cs_req} requests), seed {:.3} s ({seed_req} requests)",
        sizes.catchup, cb_t, cs_t, seed_t
    ));

    // Catch-up meeting faults: the first reconnects refused for 1 s, or 20 ms more per API
    // answer; timed from the drop.
    let mut faulted = Vec::new();
    for meets in [Meets::Refusals, Meets::SlowAnswers] {
        let (b, _) = ours_catchup::<Blocking>(sizes.catchup, meets);
        let (s, _) = ours_catchup::<Smol>(sizes.catchup, meets);
        let server_f = server(sizes.catchup);
        let seed_f = seed(meets.scenario(), &server_f, sizes.catchup)["catchup_s"]
            .as_f64()
            .unwrap();
        drop(server_f);
        results.insert(
            meets.scenario(),
            json!({"changed": sizes.catchup, "blocking_s": b, "smol_s": s, "seed_s": seed_f}),
        );
        line(format!(
            "{} of {}: blocking {b:.3} s, smol {s:.3} s, seed {seed_f:.3} s",
            meets.scenario(),
            sizes.catchup
        ));
        faulted.push((meets, b, s, seed_f));
    }

    // Propagation.
    let (b50, b99) = ours_propagation::<Blocking>(sizes.propagation);
    let (s50, s99) = ours_propagation::<Smol>(sizes.propagation);
    let server_p = server(100);
    let seed_p = seed("propagation", &server_p, sizes.propagation);
    drop(server_p);
    let (sp50, sp99) = (
        seed_p["p50_s"].as_f64().unwrap(),
        seed_p["p99_s"].as_f64().unwrap(),
    );
    results.insert(
        "propagation",
        json!({"changes": sizes.propagation, "blocking_p50_s": b50, "blocking_p99_s": b99, "smol_p50_s": s50, "smol_p99_s": s99, "seed_p50_s": sp50, "seed_p99_s": sp99}),
    );
    line(format!(
        "propagation of {}: blocking p50 {:.2} ms p99 {:.2} ms, smol p50 {:.2} ms p99 {:.2} ms, seed p50 {:.2} ms p99 {:.2} ms",
        sizes.propagation, b50 * 1e3, b99 * 1e3, s50 * 1e3, s99 * 1e3, sp50 * 1e3, sp99 * 1e3
    ));

    // Memory (always plain HTTP: TLS changes no byte the store keeps).
    TLS.store(false, Ordering::Relaxed);
    let server_m = server(sizes.memory);
    let state = server_m.control().state();
    let json_bytes: usize = state["data"]["records"]
        .as_object()
        .unwrap()
        .values()
        .take(sizes.memory + 1)
        .map(|r| r.to_string().len())
        .sum();
    let mb = ours_memory("blocking", &server_m, sizes.memory)["peak_rss"]
        .as_u64()
        .unwrap();
    let ms = ours_memory("smol", &server_m, sizes.memory)["peak_rss"]
        .as_u64()
        .unwrap();
    let sdk = seed("memory-sdk", &server_m, sizes.memory)["peak_rss"]
        .as_u64()
        .unwrap();
    drop(server_m);
    results.insert("memory", json!({"records": sizes.memory, "json_bytes": json_bytes, "blocking_peak_rss": mb, "smol_peak_rss": ms, "sdk_peak_rss": sdk}));
    let mbytes = |b: u64| b as f64 / 1e6;
    line(format!(
        "memory holding {}: JSON {:.1} MB, blocking peak {:.1} MB, smol peak {:.1} MB, Python SDK peak {:.1} MB",
        sizes.memory, json_bytes as f64 / 1e6, mbytes(mb), mbytes(ms), mbytes(sdk)
    ));

    // The table of ratios.
    let json_mb = json_bytes as f64 / 1e6;
    let per100 = |r: u64| r as f64 * 100.0 / sizes.catchup as f64;
    line(String::new());
    line("| measure | blocking | smol | baseline | blocking ratio | smol ratio | target |".into());
    line("|---|---|---|---|---|---|---|".into());
    line(format!(
        "| connect (auth + socket + caught up) | {:.1} ms | {:.1} ms | seed {:.1} ms | {:.2}× | {:.2}× | — |",
        ours_b * 1e3, ours_s * 1e3, theirs * 1e3, ours_b / theirs, ours_s / theirs
    ));
    line(format!(
        "| catch-up of {} changed records | {:.3} s | {:.3} s | seed {:.2} s | {:.0}× faster | {:.0}× faster | ≥ 50× faster |",
        sizes.catchup, cb_t, cs_t, seed_t, seed_t / cb_t, seed_t / cs_t
    ));
    line(format!(
        "| catch-up HTTP requests | {cb_req} ({:.2}/100 records) | {cs_req} ({:.2}/100 records) | seed {seed_req} | — | — | ≤ 1 per 100 records |",
        per100(cb_req), per100(cs_req)
    ));
    for (meets, b, s, seed_f) in &faulted {
        let what = match meets {
            Meets::Refusals => "with the first reconnects refused for 1 s",
            _ => "with every API answer 20 ms late",
        };
        line(format!(
            "| catch-up {what}, from the drop | {b:.3} s | {s:.3} s | seed {seed_f:.2} s | {:.1}× faster | {:.1}× faster | — |",
            seed_f / b,
            seed_f / s
        ));
    }
    line(format!(
        "| propagation p50 | {:.2} ms | {:.2} ms | seed {:.2} ms | {:.2}× | {:.2}× | ≤ 0.2× |",
        b50 * 1e3,
        s50 * 1e3,
        sp50 * 1e3,
        b50 / sp50,
        s50 / sp50
    ));
    line(format!(
        "| propagation p99 | {:.2} ms | {:.2} ms | seed {:.2} ms | — | — | ≤ 3 ms |",
        b99 * 1e3,
        s99 * 1e3,
        sp99 * 1e3
    ));
    line(format!(
        "| peak RSS holding {} records | {:.1} MB | {:.1} MB | JSON {json_mb:.1} MB, SDK {:.1} MB | {:.2}× JSON, {:.2}× SDK | {:.2}× JSON, {:.2}× SDK | ≤ 2× JSON |",
        sizes.memory, mbytes(mb), mbytes(ms), mbytes(sdk), mbytes(mb) / json_mb, mb as f64 / sdk as f64, mbytes(ms) / json_mb, ms as f64 / sdk as f64
    ));
    let path = repo_root().join(if tls {
        "target/bench-compare-tls.json"
    } else {
        "target/bench-compare.json"
    });
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap());
}
