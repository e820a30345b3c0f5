//! The one HTTP client: plain HTTP/1.1, blocking, one request per connection,
//! for the relay's own tools (`health-probe`, as the runtime image has no
//! curl; the demo's health check; doctor's instance metadata service). A URL
//! is parsed once, into [`Url`]; every step of a request is bounded by one
//! deadline.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The most of a response that is read: plenty for a health check or a
/// metadata value, and a bound against a peer that never stops.
const MAX_RESPONSE: usize = 64 * 1024;

/// `http://HOST[:PORT][/PATH]`; the port is 80 and the path `/` unless given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    host_port: String,
    path: String,
}

impl Url {
    /// The same server, another path.
    pub fn with_path(&self, path: &str) -> Url {
        Url {
            host_port: self.host_port.clone(),
            path: path.to_string(),
        }
    }
}

impl FromStr for Url {
    type Err = HttpError;
    fn from_str(s: &str) -> Result<Url, HttpError> {
        let bad = || HttpError::BadUrl(s.to_string());
        let rest = s.strip_prefix("http://").ok_or_else(bad)?;
        let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        // Nothing that could end the request line or a header early.
        if host_port.is_empty() || rest.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
            return Err(bad());
        }
        Ok(Url {
            host_port: if host_port.contains(':') {
                host_port.to_string()
            } else {
                format!("{host_port}:80")
            },
            path: if path.is_empty() { "/" } else { path }.to_string(),
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_port, self.path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    /// With an empty body (IMDSv2's token request).
    Put,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// As sent, cut at `Content-Length`; a chunked body is not decoded (the
    /// servers asked here send a length).
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0:?} is not http://HOST[:PORT][/PATH]")]
    BadUrl(String),
    #[error("{host}: no answer in time")]
    Timeout { host: String },
    #[error("{host}: {source}")]
    Io {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host}: not an HTTP response")]
    NotHttp { host: String },
}

/// GET `url` within `timeout` and return the status code (`health-probe`).
pub fn probe(url: &str, timeout: Duration) -> Result<u16, HttpError> {
    let url: Url = url.parse()?;
    Ok(request(Method::Get, &url, &[], Instant::now() + timeout)?.status)
}

/// Send one request with `headers` and read the response, all before `deadline`.
pub fn request(
    method: Method,
    url: &Url,
    headers: &[(&str, &str)],
    deadline: Instant,
) -> Result<Response, HttpError> {
    let host = url.host_port.as_str();
    let io_err = |source: io::Error| {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            HttpError::Timeout { host: host.into() }
        } else {
            HttpError::Io {
                host: host.into(),
                source,
            }
        }
    };
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "none" to the socket calls.
        (!d.is_zero())
            .then_some(d)
            .ok_or(HttpError::Timeout { host: host.into() })
    };
    let addr = host
        .to_socket_addrs()
        .map_err(io_err)?
        .next()
        .ok_or_else(|| HttpError::BadUrl(url.to_string()))?;
    let mut s = TcpStream::connect_timeout(&addr, left()?).map_err(io_err)?;
    let (verb, length) = match method {
        Method::Get => ("GET", ""),
        Method::Put => ("PUT", "Content-Length: 0\r\n"),
    };
    let mut req = format!(
        "{verb} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{length}",
        url.path
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.set_write_timeout(Some(left()?)).map_err(io_err)?;
    s.write_all(req.as_bytes()).map_err(io_err)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(r) = parse(&buf) {
            return r.ok_or_else(|| HttpError::NotHttp { host: host.into() });
        }
        s.set_read_timeout(Some(left()?)).map_err(io_err)?;
        let n = s.read(&mut chunk).map_err(io_err)?;
        if n == 0 || buf.len() >= MAX_RESPONSE {
            // The peer closed (or said too much): what came is the response.
            return parse_all(&buf).ok_or_else(|| HttpError::NotHttp { host: host.into() });
        }
        buf.extend_from_slice(&chunk[..n.min(MAX_RESPONSE - buf.len())]);
    }
}

