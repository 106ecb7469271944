//! Hashes under which secrets are stored and looked up.

use aws_lc_rs::digest;

/// Returns lowercase hex SHA-256 of `secret`. Tokens and codes carry at least 256 random bits,
/// so a plain digest is enough to store them without a password hash's cost.
pub fn secret_hash(secret: &str) -> String {
    hex(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
}
