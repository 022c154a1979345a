//! The smol runtime against the embedded dev server, under different executors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use serde_json::json;
use unicat_core::client::Event;
use unicat_core::store::DataType;
use unicat_devserver::{DevConfig, DevServer};
use unicat_smol::{Error, Spawner, UnicatApi};

const WAIT: Duration = Duration::from_secs(20);

fn server(records: usize) -> DevServer {
    DevServer::start(DevConfig {
        records,
        ..DevConfig::default()
    })
    .expect("the dev server starts")
}

/// `fut`'s output, or `None` once `deadline` passes: no wait in these tests is unbounded.
async fn within<T>(deadline: Instant, fut: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        smol::Timer::at(deadline).await;
        None
    })
    .await
}

/// Everything a simple application does, polled by `futures_lite::future::block_on`: the
/// client's tasks run on its own thread, the application's future only waits.
#[test]
fn a_session_under_futures_lite_block_on() {
    let server = server(20);
    let gid = server.control().record_gids(1)[0].clone();
    futures_lite::future::block_on(async {
        let api = UnicatApi::builder(server.url(), server.project())
            .build()
            .unwrap();
        let auth = api.connect(server.api_key()).await.unwrap();
        assert!(auth.get("user").is_some(), "{auth}");
        api.wait_caught_up(WAIT).await.unwrap();
        let got = api
            .call("/records/get", json!({"record": gid}))
            .await
            .unwrap();
        assert_eq!(got["record"], json!(gid));
        assert!(api.store().record(&gid).is_some());

        server
            .control()
            .set_field(&gid, Some("en"), "price", json!(42.5))
            .unwrap();
        let mut events = api.events();
        let deadline = Instant::now() + WAIT;
        loop {
            match within(deadline, events.next()).await {
                Some(Some(Event::Changed { key, .. })) if key == gid => break,
                Some(Some(_)) => {}
                Some(None) => panic!("the event stream ended"),
                None => panic!("no Changed within {WAIT:?}"),
            }
        }
        let price = api
            .store()
            .record(&gid)
            .and_then(|r| r.pointer("/fields/en/price"));
        assert_eq!(price, Some(json!(42.5)));

        let synced = api.sync_now().await.unwrap();
        assert!(synced.is_object(), "{synced}");
        let cursors = api.sync_cursors().await.unwrap();
        assert!(cursors.get("cursor").is_some(), "{cursors}");

        // A failing call is a typed error, and the client goes on.
        match api.call("/records/get", json!({"record": "nope"})).await {
            Err(Error::Call(e)) => assert_eq!(e.code(), Some(422), "{e}"),
            other => panic!("{other:?}"),
        }
        api.close().await;
        assert!(api.is_closed());
        assert!(matches!(
            api.call("/records/get", json!({"record": gid})).await,
            Err(Error::Closed)
        ));
        // The stream ends once the events left are taken.
        let deadline = Instant::now() + WAIT;
        while within(deadline, events.next())
            .await
            .expect("the event stream ends after close")
            .is_some()
        {}
    });
}

/// On an application's `smol::Executor` (the client starts no thread): several tasks read the
/// store in a loop while live sync applies 2,000 changes; no read ever waits on the network.
#[test]
fn tasks_read_the_store_while_sync_runs_under_smol() {
    let server = server(200);
    let held = server.control().record_gids(200);
    let ex = Arc::new(smol::Executor::new());
    smol::block_on(ex.run(async {
        let api = Arc::new(
            UnicatApi::builder(server.url(), server.project())
                .spawner(Spawner::executor(Arc::clone(&ex)))
                .build()
                .unwrap(),
        );
        api.connect(server.api_key()).await.unwrap();
        api.wait_caught_up(WAIT).await.unwrap();
        for chunk in held.chunks(100) {
            api.call("/records/get", json!({"records": chunk}))
                .await
                .unwrap();
        }

        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let slowest = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (api, stop, reads, slowest) = (
                    Arc::clone(&api),
                    Arc::clone(&stop),
                    Arc::clone(&reads),
                    Arc::clone(&slowest),
                );
                ex.spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let started = Instant::now();
                        let n = {
                            let store = api.store();
                            store.records().len() + store.map(DataType::Definitions).len()
                        };
                        assert!(n > 0);
                        let took = started.elapsed().as_micros() as u64;
                        slowest.fetch_max(took, Ordering::SeqCst);
                        reads.fetch_add(1, Ordering::SeqCst);
                        smol::future::yield_now().await;
                    }
                })
            })
            .collect();

        let control = server.control().clone();
        let erp = blocking::unblock(move || {
            for round in 0..20 {
                control
                    .change_records(100, Some(if round % 2 == 0 { "stock" } else { "price" }))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        erp.await;
        let (_, cursor) = server.control().cursors();
        let deadline = Instant::now() + WAIT;
        while api.store().cursor() as u64 != cursor {
            assert!(Instant::now() < deadline, "the store did not catch up");
            smol::Timer::after(Duration::from_millis(5)).await;
        }
        stop.store(true, Ordering::SeqCst);
        for r in readers {
            r.await;
        }
        let state = server.control().state();
        {
            let store = api.store();
            for gid in &held {
                let got = store.record(gid).map(|o| o.to_value());
                assert_eq!(got.as_ref(), Some(&state["data"]["records"][gid]), "{gid}");
            }
        }
        assert!(reads.load(Ordering::SeqCst) > 100, "the readers ran");
        let slowest = Duration::from_micros(slowest.load(Ordering::SeqCst));
        assert!(
            slowest < Duration::from_millis(500),
            "a read took {slowest:?}"
        );
        api.close().await;
    }));
}

