//! `demo`: publish -> ingress -> TCP -> egress -> listen, all on the loopback,
//! in one process, with live progress and a summary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, EgressFeed, IngressFeed};
use crate::net::addr::GroupPort;
use crate::obs::Obs;
use crate::shutdown::CancellationToken;

use super::listen::{self, ListenArgs};
use super::publish::{self, PublishArgs};

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Example:\n  mcast-relay demo --duration 5s --rate 20000")]
pub struct DemoArgs {
    /// How long to publish.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration)]
    pub duration: Duration,
    /// Datagrams per second.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Datagram size in bytes (default: the Deribit capture's size mix).
    #[arg(long, value_parser = clap::value_parser!(u16).range(20..))]
    pub size: Option<u16>,
    /// Where to serve /healthz and /metrics (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub http: SocketAddr,
    /// Two senders (two ingresses, as two datacenter hosts) merged at the
    /// egress by the test header's sequence numbers; one is killed halfway.
    #[arg(long)]
    pub redundant: bool,
}

/// Run the demo; `Ok(true)` when nothing was lost.
pub async fn run(a: DemoArgs) -> anyhow::Result<bool> {
    let port = publish::free_udp_port()?;
    let src: GroupPort = format!("239.255.77.1:{port}")
        .parse()
        .map_err(anyhow::Error::msg)?;
    let out: GroupPort = format!("239.255.78.1:{port}")
        .parse()
        .map_err(anyhow::Error::msg)?;
    let mut cfg = Config::from_toml(&format!(
        r#"
[[ingress]]
feed = "demo"
iface = "127.0.0.1"
groups = ["{src}"]
dests = ["127.0.0.1:1"]
[[egress]]
feed = "demo"
listen = "127.0.0.1:0"
iface = "127.0.0.1"
ttl = 1
allow = ["239.255.78.0/24"]
map = ["239.255.77.0/24=239.255.78.0/24"]
merge = "{merge}"
"#,
        merge = if a.redundant { "testhdr" } else { "none" }
    ))?;
    // A key of its own, made now: the demo runs the feed authenticated, as
    // production must.
    let key = crate::wire::auth::Key::generate().to_line();
    cfg.validate(&|var| (var == "MCAST_RELAY_KEY").then(|| key.clone()))?;
    let (mut ing, eg): (IngressFeed, EgressFeed) = (cfg.ingress.remove(0), cfg.egress.remove(0));

    let obs = Obs::default();
    let stop = CancellationToken::new();
    let (http, _) = crate::obs::http::serve(a.http, obs.clone(), stop.clone()).await?;
    let health = obs.health.clone();
    tokio::spawn(async move { health.watchdog().await });
    // Bind the egress first so the ingress finds it listening.
    let eg = crate::egress::Egress::bind(vec![eg], &obs).await?;
    let tcp = eg.local_addrs()[0];
    ing.dests = vec![tcp.to_string()];
    let egress = tokio::spawn(eg.serve(stop.clone()));
    let senders: Vec<String> = if a.redundant {
        vec!["demo-a".into(), "demo-b".into()]
    } else {
        vec![crate::config::default_sender()]
    };
    let mut ingresses = Vec::new();
    for name in &senders {
        let mut f = ing.clone();
        f.sender = Some(name.clone());
        ingresses.push(tokio::spawn(
            crate::ingress::Ingress::start(f, &obs)?.run(stop.clone()),
        ));
    }
    if a.redundant {
        eprintln!(
            "demo: {src} -> two ingresses ({}) -> tcp {tcp} -> egress, merged by sequence -> {out}, all on the loopback",
            senders.join(", ")
        );
    } else {
        eprintln!("demo: {src} -> ingress -> tcp {tcp} -> egress -> {out}, all on the loopback");
    }
    eprintln!("demo: health and metrics at http://{http}/healthz and http://{http}/metrics");

    let ing_stats = obs.metrics.feed("demo", "ingress");
    let eg_stats = obs.metrics.feed("demo", "egress");
    let t0 = Instant::now();
    while (eg_stats.connected.get() as usize) < senders.len() || ing_stats.connected.get() < 1 {
        if t0.elapsed() > Duration::from_secs(5) {
            anyhow::bail!("the ingress did not connect to the egress within 5 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let listen_args = ListenArgs {
        kernel_time: false,
        groups: vec![out],
        source: None,
        iface: "127.0.0.1".into(),
        duration: None,
        expect: None,
        idle: None,
        json: false,
        quiet: true,
        rcvbuf: 8 << 20,
        format: listen::Format::Test,
        ab: vec![],
        fail_on_gap: false,
    };
    let pub_args = PublishArgs {
        groups: vec![src],
        iface: "127.0.0.1".into(),
        rate: a.rate,
        count: None,
        duration: Some(a.duration),
        size: a.size,
        ttl: 1,
        batch: 32,
        format: publish::PublishFormat::Test,
        channels: None,
    };
    let live = Arc::new(listen::Live::default());
    let sent = Arc::new(AtomicU64::new(0));
    let (lstop, pstop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let listener = {
        let (live, lstop) = (live.clone(), lstop.clone());
        tokio::task::spawn_blocking(move || listen::run(&listen_args, &lstop, &live))
    };
    // Let the listener join before the first datagram.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let publisher = {
        let (sent, pstop) = (sent.clone(), pstop.clone());
        tokio::task::spawn_blocking(move || publish::run(&pub_args, &pstop, &sent))
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let started = Instant::now();
    let mut killed = None;
    while !publisher.is_finished() {
        if a.redundant && killed.is_none() && started.elapsed() >= a.duration / 2 {
            // As a host dying would: no goodbye, the connection just drops.
            ingresses[0].abort();
            killed = Some(started.elapsed());
            eprintln!(
                "{:>5.1}s  killed {} (no goodbye); {} carries on",
                started.elapsed().as_secs_f64(),
                senders[0],
                senders[1]
            );
        }
        tokio::select! {
            _ = tick.tick() => eprintln!(
                "{:>5.1}s  sent {:>9}  relayed {:>9}  received {:>9}",
                started.elapsed().as_secs_f64(),
                sent.load(Ordering::Relaxed),
                eg_stats.datagrams_out.get(),
                live.unique.load(Ordering::Relaxed)
            ),
            _ = tokio::signal::ctrl_c() => pstop.store(true, Ordering::Relaxed),
        }
    }
    let report = publisher.await??;
    // Wait for the tail to drain through both relays, then stop listening.
    let t = Instant::now();
    while live.unique.load(Ordering::Relaxed) < report.sent && t.elapsed() < Duration::from_secs(3)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    lstop.store(true, Ordering::Relaxed);
    let heard = listener.await??;
    let health_code =
        crate::net::http_client::probe(&format!("http://{http}/healthz"), Duration::from_secs(1))
            .ok();
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        for i in ingresses {
            let _ = i.await;
        }
        let _ = egress.await;
    })
    .await;

    let lost = report.sent.saturating_sub(heard.unique);
    let l = &heard.latency_us;
    println!(
        "\nmcast-relay demo: {:.1} s at {} datagrams/s on the loopback",
        report.elapsed_s, a.rate
    );
    println!("| sent | received | lost | duplicates | reordered | p50 us | p99 us | p99.9 us |");
    println!("|-----:|---------:|-----:|-----------:|----------:|-------:|-------:|---------:|");
    println!(
        "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} |",
        report.sent, heard.unique, lost, heard.duplicates, heard.reordered, l.p50, l.p99, l.p999
    );
    if a.redundant {
        println!("\n| sender | delivered | first copies | later copies dropped |");
        println!("|---|---:|---:|---:|");
        for s in eg_stats.senders.all() {
            println!(
                "| {} | {} | {} | {} |",
                s.name,
                s.datagrams.get(),
                s.first.get(),
                s.late.get()
            );
        }
        if let Some(k) = killed {
            println!(
                "{} was killed at {:.1} s; the feed went on through {}.",
                senders[0],
                k.as_secs_f64(),
                senders[1]
            );
        }
    }
    println!(
        "health: http://{http}/healthz answered {}",
        health_code.map_or("nothing".to_string(), |c| c.to_string())
    );
    if lost > 0 {
        eprintln!("demo: {lost} datagrams lost");
    }
    Ok(lost == 0 && heard.gaps == 0)
}
