//! TLS for the proxy (rustls): the certificate and key read from PEM files at startup. The
//! handshakes run in the connections' tasks (`conn`), each with a deadline, so a client that
//! connects and never finishes its handshake holds neither the accept loop nor other clients.

use std::{path::Path, sync::Arc};

use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

/// The server's TLS settings from a PEM certificate chain and a PEM private key (PKCS#8,
/// PKCS#1 or SEC1). The error says which file is wrong and why, and that the key matches the
/// certificate is checked here, not at the first connection.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<rustls::ServerConfig>, (&'static str, String)> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ("tls_cert_file", format!("{}: {e}", cert_file.display())))?;
    if certs.is_empty() {
        return Err(("tls_cert_file", format!("{}: no PEM certificate in it", cert_file.display())));
    }
    let key =
        PrivateKeyDer::from_pem_file(key_file).map_err(|e| ("tls_key_file", format!("{}: {e}", key_file.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ("tls_cert_file", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ("tls_key_file", format!("{} does not go with the certificate: {e}", key_file.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
