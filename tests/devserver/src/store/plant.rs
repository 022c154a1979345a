//! Planted data for the client's tests: wide and empty child lists, a server that lies about
//! children, a cycle in the tree, fields of every type with values that only survive an exact
//! round trip, and saved queries. Each plant appends INSERTs for what it creates and UPDATEs
//! for what it changes, then broadcasts them, like every other mutation.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::{str_list, to_obj, Action, ApiError, Inner, Kind};
use crate::seed::{seeded_price, seeded_stock};

/// The field types of the Unicat API, in the order the planted definition lists them, with
/// an English and a Dutch label; `geo` is one the API doesn't have.
const FIELD_TYPES: [(&str, &str, &str); 18] = [
    ("text", "Text", "Tekst"),
    ("textline", "Text line", "Tekstregel"),
    ("textlist", "Text list", "Tekstlijst"),
    ("code", "Code", "Code"),
    ("barcode", "Barcode", "Streepjescode"),
    ("number", "Number", "Getal"),
    ("decimal", "Decimal", "Decimaal"),
    ("boolean", "Yes or no", "Ja of nee"),
    ("class", "Dimensions", "Afmetingen"),
    ("classlist", "Dimension list", "Afmetingenlijst"),
    ("record", "Related record", "Gerelateerd record"),
    ("recordlist", "Related records", "Gerelateerde records"),
    ("image", "Image", "Afbeelding"),
    ("imagelist", "Images", "Afbeeldingen"),
    ("file", "File", "Bestand"),
    ("filelist", "Files", "Bestanden"),
    ("fieldpicker", "Field", "Veld"),
    ("geo", "Location", "Locatie"),
];

/// A record object with its `fields` kept as JSON text, so numbers keep every digit.
#[derive(Serialize)]
struct NewRecord<'a> {
    gid: &'a str,
    parent: &'a str,
    canonical: &'a str,
    backlinks: [&'a str; 0],
    treelevel: u64,
    path: &'a [String],
    childcount: usize,
    definition: &'a str,
    title: &'a Value,
    status: &'a str,
    channels: &'a Value,
    orderings: &'a Map<String, Value>,
    is_link: bool,
    fields: &'a RawValue,
    created_on: f64,
    updated_on: f64,
}

/// One language's field values as JSON text: `(name, JSON text of the value)`.
fn values_json(values: &[(&str, String)]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|(name, v)| format!("{}:{v}", json!(name)))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// A JSON string literal.
fn s(text: &str) -> String {
    json!(text).to_string()
}

impl Inner {
    /// The gid of the committed schema item of `kind` called `name`.
    fn gid_by_name(&self, kind: Kind, name: &str) -> Result<String, ApiError> {
        self.store(kind)
            .iter()
            .find(|(_, o)| super::parse(o).get("name").and_then(Value::as_str) == Some(name))
            .map(|(g, _)| g.clone())
            .ok_or_else(|| ApiError::unprocessable(json!({kind.name(): name})))
    }

    /// Stores a new record as the last child of `parent` (no sync items, and the parent's
    /// `childcount` is left alone: the caller does both). `fields` is `{lang: {name: value}}`
    /// as JSON text.
    fn place_record(
        &mut self,
        parent: &str,
        gid: &str,
        definition: &str,
        title: &Value,
        fields: &str,
        childcount: usize,
    ) -> Result<(), ApiError> {
        let prec = self.record_map(parent)?;
        let mut path = str_list(prec.get("path"));
        path.push(gid.to_owned());
        let treelevel = prec.get("treelevel").and_then(Value::as_u64).unwrap_or(0) + 1;
        let siblings = self.data.children.get(parent).map_or(0, Vec::len);
        let mut keys: Vec<String> = prec
            .get("orderings")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        if keys.is_empty() {
            keys = self.project_orderings();
        }
        let orderings: Map<String, Value> =
            keys.into_iter().map(|k| (k, json!(siblings))).collect();
        let channels = prec
            .get("channels")
            .cloned()
            .unwrap_or_else(|| json!(["__all__"]));
        let fields = RawValue::from_string(fields.to_owned()).map_err(|e| {
            ApiError::bad_request(json!({"error": format!("planted fields are not JSON: {e}")}))
        })?;
        let now = self.clock;
        let record = to_obj(&NewRecord {
            gid,
            parent,
            canonical: gid,
            backlinks: [],
            treelevel,
            path: &path,
            childcount,
            definition,
            title,
            status: "published",
            channels: &channels,
            orderings: &orderings,
            is_link: false,
            fields: &fields,
            created_on: now,
            updated_on: now,
        });
        self.data.records.insert(gid.to_owned(), record);
        self.data
            .children
            .entry(parent.to_owned())
            .or_default()
            .push(gid.to_owned());
        Ok(())
    }

