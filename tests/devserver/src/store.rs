//! The in-memory project, the creation-ordered sync log, and every mutation (records and
//! assets in `records`, backup and restore jobs in `jobs`, planted test data in `plant`).
//!
//! Objects are stored as their JSON text ([`RawValue`]): responses copy them without a parse,
//! 100,000 records stay compact, and a mutation parses only the one object it changes. All state
//! lives in one [`Inner`] behind one mutex; a mutation appends its sync items and broadcasts them
//! ([`Inner::flush`]) before the lock is released, so every socket sees items in log order.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::ids::GidGen;
use crate::seed::{self, Seeded, BASE_TIME, INITIAL_VERSION, LANGUAGES};

mod jobs;
mod plant;
mod records;

/// One stored object, as JSON text.
pub(crate) type Obj = Box<RawValue>;
/// A store: key (gid, module name or `"pgid/ugid"`) to object, in key order.
pub(crate) type ObjMap = BTreeMap<String, Obj>;

/// A sync broadcast never carries more items than this in one `sync` event.
pub(crate) const BROADCAST_CHUNK: usize = 100;

/// Serializes `v` as a stored object. Serializing plain data can't fail; if it ever did, the
/// object would be stored as `{}` rather than taking the server down.
pub(crate) fn to_obj<T: Serialize + ?Sized>(v: &T) -> Obj {
    serde_json::value::to_raw_value(v).unwrap_or_else(|_| raw_json("{}"))
}

/// Wraps JSON text that is known to be valid (built by this crate).
pub(crate) fn raw_json(text: &str) -> Obj {
    RawValue::from_string(text.to_owned()).unwrap_or_default()
}

/// Parses a stored object into a map (an object that isn't a JSON object reads as empty).
pub(crate) fn parse(o: &RawValue) -> Map<String, Value> {
    serde_json::from_str(o.get()).unwrap_or_default()
}

/// Writes `new` as JSON, keeping the text of `old` wherever the value did not change, so a
/// change to one field leaves every other number with the digits it was stored with (a
/// planted `12345678901234567.891` would otherwise come back as `1.2345678901234568e+16`).
pub(crate) fn write_keeping(old: &RawValue, new: &Value, out: &mut String) {
    let old_value: Option<Value> = serde_json::from_str(old.get()).ok();
    if old_value.as_ref() == Some(new) {
        out.push_str(old.get());
        return;
    }
    let (Value::Object(members), Ok(old_members)) = (
        new,
        serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(old.get()),
    ) else {
        out.push_str(&serde_json::to_string(new).unwrap_or_else(|_| "null".into()));
        return;
    };
    out.push('{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push(':');
        match old_members.get(key) {
            Some(old) => write_keeping(old, value, out),
            None => out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".into())),
        }
    }
    out.push('}');
}

/// Joins items into one JSON list.
pub(crate) fn list_json<'a>(items: impl IntoIterator<Item = &'a RawValue>) -> Obj {
    let mut s = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(item.get());
    }
    s.push(']');
    raw_json(&s)
}

/// An API error: the `result` of a failed envelope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) message: &'static str,
    pub(crate) info: Value,
}

impl ApiError {
    pub(crate) fn new(code: u16, message: &'static str, info: Value) -> Self {
        Self {
            code,
            message,
            info,
        }
    }
    pub(crate) fn bad_request(info: Value) -> Self {
        Self::new(400, "Bad request", info)
    }
    pub(crate) fn missing(param: &str) -> Self {
        Self::bad_request(json!({"param": param, "error": "missing"}))
    }
    pub(crate) fn wrong_type(param: &str, expected: &str) -> Self {
        Self::bad_request(json!({"param": param, "error": format!("expected {expected}")}))
    }
    pub(crate) fn unprocessable(info: Value) -> Self {
        Self::new(422, "Unprocessable Entity", info)
    }
    pub(crate) fn forbidden(info: Value) -> Self {
        Self::new(403, "Forbidden", info)
    }
    pub(crate) fn permission_denied() -> Self {
        Self::new(401, "Permission denied", json!({}))
    }
    pub(crate) fn not_implemented(info: Value) -> Self {
        Self::new(501, "Not implemented", info)
    }
    pub(crate) fn too_large() -> Self {
        Self::new(413, "Request Entity Too Large", json!({}))
    }
    /// The HTTP status line that carries this error (app codes ≥ 1000 ride on 422).
    pub(crate) fn http_status(&self) -> u16 {
        if self.code >= 1000 {
            422
        } else {
            self.code
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.code, self.message, self.info)
    }
}

