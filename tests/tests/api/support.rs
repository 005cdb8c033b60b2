//! Support staff: outside every workspace, inside one only through an Owner's grant.

use std::sync::Arc;

use crm_app::clock::{Clock, ManualClock};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::{spawn_app, spawn_app_with_clock, str_of, test_settings, TestApp};

const SUPPORT_PASSWORD: &str = "support staff password 1";

/// A support account: its id and its TOTP secret (from the `otpauth://` URI shown once).
async fn support_account(app: &TestApp, email: &str) -> (String, Vec<u8>) {
    let settings = test_settings(&app.db_name);
    let db =
        sea_orm::Database::connect(secrecy::ExposeSecret::expose_secret(&settings.database.url))
            .await
            .unwrap();
    let totp_box = crm_api::auth::totp::SecretBox::new(settings.auth.totp_key());
    let account = crm_api::support::create_account(
        &db,
        &totp_box,
        email,
        "Support",
        SecretString::from(SUPPORT_PASSWORD),
    )
    .await
    .unwrap();
    let encoded = account
        .otpauth_uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap()
        .to_owned();
    (
        account.id.to_string(),
        Secret::Encoded(encoded).to_bytes().unwrap(),
    )
}

/// The TOTP code of `secret` at `at` (RFC 6238: SHA-1, 6 digits, 30 s).
fn code_at(secret: &[u8], at: chrono::DateTime<chrono::Utc>) -> String {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret.to_vec(),
        None,
        String::new(),
    )
    .unwrap()
    .generate(u64::try_from(at.timestamp()).unwrap())
}

async fn try_support_login(
    app: &TestApp,
    email: &str,
    password: &str,
    code: &str,
) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/auth/support/login",
        None,
        Some(json!({"email": email, "password": password, "code": code})),
    )
    .await
}

