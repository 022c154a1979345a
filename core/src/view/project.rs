//! The global (`cc`) data: projects, users, members and languages; and modules.

use std::borrow::Cow;

use serde_json::Value;

use super::doc::{self, Doc};
use super::{view_type, Reference};
use crate::store::{DataType, Object, Store};

view_type! {
    /// A project (`cc.projects`): its languages, channels, orderings and field lists.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let project = store.view().project("p1").unwrap();
    /// assert_eq!(project.languages(), ["en", "nl"]);
    /// assert_eq!(project.default_language().as_deref(), Some("en"));
    /// assert_eq!(project.channels()[1], ("Webshop".into(), "c-web".into()));
    /// assert_eq!(project.default_channel().as_deref(), Some("c-web"));
    /// assert_eq!(project.channel_name("c-web").as_deref(), Some("Webshop"));
    /// ```
    Project, Projects
}

impl<'a> Project<'a> {
    /// The gid.
    pub fn gid(&self) -> &'a str {
        self.key
    }

    /// The name.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        self.doc.str("name")
    }

    /// The owner.
    pub fn owner(&self) -> Option<Reference<'a, User<'a>>> {
        Reference::to(self.store, self.doc.str("owner")?)
    }

    /// The icon, as JSON.
    pub fn icon(&self) -> Option<Value> {
        self.doc.value("icon")
    }

    /// Its status.
    pub fn status(&self) -> Option<Cow<'a, str>> {
        self.doc.str("status")
    }

    fn options(&self) -> Doc<'a> {
        self.doc.doc("options")
    }

    /// The project's languages, the default first.
    pub fn languages(&self) -> Vec<Cow<'a, str>> {
        self.options().strs("languages")
    }

    /// The default language: the first.
    pub fn default_language(&self) -> Option<Cow<'a, str>> {
        self.languages().into_iter().next()
    }

    /// `(name, key)` of each in the order `ordered_member` gives, names from `member`.
    fn named(&self, member: &str, ordered_member: &str) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        let options = self.options();
        let names = options.doc(member);
        options
            .strs(ordered_member)
            .into_iter()
            .filter_map(|key| Some((names.str(&key)?, key)))
            .collect()
    }

    /// The channels as `(name, key)`, in their order (the SDK's `channels` maps name to key).
    pub fn channels(&self) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        self.named("channels", "orderedchannels")
    }

    /// The default channel's key: the second in order (the first is "all channels").
    pub fn default_channel(&self) -> Option<Cow<'a, str>> {
        self.options().strs("orderedchannels").into_iter().nth(1)
    }

    /// A channel's name by key.
    pub fn channel_name(&self, key: &str) -> Option<Cow<'a, str>> {
        self.options().doc("channels").str(key)
    }

    /// A channel's key by name.
    pub fn channel_key(&self, name: &str) -> Option<Cow<'a, str>> {
        by_name(self.channels(), name)
    }

    /// The orderings as `(name, key)`, in their order.
    pub fn orderings(&self) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        self.named("orderings", "orderedorderings")
    }

    /// The default ordering's key: the first.
    pub fn default_ordering(&self) -> Option<Cow<'a, str>> {
        self.options().strs("orderedorderings").into_iter().next()
    }

    /// An ordering's name by key.
    pub fn ordering_name(&self, key: &str) -> Option<Cow<'a, str>> {
        self.options().doc("orderings").str(key)
    }

    /// An ordering's key by name.
    pub fn ordering_key(&self, name: &str) -> Option<Cow<'a, str>> {
        by_name(self.orderings(), name)
    }

    /// The field lists as `(name, key)`, in their order.
    pub fn fieldlists(&self) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        self.named("fieldlists", "orderedfieldlists")
    }

    /// The default field list's key: the first.
    pub fn default_fieldlist(&self) -> Option<Cow<'a, str>> {
        self.options().strs("orderedfieldlists").into_iter().next()
    }

    /// A field list's name by key.
    pub fn fieldlist_name(&self, key: &str) -> Option<Cow<'a, str>> {
        self.options().doc("fieldlists").str(key)
    }

    /// A field list's key by name.
    pub fn fieldlist_key(&self, name: &str) -> Option<Cow<'a, str>> {
        by_name(self.fieldlists(), name)
    }

    /// The backups, as JSON.
    pub fn backups(&self) -> Option<Value> {
        self.doc.value("backups")
    }

    /// The project's members.
    pub fn members(&self) -> Vec<Member<'a>> {
        let store = self.store;
        let gid = self.key;
        store
            .map(DataType::ProjectsMembers)
            .iter()
            .map(|(k, o)| <Member<'a> as super::View<'a>>::make(store, k, o))
            .filter(|m| m.project_gid().as_deref() == Some(gid))
            .collect()
    }
}

