//! `Idempotency-Key`: retries replay the first answer and write nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{Client, Contact, Response};
use crate::helpers::spawn_app;

fn once() -> Value {
    json!({"first_name": "Once", "email": "once@x.example"})
}

/// `POST /v1/contacts` with `Idempotency-Key: key`.
async fn post_with_key(crm: &Client<'_>, key: &str, body: &Value) -> Response<Contact> {
    crm.with_header("idempotency-key", key)
        .contacts()
        .create(body)
        .await
}

/// The first `POST` of `once()` with `key-1`, checked to be 201.
async fn given_a_first_post(crm: &Client<'_>) -> Contact {
    post_with_key(crm, "key-1", &once())
        .await
        .expect(StatusCode::CREATED)
}

#[tokio::test]
async fn a_retried_post_replays_the_first_answer_and_writes_nothing() {
    let app = spawn_app().await;
    let a = app.signup("retry").await;
    let crm = app.as_(&a);
    let first = post_with_key(&crm, "key-1", &once())
        .await
        .expect_status(StatusCode::CREATED);
    let events = app.event_count().await;

    let again = post_with_key(&crm, "key-1", &once())
        .await
        .expect_status(StatusCode::CREATED);

    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.location(), first.location());
    assert_eq!(again.etag(), Some("\"1\""));
    assert_eq!(again.json(), first.json());
    assert_eq!(
        app.event_count().await,
        events,
        "a replay appended an event"
    );
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let app = spawn_app().await;
    let a = app.signup("retry-other").await;
    let crm = app.as_(&a);
    given_a_first_post(&crm).await;

    post_with_key(&crm, "key-1", &json!({"first_name": "Twice"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn another_key_runs_anew_and_its_refusal_is_remembered() {
    let app = spawn_app().await;
    let a = app.signup("retry-fresh").await;
    let crm = app.as_(&a);
    given_a_first_post(&crm).await;

    // Another key runs anew, and meets the duplicate email.
    let fresh = post_with_key(&crm, "key-2", &once())
        .await
        .expect_status(StatusCode::CONFLICT);
    assert!(fresh.header("idempotent-replayed").is_none());
    // A refusal is remembered too: the retry gets the same 409 without running.
    let fresh_again = post_with_key(&crm, "key-2", &once())
        .await
        .expect_status(StatusCode::CONFLICT);
    assert!(fresh_again.header("idempotent-replayed").is_some());
}

#[tokio::test]
async fn keys_belong_to_a_workspace() {
    let app = spawn_app().await;
    let a = app.signup("retry-a").await;
    let b = app.signup("retry-b").await;
    let first = given_a_first_post(&app.as_(&a)).await;

    let theirs = post_with_key(&app.as_(&b), "key-1", &once())
        .await
        .expect_status(StatusCode::CREATED);

    assert!(theirs.header("idempotent-replayed").is_none());
    assert_ne!(theirs.body().id, first.id);
}

#[tokio::test]
async fn keys_belong_to_a_user_too() {
    let app = spawn_app().await;
    let a = app.signup("retry-user").await;
    given_a_first_post(&app.as_(&a)).await;
    let colleague = app
        .token_for(a.tenant, uuid::Uuid::now_v7(), crm_domain::Role::ReadOnly)
        .await;

    // A read-only colleague reusing the owner's key and body is not handed the owner's
    // stored answer; its own request runs, and is refused.
    let theirs = post_with_key(&app.as_(&colleague), "key-1", &once())
        .await
        .expect_status(StatusCode::FORBIDDEN);

    assert!(theirs.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_malformed_key_is_refused_before_anything_runs() {
    let app = spawn_app().await;
    let a = app.signup("retry-bad").await;
    let events = app.event_count().await;

    post_with_key(&app.as_(&a), "has space", &json!({"first_name": "X"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_retry_after_a_fault_past_the_commit_creates_nothing_twice() {
    let app = spawn_app().await;
    let a = app.signup("fault").await;
    let crm = app.as_(&a);
    // The contact is written, then the answer is lost to a server fault: a 500.
    let lost = crm
        .with_header("idempotency-key", "key-f")
        .with_header("x-test-fault", "after-commit")
        .contacts()
        .create(&once())
        .await
        .expect_problem(StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(lost.status, 500);
    let written = app.event_count().await;

    // The client cannot know; it retries with the same key and gets the contact that was
    // written, under the same id, and nothing is written again (the email claim of that
    // very contact is no conflict either).
    let retried = post_with_key(&crm, "key-f", &once())
        .await
        .expect_status(StatusCode::CREATED);
    let contact = retried.body();
    assert_eq!(contact.email.as_deref(), Some("once@x.example"));
    assert_eq!(app.event_count().await, written, "the retry wrote again");
    let listed = crm.contacts().list("").await.expect(StatusCode::OK);
    assert_eq!(
        listed.items.len(),
        1,
        "two contacts from one key: {listed:?}"
    );
    assert_eq!(listed.items[0].id, contact.id);

    // From now on the key replays that answer.
    let replayed = post_with_key(&crm, "key-f", &once())
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body().id, contact.id);

    // Another key is another contact: here the email is taken.
    post_with_key(&crm, "key-g", &once())
        .await
        .expect_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_fault_without_a_key_is_a_plain_500_and_the_write_stands() {
    let app = spawn_app().await;
    let a = app.signup("fault-nokey").await;
    let crm = app.as_(&a);
    crm.with_header("x-test-fault", "after-commit")
        .companies()
        .create(&json!({"name": "Kept"}))
        .await
        .expect_problem(StatusCode::INTERNAL_SERVER_ERROR);
    let listed = crm.companies().list("").await.expect(StatusCode::OK);
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].name, "Kept");
}

#[tokio::test]
async fn a_command_whose_answer_was_lost_is_not_run_again_by_its_retry() {
    let app = spawn_app().await;
    let a = app.signup("lost-answer").await;
    let crm = app.as_(&a);
    let task = crm
        .activities()
        .create(&json!({"kind": "task", "title": "Call back"}))
        .await
        .expect(StatusCode::CREATED);
    let before = app.event_count().await;

    // The task is completed and committed, then the answer is lost to a server fault.
    crm.with_header("idempotency-key", "done-1")
        .with_header("x-test-fault", "after-commit")
        .activities()
        .complete(task.id)
        .await
        .expect_problem(StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        app.event_count().await,
        before + 1,
        "the completion was not saved"
    );

    // Run again, the command would be refused (the task is completed already): the retry
    // instead answers as the first attempt would have, and writes nothing.
    let retried = crm
        .with_header("idempotency-key", "done-1")
        .activities()
        .complete(task.id)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(retried.body().status.as_deref(), Some("completed"));
    assert_eq!(retried.etag(), Some("\"2\""));
    assert_eq!(
        app.event_count().await,
        before + 1,
        "the retry ran the command again"
    );

    // Without the key, completing again is the conflict it always was.
    crm.activities()
        .complete(task.id)
        .await
        .expect_problem(StatusCode::CONFLICT);
    // And the key now replays the retry's answer.
    let replayed = crm
        .with_header("idempotency-key", "done-1")
        .activities()
        .complete(task.id)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_keyed_batch_whose_answer_was_lost_creates_nothing_twice() {
    let app = spawn_app().await;
    let a = app.signup("lost-batch").await;
    let crm = app.as_(&a);
    let body = json!({"items": [{"name": "One"}, {"name": "Two"}, {"name": ""}]});
    let before = app.event_count().await;
    crm.with_header("idempotency-key", "batch-1")
        .with_header("x-test-fault", "after-commit")
        .companies()
        .batch_create(&body)
        .await
        .expect_problem(StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        app.event_count().await,
        before + 2,
        "the two good items were not saved"
    );

    // The retry answers the two companies the lost attempt made (the same ids), refuses
    // the bad item again, and writes nothing.
    let retried = crm
        .with_header("idempotency-key", "batch-1")
        .companies()
        .batch_create(&body)
        .await
        .expect(StatusCode::OK);
    assert_eq!(retried.statuses(), [201, 201, 422]);
    assert_eq!(
        app.event_count().await,
        before + 2,
        "the retry created again"
    );
    let listed = crm.companies().list("").await.expect(StatusCode::OK);
    let mut names: Vec<_> = listed.items.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["One", "Two"]);
    let ids: Vec<_> = retried
        .results
        .iter()
        .filter_map(|r| r.record.as_ref().map(|c| c.id))
        .collect();
    for company in &listed.items {
        assert!(ids.contains(&company.id), "{} was not answered", company.id);
    }
}

#[tokio::test]
async fn a_keyed_import_and_its_undo_leave_the_keys_list_of_commands_empty() {
    let app = spawn_app().await;
    let a = app.signup("keyed-import").await;
    let crm = app.as_(&a);
    let csv = b"Company name,Domain\nAlpha,alpha.example\nBeta,beta.example\nGamma,gamma.example\n";
    let report = crm
        .with_header("idempotency-key", "import-1")
        .import("companies", "", csv)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report.created, 3);
    let undone = crm
        .with_header("idempotency-key", "undo-1")
        .undo_import(report.import_id, &json!({"reason": "wrong file"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(undone.deleted, 3);
    // Imports are idempotent by their duplicate check, undos by skipping what is deleted:
    // their thousands of commands do not each grow the key's list.
    let owner = app.pool_as(None).await;
    let marks: Vec<(String, i32)> = sqlx::query_as(
        "SELECT key, cardinality(committed) FROM idempotency_keys WHERE tenant_id = $1 ORDER BY key",
    )
    .bind(a.tenant)
    .fetch_all(&owner)
    .await
    .unwrap_or_else(|e| panic!("reading the keys: {e}"));
    assert_eq!(
        marks,
        [("import-1".to_owned(), 0), ("undo-1".to_owned(), 0)]
    );
}

#[tokio::test]
async fn requests_sent_at_once_with_one_key_run_once_and_all_get_its_answer() {
    let app = spawn_app().await;
    let a = app.signup("at-once").await;
    let crm = app.as_(&a);
    let before = app.event_count().await;

    // Four clients (or one impatient one) send the same request with the same key at
    // once: the first claim holds the key until its command commits, the others wait on
    // it and then replay its answer; none is refused and nothing runs twice.
    let body = once();
    let (one, two, three, four) = tokio::join!(
        post_with_key(&crm, "burst", &body),
        post_with_key(&crm, "burst", &body),
        post_with_key(&crm, "burst", &body),
        post_with_key(&crm, "burst", &body),
    );
    let mut ids = Vec::new();
    let mut replayed = 0;
    for answer in [one, two, three, four] {
        let answer = answer.expect_status(StatusCode::CREATED);
        replayed += usize::from(answer.header("idempotent-replayed") == Some("true"));
        ids.push(answer.body().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one key made several contacts: {ids:?}");
    assert_eq!(replayed, 3, "all but the first answer are replays");
    assert_eq!(app.event_count().await, before + 1, "the key ran twice");
}

#[tokio::test]
async fn a_keyed_request_whose_commit_fails_leaves_no_claim_and_its_retry_runs() {
    let app = spawn_app().await;
    let a = app.signup("doomed-key").await;
    let crm = app.as_(&a);
    let owner = app.pool_as(None).await;
    // The commit of any transaction that writes the read row of a company named
    // "Doomed" fails (a deferred trigger, checked at COMMIT after everything else).
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'the commit fails' USING ERRCODE = 'P0001'; END $$;
         CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON companies
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
           WHEN (NEW.name = 'Doomed') EXECUTE FUNCTION refuse_commit();",
    )
    .execute(&owner)
    .await
    .unwrap_or_else(|e| panic!("installing the fault: {e}"));
    let keys = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM idempotency_keys WHERE key = 'doomed'")
            .fetch_one(&owner)
            .await
            .unwrap_or_else(|e| panic!("counting keys: {e}"))
    };
    let before = app.event_count().await;

    let keyed = crm.with_header("idempotency-key", "doomed");
    keyed
        .companies()
        .create(&json!({"name": "Doomed"}))
        .await
        .expect_problem(StatusCode::INTERNAL_SERVER_ERROR);
    // The claim, the events, the read row and the answer were one transaction: nothing
    // of them stands.
    assert_eq!(keys().await, 0, "the failed request left its key claimed");
    assert_eq!(
        app.event_count().await,
        before,
        "the failed request left events"
    );

    // Once the fault is gone the retry with the key runs at once, and is then replayed.
    sqlx::raw_sql("DROP TRIGGER refuse_commit ON companies")
        .execute(&owner)
        .await
        .unwrap_or_else(|e| panic!("removing the fault: {e}"));
    let made = keyed
        .companies()
        .create(&json!({"name": "Doomed"}))
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(made.header("idempotent-replayed"), None);
    let again = keyed
        .companies()
        .create(&json!({"name": "Doomed"}))
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body().id, made.body().id);
    assert_eq!(keys().await, 1);
    assert_eq!(app.event_count().await, before + 1);
}
