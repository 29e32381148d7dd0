//! Rules for roles, workspaces, workspace groups and role bindings (SPEC 1 and 6). Pure.
//!
//! Invariants: one DOMAIN binding per user; one binding per (user, workspace); a binding's role
//! type comes from its role (DOMAIN needs DOMAIN_ADMIN, WORKSPACE a workspace role); the last
//! ENABLED domain admin keeps its binding; names of workspaces (not deleted), groups and custom
//! roles are unique per domain; a deleted workspace loses its bindings and is hidden.

use super::clock::Millis;
use super::entities::*;
use super::events::Event;
use super::rules::{domain_enabled, user};
use super::state::DomainState;
use crate::api::*;

/// A role by id: the managed ones, or a custom one.
pub fn role(s: &DomainState, role_id: &str) -> ApiResult<Role> {
    Role::managed()
        .into_iter()
        .find(|r| r.role_id == role_id)
        .or_else(|| s.roles.get(role_id).cloned())
        .ok_or_else(|| ApiError::not_found("role_id", role_id))
}

/// Every role of the domain, managed first, then custom by name.
pub fn roles(s: &DomainState) -> Vec<Role> {
    let mut custom: Vec<Role> = s.roles.values().cloned().collect();
    custom.sort_by(|a, b| a.name.cmp(&b.name).then(a.role_id.cmp(&b.role_id)));
    Role::managed().into_iter().chain(custom).collect()
}

fn is_workspace_role(t: RoleType) -> bool {
    matches!(t, RoleType::WorkspaceOwner | RoleType::WorkspaceMember)
}

pub fn create_role(
    s: &DomainState,
    role_id: String,
    name: &str,
    role_type: RoleType,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    if !matches!(
        role_type,
        RoleType::DomainAdmin | RoleType::WorkspaceOwner | RoleType::WorkspaceMember
    ) {
        return Err(ApiError::invalid(
            "role_type",
            "DOMAIN_ADMIN, WORKSPACE_OWNER or WORKSPACE_MEMBER",
        ));
    }
    if roles(s).iter().any(|r| r.name == name) {
        return Err(ApiError::unique("name", name));
    }
    Ok(vec![Event::RoleCreated(Role {
        role_id,
        name: name.to_owned(),
        role_type,
        is_managed: false,
        created_at: now,
    })])
}

pub fn delete_role(s: &DomainState, role_id: &str) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let r = role(s, role_id)?;
    if r.is_managed {
        return Err(ApiError::invalid(
            "role_id",
            "managed roles cannot be deleted",
        ));
    }
    let in_use = s.bindings.values().any(|b| b.role_id == role_id)
        || s.groups
            .values()
            .any(|g| g.users.iter().any(|m| m.role_id == role_id));
    if in_use {
        return Err(ApiError::invalid(
            "role_id",
            "the role is still bound to users",
        ));
    }
    Ok(vec![Event::RoleDeleted {
        role_id: role_id.to_owned(),
    }])
}

pub fn workspace<'a>(s: &'a DomainState, id: &str) -> ApiResult<&'a Workspace> {
    s.workspaces
        .get(id)
        .filter(|w| w.state != WorkspaceState::Deleted)
        .ok_or_else(|| ApiError::not_found("workspace_id", id))
}

fn workspace_name_taken(s: &DomainState, name: &str, except: Option<&str>) -> bool {
    s.workspaces.values().any(|w| {
        w.state != WorkspaceState::Deleted
            && w.name == name
            && Some(w.workspace_id.as_str()) != except
    })
}

pub struct NewWorkspace {
    pub workspace_id: String,
    pub name: String,
    pub tags: Map,
    pub workspace_group_id: Option<String>,
    pub created_by: String,
}

