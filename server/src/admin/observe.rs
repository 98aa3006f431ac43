//! The admin port's views of this node's figures: `GET /metrics`
//! (Prometheus text, [`crate::metrics::prometheus`]), and the human page
//! `GET /` with the JSON it polls, `GET /dashboard.json`
//! ([`crate::metrics::dashboard`]).
//!
//! Each is rendered from the shared state on request; nothing is cached,
//! so two scrapes never see figures older than the scrape itself (beyond
//! the command histograms' flush interval).

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Json};

use super::AdminState;
use crate::metrics::{dashboard, prometheus};

/// Prometheus's text exposition format, version 0.0.4.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        prometheus::render(&state.shared),
    )
}

pub async fn page() -> Html<&'static str> {
    Html(dashboard::PAGE)
}

pub async fn report(State(state): State<AdminState>) -> Json<dashboard::Report> {
    Json(dashboard::report(&state.shared))
}
