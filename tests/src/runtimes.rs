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
