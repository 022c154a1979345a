//! The long soak: at least 500 random faults over at least 50,000 changes, on each runtime,
//! with the dev server in a child process (driven over its HTTP control surface) so that the
//! resident memory sampled at every checkpoint is the client's alone.
//!
//! `cargo bench -p unicat-tests --bench soak` runs it (about ten minutes per runtime);
//! `-- --quick` runs 20 rounds; `-- --seed N` replays a run. The seed is printed first. At
//! each checkpoint the client must have converged (every held key equal to the server's,
//! every key it must hold held, version and cursors equal, health connected); the run fails
//! otherwise. Memory is flat when RSS and the queues at the last checkpoint are within 1.2× of
//! the first checkpoint after warm-up (the first tenth of the rounds). Results go to
//! `target/bench-soak.json`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_devserver::{DevConfig, DevServer, Fault};
use unicat_tests::e2e::UnicatHandle;
use unicat_tests::faults::{self, Checkpoint, World};
use unicat_tests::peers::repo_root;
use unicat_tests::runtimes::{Blocking, Smol};

/// A dev server in a child process (this binary, re-run with `--server-child`).
struct Remote {
    child: Child,
    url: String,
    project: String,
    api_key: String,
}

impl Remote {
    fn start(records: usize) -> Remote {
        let mut child = Command::new(std::env::current_exe().expect("the bench's path"))
            .args(["--server-child", &records.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server child starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server child's address");
        let v: Value = serde_json::from_str(&line).expect("an address line");
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Remote {
            url: s("url"),
            project: s("project"),
            api_key: s("api_key"),
            child,
        }
    }

    /// One control call on a fresh connection (the faults cut kept-alive ones), retried while
    /// the server restarts.
    fn call(&self, op: &str, body: Value) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_idle_connections(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let sent = agent
                .post(format!("{}/_dev/{op}", self.url))
                .header("content-type", "application/json")
                .send(body.to_string());
            match sent {
                Ok(mut resp) => {
                    let text = resp.body_mut().read_to_string().expect("control answer");
                    return serde_json::from_str(&text).unwrap_or(Value::Null);
                }
                Err(e) if Instant::now() < deadline => {
                    log::debug!("/_dev/{op}: {e}; trying again");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("/_dev/{op}: {e}"),
            }
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl World for Remote {
    fn url(&self) -> String {
        self.url.clone()
    }
    fn project(&self) -> String {
        self.project.clone()
    }
    fn api_key(&self) -> String {
        self.api_key.clone()
    }
    fn inject(&self, fault: &Fault) {
        let ms = |d: &Duration| d.as_millis() as u64;
        let (op, body) = match fault {
            Fault::Drop => ("drop_transports", json!({})),
            Fault::Reset => ("reset_transports", json!({})),
            Fault::Silence => ("silence_transports", json!({})),
            Fault::CloseFrame => ("close_websockets", json!({})),
            Fault::Refuse { duration, message } => (
                "refuse_connects",
                json!({"seconds": duration.as_secs_f64(), "message": message}),
            ),
            Fault::FailApi(f) => (
                "fail_api",
                json!({"statuses": f.statuses, "fraction": f.fraction, "count": f.count, "html": f.html}),
            ),
            Fault::DelayApi(d) => ("delay_api", json!({"ms": ms(d)})),
            Fault::DelaySync(d) => ("delay_sync", json!({"ms": ms(d)})),
            Fault::ExpireJwts => ("expire_jwts", json!({})),
            Fault::Restart { down } => ("restart", json!({"ms": ms(down)})),
            Fault::Stall { count } => ("stall_responses", json!({"count": count})),
            other => panic!("no HTTP route for {other:?}"),
        };
        self.call(op, body);
    }
    fn clear_faults(&self) {
        self.call("clear_faults", json!({}));
    }
    fn change_records(&self, count: usize, field: &str) {
        self.call("change_records", json!({"count": count, "field": field}));
    }
    fn add_field(&self, name: &str) {
        self.call("add_field", json!({"name": name}));
    }
    fn delete_record(&self, gid: &str) {
        self.call("delete_record", json!({"record": gid}));
    }
    fn record_gids(&self, n: usize) -> Vec<String> {
        serde_json::from_value(self.call("record_gids", json!({"count": n}))["records"].clone())
            .unwrap_or_default()
    }
    fn state(&self) -> Value {
        self.call("state", json!({}))
    }
    fn counters(&self) -> BTreeMap<String, u64> {
        serde_json::from_value(self.call("counters", json!({}))).unwrap_or_default()
    }
}

/// The child: serves until its stdin closes.
fn server_child(records: usize) {
    let server = DevServer::start(DevConfig {
        records,
        ..DevConfig::default().with_ping(Duration::from_millis(300), Duration::from_millis(300))
    })
    .expect("the dev server starts");
    let line =
        json!({"url": server.url(), "project": server.project(), "api_key": server.api_key()});
    out(&line.to_string());
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
}

fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut o, format!("{s}\n").as_bytes());
    let _ = std::io::Write::flush(&mut o);
}

fn run<H: UnicatHandle>(name: &str, seed: u64, rounds: usize, per_round: usize) -> Value {
    let remote = Remote::start(120);
    let started = Instant::now();
    let checkpoints = faults::soak::<H>(&remote, seed, rounds, per_round);
    let elapsed = started.elapsed();
    let warm_up = (rounds / 10).max(2).min(rounds.saturating_sub(1));
    faults::assert_queues_flat(&checkpoints, warm_up);
    let first = &checkpoints[warm_up];
    let last = checkpoints.last().expect("checkpoints");
    let rss_ratio = last.rss_kib as f64 / first.rss_kib.max(1) as f64;
    let (p50, max) = faults::convergence_summary(&checkpoints);
    out(&format!(
        "{name}: seed {seed}, {} faults over {} changes in {:.0} s; converged every time, p50 {:.0} ms, max {:.0} ms; RSS {} KiB after warm-up, {} KiB at the end ({rss_ratio:.2}×)",
        last.faults,
        last.changes,
        elapsed.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        first.rss_kib,
        last.rss_kib,
    ));
    assert!(
        rss_ratio <= 1.2,
        "{name}: RSS grew {rss_ratio:.2}× ({checkpoints:#?})"
    );
    json!({
        "seed": seed, "faults": last.faults, "changes": last.changes,
        "seconds": elapsed.as_secs_f64(),
        "converge_p50_ms": p50.as_secs_f64() * 1e3, "converge_max_ms": max.as_secs_f64() * 1e3,
        "rss_after_warm_up_kib": first.rss_kib, "rss_last_kib": last.rss_kib, "rss_ratio": rss_ratio,
        "rss_kib": checkpoints.iter().map(|c: &Checkpoint| c.rss_kib).collect::<Vec<_>>(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--server-child") {
        server_child(args[i + 1].parse().expect("a record count"));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let seed = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or_else(faults::soak_seed);
    // Two faults per round on average: 300 rounds make about 600 faults, and 200 changes a
    // round over 50,000 changes.
    let (rounds, per_round) = if quick { (20, 200) } else { (300, 200) };
    out(&format!(
        "soak seed {seed}: {rounds} rounds of {per_round} changes per runtime"
    ));
    let blocking = run::<Blocking>("blocking", seed, rounds, per_round);
    let smol = run::<Smol>("smol", seed, rounds, per_round);
    let path = repo_root().join("target/bench-soak.json");
    let _ = std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"blocking": blocking, "smol": smol}))
            .unwrap_or_default(),
    );
}
