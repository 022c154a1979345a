//! Request ids lent by the machine built on the session.
//!
//! A session used alone numbers its requests and WebSockets from its own ids. A machine built
//! on it (the Unicat client) makes requests of its own, and their ids must never equal the
//! session's: it owns the one sequence, and lends it to the session for each call into it.

use std::ops::{Deref, DerefMut};

use crate::io::RequestIds;

use super::Session;

/// A [`Session`] working with ids lent by its owner, from [`Session::with_ids`]: it reads as
/// the session, and when it goes, the ids go back to the owner, advanced past every number
/// the session took meanwhile.
pub(crate) struct WithIds<'a> {
    /// The session.
    session: &'a mut Session,
    /// Holds the session's own ids while the owner's are lent; swapped back on drop.
    ids: &'a mut RequestIds,
}

impl Session {
    /// The session numbering its requests and WebSockets from `ids` for as long as the
    /// returned handle lives: `session.with_ids(&mut ids).handle_input(now, input)`.
    pub(crate) fn with_ids<'a>(&'a mut self, ids: &'a mut RequestIds) -> WithIds<'a> {
        self.socket.swap_ids(ids);
        WithIds { session: self, ids }
    }
}

impl Deref for WithIds<'_> {
    type Target = Session;

    fn deref(&self) -> &Session {
        self.session
    }
}

impl DerefMut for WithIds<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session
    }
}

impl Drop for WithIds<'_> {
    fn drop(&mut self) {
        self.session.socket.swap_ids(self.ids);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::config::SessionConfig;
    use crate::io::{Machine, Output, RequestId, RequestIds, WsId};

    use super::Session;

    fn session() -> (Session, Instant) {
        #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
        let now = Instant::now();
        let cfg = SessionConfig::new("https://unicat.test", "/sync/io").unwrap();
        (Session::new(cfg, now), now)
    }

    fn opened_ws(s: &mut Session) -> Option<WsId> {
        std::iter::from_fn(|| s.poll_output()).find_map(|o| match o {
            Output::OpenWs { id, .. } => Some(id),
            _ => None,
        })
    }

    #[test]
    fn a_session_alone_numbers_its_websockets_from_its_own_ids() {
        let (mut s, now) = session();
        s.connect(now).unwrap();
        assert_eq!(opened_ws(&mut s), Some(WsId(0)));
    }

    #[test]
    fn with_lent_ids_the_websocket_takes_the_owners_next_number_and_the_owner_goes_on_after_it() {
        let (mut s, now) = session();
        let mut ids = RequestIds::default();
        // The owner made three requests of its own: 0, 1 and 2.
        for n in 0..3 {
            assert_eq!(ids.request(), RequestId(n));
        }
        s.with_ids(&mut ids).connect(now).unwrap();
        assert_eq!(opened_ws(&mut s), Some(WsId(3)));
        assert_eq!(ids.request(), RequestId(4));
        // The session's own ids were not touched meanwhile.
        s.disconnect(now).unwrap();
        s.connect(now).unwrap();
        assert_eq!(opened_ws(&mut s), Some(WsId(0)));
    }
}
