//! Each runtime's clients as the shared suites and the benchmark drive them: the end-to-end
//! [`UnicatHandle`] and the interop [`SioHandle`]. The smol ones poll the async client to
//! completion with `block_on`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use unicat_core::api::CallError;
use unicat_core::client::{Event, Health, Stats};
use unicat_core::config::SessionConfig;
use unicat_core::session::{AckError, SessionEvent};
use unicat_core::store::Store;

use crate::e2e::{Options, UnicatHandle};
use crate::interop::{Auth, SioHandle};

/// The blocking runtime's Unicat client.
pub struct Blocking(pub unicat_blocking::UnicatApi);

/// The smol runtime's Unicat client.
pub struct Smol(pub unicat_smol::UnicatApi);

fn blocking_err(e: unicat_blocking::Error) -> Option<CallError> {
    match e {
        unicat_blocking::Error::Call(c) => Some(c),
        _ => None,
    }
}

fn smol_err(e: unicat_smol::Error) -> Option<CallError> {
    match e {
        unicat_smol::Error::Call(c) => Some(c),
        _ => None,
    }
}

impl UnicatHandle for Blocking {
    fn build(url: &str, project: &str, options: Options) -> Self {
        let mut b =
            unicat_blocking::UnicatApi::builder(url, project).keep_api_key(options.keep_api_key);
        if let Some(folder) = options.asset_folder {
            b = b.asset_folder(folder);
        }
        if let Some(root) = options.tls_root {
            b = b.tls_roots(vec![root]);
        }
        if let Some(f) = options.configure {
            b = b.configure(f);
        }
        Blocking(b.build().unwrap())
    }
    fn connect(&self, api_key: &str) -> Result<Value, Option<CallError>> {
        self.0.connect(api_key).map_err(blocking_err)
    }
    fn call(&self, endpoint: &str, body: Value) -> Result<Value, Option<CallError>> {
        self.0.call(endpoint, body).map_err(blocking_err)
    }
    fn download(&self, asset: &str, pathname: Option<&str>) -> Result<String, Option<CallError>> {
        self.0.download(asset, pathname, None).map_err(blocking_err)
    }
    fn wait_caught_up(&self, timeout: Duration) -> bool {
        self.0.wait_caught_up(timeout).is_ok()
    }
    fn next_event(&self, timeout: Duration) -> Option<Event> {
        self.0.next_event(timeout)
    }
    fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.0.store())
    }
    fn debug(&self) -> String {
        format!("{:?}", self.0)
    }
    fn health(&self) -> Health {
        self.0.health()
    }
    fn stats(&self) -> Stats {
        self.0.stats()
    }
    fn store(&self) -> Store {
        self.0.store()
    }
    fn close(&self) {
        self.0.close()
    }
}

impl UnicatHandle for Smol {
    fn build(url: &str, project: &str, options: Options) -> Self {
        let mut b =
            unicat_smol::UnicatApi::builder(url, project).keep_api_key(options.keep_api_key);
        if let Some(folder) = options.asset_folder {
            b = b.asset_folder(folder);
        }
        if let Some(root) = options.tls_root {
            b = b.tls_roots(vec![root]);
        }
        if let Some(f) = options.configure {
            b = b.configure(f);
        }
        Smol(b.build().unwrap())
    }
    fn connect(&self, api_key: &str) -> Result<Value, Option<CallError>> {
        unicat_smol::block_on(self.0.connect(api_key)).map_err(smol_err)
    }
    fn call(&self, endpoint: &str, body: Value) -> Result<Value, Option<CallError>> {
        unicat_smol::block_on(self.0.call(endpoint, body)).map_err(smol_err)
    }
    fn download(&self, asset: &str, pathname: Option<&str>) -> Result<String, Option<CallError>> {
        unicat_smol::block_on(self.0.download(asset, pathname, None)).map_err(smol_err)
    }
    fn wait_caught_up(&self, timeout: Duration) -> bool {
        unicat_smol::block_on(self.0.wait_caught_up(timeout)).is_ok()
    }
    fn next_event(&self, timeout: Duration) -> Option<Event> {
        unicat_smol::block_on(self.0.next_event(timeout))
    }
    fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.0.store())
    }
    fn debug(&self) -> String {
        format!("{:?}", self.0)
    }
    fn health(&self) -> Health {
        self.0.health()
    }
    fn stats(&self) -> Stats {
        self.0.stats()
    }
    fn store(&self) -> Store {
        self.0.store()
    }
    fn close(&self) {
        unicat_smol::block_on(self.0.close())
    }
}

