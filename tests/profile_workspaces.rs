//! UserProfile v2 and the workspace/role/binding admin APIs over the real tarpc client (and HTTP
//! where the request body is the attack surface).

mod common;
use common::*;
use identityd::api::*;
use identityd::auth::totp::{self, TotpSecret};
use identityd::client::{IdentityClient, ctx};
use identityd::model::clock::Clock;
use identityd::value;

struct World {
    d: Domain,
    /// workspace ids by name
    ws: std::collections::BTreeMap<String, String>,
    group: String,
}

async fn world(c: &IdentityClient, s: &TestServer) -> World {
    let d = domain(c, &s.key, "acme").await;
    for u in ["ann@acme.io", "bob@acme.io"] {
        let mut r = new_user(&d.id, u);
        r.email = Some(u.into());
        call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    }
    let g = call!(c.workspace_group_create(
        ctx(),
        d.admin.clone(),
        CreateWorkspaceGroupRequest {
            name: "Platform".into(),
            tags: None,
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    let mut ws = std::collections::BTreeMap::new();
    for (name, group) in [
        ("Zeta", None),
        ("Alpha", None),
        ("Grouped", Some(g.workspace_group_id.clone())),
        ("Other", None),
    ] {
        let w = call!(c.workspace_create(
            ctx(),
            d.admin.clone(),
            CreateWorkspaceRequest {
                name: name.into(),
                tags: Some(value!({"k": name})),
                workspace_group_id: group,
                domain_id: d.id.clone()
            }
        ))
        .unwrap();
        assert!(w.workspace_id.starts_with("workspace-") && w.workspace_id.len() == 22);
        ws.insert(name.to_owned(), w.workspace_id);
    }
    World {
        d,
        ws,
        group: g.workspace_group_id,
    }
}

fn bind(d: &Domain, user: &str, role: &str, workspace: Option<&str>) -> CreateRoleBindingRequest {
    CreateRoleBindingRequest {
        user_id: user.into(),
        role_id: role.into(),
        resource_group: Some(if workspace.is_some() {
            ResourceGroup::Workspace
        } else {
            ResourceGroup::Domain
        }),
        workspace_id: workspace.map(Into::into),
        domain_id: d.id.clone(),
    }
}

fn names(r: &MyWorkspacesInfo) -> Vec<&str> {
    r.results.iter().map(|w| w.name.as_str()).collect()
}

#[tokio::test]
async fn get_workspaces_for_admins_members_groups_and_after_disable_or_delete() {
    let s = TestServer::start();
    let c = s.client().await;
    let w = world(&c, &s).await;
    let d = &w.d;
    call!(c.role_binding_create(
        ctx(),
        d.admin.clone(),
        bind(
            d,
            "ann@acme.io",
            "managed-workspace-owner",
            Some(&w.ws["Zeta"])
        )
    ))
    .unwrap();
    call!(c.role_binding_create(
        ctx(),
        d.admin.clone(),
        bind(
            d,
            "ann@acme.io",
            "managed-workspace-member",
            Some(&w.ws["Alpha"])
        )
    ))
    .unwrap();
    let add = WorkspaceGroupUsersRequest {
        workspace_group_id: w.group.clone(),
        users: vec![GroupUserRef {
            user_id: "ann@acme.io".into(),
            role_id: Some("managed-workspace-member".into()),
        }],
        domain_id: d.id.clone(),
    };
    call!(c.workspace_group_add_users(ctx(), d.admin.clone(), add)).unwrap();

    let admin_view =
        call!(c.user_profile_get_workspaces(ctx(), d.admin.clone(), UserProfileRequest::default()))
            .unwrap();
    assert_eq!(
        names(&admin_view),
        ["Alpha", "Grouped", "Other", "Zeta"],
        "all enabled, by name"
    );
    assert!(
        admin_view.results.iter().all(|w| w.role_id.is_none()),
        "role fields only where bound"
    );

    let ann = bearer(&login(&c, &d.id, "ann@acme.io", PW).await.unwrap());
    let mine =
        call!(c.user_profile_get_workspaces(ctx(), ann.clone(), UserProfileRequest::default()))
            .unwrap();
    assert_eq!(names(&mine), ["Alpha", "Grouped", "Zeta"]);
    assert_eq!(mine.total_count, 3);
    let zeta = &mine.results[2];
    assert_eq!(
        (
            zeta.role_id.as_deref(),
            zeta.role_type,
            zeta.role_name.as_deref()
        ),
        (
            Some("managed-workspace-owner"),
            Some(RoleType::WorkspaceOwner),
            Some("Workspace Owner")
        )
    );
    let bob = bearer(&login(&c, &d.id, "bob@acme.io", PW).await.unwrap());
    assert_eq!(
        call!(c.user_profile_get_workspaces(ctx(), bob, UserProfileRequest::default()))
            .unwrap()
            .total_count,
        0
    );
    let by_group = call!(c.user_profile_get_workspaces(
        ctx(),
        ann.clone(),
        UserProfileRequest {
            workspace_group_id: Some(w.group.clone())
        }
    ))
    .unwrap();
    assert_eq!(names(&by_group), ["Grouped"]);

    let wr = |n: &str| WorkspaceRequest {
        workspace_id: w.ws[n].clone(),
        domain_id: d.id.clone(),
    };
    call!(c.workspace_disable(ctx(), d.admin.clone(), wr("Alpha"))).unwrap();
    call!(c.workspace_delete(ctx(), d.admin.clone(), wr("Zeta"))).unwrap();
    let mine =
        call!(c.user_profile_get_workspaces(ctx(), ann, UserProfileRequest::default())).unwrap();
    assert_eq!(names(&mine), ["Grouped"]);
    let admin_view =
        call!(c.user_profile_get_workspaces(ctx(), d.admin.clone(), UserProfileRequest::default()))
            .unwrap();
    assert_eq!(names(&admin_view), ["Grouped", "Other"]);
    assert_code!(
        call!(c.workspace_get(ctx(), d.admin.clone(), wr("Zeta"))),
        NotFound
    );
    // Its bindings went with it.
    let lb = ListRoleBindingsRequest {
        domain_id: d.id.clone(),
        workspace_id: Some(w.ws["Zeta"].clone()),
        ..Default::default()
    };
    assert_eq!(
        call!(c.role_binding_list(ctx(), d.admin.clone(), lb))
            .unwrap()
            .total_count,
        0
    );
}

#[tokio::test]
async fn get_workspace_groups_carries_member_names_states_and_the_callers_role() {
    let s = TestServer::start();
    let c = s.client().await;
    let w = world(&c, &s).await;
    let d = &w.d;
    let add = WorkspaceGroupUsersRequest {
        workspace_group_id: w.group.clone(),
        users: vec![
            GroupUserRef {
                user_id: "ann@acme.io".into(),
                role_id: Some("managed-workspace-owner".into()),
            },
            GroupUserRef {
                user_id: "bob@acme.io".into(),
                role_id: Some("managed-workspace-member".into()),
            },
        ],
        domain_id: d.id.clone(),
    };
    call!(c.workspace_group_add_users(ctx(), d.admin.clone(), add)).unwrap();
    call!(c.user_disable(ctx(), d.admin.clone(), user_req(&d.id, "bob@acme.io"))).unwrap();
    let ann = bearer(&login(&c, &d.id, "ann@acme.io", PW).await.unwrap());
    let g = call!(c.user_profile_get_workspace_groups(ctx(), ann, Empty {})).unwrap();
    assert_eq!(g.total_count, 1);
    let grp = &g.results[0];
    assert_eq!(grp.name, "Platform");
    let bob = grp
        .users
        .iter()
        .find(|u| u.user_id == "bob@acme.io")
        .unwrap();
    assert_eq!(
        (bob.user_name.as_str(), bob.state),
        ("Name of bob@acme.io", Some(UserState::Disabled))
    );
    let rb = grp.role_binding_info.as_ref().unwrap();
    assert_eq!(
        (rb.role_id.as_str(), rb.role_type),
        ("managed-workspace-owner", Some(RoleType::WorkspaceOwner))
    );
    // A domain admin sees every group, with no role_binding_info of its own.
    let g = call!(c.user_profile_get_workspace_groups(ctx(), d.admin.clone(), Empty {})).unwrap();
    assert!(g.results[0].role_binding_info.is_none());
    // Removing a member, then deleting the group.
    let rm = WorkspaceGroupUsersRequest {
        workspace_group_id: w.group.clone(),
        users: vec![GroupUserRef {
            user_id: "ann@acme.io".into(),
            role_id: None,
        }],
        domain_id: d.id.clone(),
    };
    assert_eq!(
        call!(c.workspace_group_remove_users(ctx(), d.admin.clone(), rm))
            .unwrap()
            .users
            .len(),
        1
    );
    call!(c.workspace_group_delete(
        ctx(),
        d.admin.clone(),
        WorkspaceGroupRequest {
            workspace_group_id: w.group.clone(),
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    let grouped = call!(c.workspace_get(
        ctx(),
        d.admin.clone(),
        WorkspaceRequest {
            workspace_id: w.ws["Grouped"].clone(),
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    assert_eq!(
        grouped.workspace_group_id, None,
        "workspaces leave a deleted group"
    );
}

#[tokio::test]
async fn binding_invariants_over_rpc() {
    let s = TestServer::start();
    let c = s.client().await;
    let w = world(&c, &s).await;
    let d = &w.d;
    let b = call!(c.role_binding_create(
        ctx(),
        d.admin.clone(),
        bind(
            d,
            "ann@acme.io",
            "managed-workspace-member",
            Some(&w.ws["Alpha"])
        )
    ))
    .unwrap();
    assert_code!(
        call!(c.role_binding_create(
            ctx(),
            d.admin.clone(),
            bind(
                d,
                "ann@acme.io",
                "managed-workspace-owner",
                Some(&w.ws["Alpha"])
            )
        )),
        SaveUniqueValues
    );
    assert_code!(
        call!(c.role_binding_create(
            ctx(),
            d.admin.clone(),
            bind(
                d,
                "ann@acme.io",
                "managed-domain-admin",
                Some(&w.ws["Alpha"])
            )
        )),
        InvalidParameter
    );
    assert_code!(
        call!(c.role_binding_create(
            ctx(),
            d.admin.clone(),
            bind(d, "ann@acme.io", "managed-workspace-member", None)
        )),
        InvalidParameter
    );
    assert_code!(
        call!(c.role_binding_create(
            ctx(),
            d.admin.clone(),
            bind(
                d,
                "ghost@acme.io",
                "managed-workspace-member",
                Some(&w.ws["Alpha"])
            )
        )),
        NotFound
    );
    // A DOMAIN_ADMIN binding drives role_type / role_id; deleting it recomputes them.
    let admin_b = call!(c.role_binding_create(
        ctx(),
        d.admin.clone(),
        bind(d, "bob@acme.io", "managed-domain-admin", None)
    ))
    .unwrap();
    let g = |u: &str| GetUserRequest {
        user_id: u.into(),
        domain_id: d.id.clone(),
        only: None,
    };
    let bob_token = bearer(&login(&c, &d.id, "bob@acme.io", PW).await.unwrap());
    let p =
        call!(c.user_profile_get(ctx(), bob_token.clone(), UserProfileRequest::default())).unwrap();
    assert_eq!(
        (p.role_type, p.role_id.as_deref()),
        (Some(RoleType::DomainAdmin), Some("managed-domain-admin"))
    );
    call!(c.user_get(ctx(), bob_token.clone(), g("ann@acme.io"))).unwrap();
    call!(c.role_binding_delete(
        ctx(),
        d.admin.clone(),
        RoleBindingRequest {
            role_binding_id: admin_b.role_binding_id.clone().unwrap(),
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    // The demoted admin's token loses admin rights at once.
    assert_code!(
        call!(c.user_get(ctx(), bob_token, g("ann@acme.io"))),
        PermissionDenied
    );
    // Deleting a user removes its bindings.
    call!(c.user_delete(ctx(), d.admin.clone(), user_req(&d.id, "ann@acme.io"))).unwrap();
    let lb = ListRoleBindingsRequest {
        domain_id: d.id.clone(),
        user_id: Some("ann@acme.io".into()),
        ..Default::default()
    };
    assert_eq!(
        call!(c.role_binding_list(ctx(), d.admin.clone(), lb))
            .unwrap()
            .total_count,
        0
    );
    assert_code!(
        call!(c.role_binding_delete(
            ctx(),
            d.admin.clone(),
            RoleBindingRequest {
                role_binding_id: b.role_binding_id.unwrap(),
                domain_id: d.id.clone()
            }
        )),
        NotFound
    );
    // Custom roles.
    let r = call!(c.role_create(
        ctx(),
        d.admin.clone(),
        CreateRoleRequest {
            name: "Auditor".into(),
            role_type: Some(RoleType::WorkspaceMember),
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    assert!(r.role_id.starts_with("role-"));
    let roles = call!(c.role_list(
        ctx(),
        d.admin.clone(),
        ListRolesRequest {
            domain_id: d.id.clone(),
            role_type: None
        }
    ))
    .unwrap();
    assert_eq!(roles.total_count, 4);
    call!(c.role_binding_create(
        ctx(),
        d.admin.clone(),
        bind(d, "bob@acme.io", &r.role_id, Some(&w.ws["Other"]))
    ))
    .unwrap();
    assert_code!(
        call!(c.role_delete(
            ctx(),
            d.admin.clone(),
            RoleRequest {
                role_id: r.role_id.clone(),
                domain_id: d.id.clone()
            }
        )),
        InvalidParameter
    );
    // Duplicate workspace names.
    assert_code!(
        call!(c.workspace_create(
            ctx(),
            d.admin.clone(),
            CreateWorkspaceRequest {
                name: "Alpha".into(),
                domain_id: d.id.clone(),
                ..Default::default()
            }
        )),
        SaveUniqueValues
    );
}

#[tokio::test]
async fn every_profile_method_acts_on_the_token_user_only() {
    let s = TestServer::start();
    let c = s.client().await;
    let w = world(&c, &s).await;
    let d = &w.d;
    let ann = bearer(&login(&c, &d.id, "ann@acme.io", PW).await.unwrap());
    let p = call!(c.user_profile_get(ctx(), ann.clone(), UserProfileRequest::default())).unwrap();
    assert_eq!(
        (p.user_id.as_str(), p.auth_type, p.role_type),
        ("ann@acme.io", Some(Backend::Local), Some(RoleType::User))
    );
    let up = UpdateUserProfileRequest {
        name: Some("Ann".into()),
        tags: Some(value!([{"key": "x", "value": 1}])),
        timezone: Some("Asia/Seoul".into()),
        ..Default::default()
    };
    let p = call!(c.user_profile_update(ctx(), ann.clone(), up)).unwrap();
    assert_eq!(
        (p.name.as_str(), p.timezone.as_str()),
        ("Ann", "Asia/Seoul")
    );
    assert_eq!(p.tags["x"], Value::from(1));
    // A password only via update_password unless UPDATE_PASSWORD is pending.
    let pw = UpdateUserProfileRequest {
        password: Some("N3wPassword".into()),
        ..Default::default()
    };
    assert_code!(
        call!(c.user_profile_update(ctx(), ann.clone(), pw)),
        InvalidParameter
    );
    let wrong = UpdatePasswordRequest {
        new_password: "N3wPassword".into(),
        current_password: Some("Wr0ngPass".into()),
    };
    assert_code!(
        call!(c.user_profile_update_password(ctx(), ann.clone(), wrong)),
        PasswordNotMatched
    );
    let missing = UpdatePasswordRequest {
        new_password: "N3wPassword".into(),
        current_password: None,
    };
    assert_code!(
        call!(c.user_profile_update_password(ctx(), ann.clone(), missing)),
        RequiredParameter
    );
    let same = UpdatePasswordRequest {
        new_password: PW.into(),
        current_password: Some(PW.into()),
    };
    assert_code!(
        call!(c.user_profile_update_password(ctx(), ann.clone(), same)),
        PasswordNotChanged
    );
    // OTP MFA through the profile API.
    let p = call!(c.user_profile_enable_mfa(
        ctx(),
        ann.clone(),
        ProfileEnableMfaRequest {
            mfa_type: "OTP".into(),
            options: value!({})
        }
    ))
    .unwrap();
    let uri = p.mfa.unwrap().options["otp_qrcode_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = TotpSecret::from_base32(
        uri.split(['?', '&'])
            .find_map(|q| q.strip_prefix("secret="))
            .unwrap(),
    )
    .unwrap();
    let code = totp::code_at(&secret, totp::step_at(s.clock.now_ms()).unwrap());
    let p = call!(c.user_profile_confirm_mfa(
        ctx(),
        ann.clone(),
        ProfileConfirmRequest {
            verify_code: code.as_str().into()
        }
    ))
    .unwrap();
    assert_eq!(p.mfa.unwrap().state, MfaState::Enabled);
    call!(c.user_profile_disable_mfa(ctx(), ann.clone(), Empty {})).unwrap();
    s.clock.advance_ms(30_000);
    let code = totp::code_at(&secret, totp::step_at(s.clock.now_ms()).unwrap());
    let p = call!(c.user_profile_confirm_mfa(
        ctx(),
        ann.clone(),
        ProfileConfirmRequest {
            verify_code: code.as_str().into()
        }
    ))
    .unwrap();
    assert_eq!(p.mfa.unwrap().state, MfaState::Disabled);
    // update_password with the current password.
    let ok = UpdatePasswordRequest {
        new_password: "N3wPassword".into(),
        current_password: Some(PW.into()),
    };
    call!(c.user_profile_update_password(ctx(), ann.clone(), ok)).unwrap();
    assert_code!(
        call!(c.user_profile_get(ctx(), ann, UserProfileRequest::default())),
        AuthenticateFailure
    );
    let ann = bearer(
        &login(&c, &d.id, "ann@acme.io", "N3wPassword")
            .await
            .unwrap(),
    );

    // An attacker's body naming another user is ignored: over HTTP the JSON can say anything.
    let http = s.http();
    let token = ann.0.clone().unwrap().expose().clone();
    let did = d.id.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        let r = ureq::post(format!("{http}/identity/v2/user-profile/update"))
            .header("Authorization", &format!("Bearer {token}"))
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(
                serde_json::json!({"user_id": "bob@acme.io", "domain_id": did, "name": "pwned"}),
            )
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            r.into_body().read_json::<serde_json::Value>().unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "ann@acme.io");
    let bob = call!(c.user_get(
        ctx(),
        d.admin.clone(),
        GetUserRequest {
            user_id: "bob@acme.io".into(),
            domain_id: d.id.clone(),
            only: None
        }
    ))
    .unwrap();
    assert_eq!(
        bob.name.as_deref(),
        Some("Name of bob@acme.io"),
        "bob was not touched"
    );
    // Profile methods need a user token: the system key is not a user.
    assert_code!(
        call!(c.user_profile_get(ctx(), s.key.clone(), UserProfileRequest::default())),
        PermissionDenied
    );
    assert_code!(
        call!(c.user_profile_get(ctx(), Credential::none(), UserProfileRequest::default())),
        AuthenticateFailure
    );
    // A user token cannot reach the admin APIs; a deleted user's token stops working.
    assert_code!(
        call!(c.workspace_create(
            ctx(),
            ann.clone(),
            CreateWorkspaceRequest {
                name: "X".into(),
                domain_id: d.id.clone(),
                ..Default::default()
            }
        )),
        PermissionDenied
    );
    call!(c.user_delete(ctx(), d.admin.clone(), user_req(&d.id, "ann@acme.io"))).unwrap();
    assert_code!(
        call!(c.user_profile_get(ctx(), ann, UserProfileRequest::default())),
        AuthenticateFailure
    );
}

#[tokio::test]
async fn token_grant_scopes_give_the_role_of_the_matching_binding() {
    let s = TestServer::start();
    let c = s.client().await;
    let w = world(&c, &s).await;
    let d = &w.d;
    call!(c.role_binding_create(
        ctx(),
        d.admin.clone(),
        bind(
            d,
            "ann@acme.io",
            "managed-workspace-owner",
            Some(&w.ws["Alpha"])
        )
    ))
    .unwrap();
    let t = login(&c, &d.id, "ann@acme.io", PW).await.unwrap();
    let grant = |scope, workspace_id: Option<&str>| GrantTokenRequest {
        grant_type: Some("REFRESH_TOKEN".into()),
        token: t.refresh_token.clone(),
        scope: Some(scope),
        workspace_id: workspace_id.map(Into::into),
        timeout: None,
    };
    let claims = |t: &TokenInfo| -> serde_json::Value {
        use base64::Engine;
        let p = t
            .access_token
            .expose()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };
    let ws_token = call!(c.token_grant(
        ctx(),
        Credential::none(),
        grant(TokenScope::Workspace, Some(&w.ws["Alpha"]))
    ))
    .unwrap();
    let cl = claims(&ws_token);
    assert_eq!(
        (cl["rol"].as_str(), cl["wid"].as_str()),
        (Some("WORKSPACE_OWNER"), Some(w.ws["Alpha"].as_str()))
    );
    assert_code!(
        call!(c.token_grant(
            ctx(),
            Credential::none(),
            grant(TokenScope::Workspace, Some(&w.ws["Other"]))
        )),
        PermissionDenied
    );
    assert_code!(
        call!(c.token_grant(ctx(), Credential::none(), grant(TokenScope::Domain, None))),
        PermissionDenied
    );
    assert_code!(
        call!(c.token_grant(
            ctx(),
            Credential::none(),
            grant(TokenScope::Workspace, None)
        )),
        RequiredParameter
    );
    assert_eq!(
        claims(
            &call!(c.token_grant(ctx(), Credential::none(), grant(TokenScope::User, None)))
                .unwrap()
        )["rol"],
        "USER"
    );
    // A workspace-scoped token is still the user: it reaches UserProfile, not the admin APIs.
    call!(c.user_profile_get(ctx(), bearer(&ws_token), UserProfileRequest::default())).unwrap();
    // An access token is not a grant.
    let bad = GrantTokenRequest {
        token: t.access_token.clone(),
        scope: Some(TokenScope::User),
        ..Default::default()
    };
    assert_code!(
        call!(c.token_grant(ctx(), Credential::none(), bad)),
        AuthenticateFailure
    );
}

#[tokio::test]
async fn workspaces_groups_roles_and_bindings_survive_a_restart() {
    let s = TestServer::start();
    let c = s.client().await;
    let w = world(&c, &s).await;
    let d = w.d;
    call!(c.role_binding_create(
        ctx(),
        d.admin.clone(),
        bind(
            &d,
            "ann@acme.io",
            "managed-workspace-owner",
            Some(&w.ws["Alpha"])
        )
    ))
    .unwrap();
    call!(c.role_create(
        ctx(),
        d.admin.clone(),
        CreateRoleRequest {
            name: "Auditor".into(),
            role_type: Some(RoleType::WorkspaceMember),
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    let before =
        call!(c.user_profile_get_workspaces(ctx(), d.admin.clone(), UserProfileRequest::default()))
            .unwrap();
    let key = s.key.clone();
    drop(c);
    let s = TestServer::start_in(s.stop(), |_| {});
    let c = s.client().await;
    assert_eq!(
        call!(c.user_profile_get_workspaces(ctx(), d.admin.clone(), UserProfileRequest::default()))
            .unwrap(),
        before
    );
    assert_eq!(
        call!(c.role_list(
            ctx(),
            key.clone(),
            ListRolesRequest {
                domain_id: d.id.clone(),
                role_type: None
            }
        ))
        .unwrap()
        .total_count,
        4
    );
    let lb = ListRoleBindingsRequest {
        domain_id: d.id.clone(),
        user_id: Some("ann@acme.io".into()),
        ..Default::default()
    };
    assert_eq!(
        call!(c.role_binding_list(ctx(), key, lb))
            .unwrap()
            .total_count,
        1
    );
}
