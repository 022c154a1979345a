//! The fault matrix and the soak, written once and run on every runtime against the dev
//! server.
//!
//! Every fault is made for real by the server ([`Fault`]): connections cut with a FIN, an RST,
//! a close frame or silence; refused CONNECTs; failed, slow and stalled API answers; late
//! broadcasts; invalidated JWTs; restarts. Around each, the server changes records before,
//! during and after; then the client must be *converged*: every key it holds equal to the
//! server's, every key it must hold held, version and both cursors equal to the server's, and
//! its health connected and caught up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unicat_core::client::{ClientConfig, Event, Health, RetryPolicy, Stats};
use unicat_core::config::ReconnectPolicy;
use unicat_core::error::DisconnectReason;
use unicat_core::store::{DataType, Store};
use unicat_devserver::{ApiFailure, DevConfig, DevServer, Fault};

use crate::e2e::{Options, UnicatHandle};

/// The server side of a fault test: the embedded dev server, or (in the long soak) one in
/// another process driven over its HTTP control surface, so that the client's memory can be
/// measured alone.
pub trait World: Sync {
    /// Base URL.
    fn url(&self) -> String;
    /// Project gid.
    fn project(&self) -> String;
    /// API key.
    fn api_key(&self) -> String;
    /// Makes a fault happen.
    fn inject(&self, fault: &Fault);
    /// Ends the server-side faults.
    fn clear_faults(&self);
    /// Changes `field` of the first `count` records.
    fn change_records(&self, count: usize, field: &str);
    /// Adds a field to the schema (a `fields` INSERT the client must fetch).
    fn add_field(&self, name: &str);
    /// Deletes a record.
    fn delete_record(&self, gid: &str);
    /// The first `n` records under the root.
    fn record_gids(&self, n: usize) -> Vec<String>;
    /// The canonical state (see `Control::state`).
    fn state(&self) -> Value;
    /// Requests served per endpoint.
    fn counters(&self) -> BTreeMap<String, u64>;
}

impl World for DevServer {
    fn url(&self) -> String {
        DevServer::url(self).to_owned()
    }
    fn project(&self) -> String {
        DevServer::project(self).to_owned()
    }
    fn api_key(&self) -> String {
        DevServer::api_key(self).to_owned()
    }
    fn inject(&self, fault: &Fault) {
        self.control().inject(fault);
    }
    fn clear_faults(&self) {
        self.control().clear_faults();
    }
    fn change_records(&self, count: usize, field: &str) {
        self.control()
            .change_records(count, Some(field))
            .expect("change records");
    }
    fn add_field(&self, name: &str) {
        self.control()
            .add_field(name, "textline", None)
            .expect("add a field");
    }
    fn delete_record(&self, gid: &str) {
        self.control().delete_record(gid).expect("delete a record");
    }
    fn record_gids(&self, n: usize) -> Vec<String> {
        self.control().record_gids(n)
    }
    fn state(&self) -> Value {
        self.control().state()
    }
    fn counters(&self) -> BTreeMap<String, u64> {
        self.control().counters()
    }
}

/// A dev server for fault tests: short heartbeats (a silent connection is noticed within a
/// second), and one change per record per round.
pub fn server(records: usize) -> DevServer {
    DevServer::start(DevConfig {
        records,
        ..DevConfig::default().with_ping(Duration::from_millis(300), Duration::from_millis(300))
    })
    .expect("the dev server starts")
}

/// Client settings for fault tests: the same rules with shorter waits, so CI stays fast.
pub fn quick(c: ClientConfig) -> ClientConfig {
    c.reconnect(ReconnectPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        ..ReconnectPolicy::default()
    })
    .http_timeout(Duration::from_secs(3))
    .initsync_timeout(Duration::from_secs(5))
    .fetch_retry(Duration::from_millis(100), Duration::from_secs(1))
    .retry(RetryPolicy {
        retries: 2,
        ..RetryPolicy::default()
    })
}

/// [`quick`], but reconnecting on the default schedule (1 s doubling to 5 s).
pub fn default_backoff(c: ClientConfig) -> ClientConfig {
    quick(c).reconnect(ReconnectPolicy::default())
}

