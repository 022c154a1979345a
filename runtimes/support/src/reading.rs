//! Typed reading, written once for both runtimes like [`unicat_methods!`](crate::unicat_methods):
//! the SDK's get-or-fetch helpers, walkers and asset helpers over the core's views and
//! walkers (`unicat_core::view`, `unicat_core::walk`). A runtime defines `Walker<'a, W>`
//! (an `Iterator` or a `Stream`) with `Walker::new(&UnicatApi, W)`; these methods return it.

/// A doc example for a method [`reading_methods!`] expands: `api` is the runtime's client,
/// in an `async fn` (harmless for the blocking runtime), and `await` in the body becomes
/// `.await` for an async runtime and nothing for a blocking one.
#[doc(hidden)]
#[macro_export]
macro_rules! reading_example {
    ($krate:literal, [$($await:tt)*], $($part:expr),* $(,)?) => {
        concat!(
            "```no_run\n# use ", $krate, "::unicat_core;\n",
            "# async fn example(api: &", $krate, "::UnicatApi) -> Result<(), ", $krate, "::Error> {\n",
            $($part,)*
            "\n# Ok(())\n# }\n```"
        )
    };
}

/// Expands the typed-reading methods of a runtime's `UnicatApi` (see the module docs);
/// `$krate` names the runtime's crate, for the doc examples.
#[macro_export]
macro_rules! reading_methods {
    ($krate:literal, $($async:ident)? { $($await:tt)* }) => {
        /// Drives `walk` to its next item: makes the calls it asks for (each merged into the
        /// store as every call is) until it hands out an item or ends. A
        /// [`NotHeld`](unicat_core::walk::WalkError::NotHeld) item is an `Err` the walk goes on
        /// after; any other `Err` ends it.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let mut walk = unicat_core::walk::TreeWalk::records(None, None);\n", "while let Some(record) = api.walk_next(&mut walk)", stringify!($($await)*), " {\n    println!(\"{}\", record?.get().gid());\n}")]
        pub $($async)? fn walk_next<W: unicat_core::walk::Walk>(
            &self,
            walk: &mut W,
        ) -> Option<Result<W::Item, $crate::Error>> {
            use unicat_core::walk::Step;
            loop {
                let store = self.store();
                match walk.poll(&store) {
                    Step::Item(item) => return Some(item.map_err($crate::Error::Walk)),
                    Step::Done => return None,
                    Step::Call(call) => {
                        let result = match self.call(&call.endpoint, call.body) $($await)* {
                            Ok(result) => result,
                            Err(e) => return Some(Err(e)),
                        };
                        if let Err(e) = walk.handle_result(&result) {
                            return Some(Err($crate::Error::Walk(e)));
                        }
                    }
                }
            }
        }

        /// Every item of `walk`, leaving out the ones the store does not hold after their
        /// page; the first other error fails the whole.
        $($async)? fn collect_walk<W: unicat_core::walk::Walk>(
            &self,
            mut walk: W,
        ) -> Result<Vec<W::Item>, $crate::Error> {
            let mut items = Vec::new();
            while let Some(item) = self.walk_next(&mut walk) $($await)* {
                match item {
                    Ok(item) => items.push(item),
                    Err(e) if e.is_not_held() => log::debug!("{e}"),
                    Err(e) => return Err(e),
                }
            }
            Ok(items)
        }

        /// A record, fetched (`/records/get`) when the store does not hold it or `force`; `None`
        /// for an empty gid, as in the SDK.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "if let Some(record) = api.get_record(\"<gid>\", false)", stringify!($($await)*), "? {\n    let price = record.get().field(\"en\", \"price\").map(|v| v.to_string());\n    println!(\"{price:?}\");\n}")]
        pub $($async)? fn get_record(
            &self,
            gid: &str,
            force: bool,
        ) -> Result<Option<unicat_core::view::Held<unicat_core::view::Records>>, $crate::Error> {
            let walk = unicat_core::walk::Get::one(gid, force);
            Ok(self.collect_walk(walk) $($await)* ?.pop())
        }

        /// Records in the order given, fetching those the store does not hold (all with
        /// `force`) in batches. Gids the server does not send are left out.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "for record in api.get_records(&[\"<gid 1>\", \"<gid 2>\"], false)", stringify!($($await)*), "? {\n    println!(\"{:?}\", record.get().title(\"en\"));\n}")]
        pub $($async)? fn get_records(
            &self,
            gids: &[&str],
            force: bool,
        ) -> Result<Vec<unicat_core::view::Held<unicat_core::view::Records>>, $crate::Error> {
            self.collect_walk(unicat_core::walk::Get::new(gids.iter().copied(), force)) $($await)*
        }

        /// An asset, fetched when the store does not hold it or `force`.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "if let Some(asset) = api.get_asset(\"<gid>\", false)", stringify!($($await)*), "? {\n    println!(\"{:?}\", asset.get().pathname());\n}")]
        pub $($async)? fn get_asset(
            &self,
            gid: &str,
            force: bool,
        ) -> Result<Option<unicat_core::view::Held<unicat_core::view::Assets>>, $crate::Error> {
            let walk = unicat_core::walk::Get::one(gid, force);
            Ok(self.collect_walk(walk) $($await)* ?.pop())
        }

        /// Assets in the order given, fetching those the store does not hold in batches.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let assets = api.get_assets(&[\"<gid 1>\", \"<gid 2>\"], true)", stringify!($($await)*), "?;\nprintln!(\"{} fetched again\", assets.len());")]
        pub $($async)? fn get_assets(
            &self,
            gids: &[&str],
            force: bool,
        ) -> Result<Vec<unicat_core::view::Held<unicat_core::view::Assets>>, $crate::Error> {
            self.collect_walk(unicat_core::walk::Get::new(gids.iter().copied(), force)) $($await)*
        }

        /// An asset by pathname (`/img/photo-1.jpg`), fetched when `assets_by_pathname` does
        /// not hold it or `force`.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let photo = api.get_asset_by_pathname(\"/img/photo-1.jpg\", false)", stringify!($($await)*), "?;\nprintln!(\"{:?}\", photo.map(|p| p.key().to_owned()));")]
        pub $($async)? fn get_asset_by_pathname(
            &self,
            pathname: &str,
            force: bool,
        ) -> Result<Option<unicat_core::view::Held<unicat_core::view::Assets>>, $crate::Error> {
            let walk = unicat_core::walk::GetByPathname::one(pathname, force);
            Ok(self.collect_walk(walk) $($await)* ?.pop())
        }

        /// Assets by pathname, in the order given, fetching those not held in batches.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let found = api.get_assets_by_pathname(&[\"/img/a.jpg\", \"/img/b.jpg\"], false)", stringify!($($await)*), "?;\nprintln!(\"{}\", found.len());")]
        pub $($async)? fn get_assets_by_pathname(
            &self,
            pathnames: &[&str],
            force: bool,
        ) -> Result<Vec<unicat_core::view::Held<unicat_core::view::Assets>>, $crate::Error> {
            let walk = unicat_core::walk::GetByPathname::new(pathnames.iter().copied(), force);
            self.collect_walk(walk) $($await)*
        }

        /// The root record (asked of the server every time, as the SDK does).
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let root = api.get_root_record()", stringify!($($await)*), "?;\nprintln!(\"{:?}\", root.get().title(\"en\"));")]
        pub $($async)? fn get_root_record(
            &self,
        ) -> Result<unicat_core::view::Held<unicat_core::view::Records>, $crate::Error> {
            let mut walk = unicat_core::walk::Root::new();
            self.walk_next(&mut walk) $($await)* .unwrap_or(Err($crate::Error::Closed))
        }

        /// The root asset (asked of the server every time).
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let root = api.get_root_asset()", stringify!($($await)*), "?;\nassert_eq!(root.get().pathname().as_deref(), Some(\"/\"));")]
        pub $($async)? fn get_root_asset(
            &self,
        ) -> Result<unicat_core::view::Held<unicat_core::view::Assets>, $crate::Error> {
            let mut walk = unicat_core::walk::Root::new();
            self.walk_next(&mut walk) $($await)* .unwrap_or(Err($crate::Error::Closed))
        }

        /// A module by name, fetched when the store does not hold it or `force`.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "if let Some(module) = api.get_module(\"erp-connector\", false)", stringify!($($await)*), "? {\n    println!(\"{:?}\", module.get().version());\n}")]
        pub $($async)? fn get_module(
            &self,
            name: &str,
            force: bool,
        ) -> Result<Option<unicat_core::view::Held<unicat_core::view::Modules>>, $crate::Error> {
            let walk = unicat_core::walk::Get::one(name, force);
            Ok(self.collect_walk(walk) $($await)* ?.pop())
        }

        /// Modules by name, fetching those the store does not hold.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let modules = api.get_modules(&[\"erp-connector\"], true)", stringify!($($await)*), "?;\nprintln!(\"{}\", modules.len());")]
        pub $($async)? fn get_modules(
            &self,
            names: &[&str],
            force: bool,
        ) -> Result<Vec<unicat_core::view::Held<unicat_core::view::Modules>>, $crate::Error> {
            self.collect_walk(unicat_core::walk::Get::new(names.iter().copied(), force)) $($await)*
        }

        /// Fetches what views said they want (see `unicat_core::view::Wanted`): records,
        /// assets and schema objects the store does not hold, in batches. Returns what is
        /// still not held: gids the server does not know.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let store = api.store();\n", "if let Some(record) = store.view().record(\"<gid>\") {\n", "    // The records, assets and fields its values refer to that are not held yet.\n", "    let gone = api.get_wanted(&record.wanted(Some(\"en\")))", stringify!($($await)*), "?;\n", "    println!(\"not on the server: {gone:?}\");\n}")]
        pub $($async)? fn get_wanted(
            &self,
            wanted: &unicat_core::view::Wanted,
        ) -> Result<unicat_core::view::Wanted, $crate::Error> {
            use unicat_core::view::{Assets, Classes, Definitions, Fields, Layouts, Records};
            use unicat_core::walk::Get;
            self.collect_walk(Get::<Records>::new(wanted.records.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Assets>::new(wanted.assets.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Definitions>::new(wanted.definitions.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Classes>::new(wanted.classes.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Fields>::new(wanted.fields.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Layouts>::new(wanted.layouts.iter().cloned(), false)) $($await)* ?;
            Ok(wanted.missing_from(&self.store()))
        }

        /// The record tree, depth first in the SDK's order, with the children in `channel`
        /// and `ordering` (the project's defaults when `None`); see
        /// `unicat_core::walk::TreeWalk` for cycles.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let mut records = api.walk_record_tree(None, None);\n", "while let Some(record) = records.next_item()", stringify!($($await)*), " {\n    let record = record?;\n    println!(\"{} {:?}\", record.get().gid(), record.get().title(\"en\"));\n}")]
        pub fn walk_record_tree(
            &self,
            channel: Option<&str>,
            ordering: Option<&str>,
        ) -> Walker<'_, unicat_core::walk::TreeWalk<unicat_core::view::Records>> {
            Walker::new(self, unicat_core::walk::TreeWalk::records(channel, ordering))
        }

        /// The asset tree, depth first in the SDK's order.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let mut assets = api.walk_asset_tree();\n", "while let Some(asset) = assets.next_item()", stringify!($($await)*), " {\n    println!(\"{:?}\", asset?.get().pathname());\n}")]
        pub fn walk_asset_tree(
            &self,
        ) -> Walker<'_, unicat_core::walk::TreeWalk<unicat_core::view::Assets>> {
            Walker::new(self, unicat_core::walk::TreeWalk::assets())
        }

        /// A saved record query's results in `language`, each with the total; `limit` 0 or
        /// `None` for all.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let store = api.store();\n", "if let Some(query) = store.view().record_query_by_name(\"In stock\") {\n", "    let mut found = api.walk_record_query(\"en\", &query, Some(10));\n", "    while let Some(item) = found.next_item()", stringify!($($await)*), " {\n        let (total, record) = item?;\n        println!(\"{} of {total}\", record.get().gid());\n    }\n}")]
        pub fn walk_record_query(
            &self,
            language: &str,
            query: &unicat_core::view::Query<'_>,
            limit: Option<u64>,
        ) -> Walker<'_, unicat_core::walk::QueryWalk<unicat_core::view::Records>> {
            Walker::new(self, unicat_core::walk::QueryWalk::new(language, query, limit))
        }

        /// A saved asset query's results in `language`, each with the total.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let store = api.store();\n", "if let Some(query) = store.view().asset_query_by_name(\"Photos\") {\n", "    let mut found = api.walk_asset_query(\"en\", &query, None);\n", "    while let Some(item) = found.next_item()", stringify!($($await)*), " {\n        let (total, asset) = item?;\n        println!(\"{:?} of {total}\", asset.get().pathname());\n    }\n}")]
        pub fn walk_asset_query(
            &self,
            language: &str,
            query: &unicat_core::view::Query<'_>,
            limit: Option<u64>,
        ) -> Walker<'_, unicat_core::walk::QueryWalk<unicat_core::view::Assets>> {
            Walker::new(self, unicat_core::walk::QueryWalk::new(language, query, limit))
        }

        /// A saved schema query's results (definitions, classes, fields) in `language`, each
        /// with the total.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let store = api.store();\n", "if let Some(query) = store.view().schema_query_by_name(\"Prices\") {\n", "    let mut found = api.walk_schema_query(\"en\", &query, None);\n", "    while let Some(item) = found.next_item()", stringify!($($await)*), " {\n        let (total, item) = item?;\n        println!(\"{} of {total}\", item.gid());\n    }\n}")]
        pub fn walk_schema_query(
            &self,
            language: &str,
            query: &unicat_core::view::Query<'_>,
            limit: Option<u64>,
        ) -> Walker<'_, unicat_core::walk::QueryWalk<unicat_core::walk::SchemaItems>> {
            Walker::new(self, unicat_core::walk::QueryWalk::new(language, query, limit))
        }

        /// Every module: the names from `/modules/all`, then the modules, fetching those the
        /// store does not hold.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let mut modules = api.walk_modules();\n", "while let Some(module) = modules.next_item()", stringify!($($await)*), " {\n    println!(\"{}\", module?.get().name());\n}")]
        pub fn walk_modules(&self) -> Walker<'_, unicat_core::walk::ModulesWalk> {
            Walker::new(self, unicat_core::walk::ModulesWalk::new())
        }

        /// Every definition in a snapshot of the store (no I/O, so a plain iterator).
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "for definition in api.walk_definitions() {\n    println!(\"{:?}\", definition.get().name());\n}")]
        pub fn walk_definitions(
            &self,
        ) -> impl Iterator<Item = unicat_core::view::Held<unicat_core::view::Definitions>> {
            $crate::reading::held_all(self.store())
        }

        /// Every class in a snapshot of the store.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let names: Vec<_> = api.walk_classes().filter_map(|c| c.get().name().map(|n| n.into_owned())).collect();\nprintln!(\"{names:?}\");")]
        pub fn walk_classes(
            &self,
        ) -> impl Iterator<Item = unicat_core::view::Held<unicat_core::view::Classes>> {
            $crate::reading::held_all(self.store())
        }

        /// Every field in a snapshot of the store.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "for field in api.walk_fields() {\n    let field = field.get();\n    println!(\"{:?} {}\", field.name(), field.field_type());\n}")]
        pub fn walk_fields(
            &self,
        ) -> impl Iterator<Item = unicat_core::view::Held<unicat_core::view::Fields>> {
            $crate::reading::held_all(self.store())
        }

        /// Every saved query in a snapshot of the store.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "for query in api.walk_queries() {\n    println!(\"{:?}\", query.get().name());\n}")]
        pub fn walk_queries(
            &self,
        ) -> impl Iterator<Item = unicat_core::view::Held<unicat_core::view::Queries>> {
            $crate::reading::held_all(self.store())
        }

        /// This client's project, from a snapshot of the store (known after `connect`).
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "if let Some(project) = api.project() {\n    println!(\"{:?}\", project.get().default_language());\n}")]
        pub fn project(&self) -> Option<unicat_core::view::Held<unicat_core::view::Projects>> {
            let published = self.shared.get();
            unicat_core::view::Held::new(published.store.clone(), &published.project)
        }

        /// Publishes an asset (the SDK's `asset.publish()`); returns its public URL, or `None`
        /// for a folder.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let store = api.store();\n", "if let Some(photo) = store.view().asset_by_pathname(\"/img/photo-1.jpg\") {\n", "    let url = api.publish_asset(&photo)", stringify!($($await)*), "?;\n    println!(\"{url:?}\");\n}")]
        pub $($async)? fn publish_asset(
            &self,
            asset: &unicat_core::view::Asset<'_>,
        ) -> Result<Option<String>, $crate::Error> {
            if !asset.is_file() {
                return Ok(None);
            }
            let result = self.publish(asset.gid()) $($await)* ?;
            Ok(Some(unicat_core::api::public_url(&result)?))
        }

        /// Publishes a transformed asset (`asset.publish_transformed(transform)`); returns its
        /// public URL, or `None` for a folder.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "use unicat_core::api::Transform;\n", "let store = api.store();\n", "if let Some(photo) = store.view().asset_by_pathname(\"/img/photo-1.jpg\") {\n", "    let thumb = Transform::new().resize(\"fill\").width(400.0).height(300.0).image_type(\"jpg\");\n", "    let url = api.publish_transformed_asset(&photo, &thumb)", stringify!($($await)*), "?;\n    println!(\"{url:?}\");\n}")]
        pub $($async)? fn publish_transformed_asset(
            &self,
            asset: &unicat_core::view::Asset<'_>,
            transform: &unicat_core::api::Transform,
        ) -> Result<Option<String>, $crate::Error> {
            if !asset.is_file() {
                return Ok(None);
            }
            let result = self.transform(asset.gid(), transform.options()) $($await)* ?;
            Ok(Some(unicat_core::api::public_url(&result)?))
        }

        /// Downloads an asset into the asset folder (`asset.download(pathname)`), kept when the
        /// file there is as new as the asset; returns the path relative to the folder, or
        /// `None` for a folder.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "let store = api.store();\n", "if let Some(photo) = store.view().asset_by_pathname(\"/img/photo-1.jpg\") {\n", "    let path = api.download_asset(&photo, None)", stringify!($($await)*), "?;\n    println!(\"in the asset folder at {path:?}\");\n}")]
        pub $($async)? fn download_asset(
            &self,
            asset: &unicat_core::view::Asset<'_>,
            pathname: Option<&str>,
        ) -> Result<Option<String>, $crate::Error> {
            if !asset.is_file() {
                return Ok(None);
            }
            let path = self.download(asset.gid(), pathname, asset.updated_on()) $($await)* ?;
            Ok(Some(path))
        }

        /// Downloads a transformed asset into the asset folder; returns the path relative to
        /// the folder, or `None` for a folder.
        ///
        #[doc = $crate::reading_example!($krate, [$($await)*], "use unicat_core::api::Transform;\n", "let store = api.store();\n", "if let Some(photo) = store.view().asset_by_pathname(\"/img/photo-1.jpg\") {\n", "    let small = Transform::new().resize(\"width\").width(200.0);\n", "    let path = api.download_transformed_asset(&photo, &small, None)", stringify!($($await)*), "?;\n    println!(\"{path:?}\");\n}")]
        pub $($async)? fn download_transformed_asset(
            &self,
            asset: &unicat_core::view::Asset<'_>,
            transform: &unicat_core::api::Transform,
            pathname: Option<&str>,
        ) -> Result<Option<String>, $crate::Error> {
            if !asset.is_file() {
                return Ok(None);
            }
            let options = transform.options();
            let path = self
                .download_transformed(asset.gid(), options, pathname, asset.updated_on())
                $($await)* ?;
            Ok(Some(path))
        }
    };
}

