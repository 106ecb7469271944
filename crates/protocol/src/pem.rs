//! Minimal PEM armour: one labelled base64 block, as RSA keys are exchanged.

use crate::{b64, ProtocolError};

/// Wraps DER bytes in PEM armour with the given label, 64 characters per line.
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = b64::encode_standard(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Returns the label and DER bytes of the first PEM block in `text`.
pub fn decode(text: &str) -> Result<(String, Vec<u8>), ProtocolError> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| ProtocolError::InvalidKey("no PEM BEGIN line".into()))?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| ProtocolError::InvalidKey("unterminated PEM BEGIN line".into()))?;
    let label = rest[..label_end].to_string();
    let body_and_end = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_and_end
        .find(&end_marker)
        .ok_or_else(|| ProtocolError::InvalidKey(format!("no PEM END line for {label}")))?;
    let body: String = body_and_end[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = b64::decode_standard(&body)
        .map_err(|error| ProtocolError::InvalidKey(format!("PEM body is not base64: {error}")))?;
    Ok((label, der))
}
