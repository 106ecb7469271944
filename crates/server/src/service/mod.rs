//! What the server does, independent of HTTP: keys, tokens, sealing, import and read-back.

pub mod criteria;
pub mod directory;
pub mod delivery;
pub mod download;
pub mod envelope;
pub mod hashing;
pub mod ingest;
pub mod key_cache;
pub mod passwords;
pub mod provider_oauth;
pub mod providers;
pub mod sealed_body;
pub mod signing;
pub mod zal;
