//! The command line follows the conventions: every argument explained,
//! exit statuses distinct and documented, a closed pipe ends a tool quietly.

mod common;

use std::process::{Command, Stdio};

use clap::CommandFactory;
use common::BIN;
use mcast_relay::cli::{Cli, Exit};

#[test]
fn every_argument_of_every_subcommand_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if ["help", "version"].contains(&id) {
                continue;
            }
            if arg
                .get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(format!("{path} {} (no about)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "mcast-relay", &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:#?}");
}

#[test]
fn help_and_the_man_page_list_exit_statuses_and_the_environment() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let man = Command::new(BIN).arg("man").output().unwrap();
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(man.contains(".SH \"EXIT STATUS\"") && man.contains(".SH ENVIRONMENT"));
    for e in Exit::ALL {
        let code = e as u8;
        assert!(
            help.contains(&format!("  {code}  {}", e.meaning())),
            "--help lacks {code}"
        );
        assert!(man.contains(&format!("\\fB{code}\\fR")), "man lacks {code}");
    }
    // Every variable any subcommand reads, in the man page.
    fn vars(cmd: &clap::Command, out: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if let Some(e) = a.get_env() {
                out.push(e.to_string_lossy().into_owned());
            }
        }
        cmd.get_subcommands().for_each(|s| vars(s, out));
    }
    let mut all = Vec::new();
    vars(&Cli::command(), &mut all);
    assert!(all.len() > 40, "only {} variables", all.len());
    for v in all {
        assert!(man.contains(&v), "man page lacks {v}");
    }
}

#[test]
fn variables_of_one_subcommand_do_not_reach_the_tools() {
    // A relay's environment (MCAST_RELAY_IFACE and so on) must not steer
    // publish, listen or replay run in the same shell.
    let root = Cli::command();
    let relay_vars: Vec<String> = ["ingress", "egress", "run"]
        .iter()
        .flat_map(|r| root.find_subcommand(r).unwrap().get_arguments())
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    for tool in ["publish", "listen", "replay", "doctor"] {
        for a in root.find_subcommand(tool).unwrap().get_arguments() {
            if let Some(e) = a.get_env() {
                let e = e.to_string_lossy();
                assert!(
                    !relay_vars.iter().any(|r| *r == e),
                    "{tool} reads the relays' {e}"
                );
            }
        }
    }
}

#[test]
fn exit_statuses_tell_usage_from_configuration_from_loss() {
    let code = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env_remove("MCAST_RELAY_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(code(&["--no-such-flag"]), Some(Exit::Usage as i32));
    assert_eq!(
        code(&["ingress", "--window-bytes", "lots"]),
        Some(Exit::Usage as i32)
    );
    // A configuration error (no key) is a usage error too, not a runtime one.
    assert_eq!(
        code(&[&["ingress"][..], &common::FLAG_FEED].concat()),
        Some(Exit::Usage as i32)
    );
    // Nothing to probe: unhealthy.
    let port = common::free_tcp().to_string();
    assert_eq!(
        code(&[
            "health-probe",
            "--url",
            &format!("http://127.0.0.1:{port}/healthz"),
            "--timeout",
            "300ms"
        ]),
        Some(Exit::Unhealthy as i32)
    );
    assert_eq!(code(&["keygen"]), Some(0));
}

#[test]
fn a_closed_stdout_ends_a_tool_quietly() {
    for args in [
        &["man"][..],
        &["config-reference"],
        &["completions", "bash"],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the tool writes (as `| head` does).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_taken_http_port_names_the_flag_to_change() {
    // An ingress and an egress on one host both default to 127.0.0.1:9180.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["ingress", "--http", &format!("127.0.0.1:{port}")])
        .args(common::FLAG_FEED)
        .env("MCAST_RELAY_KEY", common::test_key())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(Exit::Failure as i32), "{err}");
    assert!(
        err.contains("--http") && err.contains("MCAST_RELAY_HTTP") && err.contains("in use"),
        "{err}"
    );
}
