//! Workspace, WorkspaceGroup, Role and RoleBinding admin APIs (SYSTEM or the domain's admin).

use super::{Service, new_id};
use crate::api::*;
use crate::auth::caller::Grant;
use crate::model::validate;
use crate::model::workspace::{self as ws, NewBinding, NewWorkspace};

/// Who did it, for `created_by`/`updated_by`.
fn actor_name(g: &Grant) -> String {
    match g {
        Grant::System => "SYSTEM".into(),
        Grant::Admin(c) | Grant::SelfUser(c) => c.aud.clone(),
    }
}

fn name_field(key: &str, v: &str) -> ApiResult<String> {
    let n = validate::name(v)?;
    if n.is_empty() {
        return Err(ApiError::required(key));
    }
    Ok(n)
}

impl Service {
    fn admin_grant(&self, cred: &Credential, method: &str, domain_id: &str) -> ApiResult<Grant> {
        self.grant(cred, &format!("identity:{method}"), domain_id, None)
    }

    pub async fn workspace_create(
        &self,
        cred: Credential,
        req: CreateWorkspaceRequest,
    ) -> ApiResult<WorkspaceInfo> {
        let grant = self.admin_grant(&cred, "Workspace.create", &req.domain_id)?;
        let name = name_field("name", &req.name)?;
        let tags = validate::tags(req.tags.as_ref().unwrap_or(&Value::Null))?;
        let id = new_id("workspace");
        let nw = NewWorkspace {
            workspace_id: id.clone(),
            name,
            tags,
            workspace_group_id: req.workspace_group_id.filter(|g| !g.is_empty()),
            created_by: actor_name(&grant),
        };
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::create_workspace(ctx.state(), nw, ctx.now)?;
            ctx.emit(evs);
            Ok(ws::workspace(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn workspace_update(
        &self,
        cred: Credential,
        req: UpdateWorkspaceRequest,
    ) -> ApiResult<WorkspaceInfo> {
        let grant = self.admin_grant(&cred, "Workspace.update", &req.domain_id)?;
        validate::required("workspace_id", &req.workspace_id)?;
        let name = req
            .name
            .as_deref()
            .map(|n| name_field("name", n))
            .transpose()?;
        let tags = req.tags.as_ref().map(validate::tags).transpose()?;
        let group = req
            .workspace_group_id
            .map(|g| Some(g).filter(|g| !g.is_empty()));
        let id = req.workspace_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::update_workspace(ctx.state(), &id, name, tags, group)?;
            ctx.emit(evs);
            Ok(ws::workspace(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    async fn workspace_set_state(
        &self,
        cred: Credential,
        req: WorkspaceRequest,
        verb: &str,
        state: WorkspaceState,
    ) -> ApiResult<Option<WorkspaceInfo>> {
        let grant = self.admin_grant(&cred, &format!("Workspace.{verb}"), &req.domain_id)?;
        validate::required("workspace_id", &req.workspace_id)?;
        let id = req.workspace_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::set_workspace_state(ctx.state(), &id, state)?;
            ctx.emit(evs);
            Ok(ws::workspace(ctx.state(), &id)
                .ok()
                .map(|w| w.info(&ctx.state().domain.domain_id)))
        })
        .await
    }

    pub async fn workspace_enable(
        &self,
        cred: Credential,
        req: WorkspaceRequest,
    ) -> ApiResult<WorkspaceInfo> {
        self.workspace_set_state(cred, req, "enable", WorkspaceState::Enabled)
            .await?
            .ok_or_else(ApiError::internal)
    }

    pub async fn workspace_disable(
        &self,
        cred: Credential,
        req: WorkspaceRequest,
    ) -> ApiResult<WorkspaceInfo> {
        self.workspace_set_state(cred, req, "disable", WorkspaceState::Disabled)
            .await?
            .ok_or_else(ApiError::internal)
    }

    /// Marks the workspace DELETED (hidden from every list) and removes its bindings.
    pub async fn workspace_delete(
        &self,
        cred: Credential,
        req: WorkspaceRequest,
    ) -> ApiResult<Empty> {
        self.workspace_set_state(cred, req, "delete", WorkspaceState::Deleted)
            .await?;
        Ok(Empty {})
    }

    pub async fn workspace_get(
        &self,
        cred: Credential,
        req: WorkspaceRequest,
    ) -> ApiResult<WorkspaceInfo> {
        let grant = self.admin_grant(&cred, "Workspace.get", &req.domain_id)?;
        validate::required("workspace_id", &req.workspace_id)?;
        let id = req.workspace_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            Ok(ws::workspace(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn workspace_list(
        &self,
        cred: Credential,
        req: ListWorkspacesRequest,
    ) -> ApiResult<WorkspacesInfo> {
        let grant = self.admin_grant(&cred, "Workspace.list", &req.domain_id)?;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let s = ctx.state();
            let mut results: Vec<WorkspaceInfo> = s
                .workspaces
                .values()
                .filter(|w| {
                    w.state != WorkspaceState::Deleted || req.state == Some(WorkspaceState::Deleted)
                })
                .filter(|w| req.name.as_ref().is_none_or(|n| *n == w.name))
                .filter(|w| req.state.is_none_or(|st| st == w.state))
                .filter(|w| {
                    req.workspace_group_id
                        .as_ref()
                        .is_none_or(|g| w.workspace_group_id.as_ref() == Some(g))
                })
                .map(|w| w.info(&s.domain.domain_id))
                .collect();
            results.sort_by(|a, b| {
                a.name
                    .cmp(&b.name)
                    .then(a.workspace_id.cmp(&b.workspace_id))
            });
            let total_count = results.len() as u64;
            Ok(WorkspacesInfo {
                results,
                total_count,
            })
        })
        .await
    }

    pub async fn workspace_group_create(
        &self,
        cred: Credential,
        req: CreateWorkspaceGroupRequest,
    ) -> ApiResult<WorkspaceGroupInfo> {
        let grant = self.admin_grant(&cred, "WorkspaceGroup.create", &req.domain_id)?;
        let name = name_field("name", &req.name)?;
        let tags = validate::tags(req.tags.as_ref().unwrap_or(&Value::Null))?;
        let id = new_id("wg");
        let by = actor_name(&grant);
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::create_group(ctx.state(), id.clone(), name, tags, &by, ctx.now)?;
            ctx.emit(evs);
            Ok(ws::group(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn workspace_group_update(
        &self,
        cred: Credential,
        req: UpdateWorkspaceGroupRequest,
    ) -> ApiResult<WorkspaceGroupInfo> {
        let grant = self.admin_grant(&cred, "WorkspaceGroup.update", &req.domain_id)?;
        validate::required("workspace_group_id", &req.workspace_group_id)?;
        let name = req
            .name
            .as_deref()
            .map(|n| name_field("name", n))
            .transpose()?;
        let tags = req.tags.as_ref().map(validate::tags).transpose()?;
        let (id, by) = (req.workspace_group_id, actor_name(&grant));
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::update_group(ctx.state(), &id, name, tags, &by, ctx.now)?;
            ctx.emit(evs);
            Ok(ws::group(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn workspace_group_add_users(
        &self,
        cred: Credential,
        req: WorkspaceGroupUsersRequest,
    ) -> ApiResult<WorkspaceGroupInfo> {
        let grant = self.admin_grant(&cred, "WorkspaceGroup.add_users", &req.domain_id)?;
        validate::required("workspace_group_id", &req.workspace_group_id)?;
        let mut users = Vec::with_capacity(req.users.len());
        for u in &req.users {
            validate::required("users.user_id", &u.user_id)?;
            let role = u
                .role_id
                .clone()
                .filter(|r| !r.is_empty())
                .ok_or_else(|| ApiError::required("users.role_id"))?;
            users.push((u.user_id.clone(), role));
        }
        let (id, by) = (req.workspace_group_id, actor_name(&grant));
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::add_group_users(ctx.state(), &id, &users, &by, ctx.now)?;
            ctx.emit(evs);
            Ok(ws::group(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn workspace_group_remove_users(
        &self,
        cred: Credential,
        req: WorkspaceGroupUsersRequest,
    ) -> ApiResult<WorkspaceGroupInfo> {
        let grant = self.admin_grant(&cred, "WorkspaceGroup.remove_users", &req.domain_id)?;
        validate::required("workspace_group_id", &req.workspace_group_id)?;
        let users: Vec<String> = req.users.into_iter().map(|u| u.user_id).collect();
        let (id, by) = (req.workspace_group_id, actor_name(&grant));
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::remove_group_users(ctx.state(), &id, &users, &by, ctx.now)?;
            ctx.emit(evs);
            Ok(ws::group(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn workspace_group_delete(
        &self,
        cred: Credential,
        req: WorkspaceGroupRequest,
    ) -> ApiResult<Empty> {
        let grant = self.admin_grant(&cred, "WorkspaceGroup.delete", &req.domain_id)?;
        validate::required("workspace_group_id", &req.workspace_group_id)?;
        let id = req.workspace_group_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::delete_group(ctx.state(), &id)?;
            ctx.emit(evs);
            Ok(Empty {})
        })
        .await
    }

    pub async fn workspace_group_get(
        &self,
        cred: Credential,
        req: WorkspaceGroupRequest,
    ) -> ApiResult<WorkspaceGroupInfo> {
        let grant = self.admin_grant(&cred, "WorkspaceGroup.get", &req.domain_id)?;
        validate::required("workspace_group_id", &req.workspace_group_id)?;
        let id = req.workspace_group_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            Ok(ws::group(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn workspace_group_list(
        &self,
        cred: Credential,
        req: ListWorkspaceGroupsRequest,
    ) -> ApiResult<WorkspaceGroupsInfo> {
        let grant = self.admin_grant(&cred, "WorkspaceGroup.list", &req.domain_id)?;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let s = ctx.state();
            let mut results: Vec<WorkspaceGroupInfo> = s
                .groups
                .values()
                .filter(|g| req.name.as_ref().is_none_or(|n| *n == g.name))
                .map(|g| g.info(&s.domain.domain_id))
                .collect();
            results.sort_by(|a, b| a.name.cmp(&b.name));
            let total_count = results.len() as u64;
            Ok(WorkspaceGroupsInfo {
                results,
                total_count,
            })
        })
        .await
    }

    pub async fn role_create(
        &self,
        cred: Credential,
        req: CreateRoleRequest,
    ) -> ApiResult<RoleInfo> {
        let grant = self.admin_grant(&cred, "Role.create", &req.domain_id)?;
        let name = name_field("name", &req.name)?;
        let role_type = req
            .role_type
            .ok_or_else(|| ApiError::required("role_type"))?;
        let id = new_id("role");
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::create_role(ctx.state(), id.clone(), &name, role_type, ctx.now)?;
            ctx.emit(evs);
            Ok(ws::role(ctx.state(), &id)?.info(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn role_delete(&self, cred: Credential, req: RoleRequest) -> ApiResult<Empty> {
        let grant = self.admin_grant(&cred, "Role.delete", &req.domain_id)?;
        validate::required("role_id", &req.role_id)?;
        let id = req.role_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::delete_role(ctx.state(), &id)?;
            ctx.emit(evs);
            Ok(Empty {})
        })
        .await
    }

    pub async fn role_list(&self, cred: Credential, req: ListRolesRequest) -> ApiResult<RolesInfo> {
        let grant = self.admin_grant(&cred, "Role.list", &req.domain_id)?;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let did = ctx.state().domain.domain_id.clone();
            let results: Vec<RoleInfo> = ws::roles(ctx.state())
                .iter()
                .filter(|r| req.role_type.is_none_or(|t| t == r.role_type))
                .map(|r| r.info(&did))
                .collect();
            let total_count = results.len() as u64;
            Ok(RolesInfo {
                results,
                total_count,
            })
        })
        .await
    }

    pub async fn role_binding_create(
        &self,
        cred: Credential,
        req: CreateRoleBindingRequest,
    ) -> ApiResult<RoleBindingInfo> {
        let grant = self.admin_grant(&cred, "RoleBinding.create", &req.domain_id)?;
        validate::required("user_id", &req.user_id)?;
        validate::required("role_id", &req.role_id)?;
        let resource_group = req
            .resource_group
            .ok_or_else(|| ApiError::required("resource_group"))?;
        let id = new_id("rb");
        let nb = NewBinding {
            role_binding_id: id.clone(),
            user_id: req.user_id,
            role_id: req.role_id,
            resource_group,
            workspace_id: req.workspace_id,
        };
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::create_binding(ctx.state(), nb, ctx.now)?;
            ctx.emit(evs);
            let s = ctx.state();
            let b = s.bindings.get(&id).ok_or_else(ApiError::internal)?;
            Ok(b.info(&s.domain.domain_id))
        })
        .await
    }

    pub async fn role_binding_delete(
        &self,
        cred: Credential,
        req: RoleBindingRequest,
    ) -> ApiResult<Empty> {
        let grant = self.admin_grant(&cred, "RoleBinding.delete", &req.domain_id)?;
        validate::required("role_binding_id", &req.role_binding_id)?;
        let id = req.role_binding_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let evs = ws::delete_binding(ctx.state(), &id)?;
            ctx.emit(evs);
            Ok(Empty {})
        })
        .await
    }

    pub async fn role_binding_list(
        &self,
        cred: Credential,
        req: ListRoleBindingsRequest,
    ) -> ApiResult<RoleBindingsInfo> {
        let grant = self.admin_grant(&cred, "RoleBinding.list", &req.domain_id)?;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let s = ctx.state();
            let mut results: Vec<RoleBindingInfo> = s
                .bindings
                .values()
                .filter(|b| req.user_id.as_ref().is_none_or(|u| *u == b.user_id))
                .filter(|b| {
                    req.workspace_id
                        .as_ref()
                        .is_none_or(|w| b.workspace_id.as_ref() == Some(w))
                })
                .filter(|b| req.role_type.is_none_or(|t| t == b.role_type))
                .filter(|b| req.resource_group.is_none_or(|g| g == b.resource_group))
                .map(|b| b.info(&s.domain.domain_id))
                .collect();
            results.sort_by(|a, b| a.role_binding_id.cmp(&b.role_binding_id));
            let total_count = results.len() as u64;
            Ok(RoleBindingsInfo {
                results,
                total_count,
            })
        })
        .await
    }
}
