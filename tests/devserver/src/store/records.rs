//! Records and assets: field changes, inserts, deletes, `records/update` and uploads.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

use super::{next_value, parse, str_list, to_obj, Action, ApiError, Inner, Kind};

impl Inner {
    // ------------------------------------------------------------------ records

    pub(super) fn record_map(&self, gid: &str) -> Result<Map<String, Value>, ApiError> {
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

    pub(super) fn project_orderings(&self) -> Vec<String> {
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
}

#[cfg(test)]
mod tests {
    use super::super::CURSOR_START;
    use super::*;

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