/// The two cursor families of the sync log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Global Unicat data: `type: "cc"`.
    Cc,
    /// This project's data: `type: "<project gid>"`.
    Project,
}

/// A sync item's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Insert,
    Update,
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Insert => "INSERT",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
        }
    }
}

/// The stores that hold objects (every `data_type` except the pseudo-types `jobs`, `cc.version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Users,
    Projects,
    Members,
    Records,
    Assets,
    Definitions,
    Classes,
    Fields,
    Layouts,
    Queries,
    Modules,
}

impl Kind {
    pub(crate) const ALL: [Kind; 11] = [
        Kind::Users,
        Kind::Projects,
        Kind::Members,
        Kind::Records,
        Kind::Assets,
        Kind::Definitions,
        Kind::Classes,
        Kind::Fields,
        Kind::Layouts,
        Kind::Queries,
        Kind::Modules,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Users => "cc.users",
            Kind::Projects => "cc.projects",
            Kind::Members => "cc.projects_members",
            Kind::Records => "records",
            Kind::Assets => "assets",
            Kind::Definitions => "definitions",
            Kind::Classes => "classes",
            Kind::Fields => "fields",
            Kind::Layouts => "layouts",
            Kind::Queries => "queries",
            Kind::Modules => "modules",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Kind::Users | Kind::Projects | Kind::Members => Family::Cc,
            _ => Family::Project,
        }
    }
}

/// Global (`cc`) data.
#[derive(Debug, Clone, Default)]
pub(crate) struct CcData {
    pub(crate) users: ObjMap,
    pub(crate) projects: ObjMap,
    /// Keyed `"<project gid>/<user gid>"`.
    pub(crate) members: ObjMap,
    pub(crate) languages: BTreeMap<String, String>,
}

/// The project's data: what a backup saves and a restore replaces.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProjectData {
    pub(crate) records: ObjMap,
    pub(crate) assets: ObjMap,
    pub(crate) definitions: ObjMap,
    pub(crate) classes: ObjMap,
    pub(crate) fields: ObjMap,
    pub(crate) layouts: ObjMap,
    pub(crate) queries: ObjMap,
    /// Keyed by module name.
    pub(crate) modules: ObjMap,
    /// Record gid → child record gids, in order.
    pub(crate) children: HashMap<String, Vec<String>>,
    /// Asset folder gid → child asset gids.
    pub(crate) asset_children: HashMap<String, Vec<String>>,
    /// Records whose `/records/children` pages all come back empty (a server that lies).
    pub(crate) empty_pages: HashSet<String>,
    /// Asset gid → file content.
    pub(crate) asset_bytes: HashMap<String, Bytes>,
    /// Media path (after `/media/`) → asset gid, for published and transformed files.
    pub(crate) published: HashMap<String, String>,
    pub(crate) root_record: String,
    pub(crate) root_asset: String,
}

/// One sync item in the log.
#[derive(Debug)]
struct LogItem {
    family: Family,
    cursor: u64,
    json: Obj,
}

/// A job's progress, as sent in `jobs` sync items.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) job: &'static str,
    pub(crate) status: &'static str,
    pub(crate) info: Value,
    pub(crate) created_on: f64,
    pub(crate) updated_on: f64,
    /// For restores: the backup version to restore (`None`: the seed).
    pub(crate) restore_version: Option<u64>,
}

/// A connected, authorised socket.
#[derive(Debug)]
pub(crate) struct SockEntry {
    pub(crate) sock: SocketRef,
    pub(crate) user: String,
    pub(crate) project: String,
    /// `Some(n)` once the socket did its `initsync`: it has been sent the log up to index `n`.
    pub(crate) synced_upto: Option<usize>,
}

/// What a restore job puts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestoreSource {
    Backup(u64),
    Seed { seed: u64, records: usize },
}

