//! Rows of the store. Hash fields hold lowercase hex SHA-256 of the secret.

use serde::{Deserialize, Serialize};

/// A registered application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Application {
    /// Application id.
    pub id: String,
    /// Display name on the consent page.
    pub name: String,
    /// Creation time, Unix ms.
    pub created_ms: i64,
}

/// Kind of contract, which fixes the calls it may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContractKind {
    /// Pushes into the library.
    Write,
    /// Reads mapped data from onboarded sources.
    Read,
    /// Reads back raw files pushed by the same application.
    ReadRaw,
}

impl ContractKind {
    /// Returns the stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractKind::Write => "write",
            ContractKind::Read => "read",
            ContractKind::ReadRaw => "read-raw",
        }
    }

    /// Parses a stored or command-line name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "write" => Some(ContractKind::Write),
            "read" => Some(ContractKind::Read),
            "read-raw" => Some(ContractKind::ReadRaw),
            _ => None,
        }
    }
}

/// A contract of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contract {
    /// Owning application.
    pub app_id: String,
    /// Contract id.
    pub id: String,
    /// Kind, which fixes the calls it may make.
    pub kind: ContractKind,
    /// The app's RSA public key, PEM.
    pub public_key_pem: String,
    /// Allowed callback URLs, compared exactly.
    pub callbacks: Vec<String>,
    /// Creation time, Unix ms.
    pub created_ms: i64,
}

impl Contract {
    /// Returns the wire `client_id`: `<app_id>_<contract_id>`.
    pub fn client_id(&self) -> String {
        format!("{}_{}", self.app_id, self.id)
    }
}

/// A server signing key.
#[derive(Clone)]
pub struct SigningKeyRecord {
    /// Key id published in the JWKS and in token headers.
    pub kid: String,
    /// PKCS#1 private key sealed with the master key.
    pub sealed_private: Vec<u8>,
    /// PKCS#1 public key PEM.
    pub public_pem: String,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// When a newer key replaced it; retired keys stay published for a grace period.
    pub retired_ms: Option<i64>,
}

/// A person's library.
#[derive(Debug, Clone)]
pub struct Library {
    /// Library id, the `sub` of tokens.
    pub id: String,
    /// Sign-in name, unique.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation time, Unix ms.
    pub created_ms: i64,
}

/// A signed-in consent-page session.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// SHA-256 of the cookie value.
    pub id_hash: String,
    /// Signed-in library.
    pub library_id: String,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
}

/// State of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationStatus {
    /// Waiting for the person's decision.
    Pending,
    /// Allowed; a code was issued.
    Allowed,
    /// Denied.
    Denied,
}

/// A consent flow started by `oauth/authorize`.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// Row id.
    pub id: String,
    /// SHA-256 of the preauthorization code.
    pub code_hash: String,
    /// Requesting application.
    pub app_id: String,
    /// Requesting contract.
    pub contract_id: String,
    /// Callback URL, one of the contract's.
    pub redirect_uri: String,
    /// App state echoed on the callback.
    pub state: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// `actions` from the authorize body, JSON.
    pub actions_json: Option<String>,
    /// Library named by a linking access token.
    pub linked_library: Option<String>,
    /// Key of the read session returned by authorize.
    pub session_key: String,
    /// Decision so far.
    pub status: AuthorizationStatus,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
}

/// A consent given by a library to a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Consent id, the `consentid` of tokens.
    pub id: String,
    /// Consenting library.
    pub library_id: String,
    /// Application.
    pub app_id: String,
    /// Contract.
    pub contract_id: String,
    /// Creation time, Unix ms.
    pub created_ms: i64,
}

/// An authorization code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The consent it redeems.
    pub consent_id: String,
    /// PKCE S256 challenge to check the verifier against.
    pub code_challenge: String,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
}

/// Grant behind an access token or refresh token: its consent, family, library and contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Consent id.
    pub consent_id: String,
    /// Token family.
    pub family_id: String,
    /// Library.
    pub library_id: String,
    /// Application.
    pub app_id: String,
    /// Contract.
    pub contract_id: String,
}

/// Hashes and expiries of a new token pair.
#[derive(Debug, Clone)]
pub struct NewTokenPair {
    /// SHA-256 of the access token.
    pub access_hash: String,
    /// Access token expiry, Unix ms.
    pub access_expires_ms: i64,
    /// SHA-256 of the refresh token.
    pub refresh_hash: String,
    /// Refresh token expiry, Unix ms.
    pub refresh_expires_ms: i64,
}

/// A read session.
#[derive(Debug, Clone)]
pub struct ReadSession {
    /// Session key.
    pub key: String,
    /// Application.
    pub app_id: String,
    /// Contract.
    pub contract_id: String,
    /// Library, once known.
    pub library_id: Option<String>,
    /// Authorization that created it, for authorize sessions.
    pub authorization_id: Option<String>,
    /// Pull session options, JSON.
    pub options_json: Option<String>,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
}

/// Location of a file's sealed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredBody {
    /// In the database row.
    Inline(Vec<u8>),
    /// In the blob store under this key.
    Blob(String),
}

/// A pushed file's listing data.
#[derive(Debug, Clone)]
pub struct FileHeader {
    /// Generated URL-safe name.
    pub name: String,
    /// Stored descriptor (lower-cased members plus the server-set ones), JSON.
    pub metadata_json: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last update, Unix ms.
    pub updated_ms: i64,
}

/// A pushed file.
#[derive(Debug, Clone)]
pub struct FileRecord {
    /// Listing data.
    pub header: FileHeader,
    /// Library.
    pub library_id: String,
    /// Pushing application.
    pub app_id: String,
    /// Pushing contract.
    pub contract_id: String,
    /// Master key id that wrapped the file key.
    pub key_id: String,
    /// The wrapped file key.
    pub wrapped_key: Vec<u8>,
    /// Location of the sealed body.
    pub body: StoredBody,
}

/// A nonce to consume together with another write.
#[derive(Debug, Clone)]
pub struct NonceRecord {
    /// Signing contract's client id.
    pub client_id: String,
    /// The nonce.
    pub nonce: String,
    /// When it may be forgotten, Unix ms.
    pub expires_ms: i64,
}
