//! TLS to Redis for the native tunnel (rustls with ring), as a call's `x-redis-tls` asks:
//! `verify` checks the node's certificate against the CA bundle (`--redis-ca`, else the
//! system's) and the name (`x-redis-server-name`, else the node's host); `on` encrypts and
//! checks nothing, as Kong's `ssl_verify: false`.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The system's CA bundle (Debian's ca-certificates), used without `--redis-ca`.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// What one call asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsWanted {
    pub verify: bool,
    pub server_name: Option<String>,
}

impl TlsWanted {
    /// From the call's headers: `x-redis-tls` (`verify` | `on`) and `x-redis-server-name`.
    pub fn from_headers(mode: Option<&str>, server_name: Option<&str>) -> Option<Self> {
        Some(Self {
            verify: mode? == "verify",
            server_name: server_name.filter(|n| !n.is_empty()).map(str::to_string),
        })
    }
}

/// The client configs of one gateway: one that verifies (when a CA bundle was found) and one
/// that does not.
pub struct Tls {
    verified: Result<Arc<ClientConfig>, String>,
    unverified: Arc<ClientConfig>,
}

impl Tls {
    /// The configs; a CA bundle that cannot be read fails only the calls that verify.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, String> {
        let provider = Arc::new(ring::default_provider());
        let builder = || {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("tls: {e}"))
        };
        let verified = roots(ca_file).and_then(|roots| {
            Ok(Arc::new(
                builder()?
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            ))
        });
        let unverified = builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider.clone())))
            .with_no_client_auth();
        Ok(Self {
            verified,
            unverified: Arc::new(unverified),
        })
    }

    /// The TLS handshake over `tcp` with the node `host` (its host part names it when the call
    /// names no server).
    pub async fn connect(
        &self,
        tcp: TcpStream,
        host: &str,
        wanted: &TlsWanted,
    ) -> Result<TlsStream<TcpStream>, String> {
        let config = if wanted.verify {
            self.verified.clone()?
        } else {
            self.unverified.clone()
        };
        let name = wanted.server_name.as_deref().unwrap_or(host).to_string();
        let name = ServerName::try_from(name.clone())
            .map_err(|_| format!("tls: {name:?} is not a server name"))?;
        TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls handshake failed: {e}"))
    }
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let path = ca_file.unwrap_or(Path::new(SYSTEM_BUNDLE));
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("tls: CA bundle {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("tls: CA bundle {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls: CA bundle {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("tls: no CA in {}", path.display()));
    }
    Ok(roots)
}

/// `ssl_verify: false`: any certificate is taken; the handshake's signatures are still checked,
/// so the channel is encrypted to whoever holds the key offered.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