/// All mutable server state, behind one mutex in [`crate::server::Shared`].
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) project: String,
    pub(crate) api_user: String,
    pub(crate) api_key: String,
    seed: u64,
    seed_records: usize,
    pub(crate) version: String,
    pub(crate) cc_cursor: u64,
    pub(crate) cursor: u64,
    cc_base: u64,
    p_base: u64,
    pub(crate) cc: CcData,
    pub(crate) data: ProjectData,
    log: Vec<LogItem>,
    /// Log index of each cc item, in cursor order (cursor `cc_base + 1 + i` is at `cc_pos[i]`).
    cc_pos: Vec<usize>,
    /// Log index of each project item, in cursor order.
    p_pos: Vec<usize>,
    gids: GidGen,
    clock: f64,
    pub(crate) jobs: HashMap<String, Job>,
    backups: BTreeMap<u64, ProjectData>,
    pub(crate) sockets: HashMap<Sid, SockEntry>,
    paused: bool,
    /// Where delayed broadcasts wait (set once the server's runtime runs).
    pub(crate) delivery: Option<crate::faults::Delivery>,
}

/// Where the sync log starts: the seeded data sits "before" these cursors.
const CC_CURSOR_START: u64 = 100;
const CURSOR_START: u64 = 1_000;

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The next value of a field for [`Inner::change_records`].
fn next_value(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_i64() => json!(n.as_i64().unwrap_or(0).wrapping_add(1)),
        Value::Number(n) if n.is_u64() => json!(n.as_u64().unwrap_or(0).wrapping_add(1)),
        Value::Number(n) => json!(n.as_f64().unwrap_or(0.0) + 0.01),
        Value::String(s) => json!(format!("{s}+")),
        Value::Bool(b) => json!(!b),
        _ => json!(1),
    }
}

impl Inner {
    pub(crate) fn new(seed_value: u64, records: usize) -> Self {
        let Seeded {
            cc,
            data,
            project,
            api_user,
            api_key,
            gids,
        } = seed::seed(seed_value, records);
        Self {
            project,
            api_user,
            api_key,
            seed: seed_value,
            seed_records: records,
            version: INITIAL_VERSION.to_owned(),
            cc_cursor: CC_CURSOR_START,
            cursor: CURSOR_START,
            cc_base: CC_CURSOR_START,
            p_base: CURSOR_START,
            cc,
            data,
            log: Vec::new(),
            cc_pos: Vec::new(),
            p_pos: Vec::new(),
            gids,
            clock: BASE_TIME,
            jobs: HashMap::new(),
            backups: BTreeMap::new(),
            sockets: HashMap::new(),
            paused: false,
            delivery: None,
        }
    }

    /// The logical clock: every change moves it one second on, so timestamps are reproducible.
    pub(crate) fn tick(&mut self) -> f64 {
        self.clock += 1.0;
        self.clock
    }

    pub(crate) fn next_gid(&mut self) -> String {
        self.gids.next_gid()
    }

    pub(crate) fn store(&self, kind: Kind) -> &ObjMap {
        match kind {
            Kind::Users => &self.cc.users,
            Kind::Projects => &self.cc.projects,
            Kind::Members => &self.cc.members,
            Kind::Records => &self.data.records,
            Kind::Assets => &self.data.assets,
            Kind::Definitions => &self.data.definitions,
            Kind::Classes => &self.data.classes,
            Kind::Fields => &self.data.fields,
            Kind::Layouts => &self.data.layouts,
            Kind::Queries => &self.data.queries,
            Kind::Modules => &self.data.modules,
        }
    }

    fn store_mut(&mut self, kind: Kind) -> &mut ObjMap {
        match kind {
            Kind::Users => &mut self.cc.users,
            Kind::Projects => &mut self.cc.projects,
            Kind::Members => &mut self.cc.members,
            Kind::Records => &mut self.data.records,
            Kind::Assets => &mut self.data.assets,
            Kind::Definitions => &mut self.data.definitions,
            Kind::Classes => &mut self.data.classes,
            Kind::Fields => &mut self.data.fields,
            Kind::Layouts => &mut self.data.layouts,
            Kind::Queries => &mut self.data.queries,
            Kind::Modules => &mut self.data.modules,
        }
    }

