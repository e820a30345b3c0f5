use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

const KEY_A: &str =
    "00112233aabbccdd:7f3a9c41e2d05b86a1f47c3e9d2b6085c4e1a7f3926d0b58e3c7a14f9b2d6e08";
const KEY_B: &str =
    "8899aabbccddeeff:1c9e5a7d3f08b62e4a91c7d5e3b0f86a2d4c19e7b5a3f0d68c2e4b1a97f53d06";

fn key_env(k: &str) -> Option<String> {
    (k == "MCAST_RELAY_KEY").then(|| KEY_A.to_string())
}

const GOOD: &str = r#"
http = "127.0.0.1:9180"
[[ingress]]
feed = "prod"
iface = "lo"
groups = ["239.111.111.1:6100"]
dests = ["relay.example:6667"]
[[egress]]
feed = "prod"
listen = "0.0.0.0:6667"
iface = "lo"
allow = ["239.0.0.0/8"]
map = ["239.111.111.0/24=239.200.0.0/24"]
"#;

#[test]
fn a_good_file_validates_with_defaults() {
    let mut c = Config::from_toml(GOOD).unwrap();
    c.validate(&key_env).unwrap();
    assert_eq!(c.egress[0].ttl, defaults::TTL);
    assert_eq!(c.ingress[0].window_secs, defaults::WINDOW_SECS);
    assert!(c.to_toml_redacted().contains("239.200.0.0/24"));
}

#[test]
fn errors_name_the_key_and_the_fix() {
    let e = Config::from_toml(&GOOD.replace("groups", "grups"))
        .unwrap_err()
        .0;
    assert!(e.contains("grups"), "{e}");
    let e = Config::from_toml(&GOOD.replace("239.111.111.1:6100", "10.0.0.1:6100"))
        .unwrap_err()
        .0;
    assert!(e.contains("not a multicast"), "{e}");
    let mut c = Config::from_toml(&GOOD.replace(r#"allow = ["239.0.0.0/8"]"#, "")).unwrap();
    let e = c.validate(&key_env).unwrap_err().0;
    assert!(
        e.contains("egress[0]") && e.contains(".allow") && e.contains("--allow"),
        "{e}"
    );
}

#[test]
fn spin_takes_the_one_runtime_thread_only() {
    let spin = format!("spin = true\n{GOOD}");
    let mut c = Config::from_toml(&spin).unwrap();
    c.validate(&key_env).unwrap();
    assert!(c.spin);
    let mut c = Config::from_toml(&format!("threads = 2\n{spin}")).unwrap();
    let e = c.validate(&key_env).unwrap_err().0;
    assert!(
        e.starts_with("spin:") && e.contains("threads = 1") && e.contains("--spin"),
        "{e}"
    );
}

#[test]
fn a_feed_without_a_key_is_refused_unless_insecure_on_purpose() {
    let mut c = Config::from_toml(GOOD).unwrap();
    let e = c.validate(&no_env).unwrap_err().0;
    assert!(
        e.starts_with("ingress[0] (feed \"prod\"): no key")
            && e.contains("mcast-relay keygen")
            && e.contains("--insecure-no-auth"),
        "{e}"
    );
    let open = GOOD
        .replace("dests = [", "insecure_no_auth = true\ndests = [")
        .replace("allow = [", "insecure_no_auth = true\nallow = [");
    let mut c = Config::from_toml(&open).unwrap();
    c.validate(&no_env).unwrap();
    assert!(c.ingress[0].keys.is_empty() && c.egress[0].insecure_no_auth);
    let mut c = Config::from_toml(&open).unwrap();
    let e = c.validate(&key_env).unwrap_err().0;
    assert!(e.contains("a key and insecure_no_auth both"), "{e}");
}

#[test]
fn allow_and_map_targets_must_be_multicast() {
    for (from, to, want) in [
        (
            r#"allow = ["239.0.0.0/8"]"#,
            r#"allow = ["0.0.0.0/0"]"#,
            ".allow: 0.0.0.0/0",
        ),
        (
            r#"allow = ["239.0.0.0/8"]"#,
            r#"allow = ["224.0.0.0/3"]"#,
            ".allow: 224.0.0.0/3",
        ),
        (
            r#"map = ["239.111.111.0/24=239.200.0.0/24"]"#,
            r#"map = ["224.0.0.0/3=224.0.0.0/3"]"#,
            ".map: 224.0.0.0/3=224.0.0.0/3",
        ),
    ] {
        let mut c = Config::from_toml(&GOOD.replace(from, to)).unwrap();
        let e = c.validate(&key_env).unwrap_err().0;
        assert!(e.contains(want) && e.contains("224.0.0.0/4"), "{e}");
    }
}

#[test]
fn an_unmapped_egress_on_the_ingress_interface_is_a_loop() {
    let mut c =
        Config::from_toml(&GOOD.replace(r#"map = ["239.111.111.0/24=239.200.0.0/24"]"#, ""))
            .unwrap();
    let e = c.validate(&key_env).unwrap_err().0;
    assert!(e.starts_with("loop"), "{e}");
}

#[test]
fn keys_come_from_the_feed_variable_first_and_never_print() {
    let env = |k: &str| match k {
        "MCAST_RELAY_KEY_PROD" => Some(format!("{KEY_A},{KEY_B}")),
        "MCAST_RELAY_KEY" => Some("not even a key".to_string()),
        _ => None,
    };
    let mut c = Config::from_toml(GOOD).unwrap();
    c.validate(&env).unwrap();
    assert_eq!(c.ingress[0].keys.current().len(), 2);
    let shown = c.to_toml_redacted() + &format!("{c:?}");
    assert!(
        !shown.contains("7f3a9c41") && !shown.contains("1c9e5a7d"),
        "{shown}"
    );
    assert!(shown.contains("00112233aabbccdd"), "ids are shown: {shown}");
    let bad = |k: &str| (k == "MCAST_RELAY_KEY_PROD").then(|| format!("{KEY_A}\nnope"));
    let e = Config::from_toml(GOOD)
        .unwrap()
        .validate(&bad)
        .unwrap_err()
        .0;
    assert!(e.contains("MCAST_RELAY_KEY_PROD: line 2: not a key"), "{e}");
}
