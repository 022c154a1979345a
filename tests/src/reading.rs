//! Typed reading against the embedded dev server, written once and run for every runtime:
//! the get-or-fetch helpers, the walkers at their paging edges, missing references, renames
//! through sync, exact decimals, and the asset helpers. Each runtime implements [`Reader`].

use std::time::Duration;

use serde_json::json;
use unicat_core::api::Transform;
use unicat_core::view::{Reference, Typed, Wanted};
use unicat_devserver::{DevConfig, DevServer};
use unicat_runtime_support::Error;

use crate::e2e::{eventually, Options, UnicatHandle};

/// Which saved-query walker.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// `walk_record_query`.
    Records,
    /// `walk_asset_query`.
    Assets,
    /// `walk_schema_query`.
    Schema,
}

/// The typed-reading helpers of a runtime's client, their items flattened to keys.
pub trait Reader {
    /// `walk_record_tree` (or `walk_asset_tree`) to its end: each item's gid, and the
    /// walk's repeats.
    fn tree(&self, assets: bool) -> (Vec<Result<String, Error>>, u64);
    /// A saved query's walk: `(total, key)` per item; schema keys are `type:gid`.
    fn query(
        &self,
        target: Target,
        language: &str,
        query: &str,
        limit: Option<u64>,
    ) -> Vec<Result<(u64, String), Error>>;
    /// `get_record` / `get_asset` / `get_module` (`kind` names which) of one key.
    fn get_one(&self, kind: &str, key: &str, force: bool) -> Result<Option<String>, Error>;
    /// `get_records` / `get_assets` / `get_assets_by_pathname` / `get_modules`.
    fn get_many(&self, kind: &str, keys: &[&str], force: bool) -> Result<Vec<String>, Error>;
    /// `get_root_record` or `get_root_asset`.
    fn root(&self, assets: bool) -> Result<String, Error>;
    /// `walk_modules`.
    fn modules(&self) -> Vec<Result<String, Error>>;
    /// `get_wanted`: what is still missing after it.
    fn wanted(&self, wanted: &Wanted) -> Result<Wanted, Error>;
    /// `publish_asset` or, with a transform, `publish_transformed_asset`.
    fn publish_asset(
        &self,
        asset: &str,
        transform: Option<&Transform>,
    ) -> Result<Option<String>, Error>;
    /// `download_asset`, or with a transform `download_transformed_asset`.
    fn download_asset(
        &self,
        asset: &str,
        transform: Option<&Transform>,
    ) -> Result<Option<String>, Error>;
    /// `project()`: its languages.
    fn project_languages(&self) -> Vec<String>;
    /// `load_all_records`.
    fn load_all(&self) -> Result<serde_json::Value, Error>;
    /// `walk_definitions`, `walk_classes`, `walk_fields` and `walk_queries`: their keys.
    fn schema_walks(&self) -> [Vec<String>; 4];
}

const WAIT: Duration = Duration::from_secs(20);

fn connected<H: UnicatHandle>(server: &DevServer, options: Options) -> H {
    let h = H::build(server.url(), server.project(), options);
    h.connect(server.api_key()).expect("connect");
    assert!(h.wait_caught_up(WAIT), "not caught up within {WAIT:?}");
    h
}

fn server(records: usize) -> DevServer {
    DevServer::start(DevConfig {
        records,
        ..DevConfig::default()
    })
    .expect("the dev server starts")
}

fn keys(items: Vec<Result<String, Error>>) -> Vec<String> {
    items.into_iter().map(|i| i.expect("an item")).collect()
}

/// Where `parent` stands in `order`, and the items after it.
fn after<'a>(order: &'a [String], parent: &str) -> &'a [String] {
    let at = order
        .iter()
        .position(|g| g == parent)
        .expect("the parent is walked");
    &order[at + 1..]
}

