//! Exit statuses: one per kind of outcome, so a script can tell a typo from
//! a lost datagram. Listed in `--help` and the man page (EXIT STATUS).

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, or stopped by SIGTERM/SIGINT.
    Ok = 0,
    /// A runtime failure: a relay, a socket, a file.
    Failure = 1,
    /// A usage or configuration error: fix the flags, the environment or the file.
    Usage = 2,
    /// listen: gaps found (--fail-on-gap) or fewer datagrams than --expect.
    Loss = 3,
    /// doctor: a check failed.
    CheckFailed = 4,
    /// health-probe: the endpoint is not healthy or does not answer.
    Unhealthy = 5,
}

impl Exit {
    pub const ALL: [Exit; 6] = [
        Exit::Ok,
        Exit::Failure,
        Exit::Usage,
        Exit::Loss,
        Exit::CheckFailed,
        Exit::Unhealthy,
    ];

    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "done, or stopped by SIGTERM/SIGINT",
            Exit::Failure => "a runtime failure (a relay, a socket, a file)",
            Exit::Usage => "a usage or configuration error (flags, environment or file)",
            Exit::Loss => "listen: gaps found (--fail-on-gap) or fewer datagrams than --expect",
            Exit::CheckFailed => "doctor: a check failed",
            Exit::Unhealthy => "health-probe: the endpoint is not healthy or does not answer",
        }
    }

    /// The EXIT STATUS section of `--help` and the man page.
    pub fn section() -> String {
        let mut s = String::from("Exit status:\n");
        for e in Exit::ALL {
            s.push_str(&format!("  {}  {}\n", e as u8, e.meaning()));
        }
        s
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// A failure that carries its exit status: configuration errors are
/// [`Exit::Usage`], everything else [`Exit::Failure`].
#[derive(Debug)]
pub struct Failed {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failed {
    fn from(e: E) -> Failed {
        let error = e.into();
        let exit = if error.is::<crate::config::ConfigError>() {
            Exit::Usage
        } else {
            Exit::Failure
        };
        Failed { exit, error }
    }
}
