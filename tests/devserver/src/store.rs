//! The in-memory project, the creation-ordered sync log, and every mutation.
//!
//! Objects are stored as their JSON text ([`RawValue`]): responses copy them without a parse,
//! 100,000 records stay compact, and a mutation parses only the one object it changes. All state
//! lives in one [`Inner`] behind one mutex; a mutation appends its sync items and broadcasts them
//! ([`Inner::flush`]) before the lock is released, so every socket sees items in log order.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::ids::GidGen;
use crate::seed::{self, Seeded, BASE_TIME, INITIAL_VERSION, LANGUAGES};

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
        *slot = to_obj(&m);
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

    // ------------------------------------------------------------------ records

    fn record_map(&self, gid: &str) -> Result<Map<String, Value>, ApiError> {
        self.data
            .records
            .get(gid)
            .map(|o| parse(o))
            .ok_or_else(|| ApiError::unprocessable(json!({"record": gid})))
    }

    /// `(gid, name)` of every field of a definition, its classes' fields included.
    pub(crate) fn definition_fields(&self, def: &str) -> Vec<(String, String)> {
        let Some(d) = self.data.definitions.get(def).map(|o| parse(o)) else {
            return Vec::new();
        };
        let mut gids = str_list(d.get("fields"));
        for class in str_list(d.get("classes")) {
            if let Some(c) = self.data.classes.get(&class) {
                gids.extend(str_list(parse(c).get("fields")));
            }
        }
        gids.into_iter()
            .filter_map(|g| {
                let name = self
                    .data
                    .fields
                    .get(&g)
                    .and_then(|f| parse(f).get("name")?.as_str().map(str::to_owned))?;
                Some((g, name))
            })
            .collect()
    }

    /// Resolves a field key of `records/update` (a name, a gid, or `name/key`) to the name stored.
    fn resolve_field(fields: &[(String, String)], key: &str) -> Option<String> {
        let (base, suffix) = match key.split_once('/') {
            Some((b, "key")) => (b, "/key"),
            _ => (key, ""),
        };
        fields
            .iter()
            .find(|(g, n)| n == base || g == base)
            .map(|(_, n)| format!("{n}{suffix}"))
    }

    fn check_language(&self, language: &str) -> Result<(), ApiError> {
        if self.languages().iter().any(|l| l == language) {
            Ok(())
        } else {
            Err(ApiError::bad_request(
                json!({"param": "language", "error": format!("unknown language {language}")}),
            ))
        }
    }

    /// Sets one field of one record, as an ERP would (`language: None`: every language).
    pub(crate) fn set_field(
        &mut self,
        record: &str,
        language: Option<&str>,
        field: &str,
        value: Value,
    ) -> Result<u64, ApiError> {
        let rec = self.record_map(record)?;
        if let Some(l) = language {
            self.check_language(l)?;
        }
        let def = rec
            .get("definition")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let fields = self.definition_fields(&def);
        let name = Self::resolve_field(&fields, field)
            .ok_or_else(|| ApiError::unprocessable(json!({"record": record, "field": field})))?;
        let langs: Vec<String> = match language {
            Some(l) => vec![l.to_owned()],
            None => self.languages(),
        };
        let now = self.tick();
        self.modify(Kind::Records, record, |m| {
            let fields = m.entry("fields").or_insert_with(|| json!({}));
            if let Some(fields) = fields.as_object_mut() {
                for l in &langs {
                    let per = fields.entry(l.clone()).or_insert_with(|| json!({}));
                    if let Some(per) = per.as_object_mut() {
                        per.insert(name.clone(), value.clone());
                    }
                }
            }
            m.insert("updated_on".into(), json!(now));
        })?;
        self.push_kind(Kind::Records, Action::Update, record);
        self.flush();
        Ok(self.cursor)
    }

    /// Changes `field` (default `stock`) of the first `count` children of the root record:
    /// integers +1, decimals +0.01, strings get a `+` appended, booleans flip. One UPDATE each,
    /// broadcast in lists of at most 100. Returns how many records changed.
    pub(crate) fn change_records(
        &mut self,
        count: usize,
        field: Option<&str>,
    ) -> Result<usize, ApiError> {
        let field = field.unwrap_or("stock");
        let targets: Vec<String> = self
            .data
            .children
            .get(&self.data.root_record)
            .map(|c| c.iter().take(count).cloned().collect())
            .unwrap_or_default();
        let mut names_by_def: HashMap<String, Option<String>> = HashMap::new();
        let mut changed = 0;
        for gid in &targets {
            let rec = self.record_map(gid)?;
            let def = rec
                .get("definition")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let name = match names_by_def.get(&def) {
                Some(n) => n.clone(),
                None => {
                    let n = Self::resolve_field(&self.definition_fields(&def), field);
                    names_by_def.insert(def, n.clone());
                    n
                }
            };
            let Some(name) = name else {
                if changed == 0 {
                    return Err(ApiError::unprocessable(
                        json!({"record": gid, "field": field}),
                    ));
                }
                continue;
            };
            let now = self.tick();
            self.modify(Kind::Records, gid, |m| {
                if let Some(fields) = m.get_mut("fields").and_then(Value::as_object_mut) {
                    for per in fields.values_mut() {
                        if let Some(per) = per.as_object_mut() {
                            let next = next_value(per.get(&name).unwrap_or(&Value::Null));
                            per.insert(name.clone(), next);
                        }
                    }
                }
                m.insert("updated_on".into(), json!(now));
            })?;
            self.push_kind(Kind::Records, Action::Update, gid);
            changed += 1;
        }
        self.flush();
        Ok(changed)
    }

    /// Creates a record under `parent` (default: the root record); its definition is the
    /// parent definition's first child definition (or the parent's own). `fields` is
    /// `{lang: {name: value}}`. Appends INSERT (record) and UPDATE (parent).
    pub(crate) fn insert_record(
        &mut self,
        parent: Option<&str>,
        fields: Option<&Value>,
    ) -> Result<String, ApiError> {
        let parent = parent
            .map(str::to_owned)
            .unwrap_or_else(|| self.data.root_record.clone());
        let prec = self.record_map(&parent)?;
        let pdef = prec
            .get("definition")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let def = self
            .data
            .definitions
            .get(&pdef)
            .and_then(|d| {
                str_list(parse(d).get("childdefinitions"))
                    .into_iter()
                    .next()
            })
            .unwrap_or(pdef);
        let def_fields = self.definition_fields(&def);
        let langs = self.languages();
        let mut values = Map::new();
        for l in &langs {
            let mut per = Map::new();
            for (g, n) in &def_fields {
                let initial = self
                    .data
                    .fields
                    .get(g)
                    .and_then(|f| parse(f).get("initial")?.get(l.as_str()).cloned())
                    .unwrap_or(Value::Null);
                per.insert(n.clone(), initial);
            }
            values.insert(l.clone(), Value::Object(per));
        }
        if let Some(given) = fields {
            let given = given
                .as_object()
                .ok_or_else(|| ApiError::wrong_type("fields", "object"))?;
            for (l, per) in given {
                self.check_language(l)?;
                let per = per
                    .as_object()
                    .ok_or_else(|| ApiError::wrong_type("fields", "{language: {field: value}}"))?;
                for (k, v) in per {
                    let name = Self::resolve_field(&def_fields, k).ok_or_else(|| {
                        ApiError::unprocessable(json!({"definition": def, "field": k}))
                    })?;
                    if let Some(target) = values.get_mut(l).and_then(Value::as_object_mut) {
                        target.insert(name, v.clone());
                    }
                }
            }
        }
        let title_field = self
            .data
            .definitions
            .get(&def)
            .and_then(|d| parse(d).get("titlefield")?.as_str().map(str::to_owned))
            .and_then(|tf| {
                def_fields
                    .iter()
                    .find(|(g, _)| *g == tf)
                    .map(|(_, n)| n.clone())
            });
        let title: Map<String, Value> = langs
            .iter()
            .map(|l| {
                let t = title_field
                    .as_ref()
                    .and_then(|n| values.get(l)?.get(n)?.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (l.clone(), json!(t))
            })
            .collect();
        let gid = self.next_gid();
        let now = self.tick();
        let mut path = str_list(prec.get("path"));
        path.push(gid.clone());
        let treelevel = prec.get("treelevel").and_then(Value::as_u64).unwrap_or(0) + 1;
        let siblings = self.data.children.get(&parent).map_or(0, Vec::len);
        let orderings: Map<String, Value> = prec
            .get("orderings")
            .and_then(Value::as_object)
            .map(|o| o.keys().map(|k| (k.clone(), json!(siblings))).collect())
            .unwrap_or_default();
        let orderings = if orderings.is_empty() {
            // The root record has no position of its own: take the project's orderings.
            self.project_orderings()
                .into_iter()
                .map(|k| (k, json!(siblings)))
                .collect()
        } else {
            orderings
        };
        let record = json!({
            "gid": gid, "parent": parent, "canonical": gid, "backlinks": [], "treelevel": treelevel,
            "path": path, "childcount": 0, "definition": def, "title": title, "status": "published",
            "channels": prec.get("channels").cloned().unwrap_or_else(|| json!(["__all__"])),
            "orderings": orderings, "is_link": false, "fields": values,
            "created_on": now, "updated_on": now,
        });
        self.data.records.insert(gid.clone(), to_obj(&record));
        let children = self.data.children.entry(parent.clone()).or_default();
        children.push(gid.clone());
        let count = children.len();
        self.modify(Kind::Records, &parent, |m| {
            m.insert("childcount".into(), json!(count));
            m.insert("updated_on".into(), json!(now));
        })?;
        self.push_kind(Kind::Records, Action::Insert, &gid);
        self.push_kind(Kind::Records, Action::Update, &parent);
        self.flush();
        Ok(gid)
    }

    fn project_orderings(&self) -> Vec<String> {
        self.cc
            .projects
            .get(&self.project)
            .map(|p| {
                str_list(
                    parse(p)
                        .get("options")
                        .and_then(|o| o.get("orderedorderings")),
                )
            })
            .unwrap_or_default()
    }

    /// Removes a record and its subtree for good: DELETE per removed record, UPDATE parent.
    pub(crate) fn delete_record(&mut self, gid: &str) -> Result<(), ApiError> {
        if gid == self.data.root_record {
            return Err(ApiError::unprocessable(
                json!({"record": gid, "error": "the root record can't be deleted"}),
            ));
        }
        let rec = self.record_map(gid)?;
        let parent = rec.get("parent").and_then(Value::as_str).map(str::to_owned);
        let mut removed = Vec::new();
        let mut stack = vec![gid.to_owned()];
        while let Some(g) = stack.pop() {
            if let Some(kids) = self.data.children.remove(&g) {
                stack.extend(kids);
            }
            if self.data.records.remove(&g).is_some() {
                removed.push(g);
            }
        }
        let now = self.tick();
        for g in &removed {
            self.push_kind(Kind::Records, Action::Delete, g);
        }
        if let Some(p) = parent {
            let count = self.data.children.get_mut(&p).map(|kids| {
                kids.retain(|k| k != gid);
                kids.len()
            });
            if let Some(count) = count {
                if self
                    .modify(Kind::Records, &p, |m| {
                        m.insert("childcount".into(), json!(count));
                        m.insert("updated_on".into(), json!(now));
                    })
                    .is_ok()
                {
                    self.push_kind(Kind::Records, Action::Update, &p);
                }
            }
        }
        self.flush();
        Ok(())
    }

    /// `records/delete`: marks a record deleted (it stays, with `status: "deleted"`): UPDATE.
    pub(crate) fn soft_delete_record(&mut self, gid: &str) -> Result<(), ApiError> {
        if gid == self.data.root_record {
            return Err(ApiError::unprocessable(
                json!({"record": gid, "error": "the root record can't be deleted"}),
            ));
        }
        let now = self.tick();
        self.modify(Kind::Records, gid, |m| {
            m.insert("status".into(), json!("deleted"));
            m.insert("updated_on".into(), json!(now));
        })?;
        self.push_kind(Kind::Records, Action::Update, gid);
        self.flush();
        Ok(())
    }

    /// `records/update`: applies `{lang: {name_or_gid: value}}`; returns the validation report
    /// (one entry per skipped value; the call still succeeds).
    pub(crate) fn update_record_fields(
        &mut self,
        gid: &str,
        fields: &Map<String, Value>,
    ) -> Result<Vec<Value>, ApiError> {
        let rec = self.record_map(gid)?;
        let def = rec
            .get("definition")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let def_fields = self.definition_fields(&def);
        let langs = self.languages();
        let mut report = Vec::new();
        let mut apply: Vec<(String, String, Value)> = Vec::new();
        for (l, per) in fields {
            if !langs.contains(l) {
                report.push(json!({"language": l, "field": null, "message": "unknown language"}));
                continue;
            }
            let Some(per) = per.as_object() else {
                report.push(json!({"language": l, "field": null, "message": "expected an object of field values"}));
                continue;
            };
            for (k, v) in per {
                match Self::resolve_field(&def_fields, k) {
                    Some(name) => apply.push((l.clone(), name, v.clone())),
                    None => {
                        report.push(json!({"language": l, "field": k, "message": "unknown field"}))
                    }
                }
            }
        }
        if !apply.is_empty() {
            let now = self.tick();
            self.modify(Kind::Records, gid, |m| {
                let fields = m.entry("fields").or_insert_with(|| json!({}));
                if let Some(fields) = fields.as_object_mut() {
                    for (l, name, v) in apply {
                        let per = fields.entry(l).or_insert_with(|| json!({}));
                        if let Some(per) = per.as_object_mut() {
                            per.insert(name, v);
                        }
                    }
                }
                m.insert("updated_on".into(), json!(now));
            })?;
            self.push_kind(Kind::Records, Action::Update, gid);
            self.flush();
        }
        Ok(report)
    }

    // ------------------------------------------------------------------ assets

    /// `assets/upload`: stores a file under the folder `parent` (gid) or `pathname`. A file of
    /// the same name in that folder gets the new content and `version + 1` (UPDATE); otherwise
    /// a new asset is created (INSERT, and UPDATE of the folder). Returns `(asset, parent)`.
    pub(crate) fn upload_asset(
        &mut self,
        parent: Option<&str>,
        pathname: Option<&str>,
        filename: &str,
        bytes: Bytes,
    ) -> Result<(String, String), ApiError> {
        let parent = match (parent, pathname) {
            (Some(p), _) => p.to_owned(),
            (None, Some(pn)) => self
                .data
                .assets
                .iter()
                .find(|(_, a)| parse(a).get("pathname").and_then(Value::as_str) == Some(pn))
                .map(|(k, _)| k.clone())
                .ok_or_else(|| ApiError::unprocessable(json!({"pathname": pn})))?,
            (None, None) => return Err(ApiError::missing("parent")),
        };
        let folder = self
            .data
            .assets
            .get(&parent)
            .map(|a| parse(a))
            .ok_or_else(|| ApiError::unprocessable(json!({"parent": parent})))?;
        if folder
            .get("is_file")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Err(ApiError::unprocessable(
                json!({"parent": parent, "error": "not a folder"}),
            ));
        }
        // Only the last path component of the client's file name counts.
        let name = filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .trim();
        if name.is_empty() || name == "." || name == ".." {
            return Err(ApiError::unprocessable(
                json!({"upload_file": filename, "error": "invalid file name"}),
            ));
        }
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .filter(|e| !e.is_empty());
        let now = self.tick();
        let existing = self.data.asset_children.get(&parent).and_then(|kids| {
            kids.iter()
                .find(|k| {
                    self.data
                        .assets
                        .get(*k)
                        .and_then(|a| parse(a).get("name")?.as_str().map(|n| n == name))
                        .unwrap_or(false)
                })
                .cloned()
        });
        let size = bytes.len();
        if let Some(gid) = existing {
            self.modify(Kind::Assets, &gid, |m| {
                let v = m.get("version").and_then(Value::as_u64).unwrap_or(0) + 1;
                m.insert("version".into(), json!(v));
                let info = m.entry("info").or_insert_with(|| json!({}));
                if let Some(info) = info.as_object_mut() {
                    info.insert("filesize".into(), json!(size));
                }
                m.insert("updated_on".into(), json!(now));
            })?;
            self.data.asset_bytes.insert(gid.clone(), bytes);
            self.push_kind(Kind::Assets, Action::Update, &gid);
            self.flush();
            return Ok((gid, parent));
        }
        let gid = self.next_gid();
        let folder_path = folder
            .get("pathname")
            .and_then(Value::as_str)
            .unwrap_or("/");
        let pathname = format!("{}/{name}", folder_path.trim_end_matches('/'));
        let mut path = str_list(folder.get("path"));
        path.push(gid.clone());
        let langs = self.languages();
        let title: Map<String, Value> = langs.iter().map(|l| (l.clone(), json!(name))).collect();
        let description: Map<String, Value> =
            langs.iter().map(|l| (l.clone(), json!(""))).collect();
        let asset = json!({
            "gid": gid, "pathname": pathname, "path": path, "name": name, "is_file": true,
            "type": ext, "childcount": 0, "status": "published",
            "info": {"format": ext, "filesize": size}, "transforms": null,
            "title": title, "description": description, "version": 1, "metadata": {},
            "created_on": now, "updated_on": now,
        });
        self.data.assets.insert(gid.clone(), to_obj(&asset));
        self.data.asset_bytes.insert(gid.clone(), bytes);
        let kids = self.data.asset_children.entry(parent.clone()).or_default();
        kids.push(gid.clone());
        let count = kids.len();
        self.modify(Kind::Assets, &parent, |m| {
            m.insert("childcount".into(), json!(count));
            m.insert("updated_on".into(), json!(now));
        })?;
        self.push_kind(Kind::Assets, Action::Insert, &gid);
        self.push_kind(Kind::Assets, Action::Update, &parent);
        self.flush();
        Ok((gid, parent))
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

    // ------------------------------------------------------------------ jobs

    fn job_token(&mut self) -> String {
        format!("job-{}", self.next_gid())
    }

    /// Appends the `jobs` item for the job's current state.
    fn push_job(&mut self, token: &str) {
        let Some(job) = self.jobs.get(token) else {
            return;
        };
        let data = json!({
            "project_gid": self.project, "job": job.job, "status": job.status, "info": job.info,
            "created_on": job.created_on, "updated_on": job.updated_on,
        });
        self.push(Family::Cc, Action::Update, "jobs", token, Some(&data));
        self.flush();
    }

    /// Starts a backup: snapshots the project data now, records the new backup version on the
    /// project (UPDATE cc.projects), and queues the job. Returns `(token, version, timestamp)`.
    pub(crate) fn start_backup(
        &mut self,
        created_by: Option<&str>,
        name: Option<&str>,
    ) -> (String, u64, f64) {
        let now = self.tick();
        let created_by = created_by.unwrap_or(&self.api_user).to_owned();
        let mut version = 1;
        let pgid = self.project.clone();
        let _ = self.modify(Kind::Projects, &pgid, |m| {
            let backups = m.entry("backups").or_insert_with(|| json!({"versions": [], "next_version": 1}));
            version = backups.get("next_version").and_then(Value::as_u64).unwrap_or(1);
            let entry = json!({
                "version": version, "name": name.map_or_else(|| format!("Backup {version}"), str::to_owned),
                "created_by": created_by, "timestamp": now,
            });
            if let Some(b) = backups.as_object_mut() {
                match b.get_mut("versions").and_then(Value::as_array_mut) {
                    Some(list) => list.push(entry),
                    None => {
                        b.insert("versions".into(), json!([entry]));
                    }
                }
                b.insert("next_version".into(), json!(version + 1));
            }
            m.insert("last_backed_up".into(), json!(now));
        });
        self.backups.insert(version, self.data.clone());
        self.push_kind(Kind::Projects, Action::Update, &pgid);
        let token = self.job_token();
        self.jobs.insert(
            token.clone(),
            Job {
                job: "backup_project",
                status: "queued",
                info: json!({}),
                created_on: now,
                updated_on: now,
                restore_version: None,
            },
        );
        self.push_job(&token);
        (token, version, now)
    }

    /// Queues a restore of backup `version` (`None`: the latest backup, or the seed if there is
    /// none). `Err(422)` for a version that doesn't exist. Returns `(token, timestamp)`.
    pub(crate) fn start_restore(
        &mut self,
        version: Option<u64>,
    ) -> Result<(String, f64), ApiError> {
        let restore_version = match version {
            Some(v) if self.backups.contains_key(&v) => Some(v),
            Some(v) => return Err(ApiError::unprocessable(json!({"version": v}))),
            None => self.backups.keys().next_back().copied(),
        };
        let now = self.tick();
        let token = self.job_token();
        self.jobs.insert(
            token.clone(),
            Job {
                job: "restore_project",
                status: "queued",
                info: json!({}),
                created_on: now,
                updated_on: now,
                restore_version,
            },
        );
        self.push_job(&token);
        Ok((token, now))
    }

    /// What a restore job will put back.
    pub(crate) fn restore_source(&self, token: &str) -> Option<RestoreSource> {
        let job = self.jobs.get(token)?;
        if job.job != "restore_project" {
            return None;
        }
        Some(match job.restore_version {
            Some(v) => RestoreSource::Backup(v),
            None => RestoreSource::Seed {
                seed: self.seed,
                records: self.seed_records,
            },
        })
    }

    /// Moves a job to `status`; for a restore reaching `done`, first replaces the project data
    /// (with `seeded` when the source is the seed). No per-record items are appended for that.
    pub(crate) fn job_step(
        &mut self,
        token: &str,
        status: &'static str,
        seeded: Option<ProjectData>,
    ) {
        let now = self.tick();
        let Some(job) = self.jobs.get_mut(token) else {
            return;
        };
        if status == "done" && job.job == "restore_project" {
            let restored = match job.restore_version {
                Some(v) => self.backups.get(&v).cloned(),
                None => seeded,
            };
            if let Some(data) = restored {
                self.data = data;
            }
        }
        if let Some(job) = self.jobs.get_mut(token) {
            job.status = status;
            job.updated_on = now;
            job.info = if status == "done" {
                json!({"total": 1, "remaining": 0})
            } else {
                json!({})
            };
        }
        self.push_job(token);
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

    #[test]
    fn change_records_touches_the_first_n() {
        let mut s = Inner::new(1, 10);
        assert_eq!(s.change_records(4, Some("price")).unwrap(), 4);
        assert_eq!(s.cursor, CURSOR_START + 4);
        let first = &s.data.children[&s.data.root_record][0];
        let rec = parse(&s.data.records[first]);
        assert_eq!(rec["fields"]["en"]["price"], json!(12.5 + 0.01));
        assert!(s.change_records(1, Some("nope")).is_err());
    }
}