/// The blocking runtime's Socket.IO client.
pub struct BlockingSio(pub unicat_blocking::socketio::SocketIo);

/// The smol runtime's Socket.IO client.
pub struct SmolSio(pub unicat_smol::socketio::SocketIo);

impl SioHandle for BlockingSio {
    fn connect(cfg: SessionConfig, auth: Auth) -> Self {
        BlockingSio(
            unicat_blocking::socketio::SocketIo::connect(cfg, Arc::new(move |ns: &str| auth(ns)))
                .unwrap(),
        )
    }
    fn emit(&self, ns: &str, event: &str, args: Vec<Value>) {
        self.0.emit(ns, event, args).unwrap()
    }
    fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        self.0.emit_with_ack(ns, event, args, timeout).unwrap()
    }
    fn ack(&self, ns: &str, id: u64, args: Vec<Value>) {
        self.0.ack(ns, id, args).unwrap()
    }
    fn next_event(&self, timeout: Duration) -> Option<SessionEvent> {
        self.0.next_event(timeout)
    }
}

impl SioHandle for SmolSio {
    fn connect(cfg: SessionConfig, auth: Auth) -> Self {
        SmolSio(
            unicat_smol::socketio::SocketIo::connect(cfg, Arc::new(move |ns: &str| auth(ns)))
                .unwrap(),
        )
    }
    fn emit(&self, ns: &str, event: &str, args: Vec<Value>) {
        unicat_smol::block_on(self.0.emit(ns, event, args)).unwrap()
    }
    fn emit_with_ack(
        &self,
        ns: &str,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        unicat_smol::block_on(self.0.emit_with_ack(ns, event, args, timeout)).unwrap()
    }
    fn ack(&self, ns: &str, id: u64, args: Vec<Value>) {
        unicat_smol::block_on(self.0.ack(ns, id, args)).unwrap()
    }
    fn next_event(&self, timeout: Duration) -> Option<SessionEvent> {
        unicat_smol::block_on(self.0.next_event(timeout))
    }
}

