//! TLS (cargo feature `tls`): the session and configuration types, the
//! certificate and key from PEM files, and the rustls server configuration
//! built from them. Without the feature the types exist but have no values.

#[cfg(feature = "tls")]
use std::path::Path;
#[cfg(feature = "tls")]
use std::sync::Arc;

#[cfg(feature = "tls")]
use rustls::pki_types::pem::PemObject;
#[cfg(feature = "tls")]
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[cfg(feature = "tls")]
use crate::error::{Error, Result};

/// A TLS server session.
#[cfg(feature = "tls")]
pub type TlsSession = rustls::ServerConnection;
/// A TLS server session: none can exist in a build without the `tls` feature.
#[cfg(not(feature = "tls"))]
#[derive(Debug)]
pub enum TlsSession {}

/// The server's TLS configuration.
#[cfg(feature = "tls")]
pub type TlsConfig = Arc<rustls::ServerConfig>;
/// The server's TLS configuration: none can exist without the `tls` feature.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub enum TlsConfig {}

/// The first byte of a TLS record carrying a handshake (a ClientHello).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// Loads `cert` (a PEM chain, leaf first) and `key` (a PEM private key) and
/// builds the server configuration.
///
/// # Errors
///
/// [`Error::File`] naming the file that is missing, unreadable, not PEM, or
/// holds a key that does not fit the certificate.
#[cfg(feature = "tls")]
pub fn load(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let file_error = |path: &Path, message: String| Error::File { path: path.to_path_buf(), message };
    std::fs::metadata(cert).map_err(|e| file_error(cert, format!("cannot read the certificate: {e}")))?;
    std::fs::metadata(key).map_err(|e| file_error(key, format!("cannot read the key: {e}")))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| file_error(cert, format!("not a PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(cert, "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_error(key, format!("not a PEM private key: {e}")))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| file_error(key, format!("does not fit the certificate {}: {e}", cert.display())))?;
    Ok(Arc::new(config))
}
