// Puts the git revision into `--version`; a build without .git (a container
// build) may pass it in MCAST_RELAY_GIT_REV.
//
// The files to watch are asked of git: in a worktree `.git` is a file, and a
// path that does not exist would make cargo run this script (and rebuild the
// crate) on every build.
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=MCAST_RELAY_GIT_REV");
    // HEAD, the branch it names, and packed-refs (where a branch may live).
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    for w in &watch {
        if let Some(p) = git(&["rev-parse", "--git-path", w])
            && std::path::Path::new(&p).exists()
        {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    let rev = std::env::var("MCAST_RELAY_GIT_REV")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    println!(
        "cargo:rustc-env=MCAST_RELAY_GIT_REV={}",
        rev.unwrap_or_else(|| "unknown".into())
    );
}