/// The record tree at its paging edges: a parent with exactly 100 children (one page), one
/// with 101 (two), one with none, one whose pages come back empty, and a cycle. Every record
/// is handed out once, depth first, and `load_all_records` (the same walker in the core)
/// loads them all.
pub fn the_tree_walk_at_its_paging_edges<H: UnicatHandle + Reader>() {
    let server = server(3);
    let control = server.control();
    let (p100, c100) = control.plant_children(100).unwrap();
    let (p101, c101) = control.plant_children(101).unwrap();
    let (p0, _) = control.plant_children(0).unwrap();
    let empty = control.plant_empty_page().unwrap();
    let (cycle_parent, cycle_child) = control.plant_cycle().unwrap();
    let h: H = connected(&server, Options::default());

    let (items, repeats) = h.tree(false);
    let order = keys(items);
    assert_eq!(order[0], control.root_record());
    let unique: std::collections::BTreeSet<&String> = order.iter().collect();
    assert_eq!(unique.len(), order.len(), "each record once");
    // root + 3 articles + (1 + 100) + (1 + 101) + 1 + 1 + 2
    assert_eq!(order.len(), 1 + 3 + 101 + 102 + 1 + 1 + 2);
    assert_eq!(
        &after(&order, &p100)[..100],
        &c100[..],
        "depth first, in order"
    );
    assert_eq!(&after(&order, &p101)[..101], &c101[..]);
    assert_eq!(
        after(&order, &p0)[0],
        empty,
        "no children: straight on to the next sibling"
    );
    assert_eq!(after(&order, &cycle_parent)[0], cycle_child);
    assert_eq!(repeats, 1, "the cycle is reported once");

    let loaded = h.load_all().expect("load_all_records");
    assert_eq!(loaded, json!({"records": order.len(), "repeats": 1}));
    assert_eq!(h.store().records().len(), order.len());
}

