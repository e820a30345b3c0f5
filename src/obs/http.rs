//! The HTTP endpoints: `/healthz`, `/readyz`, `/metrics`, `/status`, and the
//! status page at `/`. See docs/OBSERVABILITY.md for what each one means.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Obs;

pub fn router(obs: Obs) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(obs)
}

/// Bind `addr` and serve until `shutdown`. Returns the bound address (port 0 picks one).
/// Also starts the feed monitor (rates, degraded state), once per `Obs`.
pub async fn serve(
    addr: SocketAddr,
    obs: Obs,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    obs.spawn_monitor(shutdown.clone());
    let app = router(obs);
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server stopped");
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

/// GET `url` (plain `http://host:port/path`) and return the status code; for
/// `health-probe`, since the runtime image has no curl.
pub fn probe(url: &str, timeout: std::time::Duration) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{url:?} is not http://HOST:PORT/PATH"),
        )
    };
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(hostport)?
        .next()
        .ok_or_else(bad)?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let k = s.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    std::str::from_utf8(&head[..n])
        .ok()
        .and_then(|t| t.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response"))
}
