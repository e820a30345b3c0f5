//! The HTTP endpoints: `/healthz`, `/readyz`, `/metrics`, `/status`, and the
//! status page at `/`. See docs/OBSERVABILITY.md for what each one means.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Obs;
use super::logs::RateLimit;
use crate::warn_limited;

pub fn router(obs: Obs) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(obs)
}

/// A client must send a whole request head within this time of connecting
/// (or of its last response): idle and slow clients are closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest request head read; longer ones are refused.
const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once at most; fewer where the descriptor limit is
/// low, so the feed ports always keep descriptors of their own.
const MAX_CONNECTIONS: usize = 64;

/// How many HTTP connections this process may hold: a sixteenth of its
/// descriptor limit, at most [`MAX_CONNECTIONS`], at least 4.
pub fn connection_limit() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(s, _)| s as usize)
        .unwrap_or(1024);
    (soft / 16).clamp(4, MAX_CONNECTIONS)
}

/// Bind `addr` and serve until `shutdown`. Returns the bound address (port 0 picks one).
/// Also starts the feed monitor (rates, degraded state), once per `Obs`.
///
/// Bounded against clients that hold connections: a request head must come
/// within [`HEADER_TIMEOUT`] and fit [`MAX_HEAD`]; past [`connection_limit`]
/// connections, the oldest is closed to make room, so a health check (a new
/// connection that asks at once) is answered however many clients idle.
pub async fn serve(
    addr: SocketAddr,
    obs: Obs,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    obs.spawn_monitor(shutdown.clone());
    let app = router(obs);
    let limit = connection_limit();
    let task = tokio::spawn(async move {
        let mut open: VecDeque<(u64, CancellationToken)> = VecDeque::new();
        let mut conns = tokio::task::JoinSet::new();
        let mut next = 0u64;
        let mut failures = RateLimit::new(Duration::from_secs(10));
        loop {
            let stream = tokio::select! {
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        warn_limited!(failures, error = %e, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                Some(r) = conns.join_next() => {
                    if let Ok(id) = r {
                        open.retain(|(i, _)| *i != id);
                    }
                    continue;
                }
                _ = shutdown.cancelled() => break,
            };
            while open.len() >= limit {
                if let Some((_, oldest)) = open.pop_front() {
                    oldest.cancel();
                }
            }
            next += 1;
            let (id, cut) = (next, CancellationToken::new());
            open.push_back((id, cut.clone()));
            let svc = hyper_util::service::TowerToHyperService::new(app.clone());
            let stop = shutdown.clone();
            conns.spawn(async move {
                let mut b = hyper::server::conn::http1::Builder::new();
                b.timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(MAX_HEAD);
                let conn = b.serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = cut.cancelled() => {}
                    _ = stop.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                    }
                }
                id
            });
        }
    });
    Ok((bound, task))
}

async fn healthz(State(obs): State<Obs>) -> impl IntoResponse {
    if obs.health.is_live() {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        let why = obs
            .health
            .failure()
            .unwrap_or_else(|| "the relay's loops have stalled".into());
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {why}\n"),
        )
    }
}

async fn readyz(State(obs): State<Obs>) -> impl IntoResponse {
    if obs.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: listeners or multicast sockets not up yet\n",
        )
    }
}

async fn metrics(State(obs): State<Obs>) -> impl IntoResponse {
    // The degraded and silence gauges as of now, not of the last monitor tick.
    obs.watch
        .update(&obs.metrics, super::watch::now_ns(), false, false);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        obs.metrics.encode(),
    )
}

async fn status(State(obs): State<Obs>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(obs.status()),
    )
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        super::page::HTML,
    )
}

/// `health-probe`'s GET, kept at this path for its callers; the client is
/// `crate::net::http_client`.
pub use crate::net::http_client::probe;
