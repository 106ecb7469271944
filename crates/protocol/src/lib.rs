//! Wire-level pieces of the digi.me API as Trove serves and speaks it.
//!
//! This crate holds what both ends of the protocol must agree on byte for byte: the PS512 JWS
//! used for every signed request and server token ([`jws`]), the claim sets ([`claims`]), PKCE
//! ([`pkce`]), RSA key handling ([`keys`]), the encrypted download layout ([`encrypted_file`])
//! and the JSON shapes of requests and responses ([`wire`]). It has no HTTP or storage
//! dependencies, so the server, the SDK and the CLI all build on it.
//!
//! Cryptography comes from `aws-lc-rs`: RSA-PSS, RSA-OAEP, AES and SHA-2.
#![warn(missing_docs)]

pub mod b64;
pub mod claims;
pub mod encrypted_file;
pub mod error;
pub mod jws;
pub mod keys;
pub mod pem;
pub mod pkce;
pub mod random;
pub mod time;
pub mod wire;

pub use error::ProtocolError;