    /// Sets a record's `childcount` to the length of its stored child list and logs an UPDATE.
    fn recount_children(&mut self, gid: &str) -> Result<(), ApiError> {
        let count = self.data.children.get(gid).map_or(0, Vec::len);
        let now = self.clock;
        self.modify(Kind::Records, gid, |m| {
            m.insert("childcount".into(), json!(count));
            m.insert("updated_on".into(), json!(now));
        })?;
        self.push_kind(Kind::Records, Action::Update, gid);
        Ok(())
    }

    /// `{lang: {}}` for every project language.
    fn no_values(&self) -> String {
        let langs = self.languages();
        let items: Vec<(&str, String)> = langs.iter().map(|l| (l.as_str(), "{}".into())).collect();
        values_json(&items)
    }

    /// A catalog record under the root with `count` articles (artnr `P-00001`…, price and
    /// stock as the seed makes them, in every language). Returns `(parent, children)`.
    pub(crate) fn plant_children(
        &mut self,
        count: usize,
    ) -> Result<(String, Vec<String>), ApiError> {
        let catalog = self.gid_by_name(Kind::Definitions, "catalog")?;
        let article = self.gid_by_name(Kind::Definitions, "article")?;
        let root = self.data.root_record.clone();
        self.tick();
        let parent = self.next_gid();
        let title = json!({"en": format!("Planted catalog of {count}"), "nl": format!("Geplante catalogus van {count}")});
        let empty = self.no_values();
        self.place_record(&root, &parent, &catalog, &title, &empty, count)?;
        let langs = self.languages();
        let mut children = Vec::with_capacity(count);
        for i in 1..=count {
            let gid = self.next_gid();
            let nr = format!("P-{i:05}");
            let per = values_json(&[
                ("artnr", s(&nr)),
                ("price", json!(seeded_price(i)).to_string()),
                ("stock", json!(seeded_stock(i)).to_string()),
            ]);
            let all: Vec<(&str, String)> =
                langs.iter().map(|l| (l.as_str(), per.clone())).collect();
            let title = json!({"en": format!("Article {nr}"), "nl": format!("Artikel {nr}")});
            self.place_record(&parent, &gid, &article, &title, &values_json(&all), 0)?;
            children.push(gid);
        }
        self.push_kind(Kind::Records, Action::Insert, &parent);
        self.recount_children(&root)?;
        for gid in &children {
            self.push_kind(Kind::Records, Action::Insert, gid);
        }
        self.flush();
        Ok((parent, children))
    }

    /// A catalog record under the root that claims 5 children (`childcount` and
    /// `children.size`) while every `/records/children` page comes back empty.
    pub(crate) fn plant_empty_page(&mut self) -> Result<String, ApiError> {
        let catalog = self.gid_by_name(Kind::Definitions, "catalog")?;
        let root = self.data.root_record.clone();
        self.tick();
        let gid = self.next_gid();
        let title = json!({"en": "Empty pages", "nl": "Lege pagina's"});
        let empty = self.no_values();
        self.place_record(&root, &gid, &catalog, &title, &empty, 5)?;
        self.data.empty_pages.insert(gid.clone());
        self.push_kind(Kind::Records, Action::Insert, &gid);
        self.recount_children(&root)?;
        self.flush();
        Ok(gid)
    }

