//! `doctor`: check a host for what the design learned the hard way.

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Example:\n  mcast-relay doctor --iface eth0")]
pub struct DoctorArgs {
    /// Interface the relay or receiver uses: a name or an IPv4 address.
    #[arg(long, default_value = "127.0.0.1", env = "MCAST_RELAY_IFACE")]
    pub iface: String,
}

/// Run every check and print the results; `Ok(true)` when none failed.
pub async fn run(_a: DoctorArgs) -> anyhow::Result<bool> {
    anyhow::bail!("doctor is not written yet")
}
