//! A domain's in-memory state and the one `apply` that changes it.

use super::entities::{Domain, Role, RoleBinding, User, Workspace, WorkspaceGroup};
use super::events::{Event, Record};
use super::index::UserIndex;
use super::user_map::UserMap;
use crate::api::{ResourceGroup, RoleType};
use bincode::{Decode, Encode};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Everything a domain actor owns. Indexes are derived, rebuilt by `apply`, never persisted.
#[derive(Debug, Clone)]
pub struct DomainState {
    pub domain: Domain,
    /// Sequence number of the last applied record.
    pub seq: u64,
    pub deleted: bool,
    pub users: UserMap,
    pub bindings: HashMap<String, RoleBinding>,
    /// user_id → ids of that user's bindings.
    pub user_bindings: HashMap<String, BTreeSet<String>>,
    /// Secondary indexes over `users` (name order, enum bitmaps, e-mail, keyword text),
    /// changed only here, by `apply`.
    pub index: UserIndex,
    /// Custom roles (the managed ones are not stored).
    pub roles: HashMap<String, Role>,
    pub workspaces: HashMap<String, Workspace>,
    pub groups: HashMap<String, WorkspaceGroup>,
}

/// A domain's persisted part as taken inside its actor; [`ImageSource::into_image`] does the
/// expensive copying and ordering elsewhere (the snapshot thread).
#[derive(Debug, Clone)]
pub struct ImageSource {
    domain: Domain,
    seq: u64,
    users: Vec<std::sync::Arc<User>>,
    bindings: Vec<RoleBinding>,
    roles: Vec<Role>,
    workspaces: Vec<Workspace>,
    groups: Vec<WorkspaceGroup>,
}

impl ImageSource {
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The image, every collection in key order (deterministic snapshot files).
    pub fn into_image(self) -> DomainImage {
        let mut users: Vec<User> = self
            .users
            .into_iter()
            .map(std::sync::Arc::unwrap_or_clone)
            .collect();
        users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        let mut bindings = self.bindings;
        bindings.sort_by(|a, b| a.role_binding_id.cmp(&b.role_binding_id));
        let mut roles = self.roles;
        roles.sort_by(|a, b| a.role_id.cmp(&b.role_id));
        let mut workspaces = self.workspaces;
        workspaces.sort_by(|a, b| a.workspace_id.cmp(&b.workspace_id));
        let mut groups = self.groups;
        groups.sort_by(|a, b| a.workspace_group_id.cmp(&b.workspace_group_id));
        DomainImage {
            domain: self.domain,
            seq: self.seq,
            users,
            bindings,
            roles,
            workspaces,
            groups,
        }
    }
}

/// The persisted part of a [`DomainState`] (what a snapshot stores).
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct DomainImage {
    pub domain: Domain,
    pub seq: u64,
    pub users: Vec<User>,
    pub bindings: Vec<RoleBinding>,
    pub roles: Vec<Role>,
    pub workspaces: Vec<Workspace>,
    pub groups: Vec<WorkspaceGroup>,
}

impl DomainState {
    pub fn new(domain: Domain) -> Self {
        DomainState {
            domain,
            seq: 0,
            deleted: false,
            users: UserMap::default(),
            bindings: HashMap::new(),
            user_bindings: HashMap::new(),
            index: UserIndex::default(),
            roles: HashMap::new(),
            workspaces: HashMap::new(),
            groups: HashMap::new(),
        }
    }

    /// Applies a whole record (its events in order) and advances `seq`.
    pub fn apply_record(&mut self, r: &Record) {
        for e in &r.events {
            self.apply(e);
        }
        self.seq = r.seq;
    }

    /// [`Self::apply_record`] for a record that is not needed afterwards (recovery): user
    /// after-images are moved into place instead of cloned. Same transitions as `apply`.
    pub fn apply_record_owned(&mut self, r: Record) {
        for e in r.events {
            match e {
                Event::UserCreated(u) | Event::UserUpdated(u) => self.put_user(u),
                other => self.apply(&other),
            }
        }
        self.seq = r.seq;
    }

