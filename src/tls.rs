//! TLS (cargo feature `tls`): the certificate and key from PEM files, and
//! the rustls server configuration built from them.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// The first byte of a TLS record carrying a handshake (a ClientHello).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// Loads `cert` (a PEM chain, leaf first) and `key` (a PEM private key) and
/// builds the server configuration.
///
/// # Errors
///
/// [`Error::File`] naming the file that is missing, unreadable, not PEM, or
/// holds a key that does not fit the certificate.
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
