//! No thread per request: the process's thread count while 200 calls are in flight at once,
//! each on a connection of its own, stays what it was before them. Alone in its test binary so
//! that no other test's threads are counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::poll_once;
use serde_json::json;
use unicat_devserver::{DevConfig, DevServer};
use unicat_smol::UnicatApi;

/// The `Threads:` line of /proc/self/status.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

#[test]
fn two_hundred_calls_in_flight_start_no_thread() {
    const CALLS: usize = 200;
    let server = DevServer::start(DevConfig {
        records: 50,
        ..DevConfig::default()
    })
    .unwrap();
    let gids = server.control().record_gids(50);
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let api = Arc::new(
            UnicatApi::builder(server.url(), server.project())
                .max_connections(CALLS)
                .build()
                .unwrap(),
        );
        api.connect(server.api_key()).await.unwrap();
        api.wait_caught_up(Duration::from_secs(20)).await.unwrap();
        // Everything that starts once per process or per client exists by now: the
        // client's thread, async-io's, the dev server's.
        api.call("/records/get", json!({"record": gids[0]}))
            .await
            .unwrap();
        let before = threads();

        // Each call is polled once: by then it is registered with the client and its request
        // is on its way. One may even be back already, if the scheduler paused this thread
        // while the client's thread and the server were quick.
        let mut calls = Vec::new();
        for i in 0..CALLS {
            let (api, gid) = (Arc::clone(&api), gids[i % gids.len()].clone());
            let mut c =
                Box::pin(async move { api.call("/records/get", json!({"record": gid})).await });
            match poll_once(c.as_mut()).await {
                Some(result) => {
                    result.unwrap();
                }
                None => calls.push(c),
            }
        }
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (done, server) = (Arc::clone(&done), &server);
            ex.spawn(async move {
                let (mut most_threads, mut most_connections) = (0, 0);
                while !done.load(Ordering::SeqCst) {
                    most_threads = most_threads.max(threads());
                    most_connections = most_connections.max(server.control().open_connections());
                    smol::Timer::after(Duration::from_millis(1)).await;
                }
                (most_threads, most_connections)
            })
        };
        for c in calls {
            c.await.unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let (most_threads, most_connections) = sampler.await;
        let after = threads();

        assert!(
            most_connections > 20,
            "the calls ran side by side: {most_connections} connections at most"
        );
        assert!(
            most_threads <= before,
            "threads went from {before} to {most_threads} with {CALLS} calls in flight"
        );
        assert!(after <= before, "{before} threads before, {after} after");
        api.close().await;
    }));
}
