//! User v1 over the real tarpc client: lifecycle, validation, rules, projections, lists.

mod common;
use common::*;
use identityd::api::*;
use identityd::client::ctx;
use identityd::value;

#[tokio::test]
async fn full_lifecycle_of_a_user() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;

    let mut req = new_user(&d.id, "ann@acme.io");
    req.email = Some("ann@acme.io".into());
    req.tags = Some(value!([{"key": "team", "value": "core"}]));
    req.timezone = Some("Asia/Seoul".into());
    req.language = Some("ko".into());
    let u = call!(c.user_create(ctx(), d.admin.clone(), req)).unwrap();
    assert_eq!(u.user_id, "ann@acme.io");
    assert_eq!(u.state, Some(UserState::Enabled));
    assert_eq!(u.backend, Some(Backend::Local));
    assert_eq!(u.user_type, Some(UserType::User));
    assert_eq!(u.email_verified, Some(false));
    assert_eq!(
        u.tags.as_ref().unwrap().get("team"),
        Some(&Value::from("core"))
    );
    assert_eq!(u.timezone.as_deref(), Some("Asia/Seoul"));
    assert_eq!(u.created_at.as_deref(), Some("2026-09-21T14:13:20.000Z"));
    assert_eq!(u.last_accessed_at, None);
    assert_eq!(u.domain_id, d.id);

    s.clock.advance_ms(1000);
    let upd = UpdateUserRequest {
        user_id: "ann@acme.io".into(),
        domain_id: d.id.clone(),
        name: Some("  Ann Lee ".into()),
        tags: Some(value!({"team": "infra"})),
        ..Default::default()
    };
    let u = call!(c.user_update(ctx(), d.admin.clone(), upd)).unwrap();
    assert_eq!(u.name.as_deref(), Some("Ann Lee"));
    assert_eq!(u.tags.unwrap().get("team"), Some(&Value::from("infra")));
    assert_eq!(
        u.email.as_deref(),
        Some("ann@acme.io"),
        "untouched fields stay"
    );

    let r = SetRequiredActionsRequest {
        user_id: "ann@acme.io".into(),
        actions: vec![RequiredAction::EnforceMfa],
        domain_id: d.id.clone(),
    };
    let u = call!(c.user_set_required_actions(ctx(), d.admin.clone(), r)).unwrap();
    assert_eq!(u.required_actions, Some(vec![RequiredAction::EnforceMfa]));

    let u = call!(c.user_disable(ctx(), d.admin.clone(), user_req(&d.id, "ann@acme.io"))).unwrap();
    assert_eq!(u.state, Some(UserState::Disabled));
    let u = call!(c.user_enable(ctx(), d.admin.clone(), user_req(&d.id, "ann@acme.io"))).unwrap();
    assert_eq!(u.state, Some(UserState::Enabled));

    let t = login(&c, &d.id, "ann@acme.io", PW).await.unwrap();
    let g = GetUserRequest {
        user_id: "ann@acme.io".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    // ENFORCE_MFA is pending, so the user's own token only reaches UserProfile.
    assert_code!(
        call!(c.user_get(ctx(), bearer(&t), g.clone())),
        PermissionDenied
    );
    let u = call!(c.user_get(ctx(), d.admin.clone(), g.clone())).unwrap();
    assert_eq!(
        u.last_accessed_at.as_deref(),
        Some("2026-09-21T14:13:21.000Z")
    );

    call!(c.user_delete(ctx(), d.admin.clone(), user_req(&d.id, "ann@acme.io"))).unwrap();
    assert_code!(call!(c.user_get(ctx(), d.admin.clone(), g)), NotFound);
    // The deleted user's token stops working, even for the self-service API it may reach.
    let up = UpdatePasswordRequest {
        new_password: "An0therPass".into(),
        current_password: Some(PW.into()),
    };
    assert_code!(
        call!(c.user_profile_update_password(ctx(), bearer(&t), up)),
        AuthenticateFailure
    );
}

#[tokio::test]
async fn duplicate_create_is_already_exists() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "a@acme.io"))).unwrap();
    let e = call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "a@acme.io"))).unwrap_err();
    assert_eq!(e.code, ErrorCode::SaveUniqueValues);
    assert_eq!(e.status(), Status::AlreadyExists);
    // The same id in another domain is fine.
    let d2 = domain(&c, &s.key, "other").await;
    call!(c.user_create(ctx(), d2.admin.clone(), new_user(&d2.id, "a@acme.io"))).unwrap();
}

