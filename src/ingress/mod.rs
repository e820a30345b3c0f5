//! The datacenter side: multicast in, one bounded window, one link per destination.
//!
//! The receive task reads the feed's multicast sockets as the one epoll over
//! them says (`net::joined`) and frames each datagram into the window once.
//! Each destination task reads the window at its own position and writes whole
//! batches to its TCP link, so a slow or dead destination never holds up another
//! or the receive path; it only falls behind, and the skip is counted.

use std::net::SocketAddrV4;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use libc::{SO_BUSY_POLL, SOL_SOCKET};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::IngressFeed;
use crate::net::batch::{self, get_int, set_int};
use crate::net::joined::Joined;
use crate::net::mcast::{Iface, Membership};
use crate::net::tls;
use crate::obs::Obs;
use crate::obs::links::Link;
use crate::obs::metrics::FeedStats;
use crate::ring::Ring;

mod dest;
mod receive;
#[cfg(test)]
mod tests;

use dest::Dest;
use receive::{keep_memberships, receive};

/// Bytes handed to one TCP write at most.
const WRITE_CHUNK: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// TLS, the handshake and the Welcome, from the connect on.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing session may take to write its last bytes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long shutdown waits for destinations to flush.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// The window and the signal that it grew.
struct Window {
    ring: Mutex<Ring>,
    head: watch::Sender<u64>,
}

/// Run one ingress feed until `shutdown`; then flush, leave the groups and return.
pub async fn run(cfg: IngressFeed, obs: Obs, shutdown: CancellationToken) -> anyhow::Result<()> {
    Ingress::start(cfg, &obs)?.run(shutdown).await;
    Ok(())
}

/// An ingress feed with its groups joined, not yet sending.
pub struct Ingress {
    cfg: IngressFeed,
    iface: Iface,
    how: Membership,
    joined: Arc<AsyncFd<Joined>>,
    stats: Arc<FeedStats>,
    links: Vec<Arc<Link>>,
    tls: Option<tls::Client>,
}

impl Ingress {
    /// Resolve the interface, bind and join. Datagrams queue in the socket
    /// buffers until [`Ingress::run`].
    pub fn start(cfg: IngressFeed, obs: &Obs) -> anyhow::Result<Ingress> {
        obs.health.expect();
        let stats = obs.metrics.feed(&cfg.feed, "ingress");
        let iface = Iface::resolve(&cfg.iface)
            .with_context(|| format!("ingress {:?}: --iface", cfg.feed))?;
        let how = cfg
            .source
            .map_or(Membership::AnySource, Membership::SourceSpecific);

        let joined = Joined::open(&cfg.groups, &iface, how, cfg.rcvbuf.get())
            .with_context(|| format!("ingress {:?}", cfg.feed))?;
        let mut busy_poll = 0;
        for r in joined.sockets() {
            let fd = r.sock.as_fd();
            if cfg.busy_poll > 0
                && let Err(e) = set_int(fd, SOL_SOCKET, SO_BUSY_POLL, cfg.busy_poll as i32)
            {
                tracing::warn!(error = %e, "--busy-poll: SO_BUSY_POLL refused (needs CAP_NET_ADMIN above net.core.busy_read)");
                break;
            }
            // As the socket has it, so the log says what took effect.
            busy_poll = get_int(fd, SOL_SOCKET, SO_BUSY_POLL).unwrap_or(0);
        }
        let joined = Arc::new(batch::register(joined, Interest::READABLE)?);
        tracing::info!(feed = %cfg.feed, sender = %cfg.sender_name(), iface = %iface.name, groups = cfg.groups.len(), dests = ?cfg.dests, busy_poll_us = busy_poll, "ingress joined");
        obs.health.ready();
        let tls = match &cfg.tls_ca {
            Some(ca) => {
                let pair = cfg.tls_cert.as_deref().zip(cfg.tls_key.as_deref());
                Some(
                    tls::Client::new(ca, cfg.tls_server_name.clone(), pair)
                        .with_context(|| format!("ingress {:?}: TLS", cfg.feed))?,
                )
            }
            None => None,
        };
        let links = cfg
            .dests
            .iter()
            .map(|d| {
                obs.links
                    .add(&obs.metrics, &cfg.feed, "ingress", &cfg.link_name(d))
            })
            .collect();
        Ok(Ingress {
            links,
            tls,
            cfg,
            iface,
            how,
            joined,
            stats,
        })
    }

    /// Relay until `shutdown`; then flush, leave the groups and return.
    pub async fn run(self, shutdown: CancellationToken) {
        let Ingress {
            cfg,
            iface,
            how,
            joined,
            stats,
            links,
            tls,
        } = self;

        crate::keys::guard(&stats, &cfg.keys, cfg.insecure_no_auth, shutdown.clone());
        let window = Arc::new(Window {
            ring: Mutex::new(Ring::new(
                cfg.window_bytes.get(),
                cfg.window_age().as_nanos() as u64,
            )),
            head: watch::channel(0).0,
        });
        let stop_rx = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(receive(
            joined.clone(),
            cfg.clone(),
            window.clone(),
            stats.clone(),
            stop_rx.clone(),
        ));
        tasks.spawn(keep_memberships(
            joined.clone(),
            cfg.iface.clone(),
            iface.clone(),
            how,
            stop_rx.clone(),
        ));

        let stream_id: u64 = rand::random();
        let manifest: Vec<SocketAddrV4> = cfg.groups.iter().map(|g| g.0).collect();
        let stop_dests = CancellationToken::new();
        let mut dests = tokio::task::JoinSet::new();
        for (d, link) in cfg.dests.iter().zip(links) {
            link.track(window.head.subscribe());
            dests.spawn(
                Dest {
                    name: d.clone(),
                    tls: tls.clone(),
                    link,
                    cfg: cfg.clone(),
                    stream_id,
                    sender: cfg.sender_name(),
                    manifest: manifest.clone(),
                    window: window.clone(),
                    stats: stats.clone(),
                    stop: stop_dests.clone(),
                }
                .run(),
            );
        }

        shutdown.cancelled().await;
        // Stop taking new datagrams, then give every destination a bounded time to
        // send what the window holds.
        stop_rx.cancel();
        while tasks.join_next().await.is_some() {}
        joined.get_ref().leave(&iface, how);
        stop_dests.cancel();
        if tokio::time::timeout(FLUSH_TIMEOUT, async {
            while dests.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(feed = %cfg.feed, "some destinations did not flush within {FLUSH_TIMEOUT:?}");
        }
        tracing::info!(feed = %cfg.feed, "ingress stopped");
    }
}
