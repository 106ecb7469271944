//! Incremental decryption and decompression of downloaded files.
//!
//! A download body is the encrypted file layout: 256 bytes of RSA-OAEP-wrapped AES key, a
//! 16-byte IV, then AES-256-CBC ciphertext of the payload, which the server may have compressed
//! first. [`DecryptedStream`] turns the body chunks into payload chunks as they arrive, so a
//! large file never has to fit in memory.

use std::io::Write;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use trove_protocol::encrypted_file::{check_encrypted_len, FileDecryptor, HEADER_LEN};
use trove_protocol::keys::RsaPrivateKey;

use crate::error::{Error, Result};

/// The buffer size of the brotli decoder.
const BROTLI_BUFFER: usize = 64 * 1024;

/// How the payload was compressed before encryption, from `x-metadata.compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// brotli (RFC 7932).
    Brotli,
}

impl Compression {
    /// Reads the `compression` member of `x-metadata`. As in the Node SDK, `gzip` and `brotli`
    /// are recognised and any other value means no compression.
    pub fn from_metadata(value: Option<&str>) -> Self {
        match value {
            Some("gzip") => Compression::Gzip,
            Some("brotli") => Compression::Brotli,
            _ => Compression::None,
        }
    }
}

enum Decompressor {
    None,
    Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
}

impl Decompressor {
    fn new(compression: Compression) -> Self {
        match compression {
            Compression::None => Decompressor::None,
            Compression::Gzip => {
                Decompressor::Gzip(Box::new(flate2::write::GzDecoder::new(Vec::new())))
            }
            Compression::Brotli => Decompressor::Brotli(Box::new(brotli::DecompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
            ))),
        }
    }

    /// Feeds decrypted bytes in and returns the payload bytes they complete.
    fn update(&mut self, decrypted: Vec<u8>) -> Result<Vec<u8>> {
        match self {
            Decompressor::None => Ok(decrypted),
            Decompressor::Gzip(decoder) => {
                decoder
                    .write_all(&decrypted)
                    .map_err(|error| decompression_failed("gzip", error))?;
                Ok(std::mem::take(decoder.get_mut()))
            }
            Decompressor::Brotli(decoder) => {
                decoder
                    .write_all(&decrypted)
                    .map_err(|error| decompression_failed("brotli", error))?;
                Ok(std::mem::take(decoder.get_mut()))
            }
        }
    }

    /// Ends the compressed stream, failing when it was cut short.
    fn finish(&mut self) -> Result<Vec<u8>> {
        match self {
            Decompressor::None => Ok(Vec::new()),
            Decompressor::Gzip(decoder) => {
                decoder
                    .try_finish()
                    .map_err(|error| decompression_failed("gzip", error))?;
                Ok(std::mem::take(decoder.get_mut()))
            }
            Decompressor::Brotli(decoder) => {
                decoder
                    .close()
                    .map_err(|error| decompression_failed("brotli", error))?;
                Ok(std::mem::take(decoder.get_mut()))
            }
        }
    }
}

fn decompression_failed(format: &str, error: std::io::Error) -> Error {
    Error::Decryption(format!(
        "the decrypted payload is not valid {format}: {error}"
    ))
}

/// The decrypted and decompressed payload of a download, as a stream of chunks.
///
/// It ends with an error instead of `None` when the body breaks off, when its length is not a
/// valid encrypted length, when the padding is wrong (wrong key or corrupt file), or when the
/// compressed payload is cut short. Bytes yielded before such an error must not be trusted.
pub struct DecryptedStream {
    source: BoxStream<'static, Result<Bytes>>,
    decryptor: Option<FileDecryptor>,
    decompressor: Decompressor,
    received: u64,
    done: bool,
}

impl std::fmt::Debug for DecryptedStream {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DecryptedStream")
            .field("received", &self.received)
            .field("done", &self.done)
            .finish()
    }
}

impl DecryptedStream {
    /// Reads the 272-byte header from `source`, unwraps the file key with `key`, and returns
    /// the stream of the rest.
    ///
    /// `content_length`, when the response declared one, is checked before anything is read.
    pub(crate) async fn start(
        mut source: BoxStream<'static, Result<Bytes>>,
        key: &RsaPrivateKey,
        compression: Compression,
        content_length: Option<u64>,
    ) -> Result<Self> {
        if let Some(length) = content_length {
            check_encrypted_len(length)?;
        }
        let mut header = Vec::with_capacity(HEADER_LEN);
        let mut rest = Bytes::new();
        while header.len() < HEADER_LEN {
            let Some(chunk) = source.next().await.transpose()? else {
                return Err(Error::Decryption(format!(
                    "file size not valid: {}",
                    header.len()
                )));
            };
            let wanted = (HEADER_LEN - header.len()).min(chunk.len());
            header.extend_from_slice(&chunk[..wanted]);
            rest = chunk.slice(wanted..);
        }
        let decryptor = FileDecryptor::start(key, &header)?;
        // The bytes after the header in the last chunk go back in front of the stream, where
        // `poll_next` counts them.
        let source = futures::stream::iter([Ok(rest)]).chain(source).boxed();
        Ok(Self {
            source,
            decryptor: Some(decryptor),
            decompressor: Decompressor::new(compression),
            received: HEADER_LEN as u64,
            done: false,
        })
    }