#[tokio::test]
async fn every_create_and_update_validation_error() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let base = || new_user(&d.id, "v@acme.io");
    type Case = (Box<dyn Fn(&mut CreateUserRequest)>, ErrorCode);
    let cases: Vec<Case> = vec![
        (
            Box::new(|r| r.user_id = String::new()),
            ErrorCode::RequiredParameter,
        ),
        (
            Box::new(|r| r.domain_id = String::new()),
            ErrorCode::PermissionDenied,
        ),
        (
            Box::new(|r| r.user_id = "not-an-email".into()),
            ErrorCode::IncorrectUserIdFormat,
        ),
        (
            Box::new(|r| r.user_id = "a b@acme.io".into()),
            ErrorCode::IncorrectUserIdFormat,
        ),
        (
            Box::new(|r| r.user_id = format!("{}@acme.io", "x".repeat(60))),
            ErrorCode::IncorrectUserIdFormat,
        ),
        (
            Box::new(|r| r.email = Some("nope".into())),
            ErrorCode::IncorrectEmailFormat,
        ),
        (
            Box::new(|r| r.password = Some("short1A".into())),
            ErrorCode::IncorrectPasswordFormat,
        ),
        (
            Box::new(|r| r.password = Some("nouppercase1".into())),
            ErrorCode::IncorrectPasswordFormat,
        ),
        (
            Box::new(|r| r.password = Some("NOLOWERCASE1".into())),
            ErrorCode::IncorrectPasswordFormat,
        ),
        (
            Box::new(|r| r.password = Some("NoDigitsHere".into())),
            ErrorCode::IncorrectPasswordFormat,
        ),
        (
            Box::new(|r| r.password = None),
            ErrorCode::RequiredParameter,
        ),
        (
            Box::new(|r| r.timezone = Some("Mars/Base".into())),
            ErrorCode::InvalidParameter,
        ),
        (
            Box::new(|r| r.language = Some("toolong12".into())),
            ErrorCode::InvalidParameter,
        ),
        (
            Box::new(|r| r.name = Some("n".repeat(129))),
            ErrorCode::InvalidParameter,
        ),
        (
            Box::new(|r| r.tags = Some(value!("str"))),
            ErrorCode::InvalidParameter,
        ),
        (
            Box::new(|r| {
                r.password = None;
                r.reset_password = Some(true);
            }),
            ErrorCode::UnableToResetPasswordWithoutEmail,
        ),
        (
            Box::new(|r| r.backend = Some(Backend::External)),
            ErrorCode::InvalidParameter,
        ),
        (
            Box::new(|r| {
                r.password = None;
                r.backend = Some(Backend::External);
            }),
            ErrorCode::NotAllowedExternalAuthentication,
        ),
        (
            Box::new(|r| {
                r.password = None;
                r.user_id = "robot".into();
                r.user_type = Some(UserType::ApiUser);
                r.backend = Some(Backend::External);
            }),
            ErrorCode::ExternalUserNotAllowedApiUser,
        ),
        (
            Box::new(|r| {
                r.user_id = "robot".into();
                r.user_type = Some(UserType::ApiUser);
            }),
            ErrorCode::InvalidParameter,
        ),
    ];
    for (i, (edit, code)) in cases.iter().enumerate() {
        let mut r = base();
        edit(&mut r);
        let e = call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap_err();
        assert_eq!(e.code, *code, "case {i}: {}", e.message);
    }
    // Nothing was created by any of them.
    let all = call!(c.user_list(
        ctx(),
        d.admin.clone(),
        UserQuery {
            domain_id: d.id.clone(),
            ..Default::default()
        }
    ))
    .unwrap();
    assert_eq!(all.total_count, 1, "only the admin exists");

    call!(c.user_create(ctx(), d.admin.clone(), base())).unwrap();
    let up = |f: &dyn Fn(&mut UpdateUserRequest)| {
        let mut r = UpdateUserRequest {
            user_id: "v@acme.io".into(),
            domain_id: d.id.clone(),
            ..Default::default()
        };
        f(&mut r);
        r
    };
    let ucases: Vec<(UpdateUserRequest, ErrorCode)> = vec![
        (
            up(&|r| r.email = Some("bad@".into())),
            ErrorCode::IncorrectEmailFormat,
        ),
        (
            up(&|r| r.password = Some("weak".into())),
            ErrorCode::IncorrectPasswordFormat,
        ),
        (
            up(&|r| r.password = Some(PW.into())),
            ErrorCode::PasswordNotChanged,
        ),
        (
            up(&|r| r.timezone = Some("Nowhere".into())),
            ErrorCode::InvalidParameter,
        ),
        (
            up(&|r| r.language = Some("xxxxxxxx".into())),
            ErrorCode::InvalidParameter,
        ),
        (
            up(&|r| r.tags = Some(value!(5))),
            ErrorCode::InvalidParameter,
        ),
        (
            up(&|r| r.user_id = "ghost@acme.io".into()),
            ErrorCode::NotFound,
        ),
        (
            up(&|r| r.user_id = String::new()),
            ErrorCode::RequiredParameter,
        ),
    ];
    for (i, (r, code)) in ucases.into_iter().enumerate() {
        let e = call!(c.user_update(ctx(), d.admin.clone(), r)).unwrap_err();
        assert_eq!(e.code, code, "update case {i}: {}", e.message);
    }
    let g = call!(c.user_get(
        ctx(),
        d.admin.clone(),
        GetUserRequest {
            user_id: "v@acme.io".into(),
            domain_id: d.id.clone(),
            only: None
        }
    ))
    .unwrap();
    assert_eq!(
        g.email.as_deref(),
        Some(""),
        "failed updates changed nothing"
    );
    assert_eq!(g.timezone.as_deref(), Some("UTC"));
}

