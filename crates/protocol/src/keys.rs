//! RSA keys in the forms the protocol exchanges them: contracts are issued PKCS#1 private keys,
//! apps register PKCS#1 or SPKI public keys, and the JWKS publishes PKCS#1 public keys.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA1_MGF1SHA1,
};
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey};
use pkcs1::der::Decode;
use zeroize::Zeroizing;

use crate::{pem, ProtocolError};

const LABEL_PKCS1_PRIVATE: &str = "RSA PRIVATE KEY";
const LABEL_PKCS8_PRIVATE: &str = "PRIVATE KEY";
const LABEL_PKCS1_PUBLIC: &str = "RSA PUBLIC KEY";
const LABEL_SPKI_PUBLIC: &str = "PUBLIC KEY";

/// An RSA private key able to sign PS512 and to decrypt RSA-OAEP (SHA-1).
pub struct RsaPrivateKey {
    signing: RsaKeyPair,
    decrypting: OaepPrivateDecryptingKey,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "RsaPrivateKey({} bits, redacted)", self.signing.public_modulus_len() * 8)
    }
}

impl RsaPrivateKey {
    /// Generates a new key of `bits` bits (2048, 3072 or 4096).
    pub fn generate(bits: usize) -> Result<Self, ProtocolError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            other => return Err(ProtocolError::InvalidKey(format!("unsupported key size {other}"))),
        };
        let pair = RsaKeyPair::generate(size).map_err(|_| ProtocolError::Crypto("RSA key generation"))?;
        let pkcs8 = pair.as_der().map_err(|_| ProtocolError::Crypto("PKCS#8 encoding"))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Parses a PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM private key.
    pub fn from_pem(text: &str) -> Result<Self, ProtocolError> {
        let (label, der) = pem::decode(text)?;
        let der = Zeroizing::new(der);
        match label.as_str() {
            LABEL_PKCS1_PRIVATE => {
                let pair = RsaKeyPair::from_der(&der)
                    .map_err(|error| ProtocolError::InvalidKey(format!("PKCS#1 private key: {error}")))?;
                let pkcs8 = pair.as_der().map_err(|_| ProtocolError::Crypto("PKCS#8 encoding"))?;
                Self::from_pkcs8_der(pkcs8.as_ref())
            }
            LABEL_PKCS8_PRIVATE => Self::from_pkcs8_der(&der),
            other => Err(ProtocolError::InvalidKey(format!(
                "expected an RSA PRIVATE KEY or PRIVATE KEY PEM block, found {other}"
            ))),
        }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, ProtocolError> {
        let signing = RsaKeyPair::from_pkcs8(der)
            .map_err(|error| ProtocolError::InvalidKey(format!("PKCS#8 private key: {error}")))?;
        let decrypting = PrivateDecryptingKey::from_pkcs8(der)
            .map_err(|error| ProtocolError::InvalidKey(format!("PKCS#8 private key: {error}")))?;
        let decrypting = OaepPrivateDecryptingKey::new(decrypting)
            .map_err(|_| ProtocolError::Crypto("OAEP key setup"))?;
        Ok(Self { signing, decrypting })
    }

    /// Encodes the key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), the form contract keys are
    /// issued in.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, ProtocolError> {
        let pkcs8 = self.signing.as_der().map_err(|_| ProtocolError::Crypto("PKCS#8 encoding"))?;
        let info = pkcs8::PrivateKeyInfo::try_from(pkcs8.as_ref())
            .map_err(|error| ProtocolError::InvalidKey(format!("PKCS#8 structure: {error}")))?;
        Ok(Zeroizing::new(pem::encode(LABEL_PKCS1_PRIVATE, info.private_key)))
    }

    /// Returns the matching public key.
    pub fn public_key(&self) -> RsaPublicKey {
        RsaPublicKey::from_pkcs1_der(self.signing.public_key().as_ref())
            .expect("aws-lc-rs returns a valid PKCS#1 public key")
    }

    /// Signs `message` with RSASSA-PSS, SHA-512, MGF1-SHA-512 and a 64-byte salt.
    pub fn sign_ps512(&self, message: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let mut signature = vec![0u8; self.signing.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.signing
            .sign(&signature::RSA_PSS_SHA512, &rng, message, &mut signature)
            .map_err(|_| ProtocolError::Crypto("PS512 signing"))?;
        Ok(signature)
    }

    /// Decrypts one RSA-OAEP (SHA-1, MGF1-SHA-1, no label) block.
    pub fn decrypt_oaep_sha1(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
        let mut plaintext = Zeroizing::new(vec![0u8; self.decrypting.key_size_bytes()]);
        let length = self
            .decrypting
            .decrypt(&OAEP_SHA1_MGF1SHA1, ciphertext, &mut plaintext, None)
            .map_err(|_| ProtocolError::Decryption("RSA-OAEP unwrap of the file key failed".into()))?
            .len();
        plaintext.truncate(length);
        Ok(plaintext)
    }
}

/// An RSA public key, kept as PKCS#1 DER.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    pkcs1_der: Vec<u8>,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "RsaPublicKey({} bits)", self.bits())
    }
}

