//! The seeded project: deterministic for a given `(seed, records)` pair, and fast enough to build
//! 100,000 records in a fraction of a second (records are serialized straight from structs).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

use crate::ids::{splitmix64, GidGen};
use crate::store::{to_obj, CcData, ProjectData};

/// Epoch seconds of every seeded timestamp (2026-01-01T00:00:00Z); the logical clock starts here.
pub(crate) const BASE_TIME: f64 = 1_767_225_600.0;
/// The server version reported at start.
pub(crate) const INITIAL_VERSION: &str = "2026.01.001";
/// The project languages, in order (the first is the default).
pub(crate) const LANGUAGES: [&str; 2] = ["en", "nl"];

/// Everything the seed produces.
pub(crate) struct Seeded {
    pub(crate) cc: CcData,
    pub(crate) data: ProjectData,
    pub(crate) project: String,
    pub(crate) api_user: String,
    pub(crate) api_key: String,
    /// The gid generator, positioned after the seed's last gid.
    pub(crate) gids: GidGen,
}

/// The `artnr` of the `i`-th seeded article (1-based).
pub(crate) fn artnr(i: usize) -> String {
    format!("A-{i:05}")
}

/// The seeded price of article `i`: exact halves on every fourth article (12.5 for the first),
/// otherwise `0.1 + k * 0.01` computed in binary floating point, so many prices have a decimal
/// text that only survives an exact round trip (e.g. `0.16999999999999998`).
pub(crate) fn seeded_price(i: usize) -> f64 {
    if i % 4 == 1 {
        10.0 + 2.5 * ((i / 4) % 8 + 1) as f64
    } else {
        0.1 + ((i * 7) % 1000) as f64 * 0.01
    }
}

/// The seeded stock of article `i` (3 for the first).
pub(crate) fn seeded_stock(i: usize) -> i64 {
    ((i * 3) % 50) as i64
}

#[derive(Serialize)]
struct ArticleFields<'a> {
    artnr: &'a str,
    price: f64,
    stock: i64,
}

#[derive(Serialize)]
struct RecordOut<'a, F: Serialize> {
    gid: &'a str,
    parent: Option<&'a str>,
    canonical: &'a str,
    backlinks: [&'a str; 0],
    treelevel: usize,
    path: &'a [&'a str],
    childcount: usize,
    definition: &'a str,
    title: BTreeMap<&'a str, String>,
    status: &'a str,
    channels: &'a [&'a str],
    orderings: BTreeMap<&'a str, usize>,
    is_link: bool,
    fields: BTreeMap<&'a str, F>,
    created_on: f64,
    updated_on: f64,
}

fn field_obj(
    gid: &str,
    name: &str,
    type_: &str,
    label: (&str, &str),
    unit: Option<&str>,
) -> serde_json::Value {
    json!({
        "gid": gid, "original": null, "name": name,
        "label": {"en": label.0, "nl": label.1},
        "type": type_, "options": {}, "is_localized": false, "is_required": false,
        "initial": {"en": null, "nl": null}, "unit": unit, "metadata": {},
        "is_new": false, "is_working_copy": false,
    })
}