/// A connected client that holds `held` records, and the server it talks to.
pub struct Rig<'w, H> {
    /// The server.
    pub world: &'w dyn World,
    /// The client.
    pub h: H,
    /// The records the client fetched, so must hold unless deleted.
    pub loaded: BTreeSet<String>,
}

const CONVERGE: Duration = Duration::from_secs(60);

impl<'w, H: UnicatHandle> Rig<'w, H> {
    /// Connects a client with `configure`, fetches the first `held` records and waits until
    /// caught up.
    pub fn new(
        world: &'w dyn World,
        held: usize,
        configure: fn(ClientConfig) -> ClientConfig,
    ) -> Self {
        let h = H::build(
            &world.url(),
            &world.project(),
            Options {
                keep_api_key: true,
                configure: Some(configure),
                ..Options::default()
            },
        );
        h.connect(&world.api_key()).expect("connect");
        let loaded: BTreeSet<String> = world.record_gids(held).into_iter().collect();
        let gids: Vec<&String> = loaded.iter().collect();
        for chunk in gids.chunks(100) {
            h.call("/records/get", json!({ "records": chunk }))
                .expect("fetch records");
        }
        assert!(h.wait_caught_up(CONVERGE), "not caught up at the start");
        Rig { world, h, loaded }
    }

