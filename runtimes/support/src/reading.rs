//! Typed reading, written once for both runtimes like [`unicat_methods!`](crate::unicat_methods):
//! the SDK's get-or-fetch helpers, walkers and asset helpers over the core's views and
//! walkers (`unicat_core::view`, `unicat_core::walk`). A runtime defines `Walker<'a, W>`
//! (an `Iterator` or a `Stream`) with `Walker::new(&UnicatApi, W)`; these methods return it.

/// Expands the typed-reading methods of a runtime's `UnicatApi` (see the module docs).
#[macro_export]
macro_rules! reading_methods {
    ($($async:ident)? { $($await:tt)* }) => {
        /// Drives `walk` to its next item: makes the calls it asks for (each merged into the
        /// store as every call is) until it hands out an item or ends. A
        /// [`NotHeld`](unicat_core::walk::WalkError::NotHeld) item is an `Err` the walk goes on
        /// after; any other `Err` ends it.
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
        /// page (each logged); the first other error fails the whole.
        $($async)? fn collect_walk<W: unicat_core::walk::Walk>(
            &self,
            mut walk: W,
        ) -> Result<Vec<W::Item>, $crate::Error> {
            let mut items = Vec::new();
            while let Some(item) = self.walk_next(&mut walk) $($await)* {
                match item {
                    Ok(item) => items.push(item),
                    Err(e) if e.is_not_held() => log::warn!("{e}"),
                    Err(e) => return Err(e),
                }
            }
            Ok(items)
        }

        /// A record, fetched (`/records/get`) when the store does not hold it or `force`; `None`
        /// for an empty gid, as in the SDK.
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
        pub $($async)? fn get_records(
            &self,
            gids: &[&str],
            force: bool,
        ) -> Result<Vec<unicat_core::view::Held<unicat_core::view::Records>>, $crate::Error> {
            self.collect_walk(unicat_core::walk::Get::new(gids.iter().copied(), force)) $($await)*
        }

        /// An asset, fetched when the store does not hold it or `force`.
        pub $($async)? fn get_asset(
            &self,
            gid: &str,
            force: bool,
        ) -> Result<Option<unicat_core::view::Held<unicat_core::view::Assets>>, $crate::Error> {
            let walk = unicat_core::walk::Get::one(gid, force);
            Ok(self.collect_walk(walk) $($await)* ?.pop())
        }

        /// Assets in the order given, fetching those the store does not hold in batches.
        pub $($async)? fn get_assets(
            &self,
            gids: &[&str],
            force: bool,
        ) -> Result<Vec<unicat_core::view::Held<unicat_core::view::Assets>>, $crate::Error> {
            self.collect_walk(unicat_core::walk::Get::new(gids.iter().copied(), force)) $($await)*
        }

        /// An asset by pathname (`/img/photo-1.jpg`), fetched when `assets_by_pathname` does
        /// not hold it or `force`.
        pub $($async)? fn get_asset_by_pathname(
            &self,
            pathname: &str,
            force: bool,
        ) -> Result<Option<unicat_core::view::Held<unicat_core::view::Assets>>, $crate::Error> {
            let walk = unicat_core::walk::GetByPathname::one(pathname, force);
            Ok(self.collect_walk(walk) $($await)* ?.pop())
        }

        /// Assets by pathname, in the order given, fetching those not held in batches.
        pub $($async)? fn get_assets_by_pathname(
            &self,
            pathnames: &[&str],
            force: bool,
        ) -> Result<Vec<unicat_core::view::Held<unicat_core::view::Assets>>, $crate::Error> {
            let walk = unicat_core::walk::GetByPathname::new(pathnames.iter().copied(), force);
            self.collect_walk(walk) $($await)*
        }

        /// The root record (asked of the server every time, as the SDK does).
        pub $($async)? fn get_root_record(
            &self,
        ) -> Result<unicat_core::view::Held<unicat_core::view::Records>, $crate::Error> {
            let mut walk = unicat_core::walk::Root::new();
            self.walk_next(&mut walk) $($await)* .unwrap_or(Err($crate::Error::Closed))
        }

        /// The root asset (asked of the server every time).
        pub $($async)? fn get_root_asset(
            &self,
        ) -> Result<unicat_core::view::Held<unicat_core::view::Assets>, $crate::Error> {
            let mut walk = unicat_core::walk::Root::new();
            self.walk_next(&mut walk) $($await)* .unwrap_or(Err($crate::Error::Closed))
        }

        /// A module by name, fetched when the store does not hold it or `force`.
        pub $($async)? fn get_module(
            &self,
            name: &str,
            force: bool,
        ) -> Result<Option<unicat_core::view::Held<unicat_core::view::Modules>>, $crate::Error> {
            let walk = unicat_core::walk::Get::one(name, force);
            Ok(self.collect_walk(walk) $($await)* ?.pop())
        }

        /// Modules by name, fetching those the store does not hold.
        pub $($async)? fn get_modules(
            &self,
            names: &[&str],
            force: bool,
        ) -> Result<Vec<unicat_core::view::Held<unicat_core::view::Modules>>, $crate::Error> {
            self.collect_walk(unicat_core::walk::Get::new(names.iter().copied(), force)) $($await)*
        }

        /// Fetches what views said they want (see `unicat_core::view::Wanted`): records,
        /// assets and schema objects the store does not hold, in batches.
        pub $($async)? fn get_wanted(
            &self,
            wanted: &unicat_core::view::Wanted,
        ) -> Result<(), $crate::Error> {
            use unicat_core::view::{Assets, Classes, Definitions, Fields, Layouts, Records};
            use unicat_core::walk::Get;
            self.collect_walk(Get::<Records>::new(wanted.records.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Assets>::new(wanted.assets.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Definitions>::new(wanted.definitions.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Classes>::new(wanted.classes.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Fields>::new(wanted.fields.iter().cloned(), false)) $($await)* ?;
            self.collect_walk(Get::<Layouts>::new(wanted.layouts.iter().cloned(), false)) $($await)* ?;
            Ok(())
        }

        /// The record tree, depth first in the SDK's order, with the children in `channel`
        /// and `ordering` (the project's defaults when `None`); see
        /// `unicat_core::walk::TreeWalk` for cycles.
        pub fn walk_record_tree(
            &self,
            channel: Option<&str>,
            ordering: Option<&str>,
        ) -> Walker<'_, unicat_core::walk::TreeWalk<unicat_core::view::Records>> {
            Walker::new(self, unicat_core::walk::TreeWalk::records(channel, ordering))
        }

        /// The asset tree, depth first in the SDK's order.
        pub fn walk_asset_tree(
            &self,
        ) -> Walker<'_, unicat_core::walk::TreeWalk<unicat_core::view::Assets>> {
            Walker::new(self, unicat_core::walk::TreeWalk::assets())
        }

        /// A saved record query's results in `language`, each with the total; `limit` 0 or
        /// `None` for all.
        pub fn walk_record_query(
            &self,
            language: &str,
            query: &unicat_core::view::Query<'_>,
            limit: Option<u64>,
        ) -> Walker<'_, unicat_core::walk::QueryWalk<unicat_core::view::Records>> {
            Walker::new(self, unicat_core::walk::QueryWalk::new(language, query, limit))
        }

        /// A saved asset query's results in `language`, each with the total.
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
        pub fn walk_modules(&self) -> Walker<'_, unicat_core::walk::ModulesWalk> {
            Walker::new(self, unicat_core::walk::ModulesWalk::new())
        }

        /// Every definition in a snapshot of the store (no I/O, so a plain iterator).
        pub fn walk_definitions(
            &self,
        ) -> impl Iterator<Item = unicat_core::view::Held<unicat_core::view::Definitions>> {
            $crate::reading::held_all(self.store())
        }

        /// Every class in a snapshot of the store.
        pub fn walk_classes(
            &self,
        ) -> impl Iterator<Item = unicat_core::view::Held<unicat_core::view::Classes>> {
            $crate::reading::held_all(self.store())
        }

        /// Every field in a snapshot of the store.
        pub fn walk_fields(
            &self,
        ) -> impl Iterator<Item = unicat_core::view::Held<unicat_core::view::Fields>> {
            $crate::reading::held_all(self.store())
        }

        /// Every saved query in a snapshot of the store.
        pub fn walk_queries(
            &self,
        ) -> impl Iterator<Item = unicat_core::view::Held<unicat_core::view::Queries>> {
            $crate::reading::held_all(self.store())
        }

        /// This client's project, from a snapshot of the store (known after `connect`).
        pub fn project(&self) -> Option<unicat_core::view::Held<unicat_core::view::Projects>> {
            let published = self.shared.get();
            unicat_core::view::Held::new(published.store.clone(), &published.project)
        }

        /// Publishes an asset (the SDK's `asset.publish()`); returns its public URL, or `None`
        /// for a folder.
        pub $($async)? fn publish_asset(
            &self,
            asset: &unicat_core::view::Asset<'_>,
        ) -> Result<Option<String>, $crate::Error> {
            if !asset.is_file() {
                return Ok(None);
            }
            let result = self.publish(asset.gid()) $($await)* ?;
            Ok($crate::reading::public_url(&result))
        }

        /// Publishes a transformed asset (`asset.publish_transformed(transform)`); returns its
        /// public URL, or `None` for a folder.
        pub $($async)? fn publish_transformed_asset(
            &self,
            asset: &unicat_core::view::Asset<'_>,
            transform: &unicat_core::api::Transform,
        ) -> Result<Option<String>, $crate::Error> {
            if !asset.is_file() {
                return Ok(None);
            }
            let result = self.transform(asset.gid(), transform.options()) $($await)* ?;
            Ok($crate::reading::public_url(&result))
        }

        /// Downloads an asset into the asset folder (`asset.download(pathname)`), kept when the
        /// file there is as new as the asset; returns the path relative to the folder, or
        /// `None` for a folder.
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

/// The `public_url` of a publish or transform result.
pub fn public_url(result: &serde_json::Value) -> Option<String> {
    result
        .get("public_url")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
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
