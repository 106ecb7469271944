//! Base64url without padding, the encoding of JWS parts, PKCE values and `x-metadata`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, with or without padding (Node's decoder accepts both).
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    if text.ends_with('=') {
        URL_SAFE.decode(text)
    } else {
        URL_SAFE_NO_PAD.decode(text)
    }
}

/// Encodes bytes as standard base64 with padding, as PEM bodies use.
pub fn encode_standard(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64 with padding.
pub fn decode_standard(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text)
}
