//! The server's JWKS, with the non-standard `pem` member the SDKs read.

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::keys::RsaPublicKey;

/// A key set document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys, newest first.
    pub keys: Vec<Jwk>,
}

/// One RSA signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// Key id, matched against a token's `kid`.
    pub kid: String,
    /// Always `sig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#use: Option<String>,
    /// Always `PS512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Modulus, base64url.
    pub n: String,
    /// Public exponent, base64url.
    pub e: String,
    /// PKCS#1 PEM of the same key (Node and iOS verify with this).
    pub pem: String,
}

impl Jwk {
    /// Describes `key` under `kid`.
    pub fn new(kid: &str, key: &RsaPublicKey) -> Self {
        Self {
            kty: "RSA".into(),
            kid: kid.into(),
            r#use: Some("sig".into()),
            alg: Some("PS512".into()),
            n: b64::encode(key.modulus()),
            e: b64::encode(key.exponent()),
            pem: key.to_pkcs1_pem(),
        }
    }
}
