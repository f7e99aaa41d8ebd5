//! Checks of the `acme_jws` fuzz target: arbitrary bytes as an ACME request
//! body (flattened JWS), as a JWK, and as an external account binding must
//! be answered with an error or a value, never a panic; what parses keeps
//! its invariants (an `alg` the server accepts, a non-empty `url`, a key
//! whose algorithm is the header's), and every error becomes a problem
//! document with a 4xx status.

use fastpki::api::acme::{ExternalAccountBinding, Jwk, Jws, Signer};
use fastpki::service::acme::Problem;

pub fn run(data: &[u8]) {
    match Jws::parse(data) {
        Ok(jws) => {
            let header = jws.header().clone();
            assert!(!header.url.is_empty());
            assert!(!header.nonce.is_empty());
            if let Signer::Jwk(key) = &header.signer {
                assert_eq!(key.algorithm(), header.alg);
                assert_eq!(key.thumbprint().len(), 43);
                // A JWK's canonical form parses back to the same key.
                let again = Jwk::from_json(key.canonical_json().as_bytes()).expect("canonical JWK");
                assert_eq!(again.thumbprint(), key.thumbprint());
                if let Err(e) = jws.verify_with_jwk() {
                    client_error(e.into());
                }
            }
        }
        Err(e) => client_error(e.into()),
    }
    if let Err(e) = Jwk::from_json(data) {
        client_error(e.into());
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Err(e) = ExternalAccountBinding::parse(&value)
    {
        client_error(e.into());
    }
}

fn client_error(p: Problem) {
    let status = p.http_status();
    assert!((400..500).contains(&status), "{p:?} answers {status}");
    assert!(!p.detail.is_empty());
}
