//! Decisions: given the current state, a validated command and the time, either the events that
//! carry it out or the error that refuses it. Pure — no I/O, no clock, no randomness (ids and
//! hashes are made by the caller and passed in).

use super::clock::Millis;
use super::entities::*;
use super::events::Event;
use super::state::DomainState;
use crate::api::{
    ApiError, ApiResult, Backend, DomainState as DomainStatus, ErrorCode, Map, RequiredAction,
    ResourceGroup, RoleType, UserState, UserType,
};

/// A user to create, already validated field by field.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub user_type: UserType,
    pub backend: Backend,
    pub password_hash: Option<PasswordHash>,
    pub language: String,
    pub timezone: String,
    pub tags: Map,
    pub reset_password: bool,
    /// The starting credential version, drawn at random (64 bits) by the service layer: a
    /// re-created account never shares a version with a deleted one of the same user_id, so
    /// the deleted account's tokens never pass for it (see `auth::caller::fresh_user`).
    pub cred_version: u64,
}

/// Field changes of an update, already validated; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<PasswordHash>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub tags: Option<Map>,
}

impl UserPatch {
    /// A patch from the optional fields of an update request, each validated.
    pub fn validated(
        name: &Option<String>,
        email: &Option<String>,
        language: &Option<String>,
        timezone: &Option<String>,
        tags: &Option<crate::api::Value>,
    ) -> ApiResult<UserPatch> {
        use super::validate;
        let mut p = UserPatch::default();
        if let Some(n) = name {
            p.name = Some(validate::name(n)?);
        }
        if let Some(e) = email {
            validate::email(e)?;
            p.email = Some(e.clone());
        }
        if let Some(l) = language {
            validate::language(l)?;
            p.language = Some(l.clone());
        }
        if let Some(tz) = timezone {
            validate::timezone(tz)?;
            p.timezone = Some(tz.clone());
        }
        if let Some(t) = tags {
            p.tags = Some(validate::tags(t)?);
        }
        Ok(p)
    }
}

pub fn user<'a>(s: &'a DomainState, user_id: &str) -> ApiResult<&'a User> {
    s.users
        .get(user_id)
        .ok_or_else(|| ApiError::not_found("user_id", user_id))
}

/// Every call but `Domain.*` is refused in a disabled domain.
pub fn domain_enabled(s: &DomainState) -> ApiResult<()> {
    if s.domain.state == DomainStatus::Enabled {
        Ok(())
    } else {
        Err(ApiError::domain_state(&s.domain.domain_id))
    }
}

/// Builds a user record from a validated `NewUser`, enforcing the cross-field rules of create.
pub fn build_user(nu: NewUser, now: Millis) -> ApiResult<User> {
    if nu.backend == Backend::External {
        if nu.user_type == UserType::ApiUser {
            return Err(ApiError::new(
                ErrorCode::ExternalUserNotAllowedApiUser,
                "External user cannot be an API user.",
            ));
        }
        // No external directory (auth plugin) can be configured for a domain yet.
        return Err(ApiError::new(
            ErrorCode::NotAllowedExternalAuthentication,
            "External authentication is not allowed. (reason = no external directory is configured for the domain)",
        ));
    }
    let mut required_actions = Vec::new();
    let password_hash = match nu.user_type {
        UserType::ApiUser => None,
        UserType::User => nu.password_hash,
    };
    if nu.user_type == UserType::User {
        if nu.reset_password {
            if nu.email.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::UnableToResetPasswordWithoutEmail,
                    format!(
                        "Unable to reset password without email. (user_id = {})",
                        nu.user_id
                    ),
                ));
            }
            required_actions.push(RequiredAction::UpdatePassword);
        } else if password_hash.is_none() {
            return Err(ApiError::required("password"));
        }
    }
    Ok(User {
        user_id: nu.user_id,
        name: nu.name,
        state: UserState::Enabled,
        email: nu.email,
        email_verified: false,
        user_type: nu.user_type,
        backend: nu.backend,
        password_hash,
        language: nu.language,
        timezone: nu.timezone,
        required_actions,
        tags: nu.tags,
        mfa: None,
        role_type: RoleType::User,
        role_id: None,
        last_accessed_at: None,
        created_at: now,
        updated_at: now,
        cred_version: nu.cred_version,
        codes: Vec::new(),
        temp_password: None,
    })
}

/// Every token issued before this stops working (password change, disable, admin reset). Wraps
/// at `u64::MAX`: versions start at a random value.
pub fn bump_cred_version(u: &mut User) {
    u.cred_version = u.cred_version.wrapping_add(1);
}