#[tokio::test]
async fn password_change_via_update_invalidates_old_tokens_and_clears_update_password() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "p@acme.io"))).unwrap();
    let old = login(&c, &d.id, "p@acme.io", PW).await.unwrap();
    let r = SetRequiredActionsRequest {
        user_id: "p@acme.io".into(),
        actions: vec![RequiredAction::UpdatePassword],
        domain_id: d.id.clone(),
    };
    call!(c.user_set_required_actions(ctx(), d.admin.clone(), r)).unwrap();
    // While UPDATE_PASSWORD is pending, a new token only reaches UserProfile.
    let restricted = login(&c, &d.id, "p@acme.io", PW).await.unwrap();
    let own = GetUserRequest {
        user_id: "p@acme.io".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    assert_code!(
        call!(c.user_get(ctx(), bearer(&restricted), own)),
        PermissionDenied
    );
    let up = UpdateUserRequest {
        user_id: "p@acme.io".into(),
        domain_id: d.id.clone(),
        password: Some("N3wPassword".into()),
        ..Default::default()
    };
    let u = call!(c.user_update(ctx(), d.admin.clone(), up)).unwrap();
    assert_eq!(u.required_actions, Some(vec![]));
    let g = GetUserRequest {
        user_id: "p@acme.io".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    assert_code!(
        call!(c.user_get(ctx(), bearer(&old), g.clone())),
        AuthenticateFailure
    );
    assert_code!(
        login(&c, &d.id, "p@acme.io", PW).await,
        AuthenticationFailure
    );
    let new = login(&c, &d.id, "p@acme.io", "N3wPassword").await.unwrap();
    call!(c.user_get(ctx(), bearer(&new), g)).unwrap();
}

#[tokio::test]
async fn last_enabled_admin_cannot_be_disabled_or_deleted() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    assert_code!(
        call!(c.user_disable(ctx(), s.key.clone(), user_req(&d.id, &d.admin_id))),
        LastAdminCannotDisabledDeleted
    );
    assert_code!(
        call!(c.user_delete(ctx(), s.key.clone(), user_req(&d.id, &d.admin_id))),
        LastAdminCannotDisabledDeleted
    );
    // Ordinary users can be disabled and deleted.
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "u@acme.io"))).unwrap();
    call!(c.user_disable(ctx(), d.admin.clone(), user_req(&d.id, "u@acme.io"))).unwrap();
    call!(c.user_delete(ctx(), d.admin.clone(), user_req(&d.id, "u@acme.io"))).unwrap();
}