pub fn create_workspace(s: &DomainState, nw: NewWorkspace, now: Millis) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    if workspace_name_taken(s, &nw.name, None) {
        return Err(ApiError::unique("name", &nw.name));
    }
    if let Some(g) = &nw.workspace_group_id
        && !s.groups.contains_key(g)
    {
        return Err(ApiError::not_found("workspace_group_id", g));
    }
    Ok(vec![Event::WorkspacePut(Workspace {
        workspace_id: nw.workspace_id,
        name: nw.name,
        state: WorkspaceState::Enabled,
        tags: nw.tags,
        created_by: nw.created_by,
        reference_id: None,
        is_managed: false,
        is_dormant: false,
        dormant_updated_at: None,
        last_synced_at: None,
        created_at: now,
        workspace_group_id: nw.workspace_group_id,
    })])
}

/// Name, tags and group changes (`Some(None)` takes the workspace out of its group).
pub fn update_workspace(
    s: &DomainState,
    id: &str,
    name: Option<String>,
    tags: Option<Map>,
    group: Option<Option<String>>,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut w = workspace(s, id)?.clone();
    if let Some(n) = name {
        if workspace_name_taken(s, &n, Some(id)) {
            return Err(ApiError::unique("name", &n));
        }
        w.name = n;
    }
    if let Some(t) = tags {
        w.tags = t;
    }
    if let Some(g) = group {
        if let Some(g) = &g
            && !s.groups.contains_key(g)
        {
            return Err(ApiError::not_found("workspace_group_id", g));
        }
        w.workspace_group_id = g;
    }
    Ok(vec![Event::WorkspacePut(w)])
}

pub fn set_workspace_state(
    s: &DomainState,
    id: &str,
    state: WorkspaceState,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut w = workspace(s, id)?.clone();
    w.state = state;
    let mut events = Vec::new();
    if state == WorkspaceState::Deleted {
        // A deleted workspace keeps no bindings.
        events.extend(
            s.bindings
                .values()
                .filter(|b| b.workspace_id.as_deref() == Some(id))
                .map(|b| Event::RoleBindingDeleted {
                    role_binding_id: b.role_binding_id.clone(),
                }),
        );
    }
    events.push(Event::WorkspacePut(w));
    Ok(events)
}

pub struct NewBinding {
    pub role_binding_id: String,
    pub user_id: String,
    pub role_id: String,
    pub resource_group: ResourceGroup,
    pub workspace_id: Option<String>,
}

pub fn create_binding(s: &DomainState, nb: NewBinding, now: Millis) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    user(s, &nb.user_id)?;
    let r = role(s, &nb.role_id)?;
    let workspace_id = match nb.resource_group {
        ResourceGroup::Domain => {
            if r.role_type != RoleType::DomainAdmin {
                return Err(ApiError::invalid(
                    "role_id",
                    "a DOMAIN binding needs a DOMAIN_ADMIN role",
                ));
            }
            if s.domain_binding(&nb.user_id).is_some() {
                return Err(ApiError::unique("user_id", &nb.user_id));
            }
            None
        }
        ResourceGroup::Workspace => {
            let wid = nb
                .workspace_id
                .filter(|w| !w.is_empty())
                .ok_or_else(|| ApiError::required("workspace_id"))?;
            workspace(s, &wid)?;
            if !is_workspace_role(r.role_type) {
                return Err(ApiError::invalid(
                    "role_id",
                    "a WORKSPACE binding needs a workspace role",
                ));
            }
            if workspace_binding(s, &nb.user_id, &wid).is_some() {
                return Err(ApiError::unique("workspace_id", &wid));
            }
            Some(wid)
        }
    };
    Ok(vec![Event::RoleBindingCreated(RoleBinding {
        role_binding_id: nb.role_binding_id,
        user_id: nb.user_id,
        role_id: r.role_id,
        role_type: r.role_type,
        resource_group: nb.resource_group,
        workspace_id,
        workspace_group_id: None,
        created_at: now,
    })])
}

