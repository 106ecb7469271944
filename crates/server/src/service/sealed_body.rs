//! The at-rest format of file bodies: AES-256-GCM over 64 KiB segments with a per-file key.
//!
//! Segment `i` is sealed with the nonce `0,0,0 || i as u64 big-endian || final flag`, so
//! segments cannot be reordered, dropped or truncated without failing authentication. Every
//! segment but the last contains exactly [`SEGMENT_LEN`] plaintext bytes. The last, flagged
//! final, contains 0 to [`SEGMENT_LEN`] bytes.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

/// Plaintext bytes per segment.
pub const SEGMENT_LEN: usize = 64 * 1024;
/// AES-GCM tag bytes added to every segment.
pub const TAG_LEN: usize = 16;
/// Stored bytes of a full segment.
pub const SEALED_SEGMENT_LEN: usize = SEGMENT_LEN + TAG_LEN;

/// A sealed body failed authentication or ended early.
#[derive(Debug, thiserror::Error)]
#[error("stored file body is corrupt: {0}")]
pub struct CorruptBody(pub String);

fn nonce(index: u64, is_final: bool) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[3..11].copy_from_slice(&index.to_be_bytes());
    bytes[11] = u8::from(is_final);
    Nonce::assume_unique_for_key(bytes)
}

fn cipher(file_key: &[u8]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, file_key).expect("32-byte AES key"))
}

/// Returns the stored size of a body of `plain_len` bytes.
pub fn sealed_len(plain_len: u64) -> u64 {
    let full = plain_len / SEGMENT_LEN as u64;
    let last_len = plain_len % SEGMENT_LEN as u64;
    // A body whose length is a whole number of segments still ends with a final segment. That
    // final segment is the last full one, unless the body is empty.
    if plain_len > 0 && last_len == 0 {
        full * SEALED_SEGMENT_LEN as u64
    } else {
        full * SEALED_SEGMENT_LEN as u64 + last_len + TAG_LEN as u64
    }
}

/// Seals a body incrementally.
pub struct BodySealer {
    key: LessSafeKey,
    index: u64,
    pending: Vec<u8>,
}

impl BodySealer {
    /// Starts sealing with `file_key` (32 bytes).
    pub fn new(file_key: &Zeroizing<[u8; 32]>) -> Self {
        Self { key: cipher(file_key.as_ref()), index: 0, pending: Vec::with_capacity(SEGMENT_LEN) }
    }

    /// Adds plaintext; sealed segments that are known not to be final are appended to `out`.
    ///
    /// A full segment is held back until more data arrives, because only then is it known not
    /// to be the last one.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            if self.pending.len() == SEGMENT_LEN {
                self.seal_pending(false, out);
            }
            let room = SEGMENT_LEN - self.pending.len();
            let take = room.min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
        }
    }

    /// Seals the final segment into `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.seal_pending(true, out);
    }

    fn seal_pending(&mut self, is_final: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.pending);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(self.index, is_final), Aad::empty(), &mut out[start..])
            .expect("AES-GCM sealing");
        out.extend_from_slice(tag.as_ref());
        self.pending.clear();
        self.index += 1;
    }
}

/// Opens a sealed body incrementally.
pub struct BodyOpener {
    key: LessSafeKey,
    index: u64,
    pending: Vec<u8>,
}

impl BodyOpener {
    /// Starts opening with `file_key`.
    pub fn new(file_key: &[u8]) -> Self {
        Self { key: cipher(file_key), index: 0, pending: Vec::with_capacity(SEALED_SEGMENT_LEN * 2) }
    }

    /// Adds stored bytes; plaintext of segments known not to be final is appended to `out`.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CorruptBody> {
        self.pending.extend_from_slice(input);
        let mut consumed = 0;
        // A full segment is final only when nothing follows it, so keep at least one byte back.
        while self.pending.len() - consumed > SEALED_SEGMENT_LEN {
            let segment = &mut self.pending[consumed..consumed + SEALED_SEGMENT_LEN];
            let plain = self
                .key
                .open_in_place(nonce(self.index, false), Aad::empty(), segment)
                .map_err(|_| CorruptBody(format!("segment {} failed authentication", self.index)))?;
            out.extend_from_slice(plain);
            consumed += SEALED_SEGMENT_LEN;
            self.index += 1;
        }
        self.pending.drain(..consumed);
        Ok(())
    }

    /// Opens the final segment into `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), CorruptBody> {
        if self.pending.len() < TAG_LEN {
            return Err(CorruptBody("the final segment is missing".into()));
        }
        let plain = self
            .key
            .open_in_place(nonce(self.index, true), Aad::empty(), &mut self.pending)
            .map_err(|_| CorruptBody(format!("final segment {} failed authentication", self.index)))?;
        out.extend_from_slice(plain);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(len: usize, chunk: usize) {
        let key = Zeroizing::new(trove_protocol::random::bytes::<32>());
        let plain: Vec<u8> = (0..len).map(|index| (index % 251) as u8).collect();
        let mut sealer = BodySealer::new(&key);
        let mut sealed = Vec::new();
        for piece in plain.chunks(chunk.max(1)) {
            sealer.update(piece, &mut sealed);
        }
        sealer.finish(&mut sealed);
        assert_eq!(sealed.len() as u64, sealed_len(len as u64), "sealed length for {len}");

        let mut opener = BodyOpener::new(key.as_ref());
        let mut opened = Vec::new();
        for piece in sealed.chunks(7919) {
            opener.update(piece, &mut opened).unwrap();
        }
        opener.finish(&mut opened).unwrap();
        assert_eq!(opened, plain, "roundtrip of {len} bytes");
    }

    #[test]
    fn roundtrips_segment_edges() {
        for len in [0, 1, SEGMENT_LEN - 1, SEGMENT_LEN, SEGMENT_LEN + 1, 3 * SEGMENT_LEN, 3 * SEGMENT_LEN + 5] {
            roundtrip(len, 10_000);
            roundtrip(len, SEGMENT_LEN);
        }
    }

    #[test]
    fn truncation_is_detected() {
        let key = Zeroizing::new(trove_protocol::random::bytes::<32>());
        let mut sealer = BodySealer::new(&key);
        let mut sealed = Vec::new();
        sealer.update(&vec![7u8; 2 * SEGMENT_LEN + 10], &mut sealed);
        sealer.finish(&mut sealed);
        let cut = &sealed[..2 * SEALED_SEGMENT_LEN];
        let mut opener = BodyOpener::new(key.as_ref());
        let mut out = Vec::new();
        opener.update(cut, &mut out).unwrap();
        assert!(opener.finish(&mut out).is_err());
    }
}