    /// A record P under the root with one child C whose own child list holds P again.
    /// Returns `(P, C)`.
    pub(crate) fn plant_cycle(&mut self) -> Result<(String, String), ApiError> {
        let catalog = self.gid_by_name(Kind::Definitions, "catalog")?;
        let root = self.data.root_record.clone();
        self.tick();
        let p = self.next_gid();
        let c = self.next_gid();
        let empty = self.no_values();
        let title = json!({"en": "Cycle top", "nl": "Kringloop boven"});
        self.place_record(&root, &p, &catalog, &title, &empty, 1)?;
        let title = json!({"en": "Cycle bottom", "nl": "Kringloop onder"});
        self.place_record(&p, &c, &catalog, &title, &empty, 1)?;
        self.data.children.insert(c.clone(), vec![p.clone()]);
        self.push_kind(Kind::Records, Action::Insert, &p);
        self.push_kind(Kind::Records, Action::Insert, &c);
        self.recount_children(&root)?;
        self.flush();
        Ok((p, c))
    }

    /// Stores a committed field (no sync item).
    fn put_field(
        &mut self,
        gid: &str,
        name: &str,
        type_: &str,
        label: (&str, &str),
        unit: Option<&str>,
        options: Value,
    ) {
        let field = json!({
            "gid": gid, "original": null, "name": name, "label": {"en": label.0, "nl": label.1},
            "type": type_, "options": options, "is_localized": true, "is_required": false,
            "initial": {"en": null, "nl": null}, "unit": unit, "metadata": {},
            "is_new": false, "is_working_copy": false,
        });
        self.data.fields.insert(gid.to_owned(), to_obj(&field));
    }

    /// Stores a committed class (no sync item).
    fn put_class(&mut self, gid: &str, name: &str, label: (&str, &str), fields: &[&str]) {
        let class = json!({
            "gid": gid, "original": null, "name": name, "label": {"en": label.0, "nl": label.1},
            "fields": fields, "layout": null, "metadata": {}, "is_new": false,
            "is_working_copy": false,
        });
        self.data.classes.insert(gid.to_owned(), to_obj(&class));
    }

