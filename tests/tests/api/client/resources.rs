//! One typed method per route: `client.companies().create(&body)`,
//! `client.deals().win(id, &body)`, `client.pipelines().summary(id)`, ….
//!
//! Query strings are passed as written (`list("q=acme&limit=2")`): tests of bad parameters
//! need to send exactly what a client would.

use std::fmt::Display;
use std::marker::PhantomData;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::Value;

use super::views::*;
use super::{Body, Client, Csv, NoContent, Response};

/// `path?query`, or `path` when the query is empty.
fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// A time as a query value (`as_of`, `created_after`, …): RFC 3339 in UTC, microseconds.
pub fn time_param(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
        .replace('+', "%2B")
}

/// The routes every record kind has: `/v1/{kind}` and `/v1/{kind}/{id}…`.
pub struct Records<'c, T> {
    client: &'c Client<'c>,
    base: &'static str,
    kind: PhantomData<fn() -> T>,
}

impl Client<'_> {
    fn records<T>(&self, base: &'static str) -> Records<'_, T> {
        Records {
            client: self,
            base,
            kind: PhantomData,
        }
    }

    /// `/v1/companies…`.
    pub fn companies(&self) -> Records<'_, Company> {
        self.records("/v1/companies")
    }

    /// `/v1/contacts…`.
    pub fn contacts(&self) -> Records<'_, Contact> {
        self.records("/v1/contacts")
    }

    /// `/v1/deals…`.
    pub fn deals(&self) -> Records<'_, Deal> {
        self.records("/v1/deals")
    }

    /// `/v1/activities…`.
    pub fn activities(&self) -> Records<'_, Activity> {
        self.records("/v1/activities")
    }

    /// `/v1/pipelines…`.
    pub fn pipelines(&self) -> Pipelines<'_> {
        Pipelines { client: self }
    }

    /// `/v1/auth…`: sign-up, sign-in, tokens and sessions.
    pub fn auth(&self) -> Auth<'_> {
        Auth { client: self }
    }

    /// `/v1/users…`: members, invitations, roles.
    pub fn users(&self) -> Users<'_> {
        Users { client: self }
    }

    /// `/v1/api-keys…`.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys { client: self }
    }

    /// `/v1/auth/2fa…`: the caller's second factor.
    pub fn two_factor(&self) -> TwoFactor<'_> {
        TwoFactor { client: self }
    }

    /// `PATCH /v1/workspace/security`.
    pub async fn set_security_policy(&self, body: &Value) -> Response<Value> {
        self.patch("/v1/workspace/security", body).await
    }

    /// `/v1/support-grants…`: the Owner's grants to support staff.
    pub fn support_grants(&self) -> SupportGrants<'_> {
        SupportGrants { client: self }
    }

    /// The same client acting as support inside `workspace` (a tenant id), with the
    /// `X-Support-Workspace` header.
    pub fn in_workspace(&self, workspace: impl Display) -> Self {
        self.with_header("x-support-workspace", &workspace.to_string())
    }

    /// `GET /v1/me`.
    pub async fn me(&self) -> Response<Me> {
        self.get("/v1/me").await
    }

    /// `POST /v1/me/password` (204).
    pub async fn change_password(&self, body: &Value) -> Response<NoContent> {
        self.post("/v1/me/password", body).await
    }

    /// `PATCH /v1/workspace` (rename).
    pub async fn rename_workspace(&self, body: &Value) -> Response<WorkspaceView> {
        self.patch("/v1/workspace", body).await
    }

    /// `GET /v1/tasks?query`.
    pub async fn tasks(&self, query: &str) -> Response<Page<Activity>> {
        self.get(&with_query("/v1/tasks", query)).await
    }

    /// `POST /v1/imports/{kind}?query` with a CSV file (`kind`: `companies`, `contacts`
    /// or `deals`).
    pub async fn import(&self, kind: &str, query: &str, csv: &[u8]) -> Response<ImportReport> {
        let path = with_query(&format!("/v1/imports/{kind}"), query);
        self.send(Method::POST, &path, Body::raw("text/csv", csv))
            .await
    }

    /// `POST /v1/imports/{kind}?query` with `Prefer: respond-async`: the job, started in
    /// the background.
    pub async fn import_in_background(
        &self,
        kind: &str,
        query: &str,
        csv: &[u8],
    ) -> Response<ImportJob> {
        let path = with_query(&format!("/v1/imports/{kind}"), query);
        self.with_header("prefer", "respond-async")
            .send(Method::POST, &path, Body::raw("text/csv", csv))
            .await
    }

    /// `GET /v1/imports/{import_id}`.
    pub async fn import_job(&self, import_id: impl Display) -> Response<ImportJob> {
        self.get(&format!("/v1/imports/{import_id}")).await
    }

    /// `POST /v1/imports/{import_id}/undo`.
    pub async fn undo_import(&self, import_id: impl Display, body: &Value) -> Response<UndoReport> {
        self.post(&format!("/v1/imports/{import_id}/undo"), body)
            .await
    }

    /// `GET /v1/exports/{kind}?query` (a CSV file: read it with `expect_csv`).
    pub async fn export(&self, kind: &str, query: &str) -> Response<Csv> {
        self.get(&with_query(&format!("/v1/exports/{kind}"), query))
            .await
    }

    /// `GET /v1/audit/verify`.
    pub async fn audit_verify(&self) -> Response<ChainReport> {
        self.get("/v1/audit/verify").await
    }

    /// `GET /v1/audit?query`.
    pub async fn audit(&self, query: &str) -> Response<Page<AuditEntry>> {
        self.get(&with_query("/v1/audit", query)).await
    }
}