    fn decrypt_chunk(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        let decryptor = self
            .decryptor
            .as_mut()
            .expect("the decryptor lives until the end of the body");
        let mut decrypted = Vec::with_capacity(chunk.len() + 16);
        decryptor.update(chunk, &mut decrypted)?;
        self.decompressor.update(decrypted)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        check_encrypted_len(self.received)?;
        let decryptor = self
            .decryptor
            .take()
            .expect("the decryptor lives until the end of the body");
        let mut decrypted = Vec::with_capacity(16);
        decryptor.finish(&mut decrypted)?;
        let mut payload = self.decompressor.update(decrypted)?;
        payload.extend(self.decompressor.finish()?);
        Ok(payload)
    }

    /// Collects the whole payload in memory.
    pub async fn to_vec(mut self) -> Result<Vec<u8>> {
        let mut payload = Vec::new();
        while let Some(chunk) = self.next().await {
            payload.extend_from_slice(&chunk?);
        }
        Ok(payload)
    }

    /// Wraps the stream as an [`tokio::io::AsyncRead`]; errors become `std::io::Error`s of kind
    /// `InvalidData` (decryption) or `Other` (transport).
    pub fn into_async_read(self) -> impl tokio::io::AsyncRead + Send + Unpin {
        tokio_util::io::StreamReader::new(self.map(|item| item.map_err(to_io_error)))
    }
}

fn to_io_error(error: Error) -> std::io::Error {
    let kind = match error {
        Error::Decryption(_) => std::io::ErrorKind::InvalidData,
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, error)
}