/// Fake but recognisable file bytes: the format's magic number, then filler derived from the gid.
fn file_bytes(magic: &[u8], gid: &str, len: usize) -> Bytes {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(magic);
    let mut x = gid.bytes().fold(0u64, |h, b| splitmix64(h ^ u64::from(b)));
    while out.len() < len {
        x = splitmix64(x);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// Builds the seeded project. Pure: the same arguments give the same data, gids included.
pub(crate) fn seed(seed: u64, records: usize) -> Seeded {
    let mut gids = GidGen::new(seed);
    let t = BASE_TIME;

    // ---- cc: users, project, memberships, languages
    let owner = gids.next_gid();
    let api_user = gids.next_gid();
    let project = gids.next_gid();
    let channel_web = gids.next_gid();
    let ordering = gids.next_gid();
    let fieldlist = gids.next_gid();

    let mut cc = CcData::default();
    // The API user is the current user: complete form. The owner is another user: short form.
    cc.users.insert(
        api_user.clone(),
        to_obj(&json!({
            "gid": api_user, "username": null, "name": "Dev server API key", "avatar": null,
            "status": "active", "email": null,
            "options": {"language": "en", "timezone": "Europe/Amsterdam"},
        })),
    );
    cc.users.insert(
        owner.clone(),
        to_obj(&json!({
            "gid": owner, "username": "owner", "name": "Project Owner", "avatar": null,
            "status": "active",
        })),
    );
    cc.projects.insert(
        project.clone(),
        to_obj(&json!({
            "gid": project, "name": "Unicat dev project", "icon": null, "owner": owner,
            "status": "active",
            "options": {
                "timezone": "Europe/Amsterdam",
                "languages": LANGUAGES,
                "channels": {"__all__": "All channels", channel_web.as_str(): "Webshop"},
                "orderings": {ordering.as_str(): "Default"},
                "fieldlists": {fieldlist.as_str(): "Webshop"},
                "imageserver": null,
                "orderedchannels": ["__all__", channel_web],
                "orderedorderings": [ordering],
                "orderedfieldlists": [fieldlist],
            },
            "backups": {"versions": [], "next_version": 1},
            "last_backed_up": null,
        })),
    );
    for (user, role) in [(&owner, "owner"), (&api_user, "api")] {
        cc.members.insert(
            format!("{project}/{user}"),
            to_obj(&json!({
                "project_gid": project, "user_gid": user, "status": "active", "roles": [role],
                "options": {"notifications": {}, "rate_limit_per_second": null},
            })),
        );
    }
    cc.languages.insert("en".into(), "English".into());
    cc.languages.insert("nl".into(), "Dutch".into());

    // ---- schema: fields, layouts, definitions, a query, a module
    let mut data = ProjectData::default();
    let f_artnr = gids.next_gid();
    let f_price = gids.next_gid();
    let f_stock = gids.next_gid();
    let layout_article = gids.next_gid();
    let layout_catalog = gids.next_gid();
    let def_article = gids.next_gid();
    let def_catalog = gids.next_gid();
    let query = gids.next_gid();
    let layout_root_component = gids.next_gid();
    let catalog_root_component = gids.next_gid();

    data.fields.insert(
        f_artnr.clone(),
        to_obj(&field_obj(
            &f_artnr,
            "artnr",
            "textline",
            ("Article number", "Artikelnummer"),
            None,
        )),
    );
    data.fields.insert(
        f_price.clone(),
        to_obj(&field_obj(
            &f_price,
            "price",
            "decimal",
            ("Price", "Prijs"),
            Some("EUR"),
        )),
    );
    data.fields.insert(
        f_stock.clone(),
        to_obj(&field_obj(
            &f_stock,
            "stock",
            "number",
            ("Stock", "Voorraad"),
            None,
        )),
    );

    data.layouts.insert(
        layout_article.clone(),
        to_obj(&json!({
            "gid": layout_article, "original": null, "name": "article",
            "root": layout_root_component,
            "components": {layout_root_component.as_str(): {"type": "vertical", "content": [f_artnr, f_price, f_stock]}},
            "is_new": false, "is_working_copy": false,
        })),
    );
    data.layouts.insert(
        layout_catalog.clone(),
        to_obj(&json!({
            "gid": layout_catalog, "original": null, "name": "catalog",
            "root": catalog_root_component,
            "components": {catalog_root_component.as_str(): {"type": "vertical", "content": []}},
            "is_new": false, "is_working_copy": false,
        })),
    );
    let definition = |gid: &str,
                      name: &str,
                      label: (&str, &str),
                      fields: &[&str],
                      titlefield: Option<&str>,
                      layout: &str,
                      children: &[&str],
                      fieldlists: serde_json::Value| {
        json!({
            "gid": gid, "original": null, "name": name, "label": {"en": label.0, "nl": label.1},
            "classes": [], "fields": fields, "titlefield": titlefield, "fieldlists": fieldlists,
            "layout": layout, "childdefinitions": children, "metadata": {},
            "is_base": true, "is_new": false, "is_working_copy": false, "is_extended": false,
        })
    };
    data.definitions.insert(
        def_article.clone(),
        to_obj(&definition(
            &def_article,
            "article",
            ("Article", "Artikel"),
            &[&f_artnr, &f_price, &f_stock],
            Some(&f_artnr),
            &layout_article,
            &[],
            json!({fieldlist.as_str(): [f_artnr, f_price]}),
        )),
    );
    data.definitions.insert(
        def_catalog.clone(),
        to_obj(&definition(
            &def_catalog,
            "catalog",
            ("Catalog", "Catalogus"),
            &[],
            None,
            &layout_catalog,
            &[&def_article],
            json!({}),
        )),
    );
    data.queries.insert(
        query.clone(),
        to_obj(&json!({
            "gid": query, "type": "record", "name": "Cheap articles", "q": "",
            "filter": ["value", "lt", [f_price, 1.0]],
        })),
    );
    data.modules.insert(
        "erp-connector".into(),
        to_obj(&json!({
            "name": "erp-connector", "version": "1.0.0",
            "keys": {"erp.endpoint": "http://127.0.0.1/erp"},
            "actions": {"sync": {"name": "sync", "configuration": {"interval": 60}}},
            "logs": [],
        })),
    );

    // ---- records: one root, `records` articles under it
    let root = gids.next_gid();
    let channels = ["__all__", channel_web.as_str()];
    let mut root_title = BTreeMap::new();
    root_title.insert("en", "Catalog".to_string());
    root_title.insert("nl", "Catalogus".to_string());
    let empty: BTreeMap<&str, BTreeMap<&str, ()>> =
        LANGUAGES.iter().map(|l| (*l, BTreeMap::new())).collect();
    data.records.insert(
        root.clone(),
        to_obj(&RecordOut {
            gid: &root,
            parent: None,
            canonical: &root,
            backlinks: [],
            treelevel: 0,
            path: &[&root],
            childcount: records,
            definition: &def_catalog,
            title: root_title,
            status: "published",
            channels: &channels,
            orderings: BTreeMap::new(),
            is_link: false,
            fields: empty,
            created_on: t,
            updated_on: t,
        }),
    );
    let mut children = Vec::with_capacity(records);
    for i in 1..=records {
        let gid = gids.next_gid();
        let nr = artnr(i);
        let fields = ArticleFields {
            artnr: &nr,
            price: seeded_price(i),
            stock: seeded_stock(i),
        };
        let mut title = BTreeMap::new();
        title.insert("en", format!("Article {nr}"));
        title.insert("nl", format!("Artikel {nr}"));
        let mut orderings = BTreeMap::new();
        orderings.insert(ordering.as_str(), i - 1);
        let mut per_lang = BTreeMap::new();
        for l in LANGUAGES {
            per_lang.insert(l, &fields);
        }
        let obj = to_obj(&RecordOut {
            gid: &gid,
            parent: Some(&root),
            canonical: &gid,
            backlinks: [],
            treelevel: 1,
            path: &[&root, &gid],
            childcount: 0,
            definition: &def_article,
            title,
            status: "published",
            channels: &channels,
            orderings,
            is_link: false,
            fields: per_lang,
            created_on: t,
            updated_on: t,
        });
        data.records.insert(gid.clone(), obj);
        children.push(gid);
    }
    data.children.insert(root.clone(), children);
    data.root_record = root;

    // ---- assets: / (root folder), /img, /img/photo-1.jpg (version 3), /img/photo-2.png
    let a_root = gids.next_gid();
    let a_img = gids.next_gid();
    let a_photo1 = gids.next_gid();
    let a_photo2 = gids.next_gid();
    let folder = |gid: &str, pathname: &str, path: &[&str], name: &str, childcount: usize| {
        json!({
            "gid": gid, "pathname": pathname, "path": path, "name": name, "is_file": false,
            "type": null, "childcount": childcount, "status": "published", "info": {},
            "transforms": null, "title": {"en": "", "nl": ""}, "description": {"en": "", "nl": ""},
            "version": 1, "metadata": {}, "created_on": t, "updated_on": t,
        })
    };
    data.assets.insert(
        a_root.clone(),
        to_obj(&folder(&a_root, "/", &[&a_root], "", 1)),
    );
    data.assets.insert(
        a_img.clone(),
        to_obj(&folder(&a_img, "/img", &[&a_root, &a_img], "img", 2)),
    );
    struct SeedFile<'a> {
        gid: &'a str,
        name: &'a str,
        ext: &'a str,
        version: u64,
        magic: &'a [u8],
        size: (u32, u32),
    }
    let files = [
        SeedFile {
            gid: &a_photo1,
            name: "photo-1.jpg",
            ext: "jpg",
            version: 3,
            magic: &[0xFF, 0xD8, 0xFF, 0xE0],
            size: (640, 480),
        },
        SeedFile {
            gid: &a_photo2,
            name: "photo-2.png",
            ext: "png",
            version: 1,
            magic: &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
            size: (320, 200),
        },
    ];
    for SeedFile {
        gid,
        name,
        ext,
        version,
        magic,
        size: (w, h),
    } in files
    {
        let bytes = file_bytes(magic, gid, 2048);
        data.assets.insert(
            gid.to_owned(),
            to_obj(&json!({
                "gid": gid, "pathname": format!("/img/{name}"), "path": [a_root, a_img, gid],
                "name": name, "is_file": true, "type": ext, "childcount": 0, "status": "published",
                "info": {"format": ext, "filesize": bytes.len(), "width": w, "height": h},
                "transforms": null,
                "title": {"en": name, "nl": name}, "description": {"en": "", "nl": ""},
                "version": version, "metadata": {}, "created_on": t, "updated_on": t,
            })),
        );
        data.asset_bytes.insert(gid.to_owned(), bytes);
    }
    let mut asset_children = HashMap::new();
    asset_children.insert(a_root.clone(), vec![a_img.clone()]);
    asset_children.insert(a_img.clone(), vec![a_photo1.clone(), a_photo2.clone()]);
    data.asset_children = asset_children;
    data.root_asset = a_root;

    let api_key = format!(
        "dev-key-{:016x}{:016x}",
        splitmix64(seed ^ 0xA11C_E5ED),
        splitmix64(seed ^ 0x5EED_0A11)
    );
    Seeded {
        cc,
        data,
        project,
        api_user,
        api_key,
        gids,
    }
}

/// The project data stores of a fresh seed, sized like `(seed, records)`; used by a restore
/// when no backup exists.
pub(crate) fn seeded_project_data(seed_value: u64, records: usize) -> ProjectData {
    seed(seed_value, records).data
}