    /// Parses, changes and stores back one object. `Err(422)` if it doesn't exist.
    pub(crate) fn modify(
        &mut self,
        kind: Kind,
        key: &str,
        f: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<(), ApiError> {
        let slot = self.store_mut(kind).get_mut(key).ok_or_else(|| {
            ApiError::unprocessable(json!({"data_type": kind.name(), "key": key}))
        })?;
        let mut m = parse(slot);
        f(&mut m);
        let mut text = String::new();
        write_keeping(slot, &Value::Object(m), &mut text);
        *slot = raw_json(&text);
        Ok(())
    }

    /// The languages of the project (its `options.languages`).
    pub(crate) fn languages(&self) -> Vec<String> {
        let langs = self
            .cc
            .projects
            .get(&self.project)
            .map(|p| str_list(parse(p).get("options").and_then(|o| o.get("languages"))))
            .unwrap_or_default();
        if langs.is_empty() {
            LANGUAGES.iter().map(|l| (*l).to_owned()).collect()
        } else {
            langs
        }
    }

    // ------------------------------------------------------------------ sync log

    /// Appends one sync item (cursor = its family's next cursor).
    pub(crate) fn push(
        &mut self,
        family: Family,
        action: Action,
        data_type: &str,
        key: &str,
        data: Option<&Value>,
    ) {
        #[derive(Serialize)]
        struct ItemOut<'a> {
            #[serde(rename = "type")]
            type_: &'a str,
            cursor: u64,
            action: &'a str,
            data_type: &'a str,
            data_key: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a Value>,
        }
        let cursor = match family {
            Family::Cc => {
                self.cc_cursor += 1;
                self.cc_cursor
            }
            Family::Project => {
                self.cursor += 1;
                self.cursor
            }
        };
        let type_ = match family {
            Family::Cc => "cc",
            Family::Project => self.project.as_str(),
        };
        let json = to_obj(&ItemOut {
            type_,
            cursor,
            action: action.as_str(),
            data_type,
            data_key: key,
            data,
        });
        let idx = self.log.len();
        match family {
            Family::Cc => self.cc_pos.push(idx),
            Family::Project => self.p_pos.push(idx),
        }
        self.log.push(LogItem {
            family,
            cursor,
            json,
        });
    }

    fn push_kind(&mut self, kind: Kind, action: Action, key: &str) {
        self.push(kind.family(), action, kind.name(), key, None);
    }

    /// Log index of the first item of a family with a cursor above `after`.
    fn first_after(&self, pos: &[usize], base: u64, after: u64) -> usize {
        let skip = after.saturating_sub(base);
        usize::try_from(skip)
            .ok()
            .and_then(|k| pos.get(k).copied())
            .unwrap_or(self.log.len())
    }

    /// The items after the given cursors, in creation order: cc items with a cursor above
    /// `cc_after`, and (when `project_after` is given) project items above it. At most `limit`
    /// items; the flag says whether more remain.
    pub(crate) fn items_after(
        &self,
        cc_after: u64,
        project_after: Option<u64>,
        limit: usize,
    ) -> (Vec<&RawValue>, bool) {
        let mut start = self.first_after(&self.cc_pos, self.cc_base, cc_after);
        if let Some(p) = project_after {
            start = start.min(self.first_after(&self.p_pos, self.p_base, p));
        }
        let mut out = Vec::new();
        for item in &self.log[start..] {
            let wanted = match item.family {
                Family::Cc => item.cursor > cc_after,
                Family::Project => project_after.is_some_and(|p| item.cursor > p),
            };
            if !wanted {
                continue;
            }
            if out.len() >= limit {
                return (out, true);
            }
            out.push(&*item.json);
        }
        (out, false)
    }

    /// Broadcasts every item a synced socket hasn't been sent yet, as `sync` events of at most
    /// [`BROADCAST_CHUNK`] items. Nothing is sent while paused.
    pub(crate) fn flush(&mut self) {
        if self.paused {
            return;
        }
        let end = self.log.len();
        let Inner {
            log,
            sockets,
            delivery,
            ..
        } = self;
        let delayed = delivery.as_ref().filter(|d| d.is_active());
        let mut cache: HashMap<usize, Vec<Obj>> = HashMap::new();
        for entry in sockets.values_mut() {
            let Some(from) = entry.synced_upto else {
                continue;
            };
            if from >= end {
                continue;
            }
            let lists = cache.entry(from).or_insert_with(|| {
                log[from..end]
                    .chunks(BROADCAST_CHUNK)
                    .map(|chunk| list_json(chunk.iter().map(|i| &*i.json)))
                    .collect()
            });
            for list in lists.iter() {
                if let Some(d) = delayed {
                    d.send(entry.sock.clone(), list.clone());
                } else if let Err(e) = entry.sock.emit("sync", &**list) {
                    log::warn!("sync event to socket {} not sent: {e}", entry.sock.id);
                }
            }
            entry.synced_upto = Some(end);
        }
    }

