//! Every upload's `ingest` span stands alone: a span entered across an
//! `.await` stays current on the worker thread while its request waits, so
//! the spans other requests open there meanwhile became its children; under
//! load those chains grew until closing them overflowed the stack. This
//! binary installs its own subscriber (a process has one global subscriber),
//! which records every `ingest` span that opens inside another one.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use support::*;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use uuid::Uuid;

static INGEST_SPANS: AtomicUsize = AtomicUsize::new(0);
static NESTED_INGEST_SPANS: AtomicUsize = AtomicUsize::new(0);

/// Counts `ingest` spans, and those with an `ingest` span among their ancestors.
struct Nesting;

impl<S> tracing_subscriber::Layer<S> for Nesting
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "ingest" {
            return;
        }
        INGEST_SPANS.fetch_add(1, Ordering::Relaxed);
        let nested = ctx
            .span(id)
            .and_then(|s| s.parent())
            .is_some_and(|p| p.scope().any(|a| a.name() == "ingest"));
        if nested {
            NESTED_INGEST_SPANS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[actix_web::test]
async fn concurrent_uploads_do_not_nest_their_spans() {
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(Nesting)
        .init();
    let hub = TestHub::start(Backend::Sqlite).await;
    let (_, site) = hub.tenant("R", "span-site").await;
    let mut printers = Vec::new();
    for i in 0..16 {
        printers.push(hub.direct_printer(site, &format!("SPAN-{i}")).await);
    }
    // 16 printers × 4 rounds, each round's uploads all in flight at once on
    // the hub's two workers.
    for round in 0..4u64 {
        let uploads = printers.iter().enumerate().map(|(i, p)| {
            let jobs: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
            let serial = format!("SPAN-{i}");
            let hub = &hub;
            async move {
                hub.post_envelope(p.seal(&payload(vec![report(
                    &serial,
                    &jobs,
                    10 * (round + 1),
                    100 * (round + 1),
                )])))
                .await
            }
        });
        for (status, _, body) in futures_util::future::join_all(uploads).await {
            assert_eq!(status, 200, "{body}");
        }
    }
    assert_eq!(INGEST_SPANS.load(Ordering::Relaxed), 64);
    assert_eq!(
        NESTED_INGEST_SPANS.load(Ordering::Relaxed),
        0,
        "ingest spans opened inside other uploads' spans"
    );
}
