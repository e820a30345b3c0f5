//! The parts of `--help` and the man page that clap does not write: exit
//! statuses and the environment.

use std::collections::BTreeMap;
use std::io::Write;

use clap::CommandFactory;

use super::{Cli, Exit};

/// Variables read outside the flags' own `env`.
const OTHER_ENV: [(&str, &str); 5] = [
    (
        "MCAST_RELAY_KEY_<FEED>",
        "The key list of feed FEED (upper case, - and . as _), when it has no key_file.",
    ),
    (
        "MCAST_RELAY_KEY",
        "The key list of every feed with neither a key_file nor its own variable.",
    ),
    ("RUST_LOG", "Log filter (e.g. info, mcast_relay=debug)."),
    (
        "NO_COLOR",
        "Set: no colours in log lines, even on a terminal.",
    ),
    (
        "MCAST_RELAY_CI",
        "Set (by .ci/run): a test whose prerequisite is missing fails instead of skipping.",
    ),
];

pub fn top_after_help() -> String {
    format!(
        "Start with `mcast-relay demo`: it runs the whole path on the loopback.\nSee README.md and docs/ for the design, the protocol and deployment.\n\nEnvironment: every relay flag has its MCAST_RELAY_* variable (in each subcommand's --help);\nkeys come from MCAST_RELAY_KEY_<FEED> or MCAST_RELAY_KEY when a feed has no key file.\n\n{}",
        Exit::section()
    )
}

/// Every variable the command line reads, with the subcommands that read it.
pub fn environment() -> BTreeMap<String, (String, Vec<String>)> {
    let mut vars: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for sub in Cli::command().get_subcommands() {
        for arg in sub.get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let e = vars
                .entry(env.to_string_lossy().into_owned())
                .or_insert_with(|| (help, Vec::new()));
            e.1.push(sub.get_name().to_string());
        }
    }
    vars
}

fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('-', "\\-")
        .replace('\n', " ")
}

/// The man page: clap's sections, then EXIT STATUS and ENVIRONMENT.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(Cli::command());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for e in Exit::ALL {
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            e as u8,
            roff_escape(e.meaning())
        )?;
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    for (var, (help, subs)) in environment() {
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{} (read by: {})",
            roff_escape(&var),
            roff_escape(&help),
            subs.join(", ")
        )?;
    }
    for (var, help) in OTHER_ENV {
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            roff_escape(var),
            roff_escape(help)
        )?;
    }
    man.render_version_section(out)?;
    Ok(())
}