/// A user's binding in a workspace, if any.
pub fn workspace_binding<'a>(
    s: &'a DomainState,
    user_id: &str,
    workspace_id: &str,
) -> Option<&'a RoleBinding> {
    s.user_bindings
        .get(user_id)
        .into_iter()
        .flatten()
        .filter_map(|id| s.bindings.get(id))
        .find(|b| b.workspace_id.as_deref() == Some(workspace_id))
}

pub fn delete_binding(s: &DomainState, role_binding_id: &str) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let b = s
        .bindings
        .get(role_binding_id)
        .ok_or_else(|| ApiError::not_found("role_binding_id", role_binding_id))?;
    if b.role_type == RoleType::DomainAdmin
        && s.users
            .get(&b.user_id)
            .is_some_and(|u| u.state == UserState::Enabled)
        && s.enabled_admins() <= 1
    {
        return Err(ApiError::new(
            ErrorCode::LastAdminCannotDisabledDeleted,
            "The last domain admin cannot be disabled or deleted.",
        ));
    }
    Ok(vec![Event::RoleBindingDeleted {
        role_binding_id: role_binding_id.to_owned(),
    }])
}

pub fn group<'a>(s: &'a DomainState, id: &str) -> ApiResult<&'a WorkspaceGroup> {
    s.groups
        .get(id)
        .ok_or_else(|| ApiError::not_found("workspace_group_id", id))
}

pub fn create_group(
    s: &DomainState,
    id: String,
    name: String,
    tags: Map,
    by: &str,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    if s.groups.values().any(|g| g.name == name) {
        return Err(ApiError::unique("name", &name));
    }
    Ok(vec![Event::WorkspaceGroupPut(WorkspaceGroup {
        workspace_group_id: id,
        name,
        users: Vec::new(),
        tags,
        created_by: by.to_owned(),
        updated_by: by.to_owned(),
        created_at: now,
        updated_at: now,
    })])
}

pub fn update_group(
    s: &DomainState,
    id: &str,
    name: Option<String>,
    tags: Option<Map>,
    by: &str,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut g = group(s, id)?.clone();
    if let Some(n) = name {
        if s.groups
            .values()
            .any(|x| x.name == n && x.workspace_group_id != id)
        {
            return Err(ApiError::unique("name", &n));
        }
        g.name = n;
    }
    if let Some(t) = tags {
        g.tags = t;
    }
    g.updated_by = by.to_owned();
    g.updated_at = now;
    Ok(vec![Event::WorkspaceGroupPut(g)])
}

/// Adds members (or changes the role of existing ones); roles must be workspace roles.
pub fn add_group_users(
    s: &DomainState,
    id: &str,
    users: &[(String, String)],
    by: &str,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut g = group(s, id)?.clone();
    for (uid, role_id) in users {
        user(s, uid)?;
        let r = role(s, role_id)?;
        if !is_workspace_role(r.role_type) {
            return Err(ApiError::invalid(
                "role_id",
                "group members need a workspace role",
            ));
        }
        g.users.retain(|m| &m.user_id != uid);
        g.users.push(GroupMember {
            user_id: uid.clone(),
            role_id: r.role_id,
            role_type: r.role_type,
        });
    }
    g.users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    g.updated_by = by.to_owned();
    g.updated_at = now;
    Ok(vec![Event::WorkspaceGroupPut(g)])
}

pub fn remove_group_users(
    s: &DomainState,
    id: &str,
    users: &[String],
    by: &str,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut g = group(s, id)?.clone();
    g.users.retain(|m| !users.contains(&m.user_id));
    g.updated_by = by.to_owned();
    g.updated_at = now;
    Ok(vec![Event::WorkspaceGroupPut(g)])
}

pub fn delete_group(s: &DomainState, id: &str) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    group(s, id)?;
    Ok(vec![Event::WorkspaceGroupDeleted {
        workspace_group_id: id.to_owned(),
    }])
}

/// The caller's view of a workspace: its role there, if any.
pub struct MyWorkspace<'a> {
    pub workspace: &'a Workspace,
    pub role: Option<Role>,
}

