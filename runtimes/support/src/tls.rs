//! The TLS client configuration both runtimes' WebSockets (and the smol runtime's HTTP) use.

use std::sync::Arc;

use crate::Error;

/// A rustls client configuration on the ring provider, trusting the webpki roots, or exactly
/// `roots` (DER certificates) when any are given.
pub fn client_config(roots: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut store = rustls::RootCertStore::empty();
    if roots.is_empty() {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        for der in roots {
            store
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| Error::setup("a root certificate", e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::setup("TLS", e))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_root_is_a_setup_error() {
        assert!(client_config(&[]).is_ok());
        let e = client_config(&[b"not a certificate".to_vec()]).unwrap_err();
        assert!(matches!(e, Error::Setup(_)), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