    /// Handles `initsync` for a socket: the items after its cursors, and from now on it gets
    /// every new item. The caller must send the returned list before releasing the lock.
    pub(crate) fn initsync(&mut self, sid: Sid, cc_after: u64, project_after: u64) -> Obj {
        let list = {
            let (items, _) = self.items_after(cc_after, Some(project_after), usize::MAX);
            list_json(items)
        };
        let end = self.log.len();
        if let Some(entry) = self.sockets.get_mut(&sid) {
            entry.synced_upto = Some(end);
        }
        list
    }

    pub(crate) fn pause(&mut self) {
        self.paused = true;
    }

    pub(crate) fn resume(&mut self) {
        self.paused = false;
        self.flush();
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    // ------------------------------------------------------------------ schema

    /// Adds a committed definition: INSERT definitions.
    pub(crate) fn add_definition(
        &mut self,
        name: &str,
        fields: &[String],
    ) -> Result<String, ApiError> {
        if name.is_empty() {
            return Err(ApiError::missing("name"));
        }
        if let Some(f) = fields.iter().find(|f| !self.data.fields.contains_key(*f)) {
            return Err(ApiError::unprocessable(json!({"field": f})));
        }
        let gid = self.next_gid();
        let langs = self.languages();
        let label: Map<String, Value> = langs.iter().map(|l| (l.clone(), json!(name))).collect();
        let def = json!({
            "gid": gid, "original": null, "name": name, "label": label, "classes": [],
            "fields": fields, "titlefield": fields.first(), "fieldlists": {}, "layout": null,
            "childdefinitions": [], "metadata": {}, "is_base": true, "is_new": false,
            "is_working_copy": false, "is_extended": false,
        });
        self.tick();
        self.data.definitions.insert(gid.clone(), to_obj(&def));
        self.push_kind(Kind::Definitions, Action::Insert, &gid);
        self.flush();
        Ok(gid)
    }

    /// Adds a committed field: INSERT fields (and, with `definition`, UPDATE definitions).
    pub(crate) fn add_field(
        &mut self,
        name: &str,
        type_: &str,
        definition: Option<&str>,
    ) -> Result<String, ApiError> {
        const TYPES: [&str; 17] = [
            "text",
            "textline",
            "textlist",
            "number",
            "decimal",
            "boolean",
            "code",
            "barcode",
            "class",
            "classlist",
            "image",
            "imagelist",
            "file",
            "filelist",
            "record",
            "recordlist",
            "fieldpicker",
        ];
        if name.is_empty() {
            return Err(ApiError::missing("name"));
        }
        if !TYPES.contains(&type_) {
            return Err(ApiError::bad_request(
                json!({"param": "type", "error": format!("unknown field type {type_}")}),
            ));
        }
        if let Some(d) = definition {
            if !self.data.definitions.contains_key(d) {
                return Err(ApiError::unprocessable(json!({"definition": d})));
            }
        }
        let gid = self.next_gid();
        let langs = self.languages();
        let label: Map<String, Value> = langs.iter().map(|l| (l.clone(), json!(name))).collect();
        let initial: Map<String, Value> = langs.iter().map(|l| (l.clone(), Value::Null)).collect();
        let field = json!({
            "gid": gid, "original": null, "name": name, "label": label, "type": type_,
            "options": {}, "is_localized": false, "is_required": false, "initial": initial,
            "unit": null, "metadata": {}, "is_new": false, "is_working_copy": false,
        });
        self.tick();
        self.data.fields.insert(gid.clone(), to_obj(&field));
        self.push_kind(Kind::Fields, Action::Insert, &gid);
        if let Some(d) = definition {
            let g = gid.clone();
            self.modify(Kind::Definitions, d, |m| {
                let list = m.entry("fields").or_insert_with(|| json!([]));
                if let Some(list) = list.as_array_mut() {
                    list.push(json!(g));
                }
            })?;
            self.push_kind(Kind::Definitions, Action::Update, d);
        }
        self.flush();
        Ok(gid)
    }

    // ------------------------------------------------------------------ raw patch, version

    /// Shallow-merges `patch` into a stored object, then appends an UPDATE in the object's
    /// family. Returns that family's new cursor.
    pub(crate) fn patch(
        &mut self,
        data_type: &str,
        key: &str,
        patch: &Value,
    ) -> Result<u64, ApiError> {
        let kind = Kind::from_name(data_type).ok_or_else(|| {
            ApiError::bad_request(
                json!({"param": "data_type", "error": format!("unknown data type {data_type}")}),
            )
        })?;
        let patch = patch
            .as_object()
            .ok_or_else(|| ApiError::wrong_type("patch", "object"))?;
        self.modify(kind, key, |m| {
            for (k, v) in patch {
                m.insert(k.clone(), v.clone());
            }
        })?;
        self.tick();
        self.push_kind(kind, Action::Update, key);
        self.flush();
        Ok(match kind.family() {
            Family::Cc => self.cc_cursor,
            Family::Project => self.cursor,
        })
    }

    /// Sets a new server version (default: the last number part plus one) and appends the
    /// `{action: "UPDATE", data_type: "cc.version", data_key: <version>}` cc item.
    pub(crate) fn bump_version(&mut self, version: Option<&str>) -> String {
        let new = match version {
            Some(v) => v.to_owned(),
            None => match self.version.rsplit_once('.') {
                Some((head, n)) => match n.parse::<u64>() {
                    Ok(n) => format!("{head}.{:0width$}", n + 1, width = n_len(n)),
                    Err(_) => format!("{}.1", self.version),
                },
                None => format!("{}.1", self.version),
            },
        };
        self.version = new.clone();
        self.push(Family::Cc, Action::Update, "cc.version", &new, None);
        self.flush();
        new
    }

    // ------------------------------------------------------------------ state dump

    /// The canonical state, in the shape the client's `mirror` example writes.
    pub(crate) fn dump(&self) -> String {
        #[derive(Serialize)]
        struct DumpData<'a> {
            #[serde(rename = "cc.users")]
            users: &'a ObjMap,
            #[serde(rename = "cc.projects")]
            projects: &'a ObjMap,
            #[serde(rename = "cc.projects_members")]
            members: &'a ObjMap,
            #[serde(rename = "cc.languages")]
            languages: &'a BTreeMap<String, String>,
            records: &'a ObjMap,
            definitions: &'a ObjMap,
            classes: &'a ObjMap,
            fields: &'a ObjMap,
            layouts: &'a ObjMap,
            assets: &'a ObjMap,
            assets_by_pathname: BTreeMap<String, &'a RawValue>,
            queries: &'a ObjMap,
            modules: &'a ObjMap,
        }
        #[derive(Serialize)]
        struct Dump<'a> {
            #[serde(rename = "cc.version")]
            version: &'a str,
            #[serde(rename = "cc.cursor")]
            cc_cursor: u64,
            cursor: u64,
            data: DumpData<'a>,
        }
        let assets_by_pathname = self
            .data
            .assets
            .values()
            .filter_map(|a| Some((parse(a).get("pathname")?.as_str()?.to_owned(), &**a)))
            .collect();
        let dump = Dump {
            version: &self.version,
            cc_cursor: self.cc_cursor,
            cursor: self.cursor,
            data: DumpData {
                users: &self.cc.users,
                projects: &self.cc.projects,
                members: &self.cc.members,
                languages: &self.cc.languages,
                records: &self.data.records,
                definitions: &self.data.definitions,
                classes: &self.data.classes,
                fields: &self.data.fields,
                layouts: &self.data.layouts,
                assets: &self.data.assets,
                assets_by_pathname,
                queries: &self.data.queries,
                modules: &self.data.modules,
            },
        };
        serde_json::to_string(&dump).unwrap_or_default()
    }
}

