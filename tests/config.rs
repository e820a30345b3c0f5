//! One schema, three routes: every option of `ingress`, `egress` and `run`
//! set by the TOML file, by its `MCAST_RELAY_*` variable and by its flag
//! reaches the same effective value (`--print-config`, the configuration the
//! relay then runs), which differs from the default, and says where it came
//! from. The walk is over clap's own definition: a new option without a
//! sample here fails the test.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::CommandFactory;
use common::*;

/// How to set one option: its value on the command line and in the
/// environment (`None` for a switch: the flag alone, the variable "true"),
/// its TOML literal, and what the base configuration needs beside it.
struct Sample {
    value: Option<&'static str>,
    toml: &'static str,
    needs: &'static str,
    /// The option replaces the key (insecure_no_auth).
    keyless: bool,
}

const fn s(value: &'static str, toml: &'static str) -> Sample {
    Sample {
        value: Some(value),
        toml,
        needs: "",
        keyless: false,
    }
}

const fn with(value: &'static str, toml: &'static str, needs: &'static str) -> Sample {
    Sample {
        value: Some(value),
        toml,
        needs,
        keyless: false,
    }
}

const SWITCH_OFF: Sample = Sample {
    value: None,
    toml: "false",
    needs: "",
    keyless: false,
};

const SWITCH_ON: Sample = Sample {
    value: None,
    toml: "true",
    needs: "",
    keyless: false,
};

const KEYLESS: Sample = Sample {
    value: None,
    toml: "true",
    needs: "",
    keyless: true,
};

