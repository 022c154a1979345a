//! [`Control`] methods that plant data for the client's reading and walking tests.

use serde_json::Value;

use super::{Control, ControlError};
use crate::lock;

impl Control {
    /// Plants a record of definition `catalog` under the root with exactly `count` children of
    /// definition `article` (`artnr` `P-00001`…, `price` and `stock` set in every language),
    /// for paging tests (a page of 100 holds 100 of 101). Sync items: INSERT of the parent,
    /// UPDATE of the root, INSERT of each child (broadcast in lists of at most 100). Returns
    /// `(parent, children in order)`.
    ///
    /// HTTP: `POST /_dev/plant_children {"count"}` → `{"parent", "children": [...]}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let (_, before) = control.cursors();
    /// let (parent, children) = control.plant_children(101)?;
    /// assert_eq!(children.len(), 101);
    /// assert_eq!(control.cursors().1, before + 2 + 101);
    /// let state = control.state();
    /// assert_eq!(state["data"]["records"][&parent]["childcount"], 101);
    /// assert_eq!(state["data"]["records"][&children[0]]["fields"]["nl"]["artnr"], "P-00001");
    /// assert_eq!(control.plant_children(0)?.1, Vec::<String>::new());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plant_children(&self, count: usize) -> Result<(String, Vec<String>), ControlError> {
        Ok(lock(&self.shared.inner).plant_children(count)?)
    }

    /// Plants a record under the root whose `childcount` is 5 while its `/records/children`
    /// answer is `{"children": [], "children.size": 5}` for every page: a server that lies,
    /// so a walker must stop on an empty page instead of asking forever. Sync items: INSERT of
    /// the record, UPDATE of the root. Returns its gid.
    ///
    /// HTTP: `POST /_dev/plant_empty_page` → `{"record"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let gid = control.plant_empty_page()?;
    /// assert_eq!(control.state()["data"]["records"][&gid]["childcount"], 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plant_empty_page(&self) -> Result<String, ControlError> {
        Ok(lock(&self.shared.inner).plant_empty_page()?)
    }

    /// Plants a cycle: a record P under the root with one child C (`childcount` 1), and C's
    /// child list holds P again (C's `childcount` 1), so walking the tree naively never ends.
    /// Sync items: INSERT of P and of C, UPDATE of the root. Returns `(P, C)`.
    ///
    /// HTTP: `POST /_dev/plant_cycle` → `{"parent", "child"}`.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let (p, c) = control.plant_cycle()?;
    /// let records = &control.state()["data"]["records"];
    /// assert_eq!(records[&c]["parent"], p.as_str());
    /// assert_eq!(records[&p]["childcount"], 1);
    /// assert_eq!(records[&c]["childcount"], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plant_cycle(&self) -> Result<(String, String), ControlError> {
        Ok(lock(&self.shared.inner).plant_cycle()?)
    }

    /// Plants fields of every Unicat field type, one of the unknown type `geo`, two classes,
    /// a definition and a record of it under the root:
    ///
    /// * fields `t_<type>` for `text textline textlist code barcode number decimal boolean
    ///   class classlist record recordlist image imagelist file filelist fieldpicker geo`, all
    ///   `is_localized`, labelled in `en` and `nl`; unit `mm` on `t_number`, `EUR` on
    ///   `t_decimal`; `t_class` and `t_classlist` have `options: {"class": <dimensions>}`;
    /// * class `dimensions` with `width` (number, `mm`) and `depth` (decimal), and class
    ///   `extras` with a field also called `t_textline` (another gid, type `code`);
    /// * definition `everything`: `fields` the `t_*` fields, `classes` `[dimensions, extras]`
    ///   (so by name, the `extras` field comes last), `titlefield` `t_textline`;
    /// * one record with different values in `en` and `nl`: strings (`t_code` holds a comma,
    ///   a double quote and a newline), `t_textlist` `["Red", "Blue"]` with
    ///   `t_textlist/key` `["r", "b"]`, `t_number` 42, `t_decimal` written as
    ///   `12345678901234567.891` (en) and `0.30000000000000004` (nl) in the record's JSON
    ///   text, `t_boolean` `true` (en) and `null` (nl), `t_class` `{"width": 10, "depth":
    ///   2.50}`, a two-item `t_classlist`, references to a seeded article, to
    ///   `/img/photo-1.jpg` and `/img/photo-2.png`, lists that also name a record and an asset
    ///   that don't exist, an empty `t_filelist`, `t_fieldpicker` the seeded `artnr` field,
    ///   `t_geo` `{"lat": 52.1, "lon": 5.1}`, and top-level `width`/`depth` values for the
    ///   class fields; `t_barcode` is missing from `nl`.
    ///
    /// Sync items: INSERT of each field, class, the definition and the record, then UPDATE of
    /// the root. Returns `{"definition", "record", "classes": {name: gid}, "fields": {name:
    /// gid}` (the `t_*` fields), `"class_fields": {class: {name: gid}}, "missing_record",
    /// "missing_asset", "records": [the referenced articles], "image", "file"}`.
    ///
    /// HTTP: `POST /_dev/plant_field_types` → that object.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let planted = control.plant_field_types()?;
    /// let record = planted["record"].as_str().unwrap();
    /// assert!(control.state_json().contains(r#""t_decimal":12345678901234567.891"#));
    /// let state = control.state();
    /// assert_eq!(state["data"]["records"][record]["fields"]["en"]["t_number"], 42);
    /// assert!(state["data"]["records"][record]["fields"]["nl"].get("t_barcode").is_none());
    /// let t_decimal = planted["fields"]["t_decimal"].as_str().unwrap();
    /// assert_eq!(state["data"]["fields"][t_decimal]["unit"], "EUR");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plant_field_types(&self) -> Result<Value, ControlError> {
        Ok(lock(&self.shared.inner).plant_field_types()?)
    }

    /// Plants saved queries next to the seeded record query `Cheap articles`: record query
    /// `In stock` (`q` empty, filter `["value", "gt", [<stock field>, 0]]`), asset query
    /// `Photos` (`q` `photo`, no filter) and schema query `Prices` (`q` `price`, no filter).
    /// One `queries` INSERT each; a query of that type and name that already exists is kept
    /// (so a second call plants nothing). Returns `{name: gid}`, `Cheap articles` included.
    ///
    /// HTTP: `POST /_dev/plant_queries` → that object.
    ///
    /// ```
    /// # let server = unicat_devserver::DevServer::start(unicat_devserver::DevConfig { records: 3, ..Default::default() })?;
    /// let control = server.control();
    /// let (_, before) = control.cursors();
    /// let queries = control.plant_queries()?;
    /// assert_eq!(control.cursors().1, before + 3);
    /// let in_stock = queries["In stock"].as_str().unwrap();
    /// assert_eq!(control.state()["data"]["queries"][in_stock]["filter"][1], "gt");
    /// assert_eq!(control.plant_queries()?, queries);
    /// assert_eq!(control.cursors().1, before + 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plant_queries(&self) -> Result<Value, ControlError> {
        Ok(lock(&self.shared.inner).plant_queries()?)
    }
}
