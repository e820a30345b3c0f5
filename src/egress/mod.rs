//! The cloud side: accept the link, prove the sender, drop what was already
//! emitted, merge several senders by the venue's sequence numbers, guard
//! (allow, map, size) and emit as multicast in batches.
//!
//! Strangers never get past the handshake, which is bounded in time and in
//! how many may be under way at once (`admission`). Who may send a feed, and
//! how senders replace one another, is `feed`; the session's driver is
//! `connection`; what goes out, `emitter` and `merge`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::EgressFeed;
use crate::net::link;
use crate::net::mcast::{self, Iface};
use crate::net::tls;
use crate::obs::Obs;
use crate::obs::logs::RateLimit;
use crate::obs::metrics::Metrics;
use crate::warn_limited;
use crate::wire::frame::MAX_HANDSHAKE_FRAME;
use admission::{MAX_PENDING, MAX_PER_SOURCE};
use emitter::Emitter;
use feed::Feed;

/// From accept to the client's proof, TLS included.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// A connection's buffer until it has proven itself: two handshake frames.
const PRE_AUTH_BUF: usize = 2 * MAX_HANDSHAKE_FRAME;

pub mod admission;
mod connection;
mod emitter;
mod feed;
pub mod merge;
pub mod state;

/// Run every egress feed of `feeds` until `shutdown`.
pub async fn run(
    feeds: Vec<EgressFeed>,
    obs: Obs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Egress::bind(feeds, &obs).await?.serve(shutdown).await;
    Ok(())
}

/// The feeds served on one listener, by name.
type Feeds = Arc<HashMap<String, Arc<Feed>>>;

/// Egress feeds with their sockets bound, not yet accepting.
pub struct Egress {
    listeners: Vec<(TcpListener, Feeds, Option<tls::Server>)>,
    metrics: Arc<Metrics>,
}

impl Egress {
    /// Open the multicast sockets and bind the listeners (port 0 picks one).
    pub async fn bind(feeds: Vec<EgressFeed>, obs: &Obs) -> anyhow::Result<Egress> {
        obs.health.expect();
        let mut by_addr: BTreeMap<SocketAddr, HashMap<String, Arc<Feed>>> = BTreeMap::new();
        for cfg in feeds {
            let iface = Iface::resolve(&cfg.iface)
                .with_context(|| format!("egress {:?}: --iface", cfg.feed))?;
            let sock = mcast::emitter(&iface, cfg.ttl, cfg.sndbuf.get())
                .context("multicast send socket")?;
            let stats = obs.metrics.feed(&cfg.feed, "egress");
            let emitter =
                Emitter::new(sock, mcast::max_payload(&iface), cfg.clone(), stats.clone());
            let link = obs
                .links
                .add(&obs.metrics, &cfg.feed, "egress", &cfg.listen.to_string());
            let feed = Arc::new(Feed::new(cfg, stats, link, emitter)?);
            by_addr
                .entry(feed.cfg.listen)
                .or_default()
                .insert(feed.cfg.feed.clone(), feed);
        }
        let mut listeners = Vec::new();
        for (addr, feeds) in by_addr {
            // Feeds sharing a port share its TLS settings (checked in config).
            let first = &feeds.values().next().expect("at least one feed").cfg;
            let tls = match (&first.tls_cert, &first.tls_key) {
                (Some(c), Some(k)) => Some(
                    tls::Server::new(c, k, first.tls_client_ca.as_deref())
                        .with_context(|| format!("TLS for {addr}"))?,
                ),
                _ => None,
            };
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen on {addr}"))?;
            tracing::info!(listen = %listener.local_addr()?, feeds = ?feeds.keys().collect::<Vec<_>>(), tls = tls.is_some(), "egress listening");
            listeners.push((listener, Arc::new(feeds), tls));
        }
        obs.health.ready();
        Ok(Egress {
            listeners,
            metrics: obs.metrics.clone(),
        })
    }

    /// Where each listener is bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(l, _, _)| l.local_addr().ok())
            .collect()
    }

    /// Accept and relay until `shutdown`.
    pub async fn serve(self, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for (_, feeds, _) in &self.listeners {
            for f in feeds.values() {
                crate::keys::guard(
                    &f.stats,
                    &f.cfg.keys,
                    f.cfg.insecure_no_auth,
                    shutdown.clone(),
                );
                if f.merging() {
                    tasks.spawn(feed::hold_timer(f.clone(), shutdown.clone()));
                }
            }
        }
        for (listener, feeds, tls) in self.listeners {
            let l = Listener {
                feeds,
                tls,
                metrics: self.metrics.clone(),
                gate: Default::default(),
                shutdown: shutdown.clone(),
                log_limit: std::sync::Mutex::new(RateLimit::new(Duration::from_secs(1))),
            };
            tasks.spawn(accept_loop(listener, Arc::new(l)));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// What every connection of a listener shares.
pub(super) struct Listener {
    feeds: Feeds,
    tls: Option<tls::Server>,
    metrics: Arc<Metrics>,
    gate: Arc<std::sync::Mutex<admission::Gate>>,
    shutdown: CancellationToken,
    /// One refusal logged per second, the rest counted in the line.
    log_limit: std::sync::Mutex<RateLimit>,
}

impl Listener {
    fn limit(&self) -> std::sync::MutexGuard<'_, RateLimit> {
        self.log_limit.lock().expect("log limit lock")
    }
}

async fn accept_loop(listener: TcpListener, l: Arc<Listener>) {
    let mut limit = RateLimit::new(Duration::from_secs(10));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn_limited!(limit, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = l.shutdown.cancelled() => break,
        };
        let (ticket, evicted) = admission::admit(&l.gate, peer.ip());
        if let Some(e) = evicted {
            let why = if e.same_source {
                format!("{MAX_PER_SOURCE} handshakes under way from {}", peer.ip())
            } else {
                format!("{MAX_PENDING} handshakes under way")
            };
            warn_limited!(limit, %peer, standing = ?e.standing, "{why}; dropped the weakest, oldest one");
        }
        let _ = link::tune(&stream);
        conns.spawn(connection::connection(stream, peer, ticket, l.clone()));
        while conns.try_join_next().is_some() {}
    }
    // Connections see the same token and say goodbye; give them a moment.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}