/// Any executor, through a spawn function: here smol's global one.
#[test]
fn tasks_on_an_executor_given_as_a_function() {
    let server = server(5);
    let gid = server.control().record_gids(1)[0].clone();
    let api = UnicatApi::builder(server.url(), server.project())
        .spawner(Spawner::from_fn(|task| smol::spawn(task).detach()))
        .build()
        .unwrap();
    unicat_smol::block_on(async {
        api.connect(server.api_key()).await.unwrap();
        api.wait_caught_up(WAIT).await.unwrap();
        let got = api
            .call("/records/get", json!({"record": gid}))
            .await
            .unwrap();
        assert_eq!(got["record"], json!(gid));
        api.close().await;
    });
}

/// When the application's executor goes away, the client's tasks go with it: calls fail as
/// closed instead of waiting forever.
#[test]
fn a_dropped_executor_closes_the_client() {
    let server = server(5);
    let ex = Arc::new(smol::Executor::new());
    let api = UnicatApi::builder(server.url(), server.project())
        .spawner(Spawner::executor(Arc::clone(&ex)))
        .build()
        .unwrap();
    smol::block_on(ex.run(async {
        api.connect(server.api_key()).await.unwrap();
    }));
    drop(ex);
    smol::block_on(async {
        assert!(api.is_closed());
        let r = api.call("/records/get", json!({"record": "x"})).await;
        assert!(matches!(r, Err(Error::Closed)), "{r:?}");
        assert!(matches!(
            api.wait_caught_up(Duration::from_secs(1)).await,
            Err(Error::Closed)
        ));
    });
}

/// Files: an upload (a stat and a read on the blocking pool, a multipart POST), a publish, a
/// download streamed into the asset folder, a transformed one, and a job followed to its end.
#[test]
fn upload_publish_download_and_a_job() {
    let server = server(5);
    let dir = std::env::temp_dir().join(format!("unicat-smol-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let folder = dir.join("assets");
    let source = dir.join("photo-9.jpg");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &bytes).unwrap();
    unicat_smol::block_on(async {
        let api = UnicatApi::builder(server.url(), server.project())
            .asset_folder(&folder)
            .media_hosts(unicat_core::api::MediaHosts::local_dev())
            .build()
            .unwrap();
        api.connect(server.api_key()).await.unwrap();
        let up = api
            .upload("/assets/upload", &[("pathname", "/img")], &source)
            .await
            .unwrap();
        let gid = up["asset"].as_str().expect("an asset gid").to_string();
        assert!(api.store().asset(&gid).is_some(), "{up}");

        let published = api.publish(&gid).await.unwrap();
        assert!(published["public_url"].is_string(), "{published}");

        let rel = api.download(&gid, None, None).await.unwrap();
        assert_eq!(std::fs::read(folder.join(&rel)).unwrap(), bytes, "{rel}");
        let rel = api
            .download_transformed(
                &gid,
                vec![("fit".into(), json!("cover")), ("width".into(), json!(50))],
                Some("small.jpg"),
                None,
            )
            .await
            .unwrap();
        assert!(folder.join(&rel).is_file(), "{rel}");

        // A missing file fails as a typed error, before anything is sent.
        let r = api
            .upload(
                "/assets/upload",
                &[("pathname", "/img")],
                dir.join("nope.jpg"),
            )
            .await;
        assert!(matches!(r, Err(Error::Call(_))), "{r:?}");

        let backup = api.call("/backups/create", json!({})).await.unwrap();
        let token = backup["job.token"]
            .as_str()
            .expect("a job token")
            .to_string();
        let job = api.track_job(&token, Some(WAIT)).await.unwrap();
        assert_eq!(job["status"], json!("done"), "{job}");
        api.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}
