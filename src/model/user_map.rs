//! A domain's users by id. Each user is held in an `Arc` that the index's snapshot column
//! shares ([`super::index::UserIndex::snapshot`]), so a reader can take a point-in-time copy of
//! every user without copying any and scan it outside the domain actor. Reads look like a
//! `HashMap<String, User>`'s; changes happen only in `DomainState::apply`.

use super::entities::User;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserMap(HashMap<String, Arc<User>>);

impl UserMap {
    pub fn get(&self, user_id: &str) -> Option<&User> {
        self.0.get(user_id).map(Arc::as_ref)
    }

    pub fn contains_key(&self, user_id: &str) -> bool {
        self.0.contains_key(user_id)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &User> {
        self.0.values().map(Arc::as_ref)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &User)> {
        self.0.iter().map(|(k, v)| (k, v.as_ref()))
    }

    /// The shared records (snapshots hold these; a later change copies on write).
    pub(crate) fn arcs(&self) -> impl Iterator<Item = &Arc<User>> {
        self.0.values()
    }

    pub(crate) fn get_arc(&self, user_id: &str) -> Option<&Arc<User>> {
        self.0.get(user_id)
    }

    pub(crate) fn get_arc_mut(&mut self, user_id: &str) -> Option<&mut Arc<User>> {
        self.0.get_mut(user_id)
    }

    /// Room for `n` more users (recovery knows the count up front).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }

    pub(crate) fn insert(&mut self, u: Arc<User>) {
        self.0.insert(u.user_id.clone(), u);
    }

    pub(crate) fn remove(&mut self, user_id: &str) -> Option<Arc<User>> {
        self.0.remove(user_id)
    }
}

impl std::ops::Index<&str> for UserMap {
    type Output = User;

    /// Panics when the user is missing (tests only; request paths use [`UserMap::get`]).
    fn index(&self, user_id: &str) -> &User {
        match self.get(user_id) {
            Some(u) => u,
            None => panic!("no user {user_id}"),
        }
    }
}
