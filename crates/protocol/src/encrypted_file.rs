//! The encrypted file layout of downloads:
//!
//! ```text
//! 0   .. 255  RSA-OAEP (SHA-1, MGF1-SHA-1) encryption of a random 32-byte key, to the reader's key
//! 256 .. 271  16-byte IV
//! 272 .. end  AES-256-CBC ciphertext with PKCS#7 padding of the (optionally compressed) payload
//! ```
//!
//! The fixed 256-byte key block means the reader's key must be RSA-2048. Both directions work
//! incrementally so a large file never has to be held in memory.

use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, StreamingDecryptingKey, StreamingEncryptingKey, UnboundCipherKey,
    AES_256,
};
use aws_lc_rs::iv::FixedLength;
use zeroize::Zeroizing;

use crate::keys::{RsaPrivateKey, RsaPublicKey};
use crate::{random, ProtocolError};

/// Bytes of the RSA-wrapped key block.
pub const KEY_BLOCK_LEN: usize = 256;
/// Bytes of the IV.
pub const IV_LEN: usize = 16;
/// Bytes before the ciphertext starts.
pub const HEADER_LEN: usize = KEY_BLOCK_LEN + IV_LEN;
/// AES block size.
pub const BLOCK_LEN: usize = 16;

/// Returns the encrypted length of a payload of `plain_len` bytes.
pub fn encrypted_len(plain_len: u64) -> u64 {
    HEADER_LEN as u64 + (plain_len / BLOCK_LEN as u64 + 1) * BLOCK_LEN as u64
}

/// Checks the size rule Node applies before decrypting: at least one ciphertext block, and a
/// multiple of 16 bytes in all.
pub fn check_encrypted_len(total_len: u64) -> Result<(), ProtocolError> {
    if total_len < (HEADER_LEN + BLOCK_LEN) as u64 || !total_len.is_multiple_of(BLOCK_LEN as u64) {
        return Err(ProtocolError::Decryption(format!("file size not valid: {total_len}")));
    }
    Ok(())
}

/// Incremental encryption into the download layout.
pub struct FileEncryptor {
    cipher: StreamingEncryptingKey,
}

impl FileEncryptor {
    /// Starts a file for `reader`, returning the encryptor and the 272 header bytes to send
    /// first. A fresh key and IV are drawn for every call.
    pub fn start(reader: &RsaPublicKey) -> Result<(Self, Vec<u8>), ProtocolError> {
        if reader.bits() != 2048 {
            return Err(ProtocolError::InvalidKey(format!(
                "the encrypted file layout needs an RSA-2048 reader key, got {} bits",
                reader.bits()
            )));
        }
        let file_key = Zeroizing::new(random::bytes::<32>());
        let iv = random::bytes::<IV_LEN>();
        let mut header = reader.encrypt_oaep_sha1(file_key.as_ref())?;
        header.extend_from_slice(&iv);
        let key = UnboundCipherKey::new(&AES_256, file_key.as_ref()).map_err(|_| ProtocolError::Crypto("AES key"))?;
        let cipher = StreamingEncryptingKey::less_safe_cbc_pkcs7(key, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| ProtocolError::Crypto("AES-CBC setup"))?;
        Ok((Self { cipher }, header))
    }

    /// Encrypts the next chunk of plaintext, appending ciphertext to `output`.
    pub fn update(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let start = output.len();
        output.resize(start + input.len() + BLOCK_LEN, 0);
        let written = self
            .cipher
            .update(input, &mut output[start..])
            .map_err(|_| ProtocolError::Crypto("AES-CBC encryption"))?
            .written()
            .len();
        output.truncate(start + written);
        Ok(())
    }

    /// Writes the final padded block to `output`.
    pub fn finish(self, output: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let start = output.len();
        output.resize(start + BLOCK_LEN, 0);
        let (_, update) = self
            .cipher
            .finish(&mut output[start..])
            .map_err(|_| ProtocolError::Crypto("AES-CBC finish"))?;
        let written = update.written().len();
        output.truncate(start + written);
        Ok(())
    }
}

/// Incremental decryption of the download layout.
pub struct FileDecryptor {
    cipher: StreamingDecryptingKey,
}

impl FileDecryptor {
    /// Unwraps the file key from the 272 header bytes with the reader's private key.
    pub fn start(reader: &RsaPrivateKey, header: &[u8]) -> Result<Self, ProtocolError> {
        if header.len() != HEADER_LEN {
            return Err(ProtocolError::Decryption(format!("header must be {HEADER_LEN} bytes, got {}", header.len())));
        }
        let file_key = reader.decrypt_oaep_sha1(&header[..KEY_BLOCK_LEN])?;
        if file_key.len() != 32 {
            return Err(ProtocolError::Decryption(format!("file key must be 32 bytes, got {}", file_key.len())));
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&header[KEY_BLOCK_LEN..]);
        let key = UnboundCipherKey::new(&AES_256, &file_key).map_err(|_| ProtocolError::Crypto("AES key"))?;
        let cipher = StreamingDecryptingKey::cbc_pkcs7(key, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| ProtocolError::Crypto("AES-CBC setup"))?;
        Ok(Self { cipher })
    }

    /// Decrypts the next chunk of ciphertext, appending plaintext to `output`.
    pub fn update(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let start = output.len();
        output.resize(start + input.len() + BLOCK_LEN, 0);
        let written = self
            .cipher
            .update(input, &mut output[start..])
            .map_err(|_| ProtocolError::Decryption("AES-CBC decryption failed".into()))?
            .written()
            .len();
        output.truncate(start + written);
        Ok(())
    }

    /// Checks the padding and writes the last plaintext bytes to `output`.
    pub fn finish(self, output: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let start = output.len();
        output.resize(start + BLOCK_LEN, 0);
        let written = self
            .cipher
            .finish(&mut output[start..])
            .map_err(|_| ProtocolError::Decryption("bad PKCS#7 padding: wrong key or corrupt file".into()))?
            .written()
            .len();
        output.truncate(start + written);
        Ok(())
    }
}

/// Encrypts a whole payload in memory; for tests and small files.
pub fn encrypt(reader: &RsaPublicKey, plaintext: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let (mut encryptor, mut output) = FileEncryptor::start(reader)?;
    encryptor.update(plaintext, &mut output)?;
    encryptor.finish(&mut output)?;
    Ok(output)
}

/// Decrypts a whole file in memory after the size check; for tests and small files.
pub fn decrypt(reader: &RsaPrivateKey, file: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    check_encrypted_len(file.len() as u64)?;
    let mut decryptor = FileDecryptor::start(reader, &file[..HEADER_LEN])?;
    let mut output = Vec::with_capacity(file.len() - HEADER_LEN);
    decryptor.update(&file[HEADER_LEN..], &mut output)?;
    decryptor.finish(&mut output)?;
    Ok(output)
}