    /// Waits until the client has converged to the server; returns how long that took.
    /// Panics with the last difference after a minute.
    pub fn converge(&self) -> Duration {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < CONVERGE {
            match self.difference() {
                None => return start.elapsed(),
                Some(d) => last = d,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "not converged after {CONVERGE:?}: {last}\nhealth {:?}\nstats {:?}",
            self.h.health(),
            self.h.stats()
        );
    }

    /// What still differs between client and server, if anything.
    pub fn difference(&self) -> Option<String> {
        let health = self.h.health();
        if health != Health::Connected {
            return Some(format!("health is {health:?}"));
        }
        let state = self.world.state();
        self.h.with_store(|s| compare(s, &state, &self.loaded))
    }
}

/// The schema maps and languages come whole with `/auth`; the client must hold all of them.
const HELD_WHOLE: [DataType; 6] = [
    DataType::Languages,
    DataType::Definitions,
    DataType::Classes,
    DataType::Fields,
    DataType::Layouts,
    DataType::Queries,
];

fn compare(store: &Store, state: &Value, loaded: &BTreeSet<String>) -> Option<String> {
    let cursors = (store.version(), store.cc_cursor(), store.cursor());
    let want = (
        state["cc.version"].as_str().unwrap_or_default(),
        state["cc.cursor"].as_i64().unwrap_or_default(),
        state["cursor"].as_i64().unwrap_or_default(),
    );
    if cursors != want {
        return Some(format!("version and cursors {cursors:?}, server {want:?}"));
    }
    let data = &state["data"];
    for t in DataType::ALL {
        let server = data[t.name()].as_object();
        for (key, object) in store.map(t) {
            match server.and_then(|m| m.get(key)) {
                Some(v) if *v == object.to_value() => {}
                Some(v) => return Some(format!("{} {key}: {} != {v}", t.name(), object.json())),
                None => return Some(format!("{} {key} is held but deleted", t.name())),
            }
        }
    }
    for t in HELD_WHOLE {
        let server = data[t.name()].as_object().map(|m| m.len()).unwrap_or(0);
        if store.map(t).len() != server {
            return Some(format!(
                "{}: {} held of {server}",
                t.name(),
                store.map(t).len()
            ));
        }
    }
    let records = data["records"].as_object();
    if let Some(gid) = loaded
        .iter()
        .find(|g| records.is_some_and(|r| r.contains_key(*g)) && store.record(g).is_none())
    {
        return Some(format!("record {gid} is not held"));
    }
    None
}

/// Changes some records, by round: prices and stocks, a new field every few rounds, and (in
/// round 3) a deleted record.
pub fn changes<H: UnicatHandle>(rig: &mut Rig<'_, H>, round: usize, count: usize) {
    let field = if round.is_multiple_of(2) {
        "stock"
    } else {
        "price"
    };
    rig.world.change_records(count, field);
    if round % 4 == 1 {
        rig.world.add_field(&format!("extra_{round}"));
    }
    if round == 3 {
        // The last record under the root, so `change_records` keeps changing the same ones.
        if let Some(gid) = rig.loaded.iter().next_back().cloned() {
            rig.world.delete_record(&gid);
        }
    }
}

/// One row of the matrix: changes before the fault, the fault, changes while it lasts, its
/// end, changes after; then the client must converge, and must have felt the fault.
pub fn survives<H: UnicatHandle>(fault: Fault, lasting: Duration) {
    let server = server(120);
    let mut rig: Rig<'_, H> = Rig::new(&server, 100, quick);
    drain(&rig.h);
    server.control().reset_counters();
    changes(&mut rig, 0, 40);
    server.inject(&fault);
    if matches!(fault, Fault::Refuse { .. }) {
        // A refusal only shows on a reconnect.
        server.inject(&Fault::Drop);
    }
    changes(&mut rig, 1, 40);
    // Changes keep coming while the fault lasts, so that requests meet it.
    let start = Instant::now();
    let mut round = 2;
    while start.elapsed() < lasting {
        changes(&mut rig, round, 20);
        round += 2;
        std::thread::sleep(Duration::from_millis(150));
    }
    server.clear_faults();
    changes(&mut rig, 3, 40);
    rig.converge();
    let events = drain(&rig.h);
    let counters = server.counters();
    let count = |prefix: &str| -> u64 {
        counters
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    let lost = |pred: fn(&DisconnectReason) -> bool| {
        events
            .iter()
            .any(|e| matches!(e, Event::Disconnected { reason } if pred(reason)))
    };
    let felt = match &fault {
        Fault::Drop | Fault::Reset | Fault::Restart { .. } => lost(|_| true),
        // Nothing arrives and nothing closes: only the heartbeat notices.
        Fault::Silence => lost(|r| *r == DisconnectReason::PingTimeout),
        Fault::CloseFrame => lost(|r| *r == DisconnectReason::TransportClose),
        Fault::Refuse { .. } => count("socket.io connect_error") > 0,
        Fault::FailApi(_) => count("fault ") > 0,
        Fault::Stall { .. } => count("fault stall") > 0,
        _ => true,
    };
    assert!(felt, "{fault:?} was not felt: {events:#?}\n{counters:?}");
}

/// Takes every event the client has queued.
pub fn drain<H: UnicatHandle>(h: &H) -> Vec<Event> {
    std::iter::from_fn(|| h.next_event(Duration::ZERO)).collect()
}

/// The CONNECT refused for 10 s, which outlasts several backoff steps, on the default backoff:
/// the client backs off, renews its JWT at most once, and comes back.
pub fn a_ten_second_refusal_streak<H: UnicatHandle>() {
    let server = server(60);
    let mut rig: Rig<'_, H> = Rig::new(&server, 50, default_backoff);
    server.control().reset_counters();
    server.inject(&Fault::Refuse {
        duration: Duration::from_secs(10),
        message: "Service unavailable".into(),
    });
    server.inject(&Fault::Drop);
    changes(&mut rig, 1, 20);
    std::thread::sleep(Duration::from_secs(10));
    changes(&mut rig, 2, 20);
    rig.converge();
    let counters = server.counters();
    let refused = counters
        .get("socket.io connect_error")
        .copied()
        .unwrap_or(0);
    let auths = counters.get("/auth").copied().unwrap_or(0);
    // 1 + 2 + 4 + 5 s (±50 %) fill 10 s: a handful of attempts, not hundreds.
    assert!((2..=10).contains(&refused), "{refused} refusals");
    assert!(auths <= 1, "{auths} /auth calls in one streak");
    assert!(matches!(rig.h.health(), Health::Connected));
}

/// A refusal that names auth renews the JWT before each next attempt.
pub fn refusals_naming_auth_renew_the_jwt_each_time<H: UnicatHandle>() {
    let server = server(30);
    let mut rig: Rig<'_, H> = Rig::new(&server, 20, quick);
    server.control().reset_counters();
    server.inject(&Fault::Refuse {
        duration: Duration::from_secs(2),
        message: "Permission denied: JWT unknown or expired".into(),
    });
    server.inject(&Fault::Drop);
    changes(&mut rig, 1, 20);
    std::thread::sleep(Duration::from_secs(2));
    rig.converge();
    let counters = server.counters();
    let refused = counters
        .get("socket.io connect_error")
        .copied()
        .unwrap_or(0);
    let auths = counters.get("/auth").copied().unwrap_or(0);
    assert!(refused >= 2, "{refused} refusals");
    assert!(
        auths + 1 >= refused,
        "{auths} /auth calls for {refused} refusals"
    );
}

/// Stacked: the JWTs are invalidated while reconnects are refused.
pub fn jwts_invalidated_while_refused<H: UnicatHandle>() {
    let server = server(60);
    let mut rig: Rig<'_, H> = Rig::new(&server, 50, quick);
    server.inject(&Fault::Refuse {
        duration: Duration::from_millis(1500),
        message: "Service unavailable".into(),
    });
    server.inject(&Fault::Reset);
    changes(&mut rig, 1, 30);
    std::thread::sleep(Duration::from_millis(500));
    server.inject(&Fault::ExpireJwts);
    changes(&mut rig, 2, 30);
    std::thread::sleep(Duration::from_millis(1000));
    changes(&mut rig, 3, 30);
    rig.converge();
}

/// Stacked: 503s while the client catches up on many changes after a reconnect.
pub fn server_errors_during_a_catch_up<H: UnicatHandle>() {
    let server = server(400);
    let mut rig: Rig<'_, H> = Rig::new(&server, 400, quick);
    server.control().pause_sync();
    changes(&mut rig, 0, 400);
    changes(&mut rig, 2, 400);
    server.inject(&Fault::FailApi(ApiFailure {
        statuses: vec![503],
        fraction: 0.6,
        count: None,
        html: false,
    }));
    server.inject(&Fault::Drop);
    server.control().resume_sync();
    std::thread::sleep(Duration::from_secs(2));
    server.clear_faults();
    rig.converge();
    assert!(
        server.counters().get("fault 503").copied().unwrap_or(0) > 0,
        "the catch-up met 503s"
    );
}

// ---- the soak ---------------------------------------------------------------------------

/// SplitMix64, for the soak's choices: the printed seed replays them.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// A fault picked at random: any of the matrix, with random durations, messages and
/// statuses.
pub fn random_fault(rng: &mut Rng) -> Fault {
    const MESSAGES: [&str; 5] = [
        "Service unavailable",
        "Permission denied",
        "",
        "Too many connections",
        "invalid token",
    ];
    const STATUSES: [u16; 6] = [500, 502, 503, 504, 429, 403];
    match rng.below(11) {
        0 => Fault::Drop,
        1 => Fault::Reset,
        2 => Fault::Silence,
        3 => Fault::CloseFrame,
        4 => Fault::Refuse {
            duration: rng.millis(100, 2000),
            message: MESSAGES[rng.below(MESSAGES.len() as u64) as usize].into(),
        },
        5 => {
            let html = rng.below(2) == 0;
            // A 403 in Unicat's envelope is the API rejecting the key, which rightly stops
            // live sync; a proxy's 403 page is a passing fault.
            let pool = if html { &STATUSES[..] } else { &STATUSES[..5] };
            let n = 1 + rng.below(3) as usize;
            let statuses = (0..n)
                .map(|_| pool[rng.below(pool.len() as u64) as usize])
                .collect();
            Fault::FailApi(ApiFailure {
                statuses,
                fraction: 0.2 + rng.below(8) as f64 / 10.0,
                count: (rng.below(2) == 0).then(|| 1 + rng.below(20)),
                html,
            })
        }
        6 => Fault::DelayApi(rng.millis(20, 400)),
        7 => Fault::DelaySync(rng.millis(20, 600)),
        8 => Fault::ExpireJwts,
        9 => Fault::Restart {
            down: rng.millis(50, 1500),
        },
        _ => Fault::Stall {
            count: 1 + rng.below(3),
        },
    }
}

/// One checkpoint of a soak.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Faults injected so far.
    pub faults: usize,
    /// Changes made so far.
    pub changes: usize,
    /// How long the client took to converge once the faults ended.
    pub converged_in: Duration,
    /// The process's resident memory, in KiB (Linux), or 0.
    pub rss_kib: u64,
    /// The client's queues.
    pub stats: Stats,
}

/// The process's resident set size in KiB, from `/proc/self/status` (0 where there is none).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `rounds` rounds of one to three random faults each, with `per_round` record changes
/// spread before, during and after them, and a convergence checkpoint after each round. The
/// seed is printed first, so a failure can be replayed.
pub fn soak<H: UnicatHandle>(
    world: &dyn World,
    seed: u64,
    rounds: usize,
    per_round: usize,
) -> Vec<Checkpoint> {
    log::info!("soak seed {seed}: {rounds} rounds of {per_round} changes");
    // The seed must reach whoever reads a failed run, logger or not.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("soak seed {seed} (UNICAT_SOAK_SEED={seed} replays it)");
    }
    let mut rng = Rng::new(seed);
    let rig: Rig<'_, H> = Rig::new(world, 100, quick);
    let mut checkpoints = Vec::with_capacity(rounds);
    let (mut faults, mut changed) = (0, 0);
    let step = (per_round / 3).max(1);
    for round in 0..rounds {
        let stacked = 1 + rng.below(3) as usize;
        let mut names = Vec::new();
        rig.world.change_records(step, "stock");
        for _ in 0..stacked {
            let fault = random_fault(&mut rng);
            names.push(format!("{fault:?}"));
            rig.world.inject(&fault);
            std::thread::sleep(rng.millis(0, 300));
        }
        faults += stacked;
        rig.world.change_records(step, "price");
        std::thread::sleep(rng.millis(100, 1500));
        rig.world.clear_faults();
        rig.world
            .change_records(per_round.saturating_sub(2 * step).max(1), "stock");
        changed += per_round.max(3);
        let converged_in = rig.converge();
        // An application reads its events; left unread they would fill the channel.
        drain(&rig.h);
        log::info!("round {round}: {names:?} converged in {converged_in:?}");
        checkpoints.push(Checkpoint {
            faults,
            changes: changed,
            converged_in,
            rss_kib: rss_kib(),
            stats: rig.h.stats(),
        });
    }
    checkpoints
}