/// Every object of a kind in `store`, each holding the snapshot.
pub fn held_all<K: unicat_core::view::Kind>(
    store: unicat_core::store::Store,
) -> impl Iterator<Item = unicat_core::view::Held<K>> {
    let keys: Vec<String> = store.map(K::DATA_TYPE).keys().map(str::to_owned).collect();
    keys.into_iter()
        .filter_map(move |k| unicat_core::view::Held::new(store.clone(), &k))
}

/// Whether a walker is over after handing out `item`: at its end, and after any error but an
/// item the store does not hold.
pub fn ends_walk<T>(item: &Option<Result<T, crate::Error>>) -> bool {
    match item {
        None => true,
        Some(Err(e)) => !e.is_not_held(),
        Some(Ok(_)) => false,
    }
}

/// A step of an async walker under way: it gives the walk back with the item.
#[cfg(feature = "smol")]
pub type WalkStep<'a, W> = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = (
                    W,
                    Option<Result<<W as unicat_core::walk::Walk>::Item, crate::Error>>,
                ),
            > + 'a,
    >,
>;

/// What a [`StepStream`] is doing.
#[cfg(feature = "smol")]
enum StepState<'a, W: unicat_core::walk::Walk> {
    Idle(W),
    Busy(WalkStep<'a, W>),
    /// Over: the walk stays to be read.
    Over(Option<W>),
}