/// Implements [`Reader`](crate::reading::Reader) for a runtime's client: `$wait` turns a
/// call's result into its value (blocking: as is; smol: `block_on`), `$all` a walker into
/// the `Vec` of its items, `$walk` gives a walker's walk.
macro_rules! reader {
    ($handle:ident, $wait:path, $all:path, $walk:path) => {
        impl crate::reading::Reader for $handle {
            fn tree(
                &self,
                assets: bool,
            ) -> (Vec<Result<String, unicat_runtime_support::Error>>, u64) {
                use unicat_core::walk::TreeWalk;
                fn key<K>(
                    i: Result<unicat_core::view::Held<K>, unicat_runtime_support::Error>,
                ) -> Result<String, unicat_runtime_support::Error> {
                    i.map(|h| h.key().to_owned())
                }
                if assets {
                    let mut w = self.0.walk_asset_tree();
                    let items = $all(&mut w).into_iter().map(key).collect();
                    (items, $walk(&w).map_or(0, TreeWalk::repeats))
                } else {
                    let mut w = self.0.walk_record_tree(None, None);
                    let items = $all(&mut w).into_iter().map(key).collect();
                    (items, $walk(&w).map_or(0, TreeWalk::repeats))
                }
            }

            fn query(
                &self,
                target: crate::reading::Target,
                language: &str,
                query: &str,
                limit: Option<u64>,
            ) -> Vec<Result<(u64, String), unicat_runtime_support::Error>> {
                use crate::reading::Target;
                let store = self.0.store();
                let kind = match target {
                    Target::Records => "record",
                    Target::Assets => "asset",
                    Target::Schema => "schema",
                };
                let q = store
                    .view()
                    .query_by_name(kind, query)
                    .expect("the saved query");
                match target {
                    Target::Records => $all(&mut self.0.walk_record_query(language, &q, limit))
                        .into_iter()
                        .map(|i| i.map(|(t, h)| (t, h.key().to_owned())))
                        .collect(),
                    Target::Assets => $all(&mut self.0.walk_asset_query(language, &q, limit))
                        .into_iter()
                        .map(|i| i.map(|(t, h)| (t, h.key().to_owned())))
                        .collect(),
                    Target::Schema => $all(&mut self.0.walk_schema_query(language, &q, limit))
                        .into_iter()
                        .map(|i| i.map(|(t, item)| (t, crate::reading::schema_key(&item))))
                        .collect(),
                }
            }

            fn get_one(
                &self,
                kind: &str,
                key: &str,
                force: bool,
            ) -> Result<Option<String>, unicat_runtime_support::Error> {
                let got = match kind {
                    "records" => $wait(self.0.get_record(key, force))?.map(|h| h.key().to_owned()),
                    "assets" => $wait(self.0.get_asset(key, force))?.map(|h| h.key().to_owned()),
                    "pathname" => {
                        $wait(self.0.get_asset_by_pathname(key, force))?.map(|h| h.key().to_owned())
                    }
                    "modules" => $wait(self.0.get_module(key, force))?.map(|h| h.key().to_owned()),
                    other => panic!("no getter of {other}"),
                };
                Ok(got)
            }

            fn get_many(
                &self,
                kind: &str,
                keys: &[&str],
                force: bool,
            ) -> Result<Vec<String>, unicat_runtime_support::Error> {
                fn gids<K>(items: Vec<unicat_core::view::Held<K>>) -> Vec<String> {
                    items.iter().map(|h| h.key().to_owned()).collect()
                }
                Ok(match kind {
                    "records" => gids($wait(self.0.get_records(keys, force))?),
                    "assets" => gids($wait(self.0.get_assets(keys, force))?),
                    "pathnames" => gids($wait(self.0.get_assets_by_pathname(keys, force))?),
                    "modules" => gids($wait(self.0.get_modules(keys, force))?),
                    other => panic!("no getter of {other}"),
                })
            }

            fn root(&self, assets: bool) -> Result<String, unicat_runtime_support::Error> {
                Ok(if assets {
                    $wait(self.0.get_root_asset())?.key().to_owned()
                } else {
                    $wait(self.0.get_root_record())?.key().to_owned()
                })
            }

            fn modules(&self) -> Vec<Result<String, unicat_runtime_support::Error>> {
                $all(&mut self.0.walk_modules())
                    .into_iter()
                    .map(|i| i.map(|h| h.key().to_owned()))
                    .collect()
            }

            fn wanted(
                &self,
                wanted: &unicat_core::view::Wanted,
            ) -> Result<unicat_core::view::Wanted, unicat_runtime_support::Error> {
                $wait(self.0.get_wanted(wanted))
            }

            fn publish_asset(
                &self,
                asset: &str,
                transform: Option<&unicat_core::api::Transform>,
            ) -> Result<Option<String>, unicat_runtime_support::Error> {
                let store = self.0.store();
                let asset = store.view().asset(asset).expect("a held asset");
                match transform {
                    Some(t) => $wait(self.0.publish_transformed_asset(&asset, t)),
                    None => $wait(self.0.publish_asset(&asset)),
                }
            }

            fn download_asset(
                &self,
                asset: &str,
                transform: Option<&unicat_core::api::Transform>,
            ) -> Result<Option<String>, unicat_runtime_support::Error> {
                let store = self.0.store();
                let asset = store.view().asset(asset).expect("a held asset");
                match transform {
                    Some(t) => $wait(self.0.download_transformed_asset(&asset, t, None)),
                    None => $wait(self.0.download_asset(&asset, None)),
                }
            }

            fn project_languages(&self) -> Vec<String> {
                let project = self
                    .0
                    .project()
                    .expect("the project is known after connect");
                project
                    .get()
                    .languages()
                    .into_iter()
                    .map(|l| l.into_owned())
                    .collect()
            }

            fn load_all(&self) -> Result<Value, unicat_runtime_support::Error> {
                $wait(self.0.load_all_records())
            }

            fn schema_walks(&self) -> [Vec<String>; 4] {
                fn keys<K>(items: impl Iterator<Item = unicat_core::view::Held<K>>) -> Vec<String> {
                    items.map(|h| h.key().to_owned()).collect()
                }
                [
                    keys(self.0.walk_definitions()),
                    keys(self.0.walk_classes()),
                    keys(self.0.walk_fields()),
                    keys(self.0.walk_queries()),
                ]
            }
        }
    };
}

fn now<T>(value: T) -> T {
    value
}

fn all_items<I: Iterator>(iter: &mut I) -> Vec<I::Item> {
    iter.collect()
}

fn all_streamed<S: futures_lite::Stream + Unpin>(stream: &mut S) -> Vec<S::Item> {
    unicat_smol::block_on(futures_lite::StreamExt::collect(stream))
}

fn blocking_walk<'w, W>(w: &'w unicat_blocking::Walker<'_, W>) -> Option<&'w W> {
    Some(w.walk())
}

reader!(Blocking, now, all_items, blocking_walk);
reader!(
    Smol,
    unicat_smol::block_on,
    all_streamed,
    unicat_smol::Walker::walk
);