impl<T> Records<'_, T> {
    /// `/v1/{kind}/{id}`.
    pub fn path(&self, id: impl Display) -> String {
        format!("{}/{id}", self.base)
    }

    /// `POST /v1/{kind}`.
    pub async fn create(&self, body: &Value) -> Response<T> {
        self.client.post(self.base, body).await
    }

    /// `POST /v1/{kind}/batch/create` (companies and contacts).
    pub async fn batch_create(&self, body: &Value) -> Response<BatchResults<T>> {
        self.client
            .post(&format!("{}/batch/create", self.base), body)
            .await
    }

    /// `POST /v1/{kind}/batch/update` (companies and contacts).
    pub async fn batch_update(&self, body: &Value) -> Response<BatchResults<T>> {
        self.client
            .post(&format!("{}/batch/update", self.base), body)
            .await
    }

    /// `GET /v1/{kind}/{id}`.
    pub async fn get(&self, id: impl Display) -> Response<T> {
        self.client.get(&self.path(id)).await
    }

    /// `GET /v1/{kind}?query`.
    pub async fn list(&self, query: &str) -> Response<Page<T>> {
        self.client.get(&with_query(self.base, query)).await
    }

    /// `PATCH /v1/{kind}/{id}`.
    pub async fn update(&self, id: impl Display, body: &Value) -> Response<T> {
        self.client.patch(&self.path(id), body).await
    }

    /// `DELETE /v1/{kind}/{id}` (204 on success).
    pub async fn delete(&self, id: impl Display) -> Response<NoContent> {
        self.client.delete(&self.path(id)).await
    }

    /// `POST /v1/{kind}/{id}/restore` (no body).
    pub async fn restore(&self, id: impl Display) -> Response<T> {
        self.client
            .post_empty(&format!("{}/restore", self.path(id)))
            .await
    }

    /// `GET /v1/{kind}/{id}/history`.
    pub async fn history(&self, id: impl Display) -> Response<History> {
        self.client.get(&format!("{}/history", self.path(id))).await
    }

    /// `GET /v1/{kind}/{id}?version=N`.
    pub async fn at_version(&self, id: impl Display, version: i64) -> Response<PastState> {
        self.past(id, &format!("version={version}")).await
    }

    /// `GET /v1/{kind}/{id}?as_of=T`.
    pub async fn as_of(&self, id: impl Display, at: DateTime<Utc>) -> Response<PastState> {
        self.past(id, &format!("as_of={}", time_param(at))).await
    }

    /// `GET /v1/{kind}/{id}?query` for a past state, the query as written (bad ones too).
    pub async fn past(&self, id: impl Display, query: &str) -> Response<PastState> {
        self.client.get(&with_query(&self.path(id), query)).await
    }

    /// `POST /v1/{kind}/{id}/revert`.
    pub async fn revert(&self, id: impl Display, body: &Value) -> Response<T> {
        self.client
            .post(&format!("{}/revert", self.path(id)), body)
            .await
    }

    /// `GET /v1/{kind}/{id}/timeline?query`.
    pub async fn timeline(&self, id: impl Display, query: &str) -> Response<Page<Activity>> {
        self.client
            .get(&with_query(&format!("{}/timeline", self.path(id)), query))
            .await
    }
}

