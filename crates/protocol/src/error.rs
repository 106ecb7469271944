//! The error type of this crate.

/// A failure to parse, verify, sign, encrypt or decrypt protocol data.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The PEM or DER text is not an RSA key in a supported form.
    #[error("invalid RSA key: {0}")]
    InvalidKey(String),
    /// The JWS is not three base64url parts with a JSON header and payload.
    #[error("malformed JWT: {0}")]
    MalformedJwt(String),
    /// The JWS header names an algorithm other than PS512.
    #[error("unsupported JWT algorithm {0:?}: only PS512 is accepted")]
    UnsupportedAlgorithm(String),
    /// The signature does not verify against the given key.
    #[error("JWT signature verification failed")]
    BadSignature,
    /// A cryptographic primitive failed (key generation, signing, encryption).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// An encrypted file is too short, not block aligned, or does not decrypt.
    #[error("file decryption failed: {0}")]
    Decryption(String),
}