/// UserProfile.get_workspaces: a DOMAIN_ADMIN sees every ENABLED workspace; anyone else the
/// ENABLED ones where it holds a workspace binding, or that belong to a group it is a member of.
/// Sorted by name.
pub fn my_workspaces<'a>(
    s: &'a DomainState,
    user_id: &str,
    group_filter: Option<&str>,
) -> ApiResult<Vec<MyWorkspace<'a>>> {
    let u = user(s, user_id)?;
    let admin = u.role_type == RoleType::DomainAdmin;
    let mut out: Vec<MyWorkspace<'a>> = s
        .workspaces
        .values()
        .filter(|w| w.state == WorkspaceState::Enabled)
        .filter(|w| group_filter.is_none_or(|g| w.workspace_group_id.as_deref() == Some(g)))
        .filter_map(|w| {
            let bound = workspace_binding(s, user_id, &w.workspace_id)
                .and_then(|b| role(s, &b.role_id).ok());
            let via_group = w
                .workspace_group_id
                .as_ref()
                .and_then(|g| s.groups.get(g))
                .and_then(|g| g.users.iter().find(|m| m.user_id == user_id))
                .and_then(|m| role(s, &m.role_id).ok());
            let role = bound.or(via_group);
            (admin || role.is_some()).then_some(MyWorkspace { workspace: w, role })
        })
        .collect();
    out.sort_by(|a, b| {
        a.workspace
            .name
            .cmp(&b.workspace.name)
            .then(a.workspace.workspace_id.cmp(&b.workspace.workspace_id))
    });
    Ok(out)
}