async fn support_login(
    app: &TestApp,
    email: &str,
    secret: &[u8],
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    let (status, body) =
        try_support_login(app, email, SUPPORT_PASSWORD, &code_at(secret, at)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    str_of(&body["access_token"])
}

/// A support request to `workspace` (a tenant id).
async fn as_support(
    app: &TestApp,
    token: &str,
    workspace: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("X-Support-Workspace", workspace);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn support_before_during_and_after_a_grant() {
    let app = spawn_app().await;
    let a = app.signup("support-a").await;
    let b = app.signup("support-b").await;
    let (support_id, secret) = support_account(&app, "helper@support.example").await;
    let signed_in_at = chrono::Utc::now();
    let token = support_login(&app, "helper@support.example", &secret, signed_in_at).await;
    let ws = a.tenant.to_string();
    let (_, c) = app
        .post("/v1/contacts", &a.token, json!({"first_name": "Lost"}))
        .await;
    let url = format!("/v1/contacts/{}", str_of(&c["id"]));
    app.delete(&url, &a.token).await;

    // Bad sign-ins are one 401: a wrong password, an unknown email, a wrong code, and the
    // code just used (a code is accepted once, RFC 6238 §5.2).
    let now = chrono::Utc::now();
    let good = code_at(&secret, now);
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    for (email, password, code) in [
        (
            "helper@support.example",
            "wrong password here",
            good.as_str(),
        ),
        ("nobody@support.example", SUPPORT_PASSWORD, good.as_str()),
        ("helper@support.example", SUPPORT_PASSWORD, wrong.as_str()),
    ] {
        let (status, _) = try_support_login(&app, email, password, code).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{email} {password} {code}"
        );
    }
    let used = code_at(&secret, signed_in_at);
    let (status, _) =
        try_support_login(&app, "helper@support.example", SUPPORT_PASSWORD, &used).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a used code");
    // Without a code at all: refused as malformed.
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/auth/support/login",
            None,
            Some(json!({"email": "helper@support.example", "password": SUPPORT_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Before any grant: 404 like anyone else; no workspace named: 404.
    let (app_ref, token_ref, ws_ref) = (&app, &token, &ws);
    let get = move |path: String| async move {
        as_support(app_ref, token_ref, ws_ref, Method::GET, &path, None).await
    };
    assert_eq!(
        get("/v1/contacts".to_owned()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(url.clone()).await.0, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/v1/contacts", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Only the Owner grants; a bad grant is refused.
    let grant = |scope: &str| json!({"support_email": "helper@support.example", "scope": scope, "reason": "ticket 4711: restore a contact", "expires_in_hours": 2});
    let admin = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Admin)
        .await;
    assert_eq!(
        app.post("/v1/support-grants", &admin, grant("read"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({"support_email": "nobody@support.example", "scope": "read", "reason": "x", "expires_in_hours": 2}),
        json!({"support_email": "helper@support.example", "scope": "admin", "reason": "x", "expires_in_hours": 2}),
        json!({"support_email": "helper@support.example", "scope": "read", "reason": " ", "expires_in_hours": 2}),
        json!({"support_email": "helper@support.example", "scope": "read", "reason": "x", "expires_in_hours": 169}),
    ] {
        let (status, _) = app.post("/v1/support-grants", &a.token, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    // A read grant: reads (deleted records and history too), never writes.
    let (status, read_grant) = app
        .post("/v1/support-grants", &a.token, grant("read"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{read_grant}");
    assert_eq!(read_grant["support_id"], json!(support_id));
    let (status, seen) = get(url.clone()).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["deleted"], true);
    assert_eq!(get(format!("{url}/history")).await.0, StatusCode::OK);
    assert_eq!(get(format!("{url}/export")).await.0, StatusCode::FORBIDDEN);
    let (status, _) = as_support(
        &app,
        &token,
        &ws,
        Method::POST,
        &format!("{url}/restore"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for path in [
        "/v1/api-keys",
        "/v1/support-grants",
        "/v1/audit/verify",
        "/v1/audit/export",
    ] {
        let (status, _) = get(path.to_owned()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // The grant is for workspace A only.
    let (status, _) = as_support(
        &app,
        &token,
        &b.tenant.to_string(),
        Method::GET,
        "/v1/contacts",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A recovery grant: the restore is an event that names the support account.
    let (status, recovery) = app
        .post("/v1/support-grants", &a.token, grant("recovery"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, restored) = as_support(
        &app,
        &token,
        &ws,
        Method::POST,
        &format!("{url}/restore"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    let (_, trail) = app
        .get(
            &format!(
                "/v1/audit?entity_id={}&event_type=ContactRestored",
                str_of(&c["id"])
            ),
            &a.token,
        )
        .await;
    let entry = &trail["items"][0];
    assert_eq!(entry["actor"], json!(support_id));
    assert_eq!(entry["actor_type"], "support");
    assert_eq!(entry["actor_role"], "support:recovery");

    // The Owner sees the grants and every support request.
    let (_, grants) = app.get("/v1/support-grants", &a.token).await;
    assert_eq!(grants["items"].as_array().unwrap().len(), 2);
    let (_, access) = app
        .get(
            &format!("/v1/support-grants/{}/access", str_of(&recovery["id"])),
            &a.token,
        )
        .await;
    let paths: Vec<String> = access["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| format!("{} {}", str_of(&x["method"]), str_of(&x["path"])))
        .collect();
    assert_eq!(paths, [format!("POST {url}/restore")]);

    // Revoked: back to 404 at once. Revoking twice or another workspace's grant is 404.
    for g in [&read_grant, &recovery] {
        let path = format!("/v1/support-grants/{}", str_of(&g["id"]));
        assert_eq!(app.delete(&path, &a.token).await.0, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&path, &a.token).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.delete(&path, &b.token).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(get(url.clone()).await.0, StatusCode::NOT_FOUND);

    // Grants and revocations are events of the workspace: in the trail, in its chain.
    for (event, count) in [("SupportGranted", 2), ("SupportRevoked", 2)] {
        let (_, trail) = app
            .get(&format!("/v1/audit?event_type={event}"), &a.token)
            .await;
        let items = trail["items"].as_array().unwrap();
        assert_eq!(items.len(), count, "{event}: {trail}");
        assert!(items
            .iter()
            .all(|e| e["actor"] == json!(a.owner.to_string())));
    }
    let (_, granted) = app
        .get("/v1/audit?event_type=SupportGranted", &a.token)
        .await;
    assert_eq!(
        granted["items"][0]["payload"]["SupportGranted"]["reason"],
        "ticket 4711: restore a contact"
    );
}

#[tokio::test]
async fn a_grant_expires_on_its_own() {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let a = app.signup("support-expiry").await;
    let (_, secret) = support_account(&app, "late@support.example").await;
    let (status, _) = app
        .post(
            "/v1/support-grants",
            &a.token,
            json!({"support_email": "late@support.example", "scope": "read", "reason": "ticket 1", "expires_in_hours": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let ws = a.tenant.to_string();
    let token = support_login(&app, "late@support.example", &secret, clock.now()).await;
    let (status, _) = as_support(&app, &token, &ws, Method::GET, "/v1/contacts", None).await;
    assert_eq!(status, StatusCode::OK);
    clock.advance(chrono::Duration::minutes(61));
    // The sign-in has expired too (one hour): 401; a new one finds no grant: 404.
    let (status, _) = as_support(&app, &token, &ws, Method::GET, "/v1/contacts", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = support_login(&app, "late@support.example", &secret, clock.now()).await;
    let (status, _) = as_support(&app, &token, &ws, Method::GET, "/v1/contacts", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The janitor's purge drops the expired sign-in and keeps the live one.
    let projector = app.projector_db().await;
    let purged = crm_access::support::purge_sessions(&projector, clock.now())
        .await
        .unwrap();
    assert_eq!(purged, 1);
    // Signing out ends the live one at once.
    let logout = |t: String| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/v1/auth/support/logout", app.address))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(logout(token.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(logout(token.clone()).await, StatusCode::UNAUTHORIZED);
    let (status, _) = as_support(&app, &token, &ws, Method::GET, "/v1/contacts", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn support_sign_in_is_limited_per_account() {
    let app = spawn_app().await;
    let (_, secret) = support_account(&app, "guessed@support.example").await;
    // Every attempt counts against the account (5 per window in tests), right or wrong.
    for _ in 0..5 {
        let (status, _) = try_support_login(
            &app,
            "guessed@support.example",
            "not the password 1",
            "000000",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = try_support_login(
        &app,
        "guessed@support.example",
        SUPPORT_PASSWORD,
        &code_at(&secret, chrono::Utc::now()),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right credentials wait"
    );
}