impl Records<'_, Contact> {
    /// `PUT /v1/contacts/{id}/companies/{company}`: associate in a role.
    pub async fn link_company(
        &self,
        id: impl Display,
        company: impl Display,
        body: &Value,
    ) -> Response<Contact> {
        self.client
            .put(&format!("{}/companies/{company}", self.path(id)), body)
            .await
    }

    /// `DELETE /v1/contacts/{id}/companies/{company}`.
    pub async fn unlink_company(
        &self,
        id: impl Display,
        company: impl Display,
    ) -> Response<Contact> {
        self.client
            .delete(&format!("{}/companies/{company}", self.path(id)))
            .await
    }
}

impl Records<'_, Contact> {
    /// `GET /v1/contacts/{id}/export`: the data-subject access export.
    pub async fn export(&self, id: impl Display) -> Response<SubjectAccessExport> {
        self.client.get(&format!("{}/export", self.path(id))).await
    }

    /// `POST /v1/contacts/{id}/erase`.
    pub async fn erase(&self, id: impl Display, body: &Value) -> Response<Contact> {
        self.client
            .post(&format!("{}/erase", self.path(id)), body)
            .await
    }
}

impl Records<'_, Deal> {
    /// `POST /v1/deals/{id}/move` to `stage`.
    pub async fn move_to(&self, id: impl Display, stage: impl Display) -> Response<Deal> {
        let body = serde_json::json!({"stage_id": stage.to_string()});
        self.client
            .post(&format!("{}/move", self.path(id)), &body)
            .await
    }

    /// `POST /v1/deals/{id}/win`.
    pub async fn win(&self, id: impl Display, body: &Value) -> Response<Deal> {
        self.client
            .post(&format!("{}/win", self.path(id)), body)
            .await
    }

    /// `POST /v1/deals/{id}/lose`.
    pub async fn lose(&self, id: impl Display, body: &Value) -> Response<Deal> {
        self.client
            .post(&format!("{}/lose", self.path(id)), body)
            .await
    }

    /// `POST /v1/deals/{id}/reopen`.
    pub async fn reopen(&self, id: impl Display, body: &Value) -> Response<Deal> {
        self.client
            .post(&format!("{}/reopen", self.path(id)), body)
            .await
    }

    /// `PUT /v1/deals/{id}/line-items`.
    pub async fn set_line_items(&self, id: impl Display, body: &Value) -> Response<Deal> {
        self.client
            .put(&format!("{}/line-items", self.path(id)), body)
            .await
    }
}

impl Records<'_, Activity> {
    /// `POST /v1/activities/{id}/complete` (tasks).
    pub async fn complete(&self, id: impl Display) -> Response<Activity> {
        self.client
            .post_empty(&format!("{}/complete", self.path(id)))
            .await
    }

    /// `POST /v1/activities/{id}/reopen` (tasks).
    pub async fn reopen(&self, id: impl Display) -> Response<Activity> {
        self.client
            .post_empty(&format!("{}/reopen", self.path(id)))
            .await
    }
}

/// `/v1/pipelines…`.
pub struct Pipelines<'c> {
    client: &'c Client<'c>,
}