/// UserProfile.get_workspace_groups: a DOMAIN_ADMIN sees all groups, others those they are in.
pub fn my_groups<'a>(s: &'a DomainState, user_id: &str) -> ApiResult<Vec<&'a WorkspaceGroup>> {
    let u = user(s, user_id)?;
    let admin = u.role_type == RoleType::DomainAdmin;
    let mut out: Vec<&WorkspaceGroup> = s
        .groups
        .values()
        .filter(|g| admin || g.users.iter().any(|m| m.user_id == user_id))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rules::{NewUser, create_domain, create_user, delete_user};

    const T0: Millis = 1_700_000_000_000;

    fn nu(id: &str) -> NewUser {
        NewUser {
            user_id: id.into(),
            name: id.into(),
            email: String::new(),
            user_type: UserType::User,
            backend: Backend::Local,
            password_hash: Some(PasswordHash("h".into())),
            language: "en".into(),
            timezone: "UTC".into(),
            tags: Map::new(),
            reset_password: false,
            cred_version: 0,
        }
    }

    fn setup() -> DomainState {
        let d = Domain {
            domain_id: "d".into(),
            name: "d".into(),
            state: crate::api::DomainState::Enabled,
            tags: Map::new(),
            created_at: T0,
        };
        let (mut s, _) = create_domain(d, Some((nu("admin@a.io"), "rb-0".into())), T0).unwrap();
        for e in create_user(&s, nu("u@a.io"), T0).unwrap() {
            s.apply(&e);
        }
        let nw = NewWorkspace {
            workspace_id: "ws-1".into(),
            name: "One".into(),
            tags: Map::new(),
            workspace_group_id: None,
            created_by: "admin@a.io".into(),
        };
        for e in create_workspace(&s, nw, T0).unwrap() {
            s.apply(&e);
        }
        s
    }

    fn apply(s: &mut DomainState, r: ApiResult<Vec<Event>>) {
        for e in r.unwrap() {
            s.apply(&e);
        }
    }

    fn wb(id: &str, user: &str, role: &str, ws: Option<&str>) -> NewBinding {
        NewBinding {
            role_binding_id: id.into(),
            user_id: user.into(),
            role_id: role.into(),
            resource_group: if ws.is_some() {
                ResourceGroup::Workspace
            } else {
                ResourceGroup::Domain
            },
            workspace_id: ws.map(Into::into),
        }
    }

    #[test]
    fn binding_invariants() {
        let mut s = setup();
        let r = create_binding(
            &s,
            wb("rb-1", "u@a.io", MANAGED_WORKSPACE_MEMBER, Some("ws-1")),
            T0,
        );
        apply(&mut s, r);
        assert_eq!(
            create_binding(
                &s,
                wb("rb-2", "u@a.io", MANAGED_WORKSPACE_OWNER, Some("ws-1")),
                T0
            )
            .unwrap_err()
            .code,
            ErrorCode::SaveUniqueValues
        );
        assert_eq!(
            create_binding(
                &s,
                wb("rb-3", "u@a.io", MANAGED_DOMAIN_ADMIN, Some("ws-1")),
                T0
            )
            .unwrap_err()
            .code,
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            create_binding(&s, wb("rb-4", "u@a.io", MANAGED_WORKSPACE_MEMBER, None), T0)
                .unwrap_err()
                .code,
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            create_binding(
                &s,
                wb("rb-5", "u@a.io", MANAGED_WORKSPACE_MEMBER, Some("ws-9")),
                T0
            )
            .unwrap_err()
            .code,
            ErrorCode::NotFound
        );
        // A DOMAIN_ADMIN binding makes the user an admin; deleting it recomputes.
        let r = create_binding(&s, wb("rb-6", "u@a.io", MANAGED_DOMAIN_ADMIN, None), T0);
        apply(&mut s, r);
        assert_eq!(s.users["u@a.io"].role_type, RoleType::DomainAdmin);
        let r = delete_binding(&s, "rb-6");
        apply(&mut s, r);
        assert_eq!(s.users["u@a.io"].role_type, RoleType::User);
        assert_eq!(s.users["u@a.io"].role_id, None);
        // The last enabled admin keeps its binding.
        assert_eq!(
            delete_binding(&s, "rb-0").unwrap_err().code,
            ErrorCode::LastAdminCannotDisabledDeleted
        );
    }

    #[test]
    fn deleting_a_user_or_workspace_cascades() {
        let mut s = setup();
        let r = create_binding(
            &s,
            wb("rb-1", "u@a.io", MANAGED_WORKSPACE_MEMBER, Some("ws-1")),
            T0,
        );
        apply(&mut s, r);
        let r = create_group(&s, "wg-1".into(), "G".into(), Map::new(), "admin@a.io", T0);
        apply(&mut s, r);
        let r = add_group_users(
            &s,
            "wg-1",
            &[("u@a.io".into(), MANAGED_WORKSPACE_OWNER.into())],
            "admin@a.io",
            T0,
        );
        apply(&mut s, r);
        assert_eq!(s.groups["wg-1"].users.len(), 1);
        let r = delete_user(&s, "u@a.io");
        apply(&mut s, r);
        assert!(s.bindings.values().all(|b| b.user_id != "u@a.io"));
        assert!(
            s.groups["wg-1"].users.is_empty(),
            "removed from every group"
        );

        for e in create_user(&s, nu("v@a.io"), T0).unwrap() {
            s.apply(&e);
        }
        let r = create_binding(
            &s,
            wb("rb-2", "v@a.io", MANAGED_WORKSPACE_MEMBER, Some("ws-1")),
            T0,
        );
        apply(&mut s, r);
        let r = set_workspace_state(&s, "ws-1", WorkspaceState::Deleted);
        apply(&mut s, r);
        assert!(
            s.bindings
                .values()
                .all(|b| b.workspace_id.as_deref() != Some("ws-1"))
        );
        assert!(my_workspaces(&s, "v@a.io", None).unwrap().is_empty());
        assert!(
            my_workspaces(&s, "admin@a.io", None).unwrap().is_empty(),
            "hidden from admins too"
        );
        // Its name is free again.
        let nw = NewWorkspace {
            workspace_id: "ws-2".into(),
            name: "One".into(),
            tags: Map::new(),
            workspace_group_id: None,
            created_by: "x".into(),
        };
        assert!(create_workspace(&s, nw, T0).is_ok());
    }

    #[test]
    fn my_workspaces_for_admins_members_and_groups() {
        let mut s = setup();
        let r = create_group(&s, "wg-1".into(), "G".into(), Map::new(), "admin@a.io", T0);
        apply(&mut s, r);
        let nw = NewWorkspace {
            workspace_id: "ws-2".into(),
            name: "Alpha".into(),
            tags: Map::new(),
            workspace_group_id: Some("wg-1".into()),
            created_by: "admin@a.io".into(),
        };
        let r = create_workspace(&s, nw, T0);
        apply(&mut s, r);
        let nw = NewWorkspace {
            workspace_id: "ws-3".into(),
            name: "Zed".into(),
            tags: Map::new(),
            workspace_group_id: None,
            created_by: "admin@a.io".into(),
        };
        let r = create_workspace(&s, nw, T0);
        apply(&mut s, r);
        let names = |v: Vec<MyWorkspace>| {
            v.iter()
                .map(|w| w.workspace.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(my_workspaces(&s, "admin@a.io", None).unwrap()),
            ["Alpha", "One", "Zed"]
        );
        assert!(my_workspaces(&s, "u@a.io", None).unwrap().is_empty());
        let r = create_binding(
            &s,
            wb("rb-1", "u@a.io", MANAGED_WORKSPACE_OWNER, Some("ws-3")),
            T0,
        );
        apply(&mut s, r);
        let r = add_group_users(
            &s,
            "wg-1",
            &[("u@a.io".into(), MANAGED_WORKSPACE_MEMBER.into())],
            "admin@a.io",
            T0,
        );
        apply(&mut s, r);
        let mine = my_workspaces(&s, "u@a.io", None).unwrap();
        assert_eq!(
            names(my_workspaces(&s, "u@a.io", None).unwrap()),
            ["Alpha", "Zed"]
        );
        assert_eq!(
            mine[0].role.as_ref().unwrap().role_type,
            RoleType::WorkspaceMember
        );
        assert_eq!(
            mine[1].role.as_ref().unwrap().role_type,
            RoleType::WorkspaceOwner
        );
        assert_eq!(
            names(my_workspaces(&s, "u@a.io", Some("wg-1")).unwrap()),
            ["Alpha"]
        );
        let r = set_workspace_state(&s, "ws-3", WorkspaceState::Disabled);
        apply(&mut s, r);
        assert_eq!(names(my_workspaces(&s, "u@a.io", None).unwrap()), ["Alpha"]);
        assert_eq!(my_groups(&s, "u@a.io").unwrap().len(), 1);
    }

    #[test]
    fn roles_unique_managed_and_in_use() {
        let mut s = setup();
        assert_eq!(
            create_role(
                &s,
                "role-1".into(),
                "Domain Admin",
                RoleType::DomainAdmin,
                T0
            )
            .unwrap_err()
            .code,
            ErrorCode::SaveUniqueValues
        );
        assert_eq!(
            create_role(&s, "role-1".into(), "Ops", RoleType::User, T0)
                .unwrap_err()
                .code,
            ErrorCode::InvalidParameter
        );
        let r = create_role(&s, "role-1".into(), "Ops", RoleType::WorkspaceMember, T0);
        apply(&mut s, r);
        let r = create_binding(&s, wb("rb-1", "u@a.io", "role-1", Some("ws-1")), T0);
        apply(&mut s, r);
        assert_eq!(
            delete_role(&s, "role-1").unwrap_err().code,
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            delete_role(&s, MANAGED_WORKSPACE_OWNER).unwrap_err().code,
            ErrorCode::InvalidParameter
        );
        let r = delete_binding(&s, "rb-1");
        apply(&mut s, r);
        let r = delete_role(&s, "role-1");
        apply(&mut s, r);
        assert_eq!(roles(&s).len(), 3);
    }
}
