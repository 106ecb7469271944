//! Envelope encryption at rest: every file and every server signing key is sealed with its own
//! random key, and that key is wrapped by a master key named by a key id stored beside the
//! ciphertext, so master keys can be rotated by adding a new one.
//!
//! Master keys come from `TROVE_MASTER_KEY` (`<kid>:<base64 of 32 bytes>`, several separated by
//! commas, the last one active), or else from `<data dir>/master.keys` (one such entry per line),
//! which is created with one key and mode 0600 on first start.

use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use trove_protocol::{b64, random};

const KEY_FILE: &str = "master.keys";

/// A failure to load keys or to open sealed data.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// No master key with the id a ciphertext names.
    #[error("master key {0:?} is not configured")]
    UnknownKey(String),
    /// The ciphertext or its tag is wrong.
    #[error("sealed data failed authentication")]
    Tampered,
    /// The key file or variable is malformed.
    #[error("invalid master key configuration: {0}")]
    Config(String),
    /// Reading or creating the key file failed.
    #[error("master key file: {0}")]
    Io(#[from] std::io::Error),
}

/// The configured master keys.
pub struct MasterKeys {
    keys: Vec<(String, LessSafeKey)>,
}

impl MasterKeys {
    /// Loads master keys from the environment or the data directory, creating a key file if
    /// neither has any.
    pub fn load(data_dir: &Path) -> Result<Self, EnvelopeError> {
        if let Ok(value) = std::env::var("TROVE_MASTER_KEY") {
            return Self::parse(&value.replace(',', "\n"));
        }
        let path = data_dir.join(KEY_FILE);
        if !path.exists() {
            let entry = format!("{}:{}\n", random::alphanumeric(8), b64::encode_standard(random::bytes::<32>()));
            write_private_file(&path, entry.as_bytes())?;
            tracing::info!(path = %path.display(), "created a master key file");
        }
        let text = Zeroizing::new(std::fs::read_to_string(&path)?);
        Self::parse(&text)
    }

    fn parse(text: &str) -> Result<Self, EnvelopeError> {
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
            let (kid, encoded) = line
                .split_once(':')
                .ok_or_else(|| EnvelopeError::Config("expected <kid>:<base64 key> entries".into()))?;
            let bytes = Zeroizing::new(
                b64::decode_standard(encoded.trim())
                    .map_err(|_| EnvelopeError::Config(format!("key {kid} is not base64")))?,
            );
            if bytes.len() != 32 {
                return Err(EnvelopeError::Config(format!("key {kid} must be 32 bytes, got {}", bytes.len())));
            }
            let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| EnvelopeError::Config("AES key".into()))?;
            keys.push((kid.trim().to_string(), LessSafeKey::new(key)));
        }
        if keys.is_empty() {
            return Err(EnvelopeError::Config("no master key configured".into()));
        }
        Ok(Self { keys })
    }

    /// Id of the key new data is sealed with.
    pub fn active_id(&self) -> &str {
        &self.keys.last().expect("at least one key").0
    }

    fn find(&self, kid: &str) -> Result<&LessSafeKey, EnvelopeError> {
        self.keys
            .iter()
            .find(|(id, _)| id == kid)
            .map(|(_, key)| key)
            .ok_or_else(|| EnvelopeError::UnknownKey(kid.to_string()))
    }

    /// Seals `plaintext` with the active key, bound to `context`; returns key id and
    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> (String, Vec<u8>) {
        let (kid, key) = self.keys.last().expect("at least one key");
        let nonce_bytes = random::bytes::<NONCE_LEN>();
        let mut sealed = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(context.as_bytes()), &mut sealed)
            .expect("AES-GCM sealing of a short value");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        (kid.clone(), out)
    }

    /// Opens data sealed by [`MasterKeys::seal`] under key `kid` and `context`.
    pub fn open(&self, kid: &str, sealed: &[u8], context: &str) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        let key = self.find(kid)?;
        if sealed.len() < NONCE_LEN {
            return Err(EnvelopeError::Tampered);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| EnvelopeError::Tampered)?;
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let length = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| EnvelopeError::Tampered)?
            .len();
        buffer.truncate(length);
        Ok(buffer)
    }
}

/// Writes a new file readable only by its owner.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