fn sample(role: &str, id: &str) -> Option<Sample> {
    Some(match (role, id) {
        (_, "http") => s("127.0.0.1:9999", r#""127.0.0.1:9999""#),
        (_, "log_format") => s("json", r#""json""#),
        (_, "emf_interval") => s("5s", r#""5s""#),
        (_, "degraded_after") => s("3s", "3"),
        (_, "threads") => s("2", "2"),
        (_, "cpus") => s("0", r#""0""#),
        (_, "cpu_dma_latency_us") => s("7", "7"),
        (_, "spin") => SWITCH_ON,
        (_, "iface") => s("127.0.0.1", r#""127.0.0.1""#),
        (_, "insecure_no_auth") => KEYLESS,
        (_, "batch") => s("32", "32"),
        ("ingress", "groups") => s("239.1.1.2:6200", r#"["239.1.1.2:6200"]"#),
        ("ingress", "source") => s("10.1.2.3", r#""10.1.2.3""#),
        ("ingress", "dests") => s("127.0.0.1:7777", r#"["127.0.0.1:7777"]"#),
        ("ingress", "sender") => s("dc-a", r#""dc-a""#),
        ("ingress", "encrypt") => SWITCH_OFF,
        ("ingress", "key_file") => s("@KEY2", r#""@KEY2""#),
        ("ingress", "window_bytes") => s("64MiB", r#""64MiB""#),
        ("ingress", "window_secs") => s("30s", "30"),
        ("ingress", "rcvbuf") => s("4MiB", "4194304"),
        ("ingress", "max_datagram") => s("1500", "1500"),
        ("ingress", "busy_poll") => s("50", "50"),
        ("ingress", "tls_ca") => s("/etc/ca.pem", r#""/etc/ca.pem""#),
        ("ingress", "tls_server_name") => s("relay.example", r#""relay.example""#),
        ("ingress", "tls_cert") => with(
            "/etc/c.pem",
            r#""/etc/c.pem""#,
            "tls_key = \"/etc/k.pem\"\ntls_ca = \"/etc/ca.pem\"",
        ),
        ("ingress", "tls_key") => with(
            "/etc/k.pem",
            r#""/etc/k.pem""#,
            "tls_cert = \"/etc/c.pem\"\ntls_ca = \"/etc/ca.pem\"",
        ),
        ("egress", "ttl") => s("4", "4"),
        ("egress", "allow") => s("239.203.0.0/16", r#"["239.203.0.0/16"]"#),
        ("egress", "map") => s(
            "239.1.0.0/16=239.2.0.0/16",
            r#"["239.1.0.0/16=239.2.0.0/16"]"#,
        ),
        ("egress", "fanout") => s("239.1.1.1=239.3.1.1", r#"["239.1.1.1=239.3.1.1"]"#),
        ("egress", "sndbuf") => s("2MiB", r#""2MiB""#),
        ("egress", "merge") => s("deribit", r#""deribit""#),
        ("egress", "merge_wait") => s("250ms", r#""250ms""#),
        ("egress", "state_dir") => s("/var/lib/x", r#""/var/lib/x""#),
        ("egress", "tls_cert") => with("/etc/c.pem", r#""/etc/c.pem""#, "tls_key = \"/etc/k.pem\""),
        ("egress", "tls_key") => with("/etc/k.pem", r#""/etc/k.pem""#, "tls_cert = \"/etc/c.pem\""),
        ("egress", "tls_client_ca") => with(
            "/etc/ca.pem",
            r#""/etc/ca.pem""#,
            "tls_cert = \"/etc/c.pem\"\ntls_key = \"/etc/k.pem\"",
        ),
        _ => return None,
    })
}

/// Options with a shape of their own (they pick or make feeds), walked by
/// the tests below instead.
const SHAPED: [&str; 6] = [
    "config",
    "print_config",
    "feed",
    "lines",
    "listens",
    "key_files",
];

const INGRESS: &str = r#"[[ingress]]
feed = "prod"
iface = "lo"
groups = ["239.1.1.1:6100"]
dests = ["127.0.0.1:6667"]
"#;

const EGRESS: &str = r#"[[egress]]
feed = "prod"
listen = "127.0.0.1:6667"
iface = "lo"
allow = ["239.0.0.0/8"]
"#;

struct Dir {
    path: PathBuf,
    key2: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("mcast-relay-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let key2 = key_file(&path, "second.key");
        Dir { path, key2 }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn key_file(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let k = mcast_relay::wire::auth::Key::generate().to_line();
    std::fs::write(&p, format!("{k}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// `--print-config` parsed: section ("" top level, "ingress", "egress") and
/// key to (value, origin), for the first feed of each role.
type Printed = BTreeMap<(String, String), (String, String)>;

fn print_config(
    role: &str,
    file: &str,
    env: &[(&str, &str)],
    flags: &[String],
    key: bool,
    dir: &Dir,
) -> Result<Printed, String> {
    let path = dir.path.join("relay.toml");
    std::fs::write(&path, file).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg(role)
        .arg("--config")
        .arg(&path)
        .arg("--print-config")
        .args(flags)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    if key {
        cmd.env("MCAST_RELAY_KEY", test_key());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    if !out.status.success() {
        return Err(format!(
            "{role} {flags:?} env {env:?}: exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut printed = Printed::new();
    let mut section = String::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(s) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            if printed.keys().any(|(sec, _)| sec == s) {
                section = format!("{s}+");
            } else {
                section = s.to_string();
            }
            continue;
        }
        let Some((kv, origin)) = line.split_once("  # ") else {
            continue;
        };
        let Some((k, v)) = kv.split_once(" = ") else {
            continue;
        };
        printed
            .entry((section.clone(), k.to_string()))
            .or_insert((v.to_string(), origin.to_string()));
    }
    Ok(printed)
}

fn base(role: &str) -> &'static str {
    if role == "egress" { EGRESS } else { INGRESS }
}

/// The base file of `role` with the TOML lines `top` set at the top level
/// and `feed` in its feed, replacing what the base has.
fn file_with(role: &str, top: &str, feed: &str) -> String {
    let mut root: toml::Table = toml::from_str(base(role)).unwrap();
    let top: toml::Table = toml::from_str(top).unwrap();
    let feed: toml::Table = toml::from_str(feed).unwrap();
    root.extend(top);
    let feeds = root.get_mut(role).and_then(|f| f.as_array_mut()).unwrap();
    feeds[0].as_table_mut().unwrap().extend(feed);
    toml::to_string(&root).unwrap()
}

#[test]
fn every_option_is_settable_by_file_environment_and_flag() {
    let dir = Dir::new();
    let root = mcast_relay::cli::Cli::command();
    let global: Vec<String> = root
        .find_subcommand("run")
        .unwrap()
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    let mut walked = 0;
    for role in ["ingress", "egress"] {
        let sub = root.find_subcommand(role).unwrap();
        for arg in sub.get_arguments() {
            let id = arg.get_id().as_str();
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version"].contains(&id) || SHAPED.contains(&id) {
                continue;
            }
            let sample = sample(role, id)
                .unwrap_or_else(|| panic!("{role} --{long}: no sample; add one to sample()"));
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("{role} --{long} has no environment variable"))
                .to_string_lossy()
                .into_owned();
            let is_global = global.iter().any(|g| g == id);
            let section = if is_global { "" } else { role };
            let subst = |v: &str| v.replace("@KEY2", dir.key2.to_str().unwrap());
            let key = !sample.keyless;
            let (top_needs, feed_needs) = if is_global {
                (sample.needs, "")
            } else {
                ("", sample.needs)
            };
            let needs_file = file_with(role, top_needs, feed_needs);
            let at = (section.to_string(), id.to_string());

            let default = print_config(role, &file_with(role, "", ""), &[], &[], true, &dir)
                .unwrap_or_else(|e| panic!("the base configuration: {e}"));
            let line = format!("{id} = {}", subst(sample.toml));
            let file = if is_global {
                file_with(role, &format!("{top_needs}\n{line}"), feed_needs)
            } else {
                file_with(role, top_needs, &format!("{feed_needs}\n{line}"))
            };
            let by_file = print_config(role, &file, &[], &[], key, &dir).unwrap();
            let env_value = subst(sample.value.unwrap_or("true"));
            let by_env = print_config(
                role,
                &needs_file,
                &[(env.as_str(), env_value.as_str())],
                &[],
                key,
                &dir,
            )
            .unwrap();
            let mut flags = vec![format!("--{long}")];
            if let Some(v) = sample.value {
                flags.push(subst(v));
            }
            let by_flag = print_config(role, &needs_file, &[], &flags, key, &dir).unwrap();

            let got = |p: &Printed, how: &str| {
                p.get(&at)
                    .cloned()
                    .unwrap_or_else(|| panic!("{role} {id} by {how}: not printed: {p:?}"))
            };
            let (f, e, l) = (
                got(&by_file, "file"),
                got(&by_env, "env"),
                got(&by_flag, "flag"),
            );
            assert_eq!(f.0, e.0, "{role} {id}: file and environment disagree");
            assert_eq!(f.0, l.0, "{role} {id}: file and flag disagree");
            if let Some(d) = default.get(&at) {
                assert_ne!(d.0, f.0, "{role} {id}: the sample is the default");
            }
            assert!(f.1.starts_with("file "), "{role} {id}: {f:?}");
            assert_eq!(e.1, format!("env {env}"), "{role} {id}");
            assert_eq!(l.1, format!("flag --{long}"), "{role} {id}");
            walked += 1;
        }
    }
    assert!(walked >= 35, "walked only {walked} options");
}

#[test]
fn busy_poll_from_flags_reaches_the_feed() {
    // The defect this schema ended: a feed given by flags ran with busy_poll 0.
    let dir = Dir::new();
    let flags: Vec<String> = [
        "--feed",
        "t",
        "--iface",
        "lo",
        "--group",
        "239.1.1.1:6100",
        "--dest",
        "127.0.0.1:6667",
        "--busy-poll",
        "50",
    ]
    .map(String::from)
    .to_vec();
    let p = print_config("ingress", "", &[], &flags, true, &dir).unwrap();
    let at = ("ingress".to_string(), "busy_poll".to_string());
    assert_eq!(p[&at], ("50".into(), "flag --busy-poll".into()));
}

#[test]
fn feed_flags_pick_the_named_feed_or_every_feed_of_the_file() {
    let dir = Dir::new();
    let two = format!("{INGRESS}{}", INGRESS.replace("prod", "dev"));
    let at = |sec: &str, k: &str| (sec.to_string(), k.to_string());
    // No --feed: every file feed takes the flag.
    let p = print_config(
        "ingress",
        &two,
        &[],
        &["--batch".into(), "8".into()],
        true,
        &dir,
    )
    .unwrap();
    assert_eq!(p[&at("ingress", "batch")].0, "8");
    assert_eq!(p[&at("ingress+", "batch")].0, "8");
    // --feed dev: only dev.
    let flags = ["--feed", "dev", "--batch", "8"].map(String::from).to_vec();
    let p = print_config("ingress", &two, &[], &flags, true, &dir).unwrap();
    assert_eq!(p[&at("ingress", "batch")], ("64".into(), "default".into()));
    assert_eq!(
        p[&at("ingress+", "batch")],
        ("8".into(), "flag --batch".into())
    );
    // --line: the feed becomes one per line, each on its interface.
    let flags = ["--line", "A=lo,B=127.0.0.1"].map(String::from).to_vec();
    let p = print_config("ingress", INGRESS, &[], &flags, true, &dir).unwrap();
    assert_eq!(
        p[&at("ingress", "line")],
        (r#""A""#.into(), "flag --line".into())
    );
    assert_eq!(p[&at("ingress+", "iface")].0, r#""127.0.0.1""#);
    let p = print_config(
        "ingress",
        INGRESS,
        &[("MCAST_RELAY_LINE", "A=lo")],
        &[],
        true,
        &dir,
    )
    .unwrap();
    assert_eq!(p[&at("ingress", "line")].1, "env MCAST_RELAY_LINE");
    // A feed flag with no feed anywhere says what is missing.
    let e = print_config(
        "ingress",
        "",
        &[],
        &["--batch".into(), "8".into()],
        true,
        &dir,
    )
    .unwrap_err();
    assert!(e.contains("--feed NAME is required"), "{e}");
}

#[test]
fn egress_listen_and_key_file_name_their_feed() {
    let dir = Dir::new();
    let at = |sec: &str, k: &str| (sec.to_string(), k.to_string());
    let k = key_file(&dir.path, "prod.key");
    let flags = vec![
        "--listen".to_string(),
        "prod=127.0.0.1:7001".into(),
        "--listen".into(),
        "extra=127.0.0.1:7002".into(),
        "--allow".into(),
        "239.9.0.0/16".into(),
        "--iface".into(),
        "lo".into(),
        "--key-file".into(),
        format!("prod={}", k.display()),
    ];
    let p = print_config("egress", EGRESS, &[], &flags, true, &dir).unwrap();
    assert_eq!(
        p[&at("egress", "listen")],
        (r#""127.0.0.1:7001""#.into(), "flag --listen".into())
    );
    assert_eq!(p[&at("egress", "key_file")].1, "flag --key-file");
    assert_eq!(p[&at("egress+", "allow")].1, "flag --allow");
    assert!(!p.contains_key(&at("egress+", "key_file")), "{p:?}");
    // The new feed has only the feed flags: the file's interface is not its.
    let e = print_config("egress", EGRESS, &[], &flags[..6], true, &dir).unwrap_err();
    assert!(e.contains("egress[1]") && e.contains("iface"), "{e}");
    let env = [("MCAST_RELAY_LISTEN", "prod=127.0.0.1:7003")];
    let p = print_config("egress", EGRESS, &env, &[], true, &dir).unwrap();
    assert_eq!(
        p[&at("egress", "listen")],
        (
            r#""127.0.0.1:7003""#.into(),
            "env MCAST_RELAY_LISTEN".into()
        )
    );
    let e = print_config(
        "egress",
        EGRESS,
        &[],
        &["--key-file".into(), "nope=/x".into()],
        true,
        &dir,
    )
    .unwrap_err();
    assert!(e.contains("--key-file nope=/x: no feed \"nope\""), "{e}");
}

#[test]
fn sizes_and_durations_take_units_where_help_shows_them() {
    let out = Command::new(BIN)
        .args(["ingress", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for shown in ["[default: 768MiB]", "[default: 1m]", "[default: 8MiB]"] {
        assert!(help.contains(shown), "ingress --help lacks {shown}");
    }
    let dir = Dir::new();
    let flags = [
        "--window-bytes",
        "768MiB",
        "--window-secs",
        "1m",
        "--degraded-after",
        "10s",
    ]
    .map(String::from)
    .to_vec();
    print_config("ingress", INGRESS, &[], &flags, true, &dir).unwrap();
    let e = print_config(
        "ingress",
        INGRESS,
        &[],
        &["--window-bytes".into(), "lots".into()],
        true,
        &dir,
    )
    .unwrap_err();
    assert!(
        e.contains("exit Some(2)") && e.contains("is not a size"),
        "{e}"
    );
}

#[test]
fn check_config_prints_each_origin() {
    let dir = Dir::new();
    let path = dir.path.join("check.toml");
    std::fs::write(&path, format!("emf_interval = 0\n{EGRESS}")).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&path)
        .env("MCAST_RELAY_KEY", test_key())
        .env("MCAST_RELAY_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("emf_interval = \"0s\"  # file {}", path.display())),
        "{text}"
    );
    assert!(
        text.contains("log_format = \"json\"  # env MCAST_RELAY_LOG_FORMAT"),
        "{text}"
    );
    assert!(text.contains("ttl = 32  # default"), "{text}");
}

#[test]
fn busy_poll_takes_effect_on_the_running_sockets_by_every_route() {
    if !root_or_skip("to set SO_BUSY_POLL above net.core.busy_read") {
        return;
    }
    let dir = Dir::new();
    let file = dir.path.join("busy.toml");
    std::fs::write(
        &file,
        INGRESS.replace("[[ingress]]", "[[ingress]]\nbusy_poll = 50"),
    )
    .unwrap();
    let base = |cmd: &mut Command| {
        cmd.args(["ingress", "--http", &format!("127.0.0.1:{}", free_tcp())])
            .env("MCAST_RELAY_KEY", test_key())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
    };
    let flags = FLAG_FEED;
    for route in ["file", "env", "flag"] {
        let mut cmd = Command::new(BIN);
        base(&mut cmd);
        match route {
            "file" => cmd.arg("--config").arg(&file),
            "env" => cmd.args(flags).env("MCAST_RELAY_BUSY_POLL", "50"),
            _ => cmd.args(flags).args(["--busy-poll", "50"]),
        };
        let p = Proc::adopt(cmd.spawn().unwrap(), "ingress");
        let joined = p
            .wait_for("ingress joined", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{route}: no join: {}", p.logged()));
        // The value read back from the socket, not the one configured.
        assert!(joined.contains("busy_poll_us=50"), "{route}: {joined}");
    }
}

#[test]
fn the_configuration_reference_is_the_schemas() {
    let out = Command::new(BIN).arg("config-reference").output().unwrap();
    assert!(out.status.success());
    let made = String::from_utf8(out.stdout).unwrap();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIG.md"))
        .expect("docs/CONFIG.md");
    assert!(
        doc == made,
        "docs/CONFIG.md is not what the schema says; run `cargo run -- config-reference > docs/CONFIG.md`"
    );
    // Every option of every relay is in it.
    let root = mcast_relay::cli::Cli::command();
    for role in ["ingress", "egress", "run"] {
        for arg in root.find_subcommand(role).unwrap().get_arguments() {
            if let Some(l) = arg
                .get_long()
                .filter(|l| !["help", "print-config"].contains(l))
            {
                assert!(
                    doc.contains(&format!("`--{l}`")),
                    "--{l} of {role} is missing"
                );
            }
        }
    }
}
