//! CloudWatch Embedded Metric Format lines on stdout.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Obs;

/// Print one EMF line per feed every `interval` until `stop`.
pub async fn run(obs: Obs, interval: Duration, stop: CancellationToken) {
    let _ = (obs, interval);
    stop.cancelled().await;
}