fn by_name<'a>(named: Vec<(Cow<'a, str>, Cow<'a, str>)>, name: &str) -> Option<Cow<'a, str>> {
    // The SDK builds `{name: key}`: where two share a name, the last one's key.
    named
        .into_iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, k)| k)
}

view_type! {
    /// A user (`cc.users`).
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let owner = store.view().project("p1").unwrap().owner().unwrap().held().unwrap();
    /// assert_eq!(owner.username().as_deref(), Some("owner"));
    /// ```
    User, Users
}

impl<'a> User<'a> {
    /// The gid.
    pub fn gid(&self) -> &'a str {
        self.key
    }

    /// The user name.
    pub fn username(&self) -> Option<Cow<'a, str>> {
        self.doc.str("username")
    }

    /// The display name.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        self.doc.str("name")
    }

    /// The avatar, as JSON.
    pub fn avatar(&self) -> Option<Value> {
        self.doc.value("avatar")
    }
}

view_type! {
    /// A project member (`cc.projects_members`): a user's roles in a project.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let member = store.view().member("p1", "u-owner").unwrap();
    /// assert_eq!(member.roles(), ["owner"]);
    /// ```
    Member, ProjectsMembers
}

impl<'a> Member<'a> {
    /// The project's gid.
    pub fn project_gid(&self) -> Option<Cow<'a, str>> {
        self.doc.str("project_gid")
    }

    /// The user's gid.
    pub fn user_gid(&self) -> Option<Cow<'a, str>> {
        self.doc.str("user_gid")
    }

    /// The project.
    pub fn project(&self) -> Option<Reference<'a, Project<'a>>> {
        Reference::to(self.store, self.project_gid()?)
    }

    /// The user.
    pub fn user(&self) -> Option<Reference<'a, User<'a>>> {
        Reference::to(self.store, self.user_gid()?)
    }

    /// The membership's status.
    pub fn status(&self) -> Option<Cow<'a, str>> {
        self.doc.str("status")
    }

    /// The roles.
    pub fn roles(&self) -> Vec<Cow<'a, str>> {
        self.doc.strs("roles")
    }

    /// The member's options, as JSON.
    pub fn options(&self) -> Option<Value> {
        self.doc.value("options")
    }
}

view_type! {
    /// A module (`modules`), keyed by name.
    ///
    /// ```
    /// # let store = unicat_core::view::example_store();
    /// let module = store.view().module("erp-connector").unwrap();
    /// assert_eq!(module.version().as_deref(), Some("1.0.0"));
    /// ```
    Module, Modules
}

impl<'a> Module<'a> {
    /// The name.
    pub fn name(&self) -> &'a str {
        self.key
    }

    /// The version.
    pub fn version(&self) -> Option<Cow<'a, str>> {
        self.doc.str("version")
    }

    /// The configuration keys, as JSON.
    pub fn keys(&self) -> Option<Value> {
        self.doc.value("keys")
    }

    /// The actions, as JSON.
    pub fn actions(&self) -> Option<Value> {
        self.doc.value("actions")
    }

    /// The logs, as JSON.
    pub fn logs(&self) -> Option<Value> {
        self.doc.value("logs")
    }
}

/// A language (`cc.languages`): its code and display name.
///
/// ```
/// # let store = unicat_core::view::example_store();
/// let nl = store.view().language("nl").unwrap();
/// assert_eq!(nl.name().as_deref(), Some("Dutch"));
/// ```
#[derive(Clone, Debug)]
pub struct Language<'a> {
    code: &'a str,
    object: &'a Object,
}

impl<'a> Language<'a> {
    pub(crate) fn make(code: &'a str, object: &'a Object) -> Self {
        Language { code, object }
    }

    pub(crate) fn find(store: &'a Store, code: &str) -> Option<Self> {
        let (code, object) = store.map(DataType::Languages).get_key_value(code)?;
        Some(Language { code, object })
    }

    /// The code, `en`.
    pub fn code(&self) -> &'a str {
        self.code
    }

    /// The display name, `English`.
    pub fn name(&self) -> Option<Cow<'a, str>> {
        let raw: &'a serde_json::value::RawValue = serde_json::from_str(self.object.json()).ok()?;
        doc::string(raw)
    }
}