/// The walkers ride out bursts of server errors (JSON and a proxy's HTML alike): every call
/// they make only reads, so the client retries it, and the walk ends as it would have.
pub fn walkers_ride_out_bursts_of_server_errors<H: UnicatHandle + Reader>() {
    let server = server(150);
    let control = server.control();
    control.plant_children(101).unwrap();
    control.plant_queries().unwrap();
    let options = Options {
        configure: Some(|c| {
            c.retry(unicat_core::client::RetryPolicy {
                retries: 7,
                initial: Duration::from_millis(10),
                max: Duration::from_millis(80),
            })
        }),
        ..Options::default()
    };
    let h: H = connected(&server, options);
    let clean = keys(h.tree(false).0);
    let query = |h: &H| -> Vec<String> {
        h.query(Target::Records, "en", "In stock", None)
            .into_iter()
            .map(|i| i.expect("an item").1)
            .collect()
    };
    let clean_query = query(&h);
    for html in [false, true] {
        let burst = || unicat_devserver::ApiFailure {
            statuses: vec![500, 502, 503, 504],
            fraction: 1.0,
            count: Some(5),
            html,
        };
        control.fail_api(Some(burst()));
        assert_eq!(keys(h.tree(false).0), clean, "html: {html}");
        control.fail_api(Some(burst()));
        assert_eq!(query(&h), clean_query, "html: {html}");
        control.fail_api(Some(burst()));
        assert_eq!(keys(h.tree(true).0).len(), 4, "the asset tree");
        control.fail_api(Some(burst()));
        assert_eq!(keys(h.modules()), ["erp-connector"]);
    }
    let failed: u64 = control
        .counters()
        .iter()
        .filter(|(k, _)| k.starts_with("fault"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        failed,
        40,
        "every burst was served: {:?}",
        control.counters()
    );
}

/// The walkers ride out a reset of the connection a page is coming over (its answer stalled
/// half-way), a server restart (connections refused for 400 ms) just before their first
/// call, and a JWT the server expired: the calls only read, so the client retries them
/// (re-authenticating on the 401), and the walks end as they would have.
pub fn walkers_ride_out_a_reset_and_a_restart<H: UnicatHandle + Reader>() {
    let server = server(150);
    let control = server.control();
    control.plant_children(101).unwrap();
    let options = Options {
        configure: Some(|c| {
            c.retry(unicat_core::client::RetryPolicy {
                retries: 7,
                initial: Duration::from_millis(50),
                max: Duration::from_millis(200),
            })
        }),
        keep_api_key: true,
        ..Options::default()
    };
    let h: H = connected(&server, options);
    let clean = keys(h.tree(false).0);

    let reset_mid_walk = std::thread::scope(|scope| {
        control.stall_responses(1);
        let walk = scope.spawn(|| keys(h.tree(false).0));
        let deadline = std::time::Instant::now() + WAIT;
        while control.counters().get("fault stall").copied().unwrap_or(0) < 1 {
            assert!(std::time::Instant::now() < deadline, "no answer stalled");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(control.reset_transports() > 0);
        walk.join().expect("the walk")
    });
    assert_eq!(
        reset_mid_walk, clean,
        "a page's connection reset mid-answer"
    );

    control.restart(Duration::from_millis(400));
    let addr = server
        .url()
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
        .expect("the dev server's address");
    let deadline = std::time::Instant::now() + WAIT;
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never went down"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(keys(h.tree(false).0), clean, "through a restart");
    assert_eq!(keys(h.modules()), ["erp-connector"]);

    assert!(control.expire_jwts() > 0);
    assert_eq!(keys(h.tree(false).0), clean, "with the JWT expired");
}

/// The get-or-fetch helpers fetch only what is not held, keep the order asked for, and say
/// when the server does not know a key.
pub fn get_or_fetch_helpers<H: UnicatHandle + Reader>() {
    let server = server(150);
    let control = server.control();
    let h: H = connected(&server, Options::default());
    let gids = control.record_gids(150);
    let some: Vec<&str> = gids.iter().skip(1).take(120).map(String::as_str).collect();
    assert!(
        h.store().record(some[0]).is_none(),
        "records are not loaded by connect"
    );

    control.reset_counters();
    let got = h.get_many("records", &some, false).unwrap();
    assert_eq!(got, some, "in the order asked for");
    let calls = control.counters().get("/records/get").copied().unwrap_or(0);
    assert_eq!(
        calls,
        2,
        "120 records in batches of 100: {:?}",
        control.counters()
    );
    control.reset_counters();
    assert_eq!(
        h.get_one("records", some[5], false).unwrap().as_deref(),
        Some(some[5])
    );
    assert_eq!(
        control.counters().get("/records/get").copied().unwrap_or(0),
        0,
        "held: no call"
    );
    assert_eq!(
        h.get_one("records", some[5], true).unwrap().as_deref(),
        Some(some[5])
    );
    assert_eq!(
        control.counters().get("/records/get").copied().unwrap_or(0),
        1,
        "force fetches"
    );
    assert_eq!(h.get_one("records", "", false).unwrap(), None);
    assert!(matches!(
        h.get_one("records", "no-such-record", false),
        Err(Error::Call(_))
    ));
    let with_gone = h
        .get_many("records", &[some[0], "no-such-record"], false)
        .unwrap();
    assert_eq!(
        with_gone,
        [some[0]],
        "a batch leaves out what the server does not know"
    );

    let root = h.root(false).unwrap();
    assert_eq!(root, control.root_record());
    let photo = h
        .get_one("pathname", "/img/photo-1.jpg", false)
        .unwrap()
        .unwrap();
    let by_pathname = h
        .get_many(
            "pathnames",
            &["/img/photo-2.png", "/img/photo-1.jpg"],
            false,
        )
        .unwrap();
    assert_eq!(by_pathname[1], photo);
    assert_eq!(
        h.get_one("assets", &photo, true).unwrap().as_deref(),
        Some(photo.as_str())
    );
    let root_asset = h.root(true).unwrap();
    assert_eq!(
        h.store()
            .view()
            .asset(&root_asset)
            .unwrap()
            .pathname()
            .as_deref(),
        Some("/")
    );
    assert_eq!(keys(h.modules()), ["erp-connector"]);
    assert_eq!(
        h.get_many("modules", &["erp-connector"], true).unwrap(),
        ["erp-connector"]
    );
    assert_eq!(
        h.get_many("assets", &[&root_asset, &photo], true).unwrap(),
        [root_asset.clone(), photo.clone()]
    );
    assert_eq!(h.project_languages(), ["en", "nl"]);
    assert_eq!(
        h.get_one("modules", "erp-connector", true)
            .unwrap()
            .as_deref(),
        Some("erp-connector")
    );
}

/// The saved-query walkers hand out the total with each item, page by cursor, and stop at
/// the limit.
pub fn query_walkers<H: UnicatHandle + Reader>() {
    let server = server(250);
    let control = server.control();
    control.plant_queries().unwrap();
    let h: H = connected(&server, Options::default());
    eventually(&h, "the planted queries", |s| {
        s.view().record_query_by_name("In stock").is_some()
    });

    let all = h.query(Target::Records, "en", "In stock", None);
    let all: Vec<(u64, String)> = all.into_iter().map(|i| i.unwrap()).collect();
    assert!(all.len() > 100, "more than one page: {}", all.len());
    assert!(all.iter().all(|(total, _)| *total as usize == all.len()));
    let store = h.store();
    for (_, gid) in &all {
        let record = store
            .view()
            .record(gid)
            .expect("the page's records are stored");
        let Some(Typed::Number(stock)) = record.field("en", "stock").map(|v| v.typed()) else {
            panic!("a number of items in stock")
        };
        assert!(stock.to_i64().unwrap() > 0, "the filter holds: {stock}");
    }
    let cheap = h.query(Target::Records, "en", "Cheap articles", Some(5));
    assert_eq!(cheap.len(), 5);
    assert!(cheap
        .iter()
        .all(|i| matches!(i, Ok((total, _)) if *total > 5)));
    let photos: Vec<_> = h
        .query(Target::Assets, "en", "Photos", None)
        .into_iter()
        .map(|i| i.unwrap())
        .collect();
    assert_eq!(photos.len(), 2);
    let schema: Vec<_> = h
        .query(Target::Schema, "en", "Prices", None)
        .into_iter()
        .map(|i| i.unwrap().1)
        .collect();
    assert!(schema.iter().any(|k| k.starts_with("field:")), "{schema:?}");
}

/// Every field type reads typed; a decimal keeps its digits; references the store does not
/// hold name their gids, resolve once fetched, and a gid the server does not know stays
/// missing.
pub fn typed_values_and_missing_references<H: UnicatHandle + Reader>() {
    let server = server(5);
    let control = server.control();
    let planted = control.plant_field_types().unwrap();
    let h: H = connected(&server, Options::default());
    let record = planted["record"].as_str().unwrap();
    let missing_record = planted["missing_record"].as_str().unwrap();
    h.get_one("records", record, false)
        .unwrap()
        .expect("the planted record");

    let store = h.store();
    let view = store.view();
    let r = view.record(record).unwrap();
    assert_eq!(
        r.definition().unwrap().held().unwrap().name().as_deref(),
        Some("everything")
    );
    let decimal = r.field("en", "t_decimal").unwrap();
    assert!(matches!(decimal.typed(), Typed::Decimal(n) if n.as_str() == "12345678901234567.891"));
    assert_eq!(decimal.unit().as_deref(), Some("EUR"));
    assert!(
        matches!(r.field("nl", "t_decimal").unwrap().typed(), Typed::Decimal(n) if n.as_str() == "0.30000000000000004")
    );
    assert!(matches!(
        r.field("en", "t_geo").unwrap().typed(),
        Typed::Raw(_)
    ));
    assert_eq!(
        r.field("en", "t_textline")
            .unwrap()
            .field()
            .unwrap()
            .name()
            .as_deref(),
        Some("t_textline")
    );
    assert_eq!(
        r.field("en", "t_textline").unwrap().field_type().name(),
        "code",
        "the class field of the same name wins, as in the SDK"
    );
    let wanted = r.wanted(Some("en"));
    assert!(wanted.records.contains(missing_record), "{wanted:?}");
    let Typed::RecordList(refs) = r.field("en", "t_recordlist").unwrap().typed() else {
        panic!()
    };
    let existing = refs[0].gid().to_owned();
    assert!(refs[0].missing().is_some(), "articles are not loaded yet");

    let gone = h.wanted(&wanted).unwrap();
    assert_eq!(
        gone.records.iter().collect::<Vec<_>>(),
        [missing_record],
        "only the gid the server does not know"
    );
    let store = h.store();
    let r = store.view().record(record).unwrap();
    let Typed::RecordList(refs) = r.field("en", "t_recordlist").unwrap().typed() else {
        panic!()
    };
    assert!(matches!(&refs[0], Reference::Held(rec) if rec.gid() == existing));
    assert_eq!(
        refs[1].missing(),
        Some(missing_record),
        "the server does not know it"
    );
    assert!(store
        .view()
        .record(record)
        .unwrap()
        .wanted(Some("en"))
        .records
        .contains(missing_record));
}

/// A definition renamed through sync is found by its new name at once, and not by its old.
pub fn a_rename_through_sync_is_found_by_its_new_name<H: UnicatHandle + Reader>() {
    let server = server(3);
    let control = server.control();
    let h: H = connected(&server, Options::default());
    let article = h
        .store()
        .view()
        .definition_by_name("article")
        .unwrap()
        .gid()
        .to_owned();
    control
        .patch("definitions", &article, json!({"name": "product"}))
        .unwrap();
    eventually(&h, "the rename", |s| {
        s.view().definition_by_name("product").is_some()
    });
    let store = h.store();
    assert_eq!(
        store.view().definition_by_name("product").unwrap().gid(),
        article
    );
    assert!(store.view().definition_by_name("article").is_none());
}

/// `publish`, `publish_transformed` and `download` return URLs and paths; a folder gives
/// `None`.
pub fn asset_helpers<H: UnicatHandle + Reader>() {
    let server = server(3);
    let folder = crate::e2e::temp_dir("reading");
    let options = Options {
        asset_folder: Some(folder.clone()),
        configure: Some(|c| c.media_hosts(unicat_core::api::MediaHosts::local_dev())),
        ..Options::default()
    };
    let h: H = connected(&server, options);
    let photo = h
        .get_one("pathname", "/img/photo-1.jpg", false)
        .unwrap()
        .unwrap();
    let url = h
        .publish_asset(&photo, None)
        .unwrap()
        .expect("a public URL");
    assert!(url.starts_with("http"), "{url}");
    let transform = Transform::new()
        .resize("fill")
        .width(40.0)
        .height(30.0)
        .image_type("png");
    let transformed = h
        .publish_asset(&photo, Some(&transform))
        .unwrap()
        .expect("a public URL");
    assert_ne!(transformed, url);
    let path = h.download_asset(&photo, None).unwrap().expect("a path");
    assert!(folder.join(&path).is_file(), "{path}");
    let small = h
        .download_asset(&photo, Some(&transform))
        .unwrap()
        .expect("a path");
    assert!(folder.join(&small).is_file(), "{small}");
    assert_ne!(small, path);
    let img = h.get_one("pathname", "/img", false).unwrap().unwrap();
    assert_eq!(
        h.publish_asset(&img, None).unwrap(),
        None,
        "a folder is not published"
    );
    assert_eq!(h.download_asset(&img, None).unwrap(), None);
    let _ = std::fs::remove_dir_all(&folder);
}

/// A schema item as `type:gid`.
pub fn schema_key(item: &unicat_core::walk::SchemaItem) -> String {
    use unicat_core::walk::SchemaItem;
    let kind = match item {
        SchemaItem::Definition(_) => "definition",
        SchemaItem::Class(_) => "class",
        SchemaItem::Field(_) => "field",
    };
    format!("{kind}:{}", item.gid())
}