    /// Fields of every type, two classes, the definition `everything` and one record of it
    /// under the root (see [`crate::Control::plant_field_types`]). Returns the gids.
    pub(crate) fn plant_field_types(&mut self) -> Result<Value, ApiError> {
        let artnr = self.gid_by_name(Kind::Fields, "artnr")?;
        let root = self.data.root_record.clone();
        let article = self.gid_by_name(Kind::Definitions, "article")?;
        let articles: Vec<String> = self
            .data
            .children
            .get(&root)
            .into_iter()
            .flatten()
            .filter(|g| {
                self.data.records.get(*g).is_some_and(|r| {
                    super::parse(r).get("definition").and_then(Value::as_str) == Some(&article)
                })
            })
            .take(2)
            .cloned()
            .collect();
        // With no seeded article, the root record stands in as the existing record.
        let first = articles.first().cloned().unwrap_or_else(|| root.clone());
        let second = articles.get(1).cloned().unwrap_or_else(|| first.clone());
        let by_pathname = |pathname: &str| {
            self.data
                .assets
                .iter()
                .find(|(_, a)| {
                    super::parse(a).get("pathname").and_then(Value::as_str) == Some(pathname)
                })
                .map(|(g, _)| g.clone())
        };
        let image = by_pathname("/img/photo-1.jpg")
            .ok_or_else(|| ApiError::unprocessable(json!({"pathname": "/img/photo-1.jpg"})))?;
        let file = by_pathname("/img/photo-2.png").unwrap_or_else(|| image.clone());
        self.tick();

        // Classes and their fields.
        let (width, depth, extra_textline) = (self.next_gid(), self.next_gid(), self.next_gid());
        let (dimensions, extras) = (self.next_gid(), self.next_gid());
        self.put_field(
            &width,
            "width",
            "number",
            ("Width", "Breedte"),
            Some("mm"),
            json!({}),
        );
        self.put_field(
            &depth,
            "depth",
            "decimal",
            ("Depth", "Diepte"),
            None,
            json!({}),
        );
        self.put_field(
            &extra_textline,
            "t_textline",
            "code",
            ("Text line (extras)", "Tekstregel (extra's)"),
            None,
            json!({}),
        );
        self.put_class(
            &dimensions,
            "dimensions",
            ("Dimensions", "Afmetingen"),
            &[&width, &depth],
        );
        self.put_class(&extras, "extras", ("Extras", "Extra's"), &[&extra_textline]);

        // One field per type.
        let mut fields = Map::new();
        let mut field_gids = Vec::new();
        for (type_, en, nl) in FIELD_TYPES {
            let gid = self.next_gid();
            let name = format!("t_{type_}");
            let unit = match type_ {
                "number" => Some("mm"),
                "decimal" => Some("EUR"),
                _ => None,
            };
            let options = match type_ {
                "class" | "classlist" => json!({"class": dimensions}),
                _ => json!({}),
            };
            self.put_field(&gid, &name, type_, (en, nl), unit, options);
            fields.insert(name, json!(gid));
            field_gids.push(gid);
        }

        // The definition.
        let definition = self.next_gid();
        let titlefield = fields.get("t_textline").cloned().unwrap_or(Value::Null);
        let def = json!({
            "gid": definition, "original": null, "name": "everything",
            "label": {"en": "Everything", "nl": "Alles"}, "classes": [dimensions, extras],
            "fields": field_gids, "titlefield": titlefield, "fieldlists": {}, "layout": null,
            "childdefinitions": [], "metadata": {}, "is_base": true, "is_new": false,
            "is_working_copy": false, "is_extended": false,
        });
        self.data
            .definitions
            .insert(definition.clone(), to_obj(&def));

        // The record, its values written as JSON text so that every digit survives.
        let (missing_record, missing_asset) = (self.next_gid(), self.next_gid());
        let record = self.next_gid();
        let refs = |list: &[&str]| json!(list).to_string();
        let en = values_json(&[
            ("t_text", s("Plain text.\nSecond line.")),
            ("t_textline", s("Everything (en)")),
            ("t_textlist", refs(&["Red", "Blue"])),
            ("t_textlist/key", refs(&["r", "b"])),
            ("t_code", s("width, \"depth\"\nheight")),
            ("t_barcode", s("8712345678906")),
            ("t_number", "42".into()),
            ("t_decimal", "12345678901234567.891".into()),
            ("t_boolean", "true".into()),
            ("t_class", r#"{"width": 10, "depth": 2.50}"#.into()),
            (
                "t_classlist",
                r#"[{"width": 1, "depth": 0.1}, {"width": 2, "depth": 0.2}]"#.into(),
            ),
            ("t_record", s(&first)),
            ("t_recordlist", refs(&[&first, &missing_record])),
            ("t_image", s(&image)),
            ("t_imagelist", refs(&[&image, &missing_asset])),
            ("t_file", s(&file)),
            ("t_filelist", "[]".into()),
            ("t_fieldpicker", s(&artnr)),
            ("t_geo", r#"{"lat": 52.1, "lon": 5.1}"#.into()),
            ("width", "300".into()),
            ("depth", "40.5".into()),
        ]);
        let nl = values_json(&[
            ("t_text", s("Platte tekst.\nTweede regel.")),
            ("t_textline", s("Alles (nl)")),
            ("t_textlist", refs(&["Rood", "Blauw"])),
            ("t_textlist/key", refs(&["r", "b"])),
            ("t_code", s("breedte, \"diepte\"\nhoogte")),
            ("t_number", "7".into()),
            ("t_decimal", "0.30000000000000004".into()),
            ("t_boolean", "null".into()),
            ("t_class", r#"{"width": 11, "depth": 2.75}"#.into()),
            ("t_classlist", r#"[{"width": 3, "depth": 0.3}]"#.into()),
            ("t_record", s(&second)),
            ("t_recordlist", refs(&[&first, &missing_record])),
            ("t_image", s(&image)),
            ("t_imagelist", refs(&[&image, &missing_asset])),
            ("t_file", s(&file)),
            ("t_filelist", "[]".into()),
            ("t_fieldpicker", s(&artnr)),
            ("t_geo", r#"{"lat": 52.2, "lon": 5.2}"#.into()),
            ("width", "301".into()),
            ("depth", "40.25".into()),
        ]);
        let values = values_json(&[("en", en), ("nl", nl)]);
        let title = json!({"en": "Everything (en)", "nl": "Alles (nl)"});
        self.place_record(&root, &record, &definition, &title, &values, 0)?;

        for gid in [&width, &depth, &extra_textline] {
            self.push_kind(Kind::Fields, Action::Insert, gid);
        }
        for gid in &field_gids {
            self.push_kind(Kind::Fields, Action::Insert, gid);
        }
        self.push_kind(Kind::Classes, Action::Insert, &dimensions);
        self.push_kind(Kind::Classes, Action::Insert, &extras);
        self.push_kind(Kind::Definitions, Action::Insert, &definition);
        self.push_kind(Kind::Records, Action::Insert, &record);
        self.recount_children(&root)?;
        self.flush();
        Ok(json!({
            "definition": definition,
            "record": record,
            "classes": {"dimensions": dimensions, "extras": extras},
            "fields": fields,
            "class_fields": {
                "dimensions": {"width": width, "depth": depth},
                "extras": {"t_textline": extra_textline},
            },
            "missing_record": missing_record,
            "missing_asset": missing_asset,
            "records": [first, second],
            "image": image,
            "file": file,
        }))
    }

    /// The saved queries `In stock` (records, stock > 0), `Photos` (assets, q `photo`) and
    /// `Prices` (schema, q `price`), next to the seeded `Cheap articles`. A query that already
    /// exists (same type and name) is kept. Returns `{name: gid}`.
    pub(crate) fn plant_queries(&mut self) -> Result<Value, ApiError> {
        let stock = self.gid_by_name(Kind::Fields, "stock")?;
        let wanted = [
            ("record", "In stock", "", json!(["value", "gt", [stock, 0]])),
            ("record", "Cheap articles", "", Value::Null),
            ("asset", "Photos", "photo", Value::Null),
            ("schema", "Prices", "price", Value::Null),
        ];
        let find = |inner: &Inner, type_: &str, name: &str| {
            inner
                .data
                .queries
                .iter()
                .find(|(_, q)| {
                    let q = super::parse(q);
                    q.get("type").and_then(Value::as_str) == Some(type_)
                        && q.get("name").and_then(Value::as_str) == Some(name)
                })
                .map(|(g, _)| g.clone())
        };
        self.tick();
        let mut out = Map::new();
        for (type_, name, q, filter) in wanted {
            if let Some(gid) = find(self, type_, name) {
                out.insert(name.to_owned(), json!(gid));
                continue;
            }
            if name == "Cheap articles" {
                continue; // the seed's; not planted again when it was removed
            }
            let gid = self.next_gid();
            let query = json!({"gid": gid, "type": type_, "name": name, "q": q, "filter": filter});
            self.data.queries.insert(gid.clone(), to_obj(&query));
            self.push_kind(Kind::Queries, Action::Insert, &gid);
            out.insert(name.to_owned(), json!(gid));
        }
        self.flush();
        Ok(Value::Object(out))
    }
}
