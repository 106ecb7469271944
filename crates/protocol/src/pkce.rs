//! PKCE (RFC 7636) with the S256 method, built the way the Node SDK builds it.

use aws_lc_rs::digest;

use crate::{b64, random};

/// Creates a code verifier: base64url of 32 random alphanumeric characters (43 characters).
pub fn create_verifier() -> String {
    b64::encode(random::alphanumeric(32))
}

/// Computes the S256 challenge: base64url of the SHA-256 of the verifier's ASCII bytes.
pub fn challenge(verifier: &str) -> String {
    b64::encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Checks a verifier against a stored S256 challenge in constant time.
pub fn verify(verifier: &str, expected_challenge: &str) -> bool {
    let computed = challenge(verifier);
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), expected_challenge.as_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_has_node_shape() {
        let verifier = create_verifier();
        assert_eq!(verifier.len(), 43);
        assert!(verify(&verifier, &challenge(&verifier)));
        assert!(!verify(&verifier, &challenge("other")));
    }
}