/// An async walker as a stream: `step` drives the walk to its next item (an async runtime's
/// `walk_next`), one step at a time; see [`ends_walk`] for when it is over.
#[cfg(feature = "smol")]
pub struct StepStream<'a, W: unicat_core::walk::Walk> {
    state: StepState<'a, W>,
    step: Box<dyn FnMut(W) -> WalkStep<'a, W> + 'a>,
}

#[cfg(feature = "smol")]
impl<'a, W: unicat_core::walk::Walk> StepStream<'a, W> {
    /// A stream of `walk`'s items, each found by `step`.
    pub fn new(walk: W, step: impl FnMut(W) -> WalkStep<'a, W> + 'a) -> Self {
        StepStream {
            state: StepState::Idle(walk),
            step: Box::new(step),
        }
    }

    /// The walk; `None` while a step is under way.
    pub fn walk(&self) -> Option<&W> {
        match &self.state {
            StepState::Idle(w) | StepState::Over(Some(w)) => Some(w),
            _ => None,
        }
    }
}

#[cfg(feature = "smol")]
impl<'a, W: unicat_core::walk::Walk + Unpin> futures_core::Stream for StepStream<'a, W> {
    type Item = Result<W::Item, crate::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            match std::mem::replace(&mut this.state, StepState::Over(None)) {
                StepState::Idle(walk) => this.state = StepState::Busy((this.step)(walk)),
                StepState::Busy(mut step) => match step.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = StepState::Busy(step);
                        return Poll::Pending;
                    }
                    Poll::Ready((walk, item)) => {
                        this.state = if ends_walk(&item) {
                            StepState::Over(Some(walk))
                        } else {
                            StepState::Idle(walk)
                        };
                        return Poll::Ready(item);
                    }
                },
                over @ StepState::Over(_) => {
                    this.state = over;
                    return Poll::Ready(None);
                }
            }
        }
    }
}
