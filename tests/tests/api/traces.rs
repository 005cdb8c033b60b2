//! Traces: a request is one trace, continuing the caller's W3C `traceparent` and echoing
//! its own, with the unit of work's `transaction` span and the `command` span inside it;
//! the catch-up projector's batches are spans too. Spans go to an in-memory exporter
//! through the same layer the server installs (`crm_api::telemetry::trace_layer`), set
//! once as this test process's subscriber.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use reqwest::StatusCode;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

use crate::helpers::spawn_app;

/// The exporter every span of this test process goes to.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber =
            tracing_subscriber::registry().with(crm_api::telemetry::trace_layer(&provider));
        tracing::subscriber::set_global_default(subscriber)
            .unwrap_or_else(|e| panic!("another subscriber is installed (TEST_LOG?): {e}"));
        crm_api::telemetry::use_trace_context();
        // The provider lives as long as the process.
        std::mem::forget(provider);
        exporter
    })
}

/// The finished spans of `trace`, waiting up to 5 s until one has `parent` as its
/// parent (the request's span ends last, once its answer is sent).
async fn spans_of(trace: TraceId, parent: SpanId) -> Vec<SpanData> {
    for _ in 0..100 {
        let spans: Vec<SpanData> = exporter()
            .get_finished_spans()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.span_context.trace_id() == trace)
            .collect();
        if spans.iter().any(|s| s.parent_span_id == parent) {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no span of trace {trace} under {parent}")
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "{name}: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

#[tokio::test]
async fn a_request_is_one_trace_continuing_the_callers_with_its_transaction_and_command_inside() {
    exporter();
    let app = spawn_app().await;
    let ws = app.signup("traces").await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/companies", app.address))
        .bearer_auth(&ws.token)
        .header("traceparent", format!("00-{trace}-{caller}-01"))
        .json(&json!({"name": "Traced"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status(), StatusCode::CREATED);
    let echoed = answer
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let parts: Vec<&str> = echoed.split('-').collect();
    assert_eq!(parts.len(), 4, "{echoed}");
    assert_eq!(
        (parts[0], parts[1], parts[3]),
        ("00", trace, "01"),
        "{echoed}"
    );
    assert_ne!(parts[2], caller, "the server's own span, not the caller's");

    let trace_id = TraceId::from_hex(trace).unwrap_or_else(|e| panic!("{e}"));
    let caller_id = SpanId::from_hex(caller).unwrap_or(SpanId::INVALID);
    let spans = spans_of(trace_id, caller_id).await;
    // The request's span continues the caller's, named for its route.
    let requests: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == caller_id)
        .collect();
    assert_eq!(requests.len(), 1, "{spans:?}");
    let request = requests[0];
    assert_eq!(request.name, "POST /v1/companies");
    assert_eq!(request.span_context.span_id().to_string(), parts[2]);
    let transaction = one(&spans, "transaction");
    assert_eq!(transaction.parent_span_id, request.span_context.span_id());
    let command = one(&spans, "command");
    assert_eq!(command.parent_span_id, transaction.span_context.span_id());
    assert_eq!(attribute(command, "aggregate").as_deref(), Some("Company"));
    assert_eq!(attribute(command, "events").as_deref(), Some("1"));

    // Another request without a traceparent starts a trace of its own.
    let (status, _) = app.get("/v1/companies", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    let requests = exporter()
        .get_finished_spans()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.parent_span_id == caller_id && s.span_context.trace_id() == trace_id)
        .count();
    assert_eq!(requests, 1, "one request in the caller's trace");

    // The catch-up projector's batches are spans (the test server runs it).
    let mut batch = None;
    for _ in 0..100 {
        batch = exporter()
            .get_finished_spans()
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.name == "projector_batch");
        if batch.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let batch = batch.unwrap_or_else(|| panic!("no projector_batch span"));
    assert_eq!(
        attribute(&batch, "checkpoint").as_deref(),
        Some("read_models")
    );
}
