//! The tools around the relay: publish, listen, demo, and the small helpers they share.

pub mod demo;
pub mod doctor;
pub mod listen;
pub mod publish;
pub mod replay;

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, poll};

/// The tools read durations as the relays do.
pub use crate::units::parse_duration;

/// Wait until one of `fds` is ready for `events` or `timeout` passes.
/// Returns which were ready.
pub fn wait<F: AsFd>(
    fds: &[F],
    events: PollFlags,
    timeout: Duration,
) -> std::io::Result<Vec<bool>> {
    let mut p: Vec<PollFd<'_>> = fds.iter().map(|f| PollFd::new(f.as_fd(), events)).collect();
    let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
    match poll(&mut p, ms) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(p.iter()
        .map(|x| x.revents().is_some_and(|r| !r.is_empty()))
        .collect())
}

/// Wait until about `t`, never spinning: a spinning sender takes a whole core
/// from what it measures (on two cores, half the machine). A sleep wakes some
/// 50-100 us late, so the callers send whatever became due meanwhile in one batch.
pub fn pace_until(t: std::time::Instant) {
    let left = t.saturating_duration_since(std::time::Instant::now());
    if !left.is_zero() {
        std::thread::sleep(
            left.saturating_sub(Duration::from_micros(50))
                .max(Duration::from_micros(10)),
        );
    }
}

/// Send every item with sendmmsg on a non-blocking socket, waiting while it is full.
pub fn send_all(
    sock: &impl AsFd,
    batch: &mut crate::net::batch::SendBatch,
    buf: &[u8],
    items: &[(std::net::SocketAddrV4, std::ops::Range<usize>)],
) -> std::io::Result<()> {
    let mut done = 0;
    while done < items.len() {
        match batch.send(sock.as_fd(), buf, &items[done..]) {
            Ok(k) => done += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait(
                    &[sock.as_fd()],
                    PollFlags::POLLOUT,
                    Duration::from_millis(100),
                )?;
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("send to {}: {e}", items[done].0),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_reads_only_its_own_environment() {
        use clap::{Args, Command};
        // A relay's variable (MCAST_RELAY_IFACE) set for the service must
        // never steer a tool run on the same host, nor one tool's another's.
        for (tool, cmd) in [
            ("DEMO", demo::DemoArgs::augment_args(Command::new("demo"))),
            (
                "DOCTOR",
                doctor::DoctorArgs::augment_args(Command::new("doctor")),
            ),
            (
                "LISTEN",
                listen::ListenArgs::augment_args(Command::new("listen")),
            ),
            (
                "PUBLISH",
                publish::PublishArgs::augment_args(Command::new("publish")),
            ),
            (
                "REPLAY",
                replay::ReplayArgs::augment_args(Command::new("replay")),
            ),
        ] {
            let prefix = format!("MCAST_RELAY_{tool}_");
            for a in cmd.get_arguments() {
                if let Some(env) = a.get_env() {
                    let env = env.to_string_lossy();
                    assert!(env.starts_with(&prefix), "{tool} --{}: {env}", a.get_id());
                }
            }
        }
    }
}