/// A whole response, once the head and `Content-Length` bytes are in;
/// `Some(None)`: the head is in and is not HTTP.
fn parse(buf: &[u8]) -> Option<Option<Response>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let Some(status) = status(&head) else {
        return Some(None);
    };
    let len = content_length(&head)?;
    let body = &buf[end + 4..];
    (body.len() >= len).then(|| {
        Some(Response {
            status,
            body: String::from_utf8_lossy(&body[..len]).into_owned(),
        })
    })
}

/// The response a closed connection left: its head and whatever body came.
fn parse_all(buf: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = match content_length(head) {
        Some(n) if n <= body.len() => &body[..n],
        _ => body,
    };
    Some(Response {
        status: status(head)?,
        body: body.to_string(),
    })
}

fn status(head: &str) -> Option<u16> {
    let mut line = head.lines().next()?.split_whitespace();
    line.next()
        .filter(|v| v.starts_with("HTTP/1."))
        .and(line.next())?
        .parse()
        .ok()
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// A server that answers one connection with `reply` (or not at all) and
    /// returns the request it read.
    fn serve(reply: Option<&'static str>) -> (Url, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", l.local_addr().unwrap())
            .parse()
            .unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = c.read(&mut b).unwrap();
                req.extend_from_slice(&b[..n]);
            }
            match reply {
                Some(r) => c.write_all(r.as_bytes()).unwrap(),
                None => std::thread::sleep(Duration::from_millis(500)),
            }
            String::from_utf8(req).unwrap()
        });
        (url, t)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn urls_parse_once_with_their_defaults() {
        let u: Url = "http://169.254.169.254".parse().unwrap();
        assert_eq!(u.to_string(), "http://169.254.169.254:80/");
        let u: Url = "http://127.0.0.1:9180/healthz".parse().unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:9180/healthz");
        assert_eq!(
            u.with_path("/readyz").to_string(),
            "http://127.0.0.1:9180/readyz"
        );
        for bad in [
            "https://a/",
            "127.0.0.1:9180",
            "http:///x",
            "http://a/b c",
            "http://a/\r\nX: y",
        ] {
            assert!(
                matches!(bad.parse::<Url>(), Err(HttpError::BadUrl(s)) if s == bad),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_get_reads_the_status_and_the_body_to_its_length() {
        let (url, t) = serve(Some(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\nignored",
        ));
        let r = request(Method::Get, &url, &[("X-A", "1")], soon()).unwrap();
        assert_eq!(
            r,
            Response {
                status: 200,
                body: "ok\n".into()
            }
        );
        let req = t.join().unwrap();
        assert!(req.starts_with("GET /x HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nX-A: 1\r\n") && req.contains("Connection: close"));
        assert!(!req.contains("Content-Length"), "{req}");
    }

    #[test]
    fn a_put_says_its_body_is_empty_and_a_closed_stream_ends_the_body() {
        let (url, t) = serve(Some("HTTP/1.0 401 Unauthorized\r\n\r\nno"));
        let r = request(Method::Put, &url, &[], soon()).unwrap();
        assert_eq!((r.status, r.body.as_str()), (401, "no"));
        assert!(t.join().unwrap().contains("\r\nContent-Length: 0\r\n"));
    }

    #[test]
    fn what_is_not_http_is_said_so() {
        let (url, t) = serve(Some("SSH-2.0-OpenSSH\r\n\r\n"));
        assert!(matches!(
            request(Method::Get, &url, &[], soon()),
            Err(HttpError::NotHttp { .. })
        ));
        t.join().unwrap();
    }

    #[test]
    fn a_silent_server_is_given_up_at_the_deadline() {
        let (url, t) = serve(None);
        let start = Instant::now();
        let r = request(Method::Get, &url, &[], start + Duration::from_millis(200));
        assert!(matches!(r, Err(HttpError::Timeout { .. })), "{r:?}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_millis(450),
            "{took:?}"
        );
        t.join().unwrap();
    }
}