/// Number of decimal digits in the original version part, so `001` becomes `002`.
fn n_len(n: u64) -> usize {
    n.to_string().len().max(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_after_uses_both_cursors_in_creation_order() {
        let mut s = Inner::new(1, 3);
        let kids = s.data.children[&s.data.root_record].clone();
        s.set_field(&kids[0], Some("en"), "price", json!(1.5))
            .unwrap(); // p 1001
        s.bump_version(None); // cc 101
        s.set_field(&kids[1], None, "stock", json!(7)).unwrap(); // p 1002
        let (all, more) = s.items_after(0, Some(0), usize::MAX);
        assert!(!more);
        let cursors: Vec<Value> = all
            .iter()
            .map(|i| serde_json::from_str::<Value>(i.get()).unwrap()["cursor"].clone())
            .collect();
        assert_eq!(cursors, vec![json!(1001), json!(101), json!(1002)]);
        let (some, _) = s.items_after(101, Some(1001), usize::MAX);
        assert_eq!(some.len(), 1);
        let (cc_only, _) = s.items_after(100, None, usize::MAX);
        assert_eq!(cc_only.len(), 1);
        let (page, more) = s.items_after(0, Some(0), 2);
        assert_eq!(page.len(), 2);
        assert!(more);
        assert_eq!(s.version, "2026.01.002");
    }
}
