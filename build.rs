// Puts the git revision into `--version`; a build without .git (a container
// build) may pass it in MCAST_RELAY_GIT_REV.
fn main() {
    println!("cargo:rerun-if-env-changed=MCAST_RELAY_GIT_REV");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    let rev = std::env::var("MCAST_RELAY_GIT_REV")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            let out = std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        });
    println!(
        "cargo:rustc-env=MCAST_RELAY_GIT_REV={}",
        rev.unwrap_or_else(|| "unknown".into())
    );
}
