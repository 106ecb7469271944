//! Compact JWS with PS512, the only algorithm the protocol uses.
//!
//! Client requests carry the header `{"alg":"PS512","typ":"JWT"}` and no `kid`; server tokens
//! add `jku` and `kid` so clients can find the verification key.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::keys::{RsaPrivateKey, RsaPublicKey};
use crate::{b64, ProtocolError};

/// The one algorithm name accepted in a JOSE header.
pub const ALGORITHM: &str = "PS512";

/// A JOSE header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// The signature algorithm; always `PS512` when Trove signs.
    pub alg: String,
    /// The token type, `JWT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Absolute URL of the JWKS holding the verification key (server tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jku: Option<String>,
    /// Id of the verification key within the JWKS (server tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl Header {
    /// Returns the header Node's `jsonwebtoken` emits for client requests.
    pub fn client() -> Self {
        Self { alg: ALGORITHM.into(), typ: Some("JWT".into()), jku: None, kid: None }
    }

    /// Returns the header of a server token: PS512 with the JWKS URL and key id.
    pub fn server(jku: impl Into<String>, kid: impl Into<String>) -> Self {
        Self { alg: ALGORITHM.into(), typ: Some("JWT".into()), jku: Some(jku.into()), kid: Some(kid.into()) }
    }
}

/// A compact JWS split into its parts, not yet verified.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// The decoded JOSE header.
    pub header: Header,
    /// The decoded payload JSON.
    pub payload: serde_json::Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl Unverified {
    /// Splits and decodes a compact JWS without checking its signature.
    pub fn parse(token: &str) -> Result<Self, ProtocolError> {
        let mut parts = token.split('.');
        let (Some(header_part), Some(payload_part), Some(signature_part), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ProtocolError::MalformedJwt("expected three dot-separated parts".into()));
        };
        let header_bytes = b64::decode(header_part)
            .map_err(|error| ProtocolError::MalformedJwt(format!("header is not base64url: {error}")))?;
        let header: Header = serde_json::from_slice(&header_bytes)
            .map_err(|error| ProtocolError::MalformedJwt(format!("header is not a JOSE header: {error}")))?;
        let payload_bytes = b64::decode(payload_part)
            .map_err(|error| ProtocolError::MalformedJwt(format!("payload is not base64url: {error}")))?;
        let payload: serde_json::Value = serde_json::from_slice(&payload_bytes)
            .map_err(|error| ProtocolError::MalformedJwt(format!("payload is not JSON: {error}")))?;
        if !payload.is_object() {
            return Err(ProtocolError::MalformedJwt("payload is not a JSON object".into()));
        }
        let signature = b64::decode(signature_part)
            .map_err(|error| ProtocolError::MalformedJwt(format!("signature is not base64url: {error}")))?;
        let signing_input = format!("{header_part}.{payload_part}");
        Ok(Self { header, payload, signing_input, signature })
    }

    /// Verifies the signature with `key`, accepting only PS512, and returns the payload.
    pub fn verify(self, key: &RsaPublicKey) -> Result<serde_json::Value, ProtocolError> {
        if self.header.alg != ALGORITHM {
            return Err(ProtocolError::UnsupportedAlgorithm(self.header.alg));
        }
        key.verify_ps512(self.signing_input.as_bytes(), &self.signature)?;
        Ok(self.payload)
    }
}

/// Verifies a compact JWS and deserializes its payload.
pub fn verify<T: DeserializeOwned>(token: &str, key: &RsaPublicKey) -> Result<T, ProtocolError> {
    let payload = Unverified::parse(token)?.verify(key)?;
    serde_json::from_value(payload)
        .map_err(|error| ProtocolError::MalformedJwt(format!("unexpected claims: {error}")))
}

/// Signs `claims` with `header` and returns the compact JWS.
pub fn sign<T: Serialize + ?Sized>(header: &Header, claims: &T, key: &RsaPrivateKey) -> Result<String, ProtocolError> {
    let header_json = serde_json::to_vec(header).map_err(|_| ProtocolError::Crypto("header serialization"))?;
    let claims_json = serde_json::to_vec(claims).map_err(|_| ProtocolError::Crypto("claims serialization"))?;
    let signing_input = format!("{}.{}", b64::encode(header_json), b64::encode(claims_json));
    let signature = key.sign_ps512(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64::encode(signature)))
}