#[tokio::test]
async fn get_with_only_returns_just_those_fields() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let g = GetUserRequest {
        user_id: d.admin_id.clone(),
        domain_id: d.id.clone(),
        only: Some(vec!["name".into(), "state".into()]),
    };
    let u = call!(c.user_get(ctx(), d.admin.clone(), g)).unwrap();
    assert_eq!(u.name.as_deref(), Some("Admin"));
    assert_eq!(u.state, Some(UserState::Enabled));
    assert!(u.email.is_none() && u.tags.is_none() && u.created_at.is_none() && u.mfa.is_none());
    let j = u.to_json();
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["domain_id", "name", "state", "user_id"]);
}

#[tokio::test]
async fn list_pages_and_filters() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    for i in 0..25 {
        let mut r = new_user(&d.id, &format!("u{i:02}@acme.io"));
        r.name = Some(format!("User {:02}", 24 - i));
        call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    }
    call!(c.user_disable(ctx(), d.admin.clone(), user_req(&d.id, "u03@acme.io"))).unwrap();
    let q = |query: Option<Value>| UserQuery {
        domain_id: d.id.clone(),
        query,
        ..Default::default()
    };
    let all = call!(c.user_list(ctx(), d.admin.clone(), q(None))).unwrap();
    assert_eq!(all.total_count, 26);
    // Default order: name ("Admin" first, then "User 00" = u24 …).
    assert_eq!(all.results[0].user_id, d.admin_id);
    assert_eq!(all.results[1].user_id, "u24@acme.io");
    let page = call!(c.user_list(
        ctx(),
        d.admin.clone(),
        q(Some(value!({"page": {"start": 11, "limit": 10}})))
    ))
    .unwrap();
    assert_eq!(page.total_count, 26);
    assert_eq!(page.results.len(), 10);
    assert_eq!(page.results[0].user_id, "u15@acme.io");
    let last = call!(c.user_list(
        ctx(),
        d.admin.clone(),
        q(Some(value!({"page": {"start": 21, "limit": 10}})))
    ))
    .unwrap();
    assert_eq!(last.results.len(), 6);
    let mut by_state = q(None);
    by_state.state = Some(UserState::Disabled);
    let dis = call!(c.user_list(ctx(), d.admin.clone(), by_state)).unwrap();
    assert_eq!(dis.total_count, 1);
    assert_eq!(dis.results[0].user_id, "u03@acme.io");
    let mut by_id = q(None);
    by_id.user_id = Some("u07@acme.io".into());
    assert_eq!(
        call!(c.user_list(ctx(), d.admin.clone(), by_id))
            .unwrap()
            .total_count,
        1
    );
    let min = call!(c.user_list(
        ctx(),
        d.admin.clone(),
        q(Some(value!({"minimal": true, "page": {"limit": 1}})))
    ))
    .unwrap();
    assert!(
        min.results[0].email.is_none()
            && min.results[0].name.is_some()
            && min.results[0].user_type.is_some()
    );
    let count = call!(c.user_list(
        ctx(),
        d.admin.clone(),
        q(Some(value!({"count_only": true})))
    ))
    .unwrap();
    assert_eq!((count.results.len(), count.total_count), (0, 26));
}

#[tokio::test]
async fn max_list_results_caps_unpaged_lists() {
    let s = TestServer::start_with(|c| c.service.max_list_results = 3);
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    for i in 0..5 {
        call!(c.user_create(
            ctx(),
            d.admin.clone(),
            new_user(&d.id, &format!("u{i}@acme.io"))
        ))
        .unwrap();
    }
    let all = call!(c.user_list(
        ctx(),
        d.admin.clone(),
        UserQuery {
            domain_id: d.id.clone(),
            ..Default::default()
        }
    ))
    .unwrap();
    assert_eq!((all.results.len(), all.total_count), (3, 6));
}

#[tokio::test]
async fn sync_returns_a_local_user_as_is() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let u = call!(c.user_sync(ctx(), d.admin.clone(), user_req(&d.id, &d.admin_id))).unwrap();
    assert_eq!(u.user_id, d.admin_id);
    assert_code!(
        call!(c.user_sync(ctx(), d.admin.clone(), user_req(&d.id, "none@acme.io"))),
        NotFound
    );
}