/// The seed of a soak: `UNICAT_SOAK_SEED`, or a fresh one.
pub fn soak_seed() -> u64 {
    std::env::var("UNICAT_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(Instant::now())
        })
}

/// Checks that the client's queues did not grow from the first checkpoint after warm-up to
/// the last: within 1.2× (queues at rest are empty, so this means empty again).
pub fn assert_queues_flat(checkpoints: &[Checkpoint], warm_up: usize) {
    let (Some(first), Some(last)) = (checkpoints.get(warm_up), checkpoints.last()) else {
        return;
    };
    let queues = |s: &Stats| {
        [
            s.held_sync_items,
            s.queued_fetches,
            s.fetches_in_flight,
            s.pending_calls,
            s.buffered_emits,
            s.pending_acks,
        ]
    };
    for (a, b) in queues(&first.stats).into_iter().zip(queues(&last.stats)) {
        assert!(
            (b as f64) <= (a as f64) * 1.2,
            "a queue grew: {:?} then {:?}",
            first.stats,
            last.stats
        );
    }
}

/// p50 and max of the checkpoints' convergence times.
pub fn convergence_summary(checkpoints: &[Checkpoint]) -> (Duration, Duration) {
    let mut times: Vec<Duration> = checkpoints.iter().map(|c| c.converged_in).collect();
    times.sort();
    let p50 = times.get(times.len() / 2).copied().unwrap_or_default();
    (p50, times.last().copied().unwrap_or_default())
}

