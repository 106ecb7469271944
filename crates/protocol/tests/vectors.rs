//! Checks this crate against vectors made by an independent implementation: Node's `crypto`
//! and the `jsonwebtoken` package, the primitives of the official Node SDK.

use std::io::Read;
use std::path::PathBuf;

use aws_lc_rs::digest;
use serde_json::Value;
use trove_protocol::encrypted_file;
use trove_protocol::jws::{self, Header, Unverified};
use trove_protocol::keys::{RsaPrivateKey, RsaPublicKey};
use trove_protocol::wire::{Jwk, XMetadata};
use trove_protocol::{b64, pkce};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

fn read_text(relative: &str) -> String {
    std::fs::read_to_string(vectors_dir().join(relative)).unwrap_or_else(|error| panic!("reading {relative}: {error}"))
}

fn read_json(relative: &str) -> Value {
    serde_json::from_str(&read_text(relative)).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn pkce_challenge_matches_node() {
    let vector = read_json("pkce.json");
    let verifier = vector["code_verifier"].as_str().unwrap();
    assert_eq!(pkce::challenge(verifier), vector["code_challenge"].as_str().unwrap());
    assert!(pkce::verify(verifier, vector["code_challenge"].as_str().unwrap()));
}

#[test]
fn request_jwts_verify_with_pkcs1_and_spki_keys() {
    let vectors = read_json("jwt.json");
    let pkcs1 = RsaPublicKey::from_pem(&read_text("keys/contract-public.pem")).unwrap();
    let spki = RsaPublicKey::from_pem(&read_text("keys/contract-public-spki.pem")).unwrap();
    assert_eq!(pkcs1, spki);
    for name in ["authorize", "exchange", "refresh", "user_call", "file_descriptor"] {
        let token = vectors[name]["jwt"].as_str().unwrap();
        let payload: Value = jws::verify(token, &pkcs1).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(payload, vectors[name]["claims"], "{name} claims");
    }
}

#[test]
fn request_jwt_with_changed_payload_fails() {
    let vectors = read_json("jwt.json");
    let key = RsaPublicKey::from_pem(&read_text("keys/contract-public.pem")).unwrap();
    let token = vectors["user_call"]["jwt"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = b64::encode(br#"{"access_token":"someone-else","client_id":"demoapp_contract1"}"#);
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert!(jws::verify::<Value>(&forged, &key).is_err());
}

#[test]
fn our_signature_has_node_header_and_verifies() {
    let vectors = read_json("jwt.json");
    let private = RsaPrivateKey::from_pem(&read_text("keys/contract-private.pem")).unwrap();
    let claims = &vectors["user_call"]["claims"];
    let token = jws::sign(&Header::client(), claims, &private).unwrap();
    let node_header = vectors["user_call"]["jwt"].as_str().unwrap().split('.').next().unwrap();
    assert_eq!(token.split('.').next().unwrap(), node_header);
    let payload: Value = jws::verify(&token, &private.public_key()).unwrap();
    assert_eq!(&payload, claims);
}

#[test]
fn server_token_verifies_against_jwks_pem() {
    let vectors = read_json("jwt.json");
    let jwks = read_json("jwks.json");
    let token = vectors["server_token"]["jwt"].as_str().unwrap();
    let unverified = Unverified::parse(token).unwrap();
    assert_eq!(unverified.header.kid.as_deref(), Some("trove-test-1"));
    assert_eq!(unverified.header.jku.as_deref(), Some("http://127.0.0.1:8080/v1.7/jwks/oauth"));
    let key = RsaPublicKey::from_pem(jwks["keys"][0]["pem"].as_str().unwrap()).unwrap();
    let payload = unverified.verify(&key).unwrap();
    assert_eq!(payload, vectors["server_token"]["claims"]);
}

#[test]
fn jwk_members_match_node() {
    let jwks = read_json("jwks.json");
    let key = RsaPublicKey::from_pem(&read_text("keys/server-public.pem")).unwrap();
    let ours = serde_json::to_value(Jwk::new("trove-test-1", &key)).unwrap();
    assert_eq!(ours, jwks["keys"][0]);
}

#[test]
fn server_key_roundtrips_through_pkcs1_pem() {
    let private = RsaPrivateKey::from_pem(&read_text("keys/server-private.pem")).unwrap();
    let reparsed = RsaPrivateKey::from_pem(&private.to_pkcs1_pem().unwrap()).unwrap();
    assert_eq!(reparsed.public_key(), private.public_key());
    assert_eq!(private.public_key().to_pkcs1_pem(), read_text("keys/server-public.pem"));
}

#[test]
fn other_algorithms_are_rejected() {
    let key = RsaPublicKey::from_pem(&read_text("keys/contract-public.pem")).unwrap();
    for alg in ["HS512", "none", "RS512", "PS256"] {
        let header = b64::encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let payload = b64::encode(br#"{"client_id":"demoapp_contract1"}"#);
        let token = format!("{header}.{payload}.c2ln");
        let error = jws::verify::<Value>(&token, &key).unwrap_err();
        assert!(matches!(error, trove_protocol::ProtocolError::UnsupportedAlgorithm(_)), "{alg}: {error}");
    }
}

fn decompress(compression: Option<&str>, bytes: Vec<u8>) -> Vec<u8> {
    match compression {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut out).unwrap();
            out
        }
        Some("brotli") => {
            let mut out = Vec::new();
            brotli::Decompressor::new(&bytes[..], 4096).read_to_end(&mut out).unwrap();
            out
        }
        _ => bytes,
    }
}

#[test]
fn encrypted_files_decrypt_to_recorded_digest() {
    let index = read_json("files/index.json");
    let private = RsaPrivateKey::from_pem(&read_text("keys/contract-private.pem")).unwrap();
    let names: Vec<&String> = index.as_object().unwrap().keys().collect();
    assert!(names.len() >= 5, "expected plain, gzip, brotli, empty and block vectors");
    for (name, entry) in index.as_object().unwrap() {
        let file = std::fs::read(vectors_dir().join(entry["encrypted"].as_str().unwrap())).unwrap();
        assert_eq!(file.len() as u64, entry["encrypted_len"].as_u64().unwrap(), "{name} length");
        let header = XMetadata::decode(entry["x_metadata"].as_str().unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&header).unwrap(), entry["x_metadata_json"], "{name} x-metadata");
        let plaintext = encrypted_file::decrypt(&private, &file).unwrap_or_else(|error| panic!("{name}: {error}"));
        let plaintext = decompress(header.compression.as_deref(), plaintext);
        assert_eq!(plaintext.len() as u64, entry["plaintext_len"].as_u64().unwrap(), "{name} plaintext length");
        let sha = hex(digest::digest(&digest::SHA256, &plaintext).as_ref());
        assert_eq!(sha, entry["plaintext_sha256"].as_str().unwrap(), "{name} digest");
    }
}

#[test]
fn our_encryption_matches_layout_sizes() {
    let private = RsaPrivateKey::from_pem(&read_text("keys/contract-private.pem")).unwrap();
    let public = private.public_key();
    for len in [0usize, 15, 16, 17, 1000] {
        let plaintext: Vec<u8> = (0..len).map(|index| index as u8).collect();
        let file = encrypted_file::encrypt(&public, &plaintext).unwrap();
        assert_eq!(file.len() as u64, encrypted_file::encrypted_len(len as u64), "length for {len}");
        assert_eq!(encrypted_file::decrypt(&private, &file).unwrap(), plaintext);
    }
}

#[test]
fn truncated_file_fails_size_check() {
    let private = RsaPrivateKey::from_pem(&read_text("keys/contract-private.pem")).unwrap();
    let file = std::fs::read(vectors_dir().join("files/plain.enc")).unwrap();
    let error = encrypted_file::decrypt(&private, &file[..file.len() - 1]).unwrap_err();
    assert!(error.to_string().contains("file size not valid"), "{error}");
}
