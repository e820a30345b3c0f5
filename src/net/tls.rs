//! Optional TLS on the link, with rustls: the egress is a TLS server (client
//! certificates optional), the ingress verifies it against a given CA.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Any byte stream a link runs over: plain TCP or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
pub type BoxStream = Box<dyn Stream>;

fn bad(what: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {e}", what.display()),
    )
}

fn certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let v: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(path, e))?;
    if v.is_empty() {
        return Err(bad(path, "no PEM certificate in it"));
    }
    Ok(v)
}

fn key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| bad(path, e))
}

fn roots(ca: &Path) -> io::Result<rustls::RootCertStore> {
    let mut r = rustls::RootCertStore::empty();
    for c in certs(ca)? {
        r.add(c).map_err(|e| bad(ca, e))?;
    }
    Ok(r)
}

/// The keying material both ends of one TLS session share (RFC 8446 7.5); a
/// middlebox that terminates TLS has a different one with each side.
fn exporter<D>(conn: &rustls::ConnectionCommon<D>) -> io::Result<[u8; 32]> {
    conn.export_keying_material([0u8; 32], crate::wire::kdf::TLS_EXPORTER_LABEL, None)
        .map_err(io::Error::other)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The ingress side.
#[derive(Clone)]
pub struct Client {
    connector: TlsConnector,
    server_name: Option<String>,
}

impl Client {
    pub fn new(
        ca: &Path,
        server_name: Option<String>,
        cert_key: Option<(&Path, &Path)>,
    ) -> io::Result<Client> {
        let b = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots(ca)?);
        let config = match cert_key {
            Some((c, k)) => b
                .with_client_auth_cert(certs(c)?, key(k)?)
                .map_err(|e| bad(c, e))?,
            None => b.with_no_client_auth(),
        };
        Ok(Client {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// Wrap a connected stream to `dest` (`host:port`), verifying the server.
    /// Also returns the TLS exporter value that binds the handshake to this TLS session.
    pub async fn connect(&self, dest: &str, tcp: TcpStream) -> io::Result<(BoxStream, [u8; 32])> {
        let host = self.server_name.clone().unwrap_or_else(|| {
            dest.rsplit_once(':')
                .map_or(dest, |(h, _)| h)
                .trim_matches(['[', ']'])
                .to_string()
        });
        let name = ServerName::try_from(host.clone()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} is not a TLS server name"),
            )
        })?;
        let s = self.connector.connect(name, tcp).await?;
        let exp = exporter(s.get_ref().1)?;
        Ok((Box::new(s), exp))
    }
}

/// The egress side.
#[derive(Clone)]
pub struct Server {
    acceptor: TlsAcceptor,
}

impl Server {
    pub fn new(cert: &Path, key_path: &Path, client_ca: Option<&Path>) -> io::Result<Server> {
        let b = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?;
        let b = match client_ca {
            Some(ca) => {
                let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(ca)?),
                    provider(),
                )
                .build()
                .map_err(|e| bad(ca, e))?;
                b.with_client_cert_verifier(v)
            }
            None => b.with_no_client_auth(),
        };
        let config = b
            .with_single_cert(certs(cert)?, key(key_path)?)
            .map_err(|e| bad(cert, e))?;
        Ok(Server {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Accept TLS on `tcp`; also returns the TLS exporter value.
    pub async fn accept(&self, tcp: TcpStream) -> io::Result<(BoxStream, [u8; 32])> {
        let s = self.acceptor.accept(tcp).await?;
        let exp = exporter(s.get_ref().1)?;
        Ok((Box::new(s), exp))
    }
}