/// The fault matrix as tests, for one runtime's handle type: one test per fault, plus the
/// refusal streak, the stacked faults and a small soak.
#[macro_export]
macro_rules! fault_matrix {
    ($h:ty) => {
        use std::time::Duration;
        use unicat_devserver::{ApiFailure, Fault};
        use unicat_tests::faults;

        fn api(statuses: &[u16], html: bool) -> Fault {
            Fault::FailApi(ApiFailure {
                statuses: statuses.to_vec(),
                fraction: 0.5,
                count: None,
                html,
            })
        }

        #[test]
        fn a_drop() {
            faults::survives::<$h>(Fault::Drop, Duration::from_millis(300))
        }
        #[test]
        fn a_reset() {
            faults::survives::<$h>(Fault::Reset, Duration::from_millis(300))
        }
        #[test]
        fn silence() {
            faults::survives::<$h>(Fault::Silence, Duration::from_millis(1500))
        }
        #[test]
        fn a_close_frame() {
            faults::survives::<$h>(Fault::CloseFrame, Duration::from_millis(300))
        }
        #[test]
        fn refused_connects() {
            let refuse = Fault::Refuse {
                duration: Duration::from_secs(2),
                message: "Service unavailable".into(),
            };
            faults::survives::<$h>(refuse, Duration::from_millis(2000));
        }
        #[test]
        fn server_errors() {
            faults::survives::<$h>(api(&[500, 502, 503, 504], false), Duration::from_secs(2))
        }
        #[test]
        fn too_many_requests() {
            faults::survives::<$h>(api(&[429], false), Duration::from_secs(2))
        }
        #[test]
        fn a_proxys_error_pages() {
            faults::survives::<$h>(api(&[502, 403], true), Duration::from_secs(2))
        }
        #[test]
        fn slow_answers() {
            faults::survives::<$h>(
                Fault::DelayApi(Duration::from_millis(300)),
                Duration::from_secs(2),
            )
        }
        #[test]
        fn late_broadcasts() {
            faults::survives::<$h>(
                Fault::DelaySync(Duration::from_millis(500)),
                Duration::from_secs(2),
            )
        }
        #[test]
        fn jwts_invalidated_while_offline() {
            let server = faults::server(120);
            let mut rig: faults::Rig<'_, $h> = faults::Rig::new(&server, 100, faults::quick);
            server.control().pause_sync();
            server.control().expire_jwts();
            server.control().drop_transports();
            faults::changes(&mut rig, 1, 40);
            server.control().resume_sync();
            faults::changes(&mut rig, 2, 40);
            rig.converge();
        }
        #[test]
        fn a_restart() {
            faults::survives::<$h>(
                Fault::Restart {
                    down: Duration::from_secs(1),
                },
                Duration::from_millis(1500),
            )
        }
        #[test]
        fn stalled_answers() {
            faults::survives::<$h>(Fault::Stall { count: 3 }, Duration::from_millis(300))
        }
        #[test]
        fn a_ten_second_refusal_streak() {
            faults::a_ten_second_refusal_streak::<$h>()
        }
        #[test]
        fn refusals_naming_auth_renew_the_jwt_each_time() {
            faults::refusals_naming_auth_renew_the_jwt_each_time::<$h>()
        }
        #[test]
        fn jwts_invalidated_while_refused() {
            faults::jwts_invalidated_while_refused::<$h>()
        }
        #[test]
        fn server_errors_during_a_catch_up() {
            faults::server_errors_during_a_catch_up::<$h>()
        }
        #[test]
        fn a_soak_of_thirty_random_faults() {
            let server = faults::server(120);
            let checkpoints = faults::soak::<$h>(&server, faults::soak_seed(), 15, 60);
            let faults_made = checkpoints.last().map_or(0, |c| c.faults);
            assert!(faults_made >= 15, "{faults_made} faults");
            faults::assert_queues_flat(&checkpoints, 2);
        }
    };
}
