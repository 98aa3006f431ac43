//! The admin HTTP API of a node, on `admin_port` (bound to `bind`, like the
//! client port), served by axum on the Raft thread's tokio runtime.
//!
//! - `GET /health` ([`health`]): 200 when this node has a leader it can
//!   reach and has applied what it knows to be committed; 503 with the
//!   reason otherwise.
//! - `GET /cluster/status`, `GET /cluster/members` ([`cluster`]): this
//!   node's view of the group, and each member's reachability.
//! - `POST /cluster/join`, `POST /cluster/leave` ([`membership`]):
//!   membership changes, run by the leader; any other member forwards them
//!   to the leader over the peer transport.
//!
//! - `GET /metrics`, `GET /`, `GET /dashboard.json` ([`observe`]): the
//!   Prometheus page, the human page and the JSON it polls.
//!
//! Every answer of the cluster routes is JSON; an error is `{"error": "..."}` (and, where it
//! helps, the leader's address) with a status code that says what kind.
//! [`router`] returns the routes so more (`/metrics`, `/`) can be added
//! before [`serve`] runs them.
//!
//! Invariants:
//! - Handlers never block the runtime: they read openraft's metrics and
//!   await openraft's calls; the long ones (a join waits for the new node to
//!   catch up) run in their own task, with a time limit.
//! - A forwarded request is never forwarded again, so a request that finds
//!   no leader where it was sent ends there instead of going round.

pub mod cluster;
pub mod health;
pub mod membership;
pub mod observe;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use openraft::Raft;
use parking_lot::Mutex;
use serde::Serialize;

use crate::raft::network::Network;
use crate::raft::peer_server::AdminHandler;
use crate::raft::types::TypeConfig;
use crate::shared::Shared;

/// What the handlers need. Cloning is cheap (handles and `Arc`s).
#[derive(Clone)]
pub struct AdminState {
    /// The node's shared state: config, engine, Raft status and counters.
    pub shared: Arc<Shared>,
    /// openraft's handle, for metrics and membership changes.
    pub raft: Raft<TypeConfig>,
    /// The peer transport's client side, to forward requests to the leader.
    pub network: Network<TypeConfig>,
    /// How far apply lags, remembered between two `/health` requests.
    apply_watch: Arc<Mutex<health::ApplyWatch>>,
}

impl AdminState {
    pub fn new(shared: Arc<Shared>, raft: Raft<TypeConfig>, network: Network<TypeConfig>) -> Self {
        AdminState {
            shared,
            raft,
            network,
            apply_watch: Arc::default(),
        }
    }
}

/// The admin API's routes, with their state applied.
pub fn router(state: AdminState) -> Router {
    let router = Router::new()
        .route("/health", get(health::get))
        .route("/cluster/status", get(cluster::status))
        .route("/cluster/members", get(cluster::members))
        .route("/cluster/join", post(membership::join))
        .route("/cluster/leave", post(membership::leave))
        .route("/metrics", get(observe::metrics))
        .route("/", get(observe::page))
        .route("/dashboard.json", get(observe::report))
        .with_state(state);
    // Test builds of the chaos suite add the /chaos/* knobs.
    #[cfg(feature = "chaos")]
    let router = router.merge(crate::chaos::routes());
    router
}

/// Binds the admin port; a port in use is an error naming it.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| format!("cannot listen on {addr} (admin_port): {error}"))
}

/// Serves `router` on `listener` in a task of the current runtime.
pub fn serve(listener: tokio::net::TcpListener, router: Router) {
    let addr = listener.local_addr().ok();
    tracing::info!(addr = %crate::log_field::Opt(addr), "admin HTTP API listening");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "admin HTTP API stopped");
        }
    });
}

/// The peer transport's handler for admin requests other members forward.
pub fn forward_handler(state: AdminState) -> AdminHandler {
    Arc::new(move |call| {
        let state = state.clone();
        Box::pin(async move { membership::serve_forwarded(&state, call).await })
    })
}

/// A JSON answer: a status code and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Answer {
    /// `value` as JSON with `status`.
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Answer {
        Answer {
            status,
            body: serde_json::to_vec(value).expect("admin replies serialize"),
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: StatusCode, message: impl Into<String>) -> Answer {
        Answer::json(status, &ErrorBody::new(message))
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// Where the leader is, when the request belongs there and was not
    /// forwarded (or forwarding failed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub leader: Option<cluster::NodeAddr>,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: message.into(),
            leader: None,
        }
    }
}
