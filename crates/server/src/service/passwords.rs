//! Library passwords, stored as argon2id PHC strings.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in bytes; longer input is rejected before hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// How long a sign-in waits for a free hashing slot before it is turned away.
const PERMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits for one of the process-wide argon2 slots (one per CPU). Each argon2id check uses 19
/// MiB and tens of milliseconds of CPU, so unbounded parallel sign-ins would exhaust memory.
/// Returns `None` when no slot frees up within a few seconds.
pub async fn hashing_permit() -> Option<tokio::sync::SemaphorePermit<'static>> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map(|count| count.get()).unwrap_or(2);
        tokio::sync::Semaphore::new(cpus)
    });
    tokio::time::timeout(PERMIT_WAIT, slots.acquire()).await.ok()?.ok()
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes = trove_protocol::random::bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|error| error.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| error.to_string())
}

/// Checks a password against a stored PHC string.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Returns a PHC string to verify against when the username is unknown, so that the response time does
/// not reveal which usernames exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never valid").expect("argon2 hashing"))
}