pub fn create_user(s: &DomainState, nu: NewUser, now: Millis) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    if s.users.contains_key(&nu.user_id) {
        return Err(ApiError::unique("user_id", &nu.user_id));
    }
    Ok(vec![Event::UserCreated(build_user(nu, now)?)])
}

/// Applies a patch. A changed e-mail resets `email_verified` (fix: a verified flag never carries
/// over to an address nobody proved). A password change removes `UPDATE_PASSWORD` and bumps the
/// credential version.
pub fn update_user(
    s: &DomainState,
    user_id: &str,
    p: UserPatch,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    if let Some(name) = p.name {
        u.name = name;
    }
    if let Some(email) = p.email {
        if email != u.email {
            u.email_verified = false;
        }
        u.email = email;
    }
    if let Some(h) = p.password_hash {
        if u.user_type == UserType::ApiUser || u.backend == Backend::External {
            return Err(ApiError::not_allowed_action("UPDATE_PASSWORD"));
        }
        u.password_hash = Some(h);
        bump_cred_version(&mut u);
        u.remove_action(RequiredAction::UpdatePassword);
    }
    if let Some(l) = p.language {
        u.language = l;
    }
    if let Some(tz) = p.timezone {
        u.timezone = tz;
    }
    if let Some(t) = p.tags {
        u.tags = t;
    }
    u.updated_at = now;
    Ok(vec![Event::UserUpdated(u)])
}

pub fn set_required_actions(
    s: &DomainState,
    user_id: &str,
    actions: &[RequiredAction],
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    for a in actions {
        if *a == RequiredAction::UpdatePassword
            && (u.backend == Backend::External || u.user_type == UserType::ApiUser)
        {
            return Err(ApiError::not_allowed_action("UPDATE_PASSWORD"));
        }
        u.add_action(*a);
    }
    u.updated_at = now;
    Ok(vec![Event::UserUpdated(u)])
}

fn is_last_enabled_admin(s: &DomainState, u: &User) -> bool {
    u.role_type == RoleType::DomainAdmin && u.state == UserState::Enabled && s.enabled_admins() <= 1
}

fn last_admin_error() -> ApiError {
    ApiError::new(
        ErrorCode::LastAdminCannotDisabledDeleted,
        "The last domain admin cannot be disabled or deleted.",
    )
}

pub fn set_user_state(
    s: &DomainState,
    user_id: &str,
    state: UserState,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    if state == UserState::Disabled && is_last_enabled_admin(s, &u) {
        return Err(last_admin_error());
    }
    if state != UserState::Enabled {
        // Disabling revokes every token: enabling again does not revive them (as Keycloak and
        // Kanidm end a disabled account's sessions). The user logs in again.
        bump_cred_version(&mut u);
    }
    u.state = state;
    u.updated_at = now;
    Ok(vec![Event::UserUpdated(u)])
}

pub fn delete_user(s: &DomainState, user_id: &str) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let u = user(s, user_id)?;
    if is_last_enabled_admin(s, u) {
        return Err(last_admin_error());
    }
    Ok(vec![Event::UserDeleted {
        user_id: user_id.to_owned(),
    }])
}

/// A DOMAIN binding to a role. One DOMAIN binding per user.
pub fn create_domain_binding(
    s: &DomainState,
    binding_id: String,
    user_id: &str,
    role_id: &str,
    role_type: RoleType,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    user(s, user_id)?;
    if s.domain_binding(user_id).is_some() {
        return Err(ApiError::unique("user_id", user_id));
    }
    Ok(vec![Event::RoleBindingCreated(RoleBinding {
        role_binding_id: binding_id,
        user_id: user_id.to_owned(),
        role_id: role_id.to_owned(),
        role_type,
        resource_group: ResourceGroup::Domain,
        workspace_id: None,
        workspace_group_id: None,
        created_at: now,
    })])
}

/// Domain creation, with its optional first admin (a LOCAL user bound to `managed-domain-admin`).
pub fn create_domain(
    domain: Domain,
    admin: Option<(NewUser, String)>,
    now: Millis,
) -> ApiResult<(DomainState, Vec<Event>)> {
    let mut s = DomainState::new(domain.clone());
    let mut events = vec![Event::DomainCreated(domain)];
    s.apply(&events[0]);
    if let Some((nu, binding_id)) = admin {
        let uid = nu.user_id.clone();
        for e in create_user(&s, nu, now)? {
            s.apply(&e);
            events.push(e);
        }
        let b = create_domain_binding(
            &s,
            binding_id,
            &uid,
            MANAGED_DOMAIN_ADMIN,
            RoleType::DomainAdmin,
            now,
        )?;
        for e in b {
            s.apply(&e);
            events.push(e);
        }
    }
    Ok((s, events))
}

pub fn set_domain_state(s: &DomainState, state: DomainStatus) -> Vec<Event> {
    let mut d = s.domain.clone();
    d.state = state;
    vec![Event::DomainUpdated(d)]
}

