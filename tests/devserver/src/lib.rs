//! An embedded **Unicat dev server**: one in-memory Unicat project behind a real HTTP/1.1 and
//! WebSocket server on `127.0.0.1`, speaking the Unicat API subset and the Sync API
//! (Socket.IO v5 via [socketioxide](https://docs.rs/socketioxide), so the client is checked
//! against a Socket.IO implementation that isn't our own), plus a control surface for tests,
//! benchmarks and the demo.
//!
//! Nobody needs a Unicat account to try or test the client: start a [`DevServer`], point the
//! client at [`DevServer::url`] with [`DevServer::project`] and [`DevServer::api_key`], and
//! drive changes through [`DevServer::control`].
//!
//! ```
//! use unicat_devserver::{DevConfig, DevServer};
//!
//! let server = DevServer::start(DevConfig { records: 20, ..DevConfig::default() })?;
//! let control = server.control();
//! let gid = control.record_gids(1)[0].clone();
//! let cursor = control.set_field(&gid, None, "stock", serde_json::json!(42))?;
//! let state = control.state();
//! assert_eq!(state["cursor"], cursor);
//! assert_eq!(state["data"]["records"][&gid]["fields"]["nl"]["stock"], 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! From a shell, `cargo run -p unicat-devserver -- --port 0 --records 1000` prints one line,
//! `{"url": "http://127.0.0.1:PORT", "project": "<pgid>", "api_key": "<key>"}`, and serves until
//! killed (see `--help` for the other flags, one per [`DevConfig`] field).
//!
//! # The API
//!
//! All calls are JSON POSTs (GET works too; a missing or empty body is `{}`) and answer with
//! the envelope `{"success": bool, "result": {…}, "data": {…}}`. Every call but `auth` needs
//! `Authorization: Bearer <JWT>`. A missing, unknown or expired JWT gets HTTP 401 with
//! `WWW-Authenticate: Bearer realm="JWT access to Unicat."` and exactly
//! `{"success":false,"result":{"code":401,"message":"Permission denied","info":{}},"data":{}}`.
//! Other errors: 400 for a missing or wrongly typed parameter (`info.param`), 403 for a wrong
//! API key (`Unknown user`) or another project, 413 for a body over [`MAX_BODY`], 422 for an
//! item that doesn't exist, 501 for an endpoint this server doesn't have.
//!
//! JWTs are opaque strings that live [`DevConfig::jwt_ttl`]. `auth` returns one in the
//! `Authorization` response header (bare, no `Bearer`); a call made with a token older than
//! [`DevConfig::jwt_renew_after`] gets a fresh one in the same header (the old one stays valid
//! until it expires). `/dam` never renews.
//!
//! | route | body → result (data) |
//! |---|---|
//! | `POST /api/p/<pgid>/auth` | `{api_key}` → `user, user_projects, project, project_members, last_backed_up, cc.version, cc.cursor, cursor` (`cc.users, cc.projects, cc.projects_members` (a list), `cc.languages, definitions, classes, fields, layouts, queries`) |
//! | `POST /api/p/<pgid>/init` | `{}` → same as `auth` |
//! | `…/records/get` | `{record}` → `record`; `{records: [..]}` → `records` (`records`) |
//! | `…/records/root` | → `root` |
//! | `…/records/children` | `{record, page.top?, page.size? (100), channel?, ordering?}` → `children, children.size` (the listed children in `data`) |
//! | `…/records/bulk/get` | `{selection: [{search: {language, q, filter}}], page.size (1–1000, default 100), page.cursor?}` → `records, records.size, page.cursor` (the page's records) |
//! | `…/assets/bulk/get` | same body → `assets, assets.size, page.cursor` (the page's assets) |
//! | `…/schema/bulk/get` | same body → `schema_items: [{type, item}], schema_items.size, page.cursor` (the page's definitions, classes, fields) |
//! | `…/records/update` | `{record, fields: {lang: {name_or_gid: value}}}` → `record, report.validation` |
//! | `…/records/create` | `{parent}` → `record, parent` |
//! | `…/records/delete` | `{record}` → `record` (`status: "deleted"`) |
//! | `…/assets/get` | `{asset}` \| `{pathname}` → `asset`; `{assets}` \| `{pathnames}` → `assets` |
//! | `…/assets/root`, `…/assets/children` | → `root`; `{asset \| pathname, page.*}` → `children` (folders first, by name), `children.size` |
//! | `…/assets/upload` | multipart: `parent` or `pathname`, file part `upload_file` → `asset, parent` |
//! | `…/{definitions,classes,fields,layouts,queries}/get` | `{definition}` → `definition`, `{definitions: [..]}` → `definitions`, … (`class`/`classes`, `query`/`queries`) |
//! | `…/modules/get`, `…/modules/all` | `{module}` / `{modules}` by name → `module` / `modules`; → `module_names` |
//! | `…/members/get` | `{member}` → `user`; `{members}` → `users` (`cc.projects_members` list, `cc.users`) |
//! | `…/backups/create`, `…/backups/restore` | `{created_by?, name?}` → `project, version, last_backed_up, job.token`; `{version}` → `job.token, last_restored` |
//! | `POST /api/users/get` (`//users/get`) | `{user}` → `user` (`cc.users`) |
//! | `POST /api/projects/get` | `{project}` → `project` (`cc.projects`) |
//! | `POST /api/members/get` | `{project, member}` → `user` (`cc.projects_members` list, `cc.users`) |
//! | `POST /api/init` | → `user, user_projects, cc.version, cc.cursor` |
//! | `POST /sync/get` | `{cc_cursor (or "cc.cursor"), project?, cursor?}` → `sync: [items]`, plus `warning` when [`DevConfig::sync_page_limit`] cut the list |
//! | `POST /sync/cursors` | → `cc.cursor, cursor` |
//! | `GET /dam/p/<pgid>/publish/<gid>~<version><ext>` | → `public_url` = `<base>/media/p-<pgid>/src/<gid><ext>` |
//! | `GET /dam/p/<pgid>/transform/<gid>~<version><ext>/<k>=<v>/…` | → `public_url` = `<base>/media/p-<pgid>/transformed/<gid>/<name>@<key><ext>`, `transform` |
//! | `GET /dam/p/<pgid>/info/<gid>~<version><ext>` | → the asset's `info` |
//! | `GET /media/…` | the published bytes, no auth (transforms serve the source bytes) |
//!
//! Only `auth`, the inits and `/sync/cursors` put `cc.cursor` / `cursor` in their result.
//!
//! The bulk queries list records depth first from the root (the order of walking
//! `/records/children`, each record once, `deleted` ones left out), assets likewise from the
//! root asset, and schema items as definitions, classes, then fields, each by name then gid.
//! `q` is a case-insensitive substring of a record's `title[language]` or any of its string
//! values in `fields[language]`, of an asset's `name`, `pathname` or `title[language]`, of a
//! schema item's `name` or `label[language]`; `filter` (records only) is `null`, `[]`,
//! `["value", eq|ne|lt|le|gt|ge, [field_gid, operand]]`, `["and", …]` or `["or", …]`, and
//! anything else is a 400 naming it. `page.cursor` is opaque and `null` on the last page.
//!
//! # The Sync API
//!
//! Socket.IO v5 at path `/sync/io` (polling and websocket, upgrades allowed). The CONNECT auth
//! must be `{"JWT": "<token>"}`; otherwise the client gets a CONNECT_ERROR whose message starts
//! with `Permission denied`.
//!
//! * `initsync` with `{"cc.cursor": n, "project": "<pgid>", "cursor": m}` is acknowledged with
//!   **one** argument: the bare JSON list of the items after those cursors (cc items with a
//!   cursor above `n`, project items above `m`) in creation order, or `null` when `project` is
//!   not the JWT's project. From then on the socket gets every new item as `sync` events
//!   (one argument: a list). The ack is queued before any later `sync` event, so a client that
//!   processes the ack and then the events misses nothing and sees nothing out of order.
//! * A single change goes out at once as a one-item list; bulk changes in lists of at most 100.
//! * `authorization` events `{"JWT": "<fresh token>"}` every
//!   [`DevConfig::authorization_push_period`] (off by default).
//!
//! Sync items, one log in creation order across both families:
//!
//! ```json
//! {"type": "cc", "cursor": 101, "action": "UPDATE", "data_type": "cc.version", "data_key": "2026.01.002"}
//! {"type": "<pgid>", "cursor": 1001, "action": "UPDATE", "data_type": "records", "data_key": "<gid>"}
//! {"type": "cc", "cursor": 102, "action": "UPDATE", "data_type": "jobs", "data_key": "<job token>",
//!  "data": {"project_gid": "<pgid>", "job": "backup_project", "status": "queued", "info": {},
//!           "created_on": 1767225610.0, "updated_on": 1767225610.0}}
//! ```
//!
//! `cc.cursor` starts at 100 and `cursor` at 1000 (the seed sits before them); each grows by
//! exactly 1 per item of its family. `data_key` is a gid, a module name, `"pgid/ugid"` for
//! memberships, the version for `cc.version`, the job token for `jobs`.
//!
//! # The control surface
//!
//! Every operation is a blocking method on [`Control`] and an HTTP route under `/_dev/`
//! (answered for loopback peers only, 403 otherwise; JSON in, plain JSON out, errors as
//! envelopes):
//!
//! | HTTP | [`Control`] method |
//! |---|---|
//! | `POST /_dev/set_field {record, language?, field, value}` → `{cursor}` | [`Control::set_field`] |
//! | `POST /_dev/change_records {count, field?}` → `{changed}` | [`Control::change_records`] |
//! | `POST /_dev/insert_record {parent?, fields?}` → `{record}` | [`Control::insert_record`] |
//! | `POST /_dev/delete_record {record}` | [`Control::delete_record`] |
//! | `POST /_dev/add_definition {name, fields?}` → `{definition}` | [`Control::add_definition`] |
//! | `POST /_dev/add_field {name, type?, definition?}` → `{field}` | [`Control::add_field`] |
//! | `POST /_dev/patch {data_type, key, patch}` → `{cursor}` | [`Control::patch`] |
//! | `POST /_dev/bump_version {version?}` → `{version}` | [`Control::bump_version`] |
//! | `POST /_dev/backup` → `{job.token, version}` | [`Control::backup`] |
//! | `POST /_dev/restore {version?}` → `{job.token}` | [`Control::restore`] |
//! | `POST /_dev/job {token}` → `{status}` | [`Control::job_status`] |
//! | `POST /_dev/drop_transports` → `{dropped}` | [`Control::drop_transports`] |
//! | `POST /_dev/reset_transports` → `{reset}` | [`Control::reset_transports`] |
//! | `POST /_dev/silence_transports` → `{silenced}` | [`Control::silence_transports`] |
//! | `POST /_dev/close_websockets` → `{closed}` | [`Control::close_websockets`] |
//! | `POST /_dev/refuse_connects {seconds, message}` | [`Control::refuse_connects`] |
//! | `POST /_dev/fail_api {statuses, fraction, count?, html?}` | [`Control::fail_api`] |
//! | `POST /_dev/delay_api {ms}`, `POST /_dev/delay_sync {ms}` | [`Control::delay_api`], [`Control::delay_sync`] |
//! | `POST /_dev/stall_responses {count}` | [`Control::stall_responses`] |
//! | `POST /_dev/restart {ms}` | [`Control::restart`] |
//! | `POST /_dev/clear_faults` | [`Control::clear_faults`] |
//! | `POST /_dev/disconnect_sockets` → `{disconnected}` | [`Control::disconnect_sockets`] |
//! | `POST /_dev/pause_sync`, `POST /_dev/resume_sync` | [`Control::pause_sync`], [`Control::resume_sync`] |
//! | `POST /_dev/expire_jwts` → `{expired}` | [`Control::expire_jwts`] |
//! | `POST /_dev/push_authorization` → `{sent}` | [`Control::push_authorization`] |
//! | `POST /_dev/issue_jwt` → `{JWT}` | [`Control::issue_jwt`] |
//! | `GET /_dev/state` | [`Control::state`], [`Control::state_json`] |
//! | `GET /_dev/counters`, `POST /_dev/counters/reset` | [`Control::counters`], [`Control::reset_counters`] |
//! | `POST /_dev/record_gids {count}` → `{records}` | [`Control::record_gids`] |
//! | `POST /_dev/plant_children {count}` → `{parent, children}` | [`Control::plant_children`] |
//! | `POST /_dev/plant_empty_page` → `{record}` | [`Control::plant_empty_page`] |
//! | `POST /_dev/plant_cycle` → `{parent, child}` | [`Control::plant_cycle`] |
//! | `POST /_dev/plant_field_types` → `{definition, record, classes, fields, …}` | [`Control::plant_field_types`] |
//! | `POST /_dev/plant_queries` → `{name: gid}` | [`Control::plant_queries`] |
//! | `GET /_dev/info` | [`Control::info`] |
//!
//! Over HTTP, from anything that can open a socket:
//!
//! ```
//! use std::io::{Read, Write};
//! use unicat_devserver::{DevConfig, DevServer};
//!
//! let server = DevServer::start(DevConfig { records: 3, ..DevConfig::default() })?;
//! let gid = server.control().record_gids(1)[0].clone();
//! let body = format!(r#"{{"record": "{gid}", "language": "nl", "field": "stock", "value": 7}}"#);
//! let mut tcp = std::net::TcpStream::connect(server.local_addr())?;
//! write!(
//!     tcp,
//!     "POST /_dev/set_field HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
//!     body.len()
//! )?;
//! let mut answer = String::new();
//! tcp.read_to_string(&mut answer)?;
//! assert!(answer.starts_with("HTTP/1.1 200"));
//! assert!(answer.ends_with(r#"{"cursor":1001}"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The fault matrix
//!
//! Every fault a real network or server can make, made for real on the socket or in the
//! server, never simulated in a client: connections cut with a FIN, an RST, a WebSocket close
//! frame, or silence (no data and no FIN, so only a heartbeat notices); Socket.IO CONNECTs
//! refused for a while with any message; JWTs invalidated; API answers failed with any status
//! (as Unicat's JSON envelope or a proxy's HTML page), delayed, or stalled halfway through
//! their body; `sync` broadcasts delayed in order; and restarts, where every connection is
//! cut at once, nothing listens for a while, and Engine.IO sessions are forgotten while the
//! data stays. [`Fault`] names each one for [`Control::inject`], so tests can pick them at
//! random.