impl Pipelines<'_> {
    /// `/v1/pipelines/{id}`.
    pub fn path(&self, id: impl Display) -> String {
        format!("/v1/pipelines/{id}")
    }

    /// `GET /v1/pipelines`.
    pub async fn list(&self) -> Response<PipelineList> {
        self.client.get("/v1/pipelines").await
    }

    /// The workspace's first pipeline (every workspace starts with one); panics when the
    /// list fails or is empty.
    pub async fn default_pipeline(&self) -> Pipeline {
        let list = self.list().await.expect(reqwest::StatusCode::OK);
        list.items
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("the workspace has no pipeline"))
    }

    /// `POST /v1/pipelines`.
    pub async fn create(&self, body: &Value) -> Response<Pipeline> {
        self.client.post("/v1/pipelines", body).await
    }

    /// `GET /v1/pipelines/{id}`.
    pub async fn get(&self, id: impl Display) -> Response<Pipeline> {
        self.client.get(&self.path(id)).await
    }

    /// `PATCH /v1/pipelines/{id}` (rename).
    pub async fn update(&self, id: impl Display, body: &Value) -> Response<Pipeline> {
        self.client.patch(&self.path(id), body).await
    }

    /// `GET /v1/pipelines/{id}/summary`.
    pub async fn summary(&self, id: impl Display) -> Response<PipelineSummary> {
        self.client.get(&format!("{}/summary", self.path(id))).await
    }

    /// `POST /v1/pipelines/{id}/stages`.
    pub async fn add_stage(&self, id: impl Display, body: &Value) -> Response<Pipeline> {
        self.client
            .post(&format!("{}/stages", self.path(id)), body)
            .await
    }

    /// `PUT /v1/pipelines/{id}/stages` (reorder).
    pub async fn reorder_stages(&self, id: impl Display, body: &Value) -> Response<Pipeline> {
        self.client
            .put(&format!("{}/stages", self.path(id)), body)
            .await
    }

    /// `DELETE /v1/pipelines/{id}/stages/{stage}` (retire).
    pub async fn remove_stage(&self, id: impl Display, stage: impl Display) -> Response<Pipeline> {
        self.client
            .delete(&format!("{}/stages/{stage}", self.path(id)))
            .await
    }
}

/// `/v1/auth…`.
pub struct Auth<'c> {
    client: &'c Client<'c>,
}

impl Auth<'_> {
    /// `POST /v1/auth/signup`.
    pub async fn signup(&self, body: &Value) -> Response<SignupAnswer> {
        self.client.post("/v1/auth/signup", body).await
    }

    /// `POST /v1/auth/login` with an email and a password.
    pub async fn login(&self, email: &str, password: &str) -> Response<Tokens> {
        let body = serde_json::json!({"email": email, "password": password});
        self.client.post("/v1/auth/login", &body).await
    }

    /// `POST /v1/auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Response<Tokens> {
        let body = serde_json::json!({ "refresh_token": refresh_token });
        self.client.post("/v1/auth/refresh", &body).await
    }

    /// `POST /v1/auth/logout` (204): ends the caller's session.
    pub async fn logout(&self) -> Response<NoContent> {
        self.client.post_empty("/v1/auth/logout").await
    }

    /// `POST /v1/auth/logout-all` (204): ends every session of the caller.
    pub async fn logout_all(&self) -> Response<NoContent> {
        self.client.post_empty("/v1/auth/logout-all").await
    }

    /// `POST /v1/auth/accept-invitation`: joins and signs in.
    pub async fn accept_invitation(&self, body: &Value) -> Response<Tokens> {
        self.client.post("/v1/auth/accept-invitation", body).await
    }

    /// `POST /v1/auth/password-reset` (202 whether or not the email is known).
    pub async fn request_password_reset(&self, email: &str) -> Response<Value> {
        let body = serde_json::json!({ "email": email });
        self.client.post("/v1/auth/password-reset", &body).await
    }

    /// `POST /v1/auth/password-reset/confirm` (204).
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: &str,
    ) -> Response<NoContent> {
        let body = serde_json::json!({"token": token, "new_password": new_password});
        self.client
            .post("/v1/auth/password-reset/confirm", &body)
            .await
    }

    /// `POST /v1/auth/support/login`.
    pub async fn support_login(
        &self,
        email: &str,
        password: &str,
        code: &str,
    ) -> Response<SupportToken> {
        let body = serde_json::json!({"email": email, "password": password, "code": code});
        self.client.post("/v1/auth/support/login", &body).await
    }

    /// `POST /v1/auth/support/logout` (204).
    pub async fn support_logout(&self) -> Response<NoContent> {
        self.client.post_empty("/v1/auth/support/logout").await
    }

    /// `GET /v1/auth/sessions`.
    pub async fn sessions(&self) -> Response<SessionList> {
        self.client.get("/v1/auth/sessions").await
    }
}

/// `/v1/users…`.
pub struct Users<'c> {
    client: &'c Client<'c>,
}