/// A successful login's record: `last_accessed_at`, PENDING → ENABLED.
pub fn record_access(u: &User, now: Millis) -> Event {
    let state = if u.state == UserState::Pending {
        UserState::Enabled
    } else {
        u.state
    };
    Event::UserAccessed {
        user_id: u.user_id.clone(),
        at: now,
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DomainState as DS;

    const T0: Millis = 1_700_000_000_000;

    fn domain() -> Domain {
        Domain {
            domain_id: "domain-000000000001".into(),
            name: "acme".into(),
            state: DS::Enabled,
            tags: Map::new(),
            created_at: T0,
        }
    }

    fn nu(id: &str) -> NewUser {
        NewUser {
            user_id: id.into(),
            name: "N".into(),
            email: String::new(),
            user_type: UserType::User,
            backend: Backend::Local,
            password_hash: Some(PasswordHash("$argon2id$x".into())),
            language: "en".into(),
            timezone: "UTC".into(),
            tags: Map::new(),
            reset_password: false,
            cred_version: 0,
        }
    }

    macro_rules! step {
        ($s:ident, $e:expr) => {{
            let evs = $e;
            apply(&mut $s, evs);
        }};
    }

    fn apply(s: &mut DomainState, evs: Vec<Event>) {
        for e in &evs {
            s.apply(e);
        }
    }

    fn with_admin() -> DomainState {
        let (s, _) = create_domain(domain(), Some((nu("admin@a.io"), "rb-1".into())), T0).unwrap();
        s
    }

    fn code<T: std::fmt::Debug>(r: ApiResult<T>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn domain_with_admin_binds_the_managed_role() {
        let s = with_admin();
        let a = &s.users["admin@a.io"];
        assert_eq!(a.role_type, RoleType::DomainAdmin);
        assert_eq!(a.role_id.as_deref(), Some(MANAGED_DOMAIN_ADMIN));
        assert_eq!(s.enabled_admins(), 1);
    }

    #[test]
    fn create_rules() {
        let mut s = with_admin();
        step!(s, create_user(&s, nu("u@a.io"), T0).unwrap());
        assert_eq!(
            code(create_user(&s, nu("u@a.io"), T0)),
            ErrorCode::SaveUniqueValues
        );
        let mut n = nu("x@a.io");
        n.password_hash = None;
        assert_eq!(
            code(create_user(&s, n.clone(), T0)),
            ErrorCode::RequiredParameter
        );
        n.reset_password = true;
        assert_eq!(
            code(create_user(&s, n.clone(), T0)),
            ErrorCode::UnableToResetPasswordWithoutEmail
        );
        n.email = "x@a.io".into();
        let evs = create_user(&s, n, T0).unwrap();
        let Event::UserCreated(u) = &evs[0] else {
            panic!()
        };
        assert_eq!(u.required_actions, vec![RequiredAction::UpdatePassword]);
        assert!(!u.email_verified);
        let mut api = nu("robot");
        api.user_type = UserType::ApiUser;
        let Event::UserCreated(u) = &create_user(&s, api.clone(), T0).unwrap()[0] else {
            panic!()
        };
        assert!(u.password_hash.is_none(), "API users never have a password");
        api.backend = Backend::External;
        assert_eq!(
            code(create_user(&s, api, T0)),
            ErrorCode::ExternalUserNotAllowedApiUser
        );
        let mut ext = nu("e@a.io");
        ext.backend = Backend::External;
        assert_eq!(
            code(create_user(&s, ext, T0)),
            ErrorCode::NotAllowedExternalAuthentication
        );
    }

    #[test]
    fn update_resets_email_verified_and_bumps_cred_version() {
        let mut s = with_admin();
        let mut u = s.users["admin@a.io"].clone();
        u.email = "a@a.io".into();
        u.email_verified = true;
        u.required_actions = vec![RequiredAction::UpdatePassword];
        s.apply(&Event::UserUpdated(u));
        let same = UserPatch {
            email: Some("a@a.io".into()),
            ..Default::default()
        };
        step!(s, update_user(&s, "admin@a.io", same, T0).unwrap());
        assert!(
            s.users["admin@a.io"].email_verified,
            "same address keeps the flag"
        );
        let p = UserPatch {
            email: Some("b@a.io".into()),
            ..Default::default()
        };
        step!(s, update_user(&s, "admin@a.io", p, T0).unwrap());
        assert!(!s.users["admin@a.io"].email_verified);
        let p = UserPatch {
            password_hash: Some(PasswordHash("h2".into())),
            ..Default::default()
        };
        step!(s, update_user(&s, "admin@a.io", p, T0 + 1).unwrap());
        let u = &s.users["admin@a.io"];
        assert_eq!(u.cred_version, 1);
        assert!(u.required_actions.is_empty());
        assert_eq!(u.updated_at, T0 + 1);
        assert_eq!(
            u.role_type,
            RoleType::DomainAdmin,
            "after-image keeps the derived role"
        );
        assert_eq!(
            code(update_user(&s, "nobody@a.io", UserPatch::default(), T0)),
            ErrorCode::NotFound
        );
    }

    #[test]
    fn required_actions_union_and_external_rule() {
        let mut s = with_admin();
        step!(
            s,
            set_required_actions(&s, "admin@a.io", &[RequiredAction::EnforceMfa], T0).unwrap()
        );
        step!(
            s,
            set_required_actions(
                &s,
                "admin@a.io",
                &[RequiredAction::UpdatePassword, RequiredAction::EnforceMfa],
                T0
            )
            .unwrap()
        );
        assert_eq!(
            s.users["admin@a.io"].required_actions,
            vec![RequiredAction::UpdatePassword, RequiredAction::EnforceMfa]
        );
        let mut api = nu("robot");
        api.user_type = UserType::ApiUser;
        step!(s, create_user(&s, api, T0).unwrap());
        let e =
            set_required_actions(&s, "robot", &[RequiredAction::UpdatePassword], T0).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotAllowedActions);
        assert!(e.message.contains("action = UPDATE_PASSWORD"));
    }

    #[test]
    fn last_admin_cannot_be_disabled_or_deleted() {
        let mut s = with_admin();
        assert_eq!(
            code(set_user_state(&s, "admin@a.io", UserState::Disabled, T0)),
            ErrorCode::LastAdminCannotDisabledDeleted
        );
        assert_eq!(
            code(delete_user(&s, "admin@a.io")),
            ErrorCode::LastAdminCannotDisabledDeleted
        );
        step!(s, create_user(&s, nu("b@a.io"), T0).unwrap());
        step!(
            s,
            create_domain_binding(
                &s,
                "rb-2".into(),
                "b@a.io",
                MANAGED_DOMAIN_ADMIN,
                RoleType::DomainAdmin,
                T0
            )
            .unwrap()
        );
        step!(
            s,
            set_user_state(&s, "admin@a.io", UserState::Disabled, T0).unwrap()
        );
        assert_eq!(
            code(delete_user(&s, "b@a.io")),
            ErrorCode::LastAdminCannotDisabledDeleted
        );
        // A disabled admin is not the last ENABLED admin, so it can be deleted.
        step!(s, delete_user(&s, "admin@a.io").unwrap());
        assert!(!s.users.contains_key("admin@a.io"));
        assert!(
            s.bindings.values().all(|b| b.user_id != "admin@a.io"),
            "bindings cascade"
        );
        assert_eq!(
            code(create_domain_binding(
                &s,
                "rb-3".into(),
                "b@a.io",
                MANAGED_DOMAIN_ADMIN,
                RoleType::DomainAdmin,
                T0
            )),
            ErrorCode::SaveUniqueValues
        );
    }

    #[test]
    fn disabled_domain_refuses_user_calls() {
        let mut s = with_admin();
        step!(s, set_domain_state(&s, DS::Disabled));
        assert_eq!(
            code(create_user(&s, nu("u@a.io"), T0)),
            ErrorCode::DomainState
        );
        assert_eq!(
            code(set_user_state(&s, "admin@a.io", UserState::Enabled, T0)),
            ErrorCode::DomainState
        );
    }

    #[test]
    fn access_enables_pending_user() {
        let mut s = with_admin();
        let mut u = s.users["admin@a.io"].clone();
        u.state = UserState::Pending;
        s.apply(&Event::UserUpdated(u.clone()));
        s.apply(&record_access(&u, T0 + 5));
        assert_eq!(s.users["admin@a.io"].state, UserState::Enabled);
        assert_eq!(s.users["admin@a.io"].last_accessed_at, Some(T0 + 5));
    }

    #[test]
    fn image_round_trip_rebuilds_indexes() {
        let mut s = with_admin();
        step!(s, create_user(&s, nu("u@a.io"), T0).unwrap());
        s.seq = 7;
        let img = s.image();
        let bytes = bincode::encode_to_vec(&img, bincode::config::standard()).unwrap();
        let (back, _): (crate::model::state::DomainImage, _) =
            bincode::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        let r = DomainState::from_image(back);
        assert_eq!(r.seq, 7);
        assert_eq!(r.users, s.users);
        r.index.check(&r.users).unwrap();
        s.index.check(&s.users).unwrap();
        assert_eq!(r.users["admin@a.io"].role_type, RoleType::DomainAdmin);
    }
}
