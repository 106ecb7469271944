//! Random values drawn from the operating system's CSPRNG through `aws-lc-rs`.

use aws_lc_rs::rand::{fill, SystemRandom, SecureRandom};

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Returns `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out).expect("the system random number generator failed");
    out
}

/// Returns a random string of `len` characters from `[A-Za-z0-9]`, without modulo bias.
///
/// Node's SDK draws its 32-character nonces and PKCE seeds from this alphabet; the server uses
/// the same form for error references and file names.
pub fn alphanumeric(len: usize) -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(len);
    let mut buffer = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buffer).expect("the system random number generator failed");
        for &byte in &buffer {
            // 62 * 4 = 248: rejecting bytes from 248 up keeps every character equally likely.
            if byte < 248 && out.len() < len {
                out.push(ALPHANUMERIC[(byte % 62) as usize] as char);
            }
        }
    }
    out
}

/// Returns a random base64url token carrying `N` bytes of entropy, for secrets such as codes
/// and access tokens.
pub fn token<const N: usize>() -> String {
    crate::b64::encode(bytes::<N>())
}
