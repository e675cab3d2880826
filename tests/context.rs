//! Context follows the job: a job runs inside the `tracing` span that was current where
//! it was submitted, so its log lines keep the submitter's request context.

use std::sync::{Mutex, Once};

use loopbridge::Bridge;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Each captured event: its message and the names of its enclosing spans, innermost first.
static EVENTS: Mutex<Vec<(String, Vec<String>)>> = Mutex::new(Vec::new());

struct SpanCapture;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S> Layer<S> for SpanCapture
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let spans = ctx
            .event_scope(event)
            .map(|scope| scope.map(|span| span.name().to_owned()).collect())
            .unwrap_or_default();
        EVENTS.lock().unwrap().push((message.0, spans));
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(SpanCapture))
            .unwrap();
    });
}

/// The span names around the event whose message is `message`.
fn spans_of(message: &str) -> Vec<String> {
    let events = EVENTS.lock().unwrap();
    let matching: Vec<_> = events.iter().filter(|(m, _)| m == message).collect();
    assert_eq!(
        matching.len(),
        1,
        "exactly one event {message:?}: {events:?}"
    );
    matching[0].1.clone()
}

#[test]
fn a_submitted_future_logs_inside_the_submitters_span() {
    install();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let completion = tracing::info_span!("request-future").in_scope(|| {
        handle.submit(async {
            tokio::task::yield_now().await;
            tracing::info!("future after a yield");
        })
    });
    completion.wait().unwrap();
    assert_eq!(spans_of("future after a yield"), ["request-future"]);
}

#[test]
fn a_callback_logs_inside_the_submitters_span() {
    install();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let outer = tracing::info_span!("outer-callback");
    let inner = tracing::info_span!(parent: &outer, "inner-callback");
    let completion =
        inner.in_scope(|| handle.run_callback(|| tracing::info!("callback on the loop")));
    completion.wait().unwrap();
    assert_eq!(
        spans_of("callback on the loop"),
        ["inner-callback", "outer-callback"]
    );
}

#[test]
fn a_job_submitted_outside_any_span_logs_outside_any_span() {
    install();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    // A job from inside a span first, so a span leaking past its job would show.
    tracing::info_span!("earlier-request")
        .in_scope(|| handle.run_callback(|| tracing::info!("earlier job")))
        .wait()
        .unwrap();
    handle
        .run_callback(|| tracing::info!("job without a span"))
        .wait()
        .unwrap();
    assert!(spans_of("job without a span").is_empty());
}