impl RsaPublicKey {
    /// Parses a PKCS#1 (`RSA PUBLIC KEY`) or SPKI (`PUBLIC KEY`) PEM public key.
    pub fn from_pem(text: &str) -> Result<Self, ProtocolError> {
        let (label, der) = pem::decode(text)?;
        match label.as_str() {
            LABEL_PKCS1_PUBLIC => Self::from_pkcs1_der(&der),
            LABEL_SPKI_PUBLIC => Self::from_spki_der(&der),
            other => Err(ProtocolError::InvalidKey(format!(
                "expected an RSA PUBLIC KEY or PUBLIC KEY PEM block, found {other}"
            ))),
        }
    }

    /// Parses a DER `RSAPublicKey` (RFC 8017).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, ProtocolError> {
        let parsed = pkcs1::RsaPublicKey::from_der(der)
            .map_err(|error| ProtocolError::InvalidKey(format!("PKCS#1 public key: {error}")))?;
        let key = Self {
            pkcs1_der: der.to_vec(),
            modulus: parsed.modulus.as_bytes().to_vec(),
            exponent: parsed.public_exponent.as_bytes().to_vec(),
        };
        // Rejects keys aws-lc-rs would not use, such as tiny moduli or even exponents.
        PublicEncryptingKey::from_der(&key.to_spki_der()?)
            .map_err(|error| ProtocolError::InvalidKey(format!("RSA public key rejected: {error}")))?;
        Ok(key)
    }

    /// Parses a DER `SubjectPublicKeyInfo` holding an RSA key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, ProtocolError> {
        let info = pkcs8::spki::SubjectPublicKeyInfoRef::try_from(der)
            .map_err(|error| ProtocolError::InvalidKey(format!("SPKI public key: {error}")))?;
        if info.algorithm.oid != pkcs1::ALGORITHM_OID {
            return Err(ProtocolError::InvalidKey(format!(
                "SPKI public key is not RSA (algorithm {})",
                info.algorithm.oid
            )));
        }
        let bits = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| ProtocolError::InvalidKey("SPKI key bits are not byte aligned".into()))?;
        Self::from_pkcs1_der(bits)
    }

    /// Returns the modulus length in bits.
    pub fn bits(&self) -> usize {
        let significant = self.modulus.iter().skip_while(|&&byte| byte == 0).count();
        significant * 8
    }

    /// Returns the PKCS#1 DER bytes.
    pub fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1_der
    }

    /// Encodes the key as PKCS#1 PEM, the `pem` member of the JWKS that the SDKs read.
    pub fn to_pkcs1_pem(&self) -> String {
        pem::encode(LABEL_PKCS1_PUBLIC, &self.pkcs1_der)
    }

    /// Encodes the key as SPKI DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, ProtocolError> {
        let components = RsaPublicKeyComponents { n: &self.modulus, e: &self.exponent };
        let der = components.as_der().map_err(|_| ProtocolError::Crypto("SPKI encoding"))?;
        Ok(der.as_ref().to_vec())
    }

    /// Encodes the key as SPKI PEM.
    pub fn to_spki_pem(&self) -> Result<String, ProtocolError> {
        Ok(pem::encode(LABEL_SPKI_PUBLIC, &self.to_spki_der()?))
    }

    /// Returns the modulus as unsigned big-endian bytes without leading zeros (JWK `n`).
    pub fn modulus(&self) -> &[u8] {
        let start = self.modulus.iter().position(|&byte| byte != 0).unwrap_or(0);
        &self.modulus[start..]
    }

    /// Returns the public exponent as unsigned big-endian bytes (JWK `e`).
    pub fn exponent(&self) -> &[u8] {
        let start = self.exponent.iter().position(|&byte| byte != 0).unwrap_or(0);
        &self.exponent[start..]
    }

    /// Verifies an RSASSA-PSS SHA-512 signature with a 64-byte salt.
    pub fn verify_ps512(&self, message: &[u8], signature: &[u8]) -> Result<(), ProtocolError> {
        UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA512, &self.pkcs1_der)
            .verify(message, signature)
            .map_err(|_| ProtocolError::BadSignature)
    }

    /// Encrypts a short secret with RSA-OAEP (SHA-1, MGF1-SHA-1, no label), as the encrypted
    /// file layout wraps its AES key.
    pub fn encrypt_oaep_sha1(&self, plaintext: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let key = PublicEncryptingKey::from_der(&self.to_spki_der()?)
            .map_err(|error| ProtocolError::InvalidKey(format!("RSA public key rejected: {error}")))?;
        let key = OaepPublicEncryptingKey::new(key).map_err(|_| ProtocolError::Crypto("OAEP key setup"))?;
        let mut ciphertext = vec![0u8; key.ciphertext_size()];
        let length = key
            .encrypt(&OAEP_SHA1_MGF1SHA1, plaintext, &mut ciphertext, None)
            .map_err(|_| ProtocolError::Crypto("RSA-OAEP encryption"))?
            .len();
        ciphertext.truncate(length);
        Ok(ciphertext)
    }
}