impl Stream for DecryptedStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let outcome = match ready!(this.source.poll_next_unpin(context)) {
                Some(Ok(chunk)) => {
                    this.received += chunk.len() as u64;
                    this.decrypt_chunk(&chunk)
                }
                Some(Err(error)) => Err(error),
                None => {
                    this.done = true;
                    this.finish()
                }
            };
            match outcome {
                Ok(payload) if payload.is_empty() => continue,
                Ok(payload) => return Poll::Ready(Some(Ok(Bytes::from(payload)))),
                Err(error) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::test_support::contract_key;
    use trove_protocol::encrypted_file::encrypt;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn brotli_compress(data: &[u8]) -> Vec<u8> {
        let mut output = Vec::new();
        {
            let mut writer = brotli::CompressorWriter::new(&mut output, 4096, 5, 22);
            writer.write_all(data).unwrap();
        }
        output
    }

    fn sample_payload() -> Vec<u8> {
        (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect()
    }

    /// Splits `file` into chunks of `size` bytes, as a response body would arrive.
    fn chunked(file: Vec<u8>, size: usize) -> BoxStream<'static, Result<Bytes>> {
        let chunks: Vec<Result<Bytes>> = file
            .chunks(size)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect();
        futures::stream::iter(chunks).boxed()
    }

    async fn decrypt_in_chunks(
        file: Vec<u8>,
        size: usize,
        compression: Compression,
    ) -> Result<Vec<u8>> {
        let key = contract_key();
        let length = file.len() as u64;
        DecryptedStream::start(chunked(file, size), &key, compression, Some(length))
            .await?
            .to_vec()
            .await
    }

    #[tokio::test]
    async fn decrypts_any_chunking() {
        let payload = sample_payload();
        let file = encrypt(&contract_key().public_key(), &payload).unwrap();
        for size in [1, 7, 16, 271, 272, 273, 4096, file.len()] {
            let output = decrypt_in_chunks(file.clone(), size, Compression::None)
                .await
                .unwrap();
            assert_eq!(output, payload, "chunk size {size}");
        }
    }

    #[tokio::test]
    async fn decrypts_and_gunzips() {
        let payload = sample_payload();
        let file = encrypt(&contract_key().public_key(), &gzip(&payload)).unwrap();
        for size in [5, 1000, 65_536] {
            assert_eq!(
                decrypt_in_chunks(file.clone(), size, Compression::Gzip)
                    .await
                    .unwrap(),
                payload,
                "chunk size {size}"
            );
        }
    }

    #[tokio::test]
    async fn decrypts_and_unbrotlis() {
        let payload = sample_payload();
        let file = encrypt(&contract_key().public_key(), &brotli_compress(&payload)).unwrap();
        for size in [5, 1000, 65_536] {
            assert_eq!(
                decrypt_in_chunks(file.clone(), size, Compression::Brotli)
                    .await
                    .unwrap(),
                payload,
                "chunk size {size}"
            );
        }
    }

    #[tokio::test]
    async fn empty_payload_decrypts_to_nothing() {
        let file = encrypt(&contract_key().public_key(), b"").unwrap();
        assert_eq!(file.len(), 288);
        assert!(decrypt_in_chunks(file, 100, Compression::None)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn truncated_gzip_fails() {
        let compressed = gzip(&sample_payload());
        let cut = &compressed[..compressed.len() / 2];
        let file = encrypt(&contract_key().public_key(), cut).unwrap();
        let error = decrypt_in_chunks(file, 1000, Compression::Gzip)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Decryption(reason) if reason.contains("gzip")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn truncated_brotli_fails() {
        let compressed = brotli_compress(&sample_payload());
        let cut = &compressed[..compressed.len() / 2];
        let file = encrypt(&contract_key().public_key(), cut).unwrap();
        let error = decrypt_in_chunks(file, 1000, Compression::Brotli)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Decryption(reason) if reason.contains("brotli")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn body_cut_at_block_boundary_fails() {
        let mut file = encrypt(&contract_key().public_key(), &sample_payload()).unwrap();
        file.truncate(file.len() - 16);
        let key = contract_key();
        // No Content-Length, so the cut shows only at the end: the padding check fails.
        let stream = DecryptedStream::start(chunked(file, 1000), &key, Compression::None, None)
            .await
            .unwrap();
        let error = stream.to_vec().await.unwrap_err();
        assert!(matches!(error, Error::Decryption(_)), "{error:?}");
    }

    #[tokio::test]
    async fn unaligned_length_fails() {
        let mut file = encrypt(&contract_key().public_key(), b"hello").unwrap();
        file.push(0);
        let key = contract_key();
        let error = DecryptedStream::start(
            chunked(file.clone(), 64),
            &key,
            Compression::None,
            Some(file.len() as u64),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, Error::Decryption(reason) if reason.contains("289")),
            "{error:?}"
        );
        let stream = DecryptedStream::start(chunked(file, 64), &key, Compression::None, None)
            .await
            .unwrap();
        let error = stream.to_vec().await.unwrap_err();
        assert!(
            matches!(&error, Error::Decryption(reason) if reason.contains("289")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn short_body_fails() {
        let key = contract_key();
        let error =
            DecryptedStream::start(chunked(vec![0; 100], 64), &key, Compression::None, None)
                .await
                .unwrap_err();
        assert!(matches!(error, Error::Decryption(_)), "{error:?}");
    }

    #[tokio::test]
    async fn wrong_key_fails_at_start() {
        let other = RsaPrivateKey::generate(2048).unwrap();
        let file = encrypt(&other.public_key(), b"for someone else").unwrap();
        let key = contract_key();
        let error = DecryptedStream::start(chunked(file, 64), &key, Compression::None, None)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Decryption(_)), "{error:?}");
    }

    #[tokio::test]
    async fn transport_error_ends_stream() {
        let file = encrypt(&contract_key().public_key(), &sample_payload()).unwrap();
        let mut chunks: Vec<Result<Bytes>> = vec![Ok(Bytes::copy_from_slice(&file[..1000]))];
        chunks.push(Err(Error::Io(std::io::Error::other("connection reset"))));
        chunks.push(Ok(Bytes::copy_from_slice(&file[1000..])));
        let key = contract_key();
        let mut stream = DecryptedStream::start(
            futures::stream::iter(chunks).boxed(),
            &key,
            Compression::None,
            None,
        )
        .await
        .unwrap();
        assert!(stream.next().await.unwrap().is_ok());
        assert!(stream.next().await.unwrap().is_err());
        assert!(
            stream.next().await.is_none(),
            "the stream ends after an error"
        );
    }

    #[test]
    fn compression_names_follow_node() {
        assert_eq!(Compression::from_metadata(Some("gzip")), Compression::Gzip);
        assert_eq!(
            Compression::from_metadata(Some("brotli")),
            Compression::Brotli
        );
        assert_eq!(
            Compression::from_metadata(Some("deflate")),
            Compression::None
        );
        assert_eq!(Compression::from_metadata(None), Compression::None);
    }
}
