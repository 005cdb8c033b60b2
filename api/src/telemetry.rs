//! Logging and traces. Logs: `tracing` to standard error, filtered by `RUST_LOG`
//! (default `info`), as JSON lines when `CRM_LOG_FORMAT=json`. Traces: every `tracing`
//! span is also an OpenTelemetry span (`tracing-opentelemetry`), so a request's span
//! (made by `tracing-actix-web`, which continues the caller's W3C `traceparent`), the
//! unit of work's `transaction` span, each `command` in it and the catch-up projector's
//! `projector_batch` spans form one trace. They leave the process only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (OTLP over HTTP/protobuf, batched; the standard
//! `OTEL_EXPORTER_OTLP_*` variables configure it); without it the ids still exist, for
//! the `traceparent` every response carries (W3C Trace Context).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The standard variable that turns the OTLP export on (OpenTelemetry specification,
/// "OTLP Exporter Configuration").
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Installs the global subscriber once (later calls do nothing) and the W3C Trace
/// Context propagator; exports spans by OTLP when [`OTLP_ENDPOINT`] is set. Returns the
/// tracer provider, to flush at shutdown.
pub fn init() -> SdkTracerProvider {
    let mut provider = SdkTracerProvider::builder();
    if std::env::var_os(OTLP_ENDPOINT).is_some() {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => provider = provider.with_batch_exporter(exporter),
            Err(err) => eprintln!("crm: OTLP export off: {err}"),
        }
    }
    let provider = provider.build();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let json = std::env::var("CRM_LOG_FORMAT").is_ok_and(|f| f == "json");
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = if json {
        logs.json().boxed()
    } else {
        logs.boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(trace_layer(&provider))
        .try_init();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    provider
}

/// The layer that makes `tracing` spans OpenTelemetry spans of `provider` (every span at
/// `info` and above; the export, if any, is the provider's). The tests install it over
/// an in-memory exporter.
pub fn trace_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("crm"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
}

/// Installs the W3C Trace Context propagator as the process's (for tests that build
/// their own subscriber).
pub fn use_trace_context() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// The `traceparent` of `span` (W3C Trace Context §3.2: `00-<trace id>-<span id>-<flags>`),
/// or `None` when it has no valid OpenTelemetry context (no trace layer installed).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = span.context();
    let span_ref = context.span();
    let ids = span_ref.span_context();
    ids.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            ids.trace_id(),
            ids.span_id(),
            ids.trace_flags().to_u8()
        )
    })
}
