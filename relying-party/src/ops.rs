//! The routes an operator's tooling calls: `/healthz` (the process answers: 200 `ok`),
//! `/readyz` (the database answers too: 200 `ready`, else 503) and `/metrics` (the
//! [`Metrics`] of this process in the Prometheus text format).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
struct Ops {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn routes(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(render))
        .with_state(Ops { store, metrics })
}

async fn ready(State(ops): State<Ops>) -> Response {
    match ops.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
}

async fn render(State(ops): State<Ops>) -> Response {
    let mut r = ops.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
