//! Helpers shared by Trove's tests, benchmarks and `trove demo`.
//!
//! [`TestServer`] runs the real server in this process on an ephemeral loopback port with a
//! temporary data directory, and registers applications and contracts the way `trove admin`
//! does. The consent browser walks the consent pages with plain form submissions.

pub mod consent_browser;
pub mod server;

pub use server::{RegisteredContract, TestServer};