//! # The seeded project
//!
//! Deterministic for a given [`DevConfig::seed`] and [`DevConfig::records`] (gids are UUID-shaped
//! strings from a seeded counter; only JWTs are random): languages `en` and `nl`; fields
//! `artnr` (textline), `price` (decimal), `stock` (number); definitions `article` and `catalog`
//! (the root's); a root record with `records` articles (`fields` like
//! `{"en": {"artnr": "A-00001", "price": 12.5, "stock": 3}, "nl": {…}}`, prices such as
//! `0.16999999999999998` that only survive an exact float round trip); assets `/`, `/img`,
//! `/img/photo-1.jpg` (version 3) and `/img/photo-2.png`; the API user (role `api`, username
//! `null`) and the project owner; one project with options and backups; two memberships; two
//! layouts; one query; one module (`erp-connector`). Timestamps come from a logical clock that
//! starts at 2026-01-01T00:00:00Z and moves one second per change.

//!
//! # Where it differs from unicat.app, on purpose
//!
//! * `sync` events go to sockets that did their `initsync`, from the moment of its ack (the ack
//!   is queued under the same lock as every broadcast). A socket that never sends `initsync`
//!   gets `authorization` events but no `sync` events; in exchange no client can receive a
//!   newer item before the ack and then skip an older one in the ack as "lagging".
//! * Event handlers are registered before the Socket.IO CONNECT is answered, so an
//!   `initsync` sent the instant a client connects is never lost.
//! * [`Control::drop_transports`] also makes the Engine.IO sessions of that moment unknown
//!   (`400 Session ID unknown`): an HTTP library that retries a cut long-poll on a new
//!   connection would otherwise hide the drop from a polling client.
//! * Timestamps come from a logical clock (one second per change), gids from a seeded counter,
//!   so two servers with the same seed produce the same state dump.
//! * `language`/`languages` parameters are accepted and ignored (records always carry every
//!   language), except in bulk queries, where `language` picks the title, values and labels
//!   searched; paging `ordering`/`channel` are ignored; a bulk query's cursor is an offset
//!   into the matches computed afresh on every call, so a change between two pages shifts
//!   them; DAM transforms compute nothing (the media URL serves the source bytes); endpoints
//!   outside the table above answer 501.
//! * engineioxide sends its first ping right after the handshake rather than one ping
//!   interval later; clients answer it like any other.

mod api;
mod config;
mod control;
mod dam;
mod faults;
mod ids;
mod net;
mod query;
mod read;
mod seed;
mod server;
mod sio;
mod store;

pub use config::DevConfig;
pub use control::{Control, ControlError};
pub use faults::{ApiFailure, Fault};
pub use server::{DevServer, MAX_BODY};

/// Locks a mutex, ignoring poisoning: the state stays usable even if a thread panicked while
/// holding it (every mutation leaves it consistent between statements that can't panic).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
