//! `listen`: join groups and tell what arrived, per feed channel: counts,
//! gaps, duplicates, reordering, the Deribit template mix, A/B arbitration,
//! and one-way latency where the format carries a send time.
//!
//! Formats: `test` (our 20-byte header, one sequence per group), `deribit`
//! (legacy frame header, one sequence per group, port and channel, +1 per
//! packet), `starbase` (24-byte header, `seqNum + messageCount`), `raw`
//! (counts only) and `auto`, which decides from the first datagrams.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::feeds::arbiter::Side;
use crate::net::addr::GroupPort;
use crate::net::batch::RecvBatch;
use crate::net::joined::{Joined, Ready};
use crate::net::mcast::{Iface, Membership};

mod args;
mod decode;
mod report;
mod state;

pub use args::{AbPair, AbPairError, ListenArgs};
pub use decode::Format;
use report::report;
pub use report::{
    AbReport, ChannelReport, GroupReport, Latency, ListenReport, SideReport, TemplateCount,
};
use state::{DETECT_WAIT, State};

/// Counters others may read while a listen runs.
#[derive(Default)]
pub struct Live {
    pub packets: AtomicU64,
    pub unique: AtomicU64,
}

/// Join and count until told to stop (by `stop`, the duration, `--expect` or `--idle`).
pub fn run(a: &ListenArgs, stop: &AtomicBool, live: &Live) -> std::io::Result<ListenReport> {
    let iface = Iface::resolve(&a.iface)?;
    let how = a
        .source
        .map_or(Membership::AnySource, Membership::SourceSpecific);
    let mut route: HashMap<SocketAddrV4, (SocketAddrV4, Option<Side>)> = HashMap::new();
    let mut b_of = HashMap::new();
    for p in &a.ab {
        for (g, side) in [(p.a, Side::A), (p.b, Side::B)] {
            if route.insert(g.0, (p.a.0, Some(side))).is_some() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("--ab: {g} is in two pairs"),
                ));
            }
        }
        b_of.insert(p.a.0, p.b.0);
    }
    for g in &a.groups {
        route.entry(g.0).or_insert((g.0, None));
    }
    let mut all: Vec<GroupPort> = route.keys().map(|g| GroupPort(*g)).collect();
    all.sort();
    let joined = Joined::open(&all, &iface, how, a.rcvbuf)?;
    if !a.quiet {
        eprintln!(
            "listen: joined {} group(s) on {} ({} socket(s)), format {}",
            all.len(),
            iface.name,
            joined.len(),
            a.format.name()
        );
    }
    let mut st = State::new(
        (a.format != Format::Auto).then_some(a.format),
        route,
        b_of,
        &all,
        a.quiet,
    );
    let mut batch = RecvBatch::new(64, 65_536);
    let mut ready = Ready::new(&joined);
    let start = Instant::now();
    let (mut last_rx, mut expect_met) = (None::<Instant>, None::<Instant>);
    let mut next_line = start + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed)
            || a.duration.is_some_and(|d| now - start >= d)
            || a.idle.zip(last_rx).is_some_and(|(i, t)| now - t >= i)
            || expect_met.is_some_and(|t| now - t >= Duration::from_millis(300))
        {
            break;
        }
        if st.format.is_none() && st.held_since.is_some_and(|t| now - t >= DETECT_WAIT) {
            st.decide();
        }
        if !a.quiet && now >= next_line {
            st.live((now - start).as_secs_f64());
            next_line += Duration::from_secs(1);
        }
        joined.ready(Some(Duration::from_millis(50)), &mut ready)?;
        for i in ready.iter() {
            let r = &joined.sockets()[i];
            loop {
                let n = match batch.recv(r.sock.as_fd()) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                let fallback = crate::clock::now_ns();
                for j in 0..n {
                    let (m, payload) = batch.get(j);
                    let Some(dst) = m.dst else { continue };
                    st.on(
                        SocketAddrV4::new(dst, r.port),
                        if a.kernel_time {
                            m.kernel_ns.unwrap_or(fallback)
                        } else {
                            fallback
                        },
                        payload,
                    );
                }
                last_rx = Some(Instant::now());
                if n < batch.capacity() {
                    break;
                }
            }
        }
        let unique = st.unique();
        live.packets.store(st.packets, Ordering::Relaxed);
        live.unique.store(unique, Ordering::Relaxed);
        if expect_met.is_none() && a.expect.is_some_and(|e| unique >= e) {
            expect_met = Some(Instant::now());
        }
    }
    if st.format.is_none() {
        if st.held.is_empty() {
            if !a.quiet && a.format == Format::Auto {
                eprintln!("listen: nothing arrived, so no format was decided");
            }
            st.format = Some(Format::Raw);
        } else {
            st.decide();
        }
    }
    live.packets.store(st.packets, Ordering::Relaxed);
    live.unique.store(st.unique(), Ordering::Relaxed);
    Ok(report(&st, a.format == Format::Auto, start.elapsed()))
}

#[cfg(test)]
mod tests;