    /// The single state transition function, shared by live writes and recovery.
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::DomainCreated(d) | Event::DomainUpdated(d) => self.domain = d.clone(),
            Event::DomainDeleted => self.deleted = true,
            Event::UserCreated(u) | Event::UserUpdated(u) => self.put_user(u.clone()),
            Event::UserDeleted { user_id } => self.delete_user(user_id),
            Event::UserAccessed { user_id, at, state } => {
                if let Some(arc) = self.users.get_arc_mut(user_id) {
                    self.index.detach(user_id);
                    let u = Arc::make_mut(arc);
                    let old = u.state;
                    u.last_accessed_at = Some(*at);
                    u.state = *state;
                    self.index.replaced(old, arc);
                }
            }
            Event::RoleBindingCreated(b) => {
                self.user_bindings
                    .entry(b.user_id.clone())
                    .or_default()
                    .insert(b.role_binding_id.clone());
                self.bindings.insert(b.role_binding_id.clone(), b.clone());
                self.recompute_role(&b.user_id.clone());
            }
            Event::RoleBindingDeleted { role_binding_id } => {
                if let Some(b) = self.bindings.remove(role_binding_id) {
                    if let Some(set) = self.user_bindings.get_mut(&b.user_id) {
                        set.remove(role_binding_id);
                        if set.is_empty() {
                            self.user_bindings.remove(&b.user_id);
                        }
                    }
                    self.recompute_role(&b.user_id);
                }
            }
            Event::RoleCreated(r) => {
                self.roles.insert(r.role_id.clone(), r.clone());
            }
            Event::RoleDeleted { role_id } => {
                self.roles.remove(role_id);
            }
            Event::WorkspacePut(w) => {
                self.workspaces.insert(w.workspace_id.clone(), w.clone());
            }
            Event::WorkspaceGroupPut(g) => {
                self.groups.insert(g.workspace_group_id.clone(), g.clone());
            }
            Event::WorkspaceGroupDeleted { workspace_group_id } => {
                self.groups.remove(workspace_group_id);
                for w in self.workspaces.values_mut() {
                    if w.workspace_group_id.as_deref() == Some(workspace_group_id) {
                        w.workspace_group_id = None;
                    }
                }
            }
        }
    }

    fn put_user(&mut self, mut u: User) {
        let (rt, rid) = self.derived_role(&u.user_id);
        u.role_type = rt;
        u.role_id = rid;
        let u = Arc::new(u);
        self.index.upsert(self.users.get(&u.user_id), &u);
        self.users.insert(u);
    }

    fn delete_user(&mut self, user_id: &str) {
        if let Some(old) = self.users.remove(user_id) {
            self.index.remove(&old);
        }
        if let Some(ids) = self.user_bindings.remove(user_id) {
            for id in ids {
                self.bindings.remove(&id);
            }
        }
        for g in self.groups.values_mut() {
            g.users.retain(|m| m.user_id != user_id);
        }
    }

    /// A user's role: DOMAIN_ADMIN when it holds a DOMAIN binding of that type.
    fn derived_role(&self, user_id: &str) -> (RoleType, Option<String>) {
        self.user_bindings
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.bindings.get(id))
            .find(|b| {
                b.resource_group == ResourceGroup::Domain && b.role_type == RoleType::DomainAdmin
            })
            .map(|b| (RoleType::DomainAdmin, Some(b.role_id.clone())))
            .unwrap_or((RoleType::User, None))
    }

    fn recompute_role(&mut self, user_id: &str) {
        let (rt, rid) = self.derived_role(user_id);
        if let Some(arc) = self.users.get_arc_mut(user_id)
            && (arc.role_type, &arc.role_id) != (rt, &rid)
        {
            self.index.detach(user_id);
            let u = Arc::make_mut(arc);
            u.role_type = rt;
            u.role_id = rid;
            let st = u.state;
            self.index.replaced(st, arc);
        }
    }

    /// The domain's DOMAIN binding of a user, if any.
    pub fn domain_binding(&self, user_id: &str) -> Option<&RoleBinding> {
        self.user_bindings
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.bindings.get(id))
            .find(|b| b.resource_group == ResourceGroup::Domain)
    }

    /// Number of ENABLED users with the DOMAIN_ADMIN role.
    pub fn enabled_admins(&self) -> usize {
        self.users
            .values()
            .filter(|u| {
                u.role_type == RoleType::DomainAdmin && u.state == crate::api::UserState::Enabled
            })
            .count()
    }

    /// The persisted part, copied cheaply: user records are shared (`Arc`, copy-on-write), the
    /// small maps cloned. This is all a snapshot does inside the actor.
    pub fn image_source(&self) -> ImageSource {
        ImageSource {
            domain: self.domain.clone(),
            seq: self.seq,
            users: self.users.arcs().cloned().collect(),
            bindings: self.bindings.values().cloned().collect(),
            roles: self.roles.values().cloned().collect(),
            workspaces: self.workspaces.values().cloned().collect(),
            groups: self.groups.values().cloned().collect(),
        }
    }

    pub fn image(&self) -> DomainImage {
        self.image_source().into_image()
    }

    /// Rebuilds a state from its image through `apply`, so indexes are built the one way. Users
    /// go through `put_user`, exactly what `apply(UserCreated)` does, but moved instead of cloned
    /// (recovery of 1M users spent a third of its time cloning and dropping them).
    pub fn from_image(img: DomainImage) -> Self {
        let mut s = DomainState::new(img.domain);
        for r in img.roles {
            s.apply(&Event::RoleCreated(r));
        }
        for w in img.workspaces {
            s.apply(&Event::WorkspacePut(w));
        }
        for g in img.groups {
            s.apply(&Event::WorkspaceGroupPut(g));
        }
        for b in img.bindings {
            s.apply(&Event::RoleBindingCreated(b));
        }
        s.users.reserve(img.users.len());
        for u in img.users {
            s.put_user(u);
        }
        s.seq = img.seq;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn an_image_source_is_isolated_from_later_changes() {
        let mut s = fixtures::domain_state("domain-x", 50);
        let before = s.image();
        let src = s.image_source();
        // In-place paths (access, role change) and after-images alike must not reach the image.
        let uid = fixtures::user_id(3);
        s.apply(&Event::UserAccessed {
            user_id: uid.clone(),
            at: 42,
            state: crate::api::UserState::Disabled,
        });
        let mut u = s.users[uid.as_str()].clone();
        u.name = "changed".into();
        s.apply(&Event::UserUpdated(u));
        s.apply(&Event::UserDeleted {
            user_id: fixtures::user_id(4),
        });
        assert_eq!(src.into_image(), before);
        assert_eq!(s.users[uid.as_str()].name, "changed");
    }

    #[test]
    fn owned_and_borrowed_records_make_the_same_state() {
        let mut a = fixtures::domain_state("domain-x", 200);
        let mut b = a.clone();
        for j in 0..500u64 {
            let i = (fixtures::mix(j) % 220) as usize;
            let mut r = fixtures::rename_record("domain-x", a.seq + 1, i, j);
            if j % 7 == 0 {
                r.events.push(Event::UserDeleted {
                    user_id: fixtures::user_id((i + 3) % 220),
                });
            }
            a.apply_record(&r);
            b.apply_record_owned(r);
        }
        assert_eq!(a.seq, b.seq);
        assert_eq!(a.users, b.users);
        a.index.check(&a.users).unwrap();
        b.index.check(&b.users).unwrap();
        assert_eq!(a.index.len(), b.index.len());
    }
}