impl Users<'_> {
    /// `GET /v1/users`.
    pub async fn list(&self) -> Response<UserList> {
        self.client.get("/v1/users").await
    }

    /// `POST /v1/users/invitations`.
    pub async fn invite(&self, body: &Value) -> Response<Invitation> {
        self.client.post("/v1/users/invitations", body).await
    }

    /// `PATCH /v1/users/{id}/role`.
    pub async fn set_role(&self, id: impl Display, role: &str) -> Response<User> {
        let body = serde_json::json!({ "role": role });
        self.client
            .patch(&format!("/v1/users/{id}/role"), &body)
            .await
    }

    /// `POST /v1/users/{id}/deactivate`.
    pub async fn deactivate(&self, id: impl Display) -> Response<User> {
        self.client
            .post(
                &format!("/v1/users/{id}/deactivate"),
                &serde_json::json!({}),
            )
            .await
    }

    /// `POST /v1/users/{id}/reactivate`.
    pub async fn reactivate(&self, id: impl Display) -> Response<User> {
        self.client
            .post(
                &format!("/v1/users/{id}/reactivate"),
                &serde_json::json!({}),
            )
            .await
    }
}

/// `/v1/api-keys…`.
pub struct ApiKeys<'c> {
    client: &'c Client<'c>,
}

impl ApiKeys<'_> {
    /// `POST /v1/api-keys`.
    pub async fn create(&self, body: &Value) -> Response<NewKey> {
        self.client.post("/v1/api-keys", body).await
    }

    /// `GET /v1/api-keys`.
    pub async fn list(&self) -> Response<KeyList> {
        self.client.get("/v1/api-keys").await
    }

    /// `DELETE /v1/api-keys/{id}` (204): revokes the key.
    pub async fn revoke(&self, id: impl Display) -> Response<NoContent> {
        self.client.delete(&format!("/v1/api-keys/{id}")).await
    }

    /// `GET /v1/api-keys/requests?query`.
    pub async fn requests(&self, query: &str) -> Response<KeyRequests> {
        self.client
            .get(&with_query("/v1/api-keys/requests", query))
            .await
    }
}

/// `/v1/auth/2fa…`.
pub struct TwoFactor<'c> {
    client: &'c Client<'c>,
}

impl TwoFactor<'_> {
    /// `POST /v1/auth/2fa/enroll`: a new secret.
    pub async fn enroll(&self) -> Response<Enrolment> {
        self.client
            .post("/v1/auth/2fa/enroll", &serde_json::json!({}))
            .await
    }

    /// `POST /v1/auth/2fa/confirm` with a code: turns it on, answers the recovery codes.
    pub async fn confirm(&self, code: &str) -> Response<RecoveryCodes> {
        let body = serde_json::json!({ "code": code });
        self.client.post("/v1/auth/2fa/confirm", &body).await
    }

    /// `POST /v1/auth/2fa/disable` with a factor (`{"code": ..}` or `{"recovery_code": ..}`).
    pub async fn disable(&self, factor: &Value) -> Response<NoContent> {
        self.client.post("/v1/auth/2fa/disable", factor).await
    }

    /// `POST /v1/auth/2fa/verify`: the second step of a sign-in.
    pub async fn verify(&self, body: &Value) -> Response<Tokens> {
        self.client.post("/v1/auth/2fa/verify", body).await
    }
}

/// `/v1/support-grants…`.
pub struct SupportGrants<'c> {
    client: &'c Client<'c>,
}

impl SupportGrants<'_> {
    /// `POST /v1/support-grants`.
    pub async fn create(&self, body: &Value) -> Response<Grant> {
        self.client.post("/v1/support-grants", body).await
    }

    /// `GET /v1/support-grants`.
    pub async fn list(&self) -> Response<GrantList> {
        self.client.get("/v1/support-grants").await
    }

    /// `DELETE /v1/support-grants/{id}` (204): revokes the grant.
    pub async fn revoke(&self, id: impl Display) -> Response<NoContent> {
        self.client
            .delete(&format!("/v1/support-grants/{id}"))
            .await
    }

    /// `GET /v1/support-grants/{id}/access`.
    pub async fn access(&self, id: impl Display) -> Response<AccessList> {
        self.client
            .get(&format!("/v1/support-grants/{id}/access"))
            .await
    }
}
