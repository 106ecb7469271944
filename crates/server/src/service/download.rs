//! Read-back of a stored file as the download layout: the sealed body is opened segment by
//! segment, optionally gzipped, and encrypted to the reading contract's key with a fresh AES key
//! and IV, as a stream.
//!
//! The cryptography runs on a blocking thread that hands finished chunks to the response
//! through a small queue, so encrypting the next chunk overlaps with sending the previous one
//! and the async workers stay free for other requests.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures::Stream;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use trove_protocol::encrypted_file::FileEncryptor;
use trove_protocol::keys::RsaPublicKey;
use zeroize::Zeroizing;

use crate::service::sealed_body::BodyOpener;
use crate::store::blobs::BlobStore;
use crate::store::StoredBody;

/// Bytes read from the blob store per step.
const READ_CHUNK: usize = 1 << 20;
/// Encrypted chunks waiting to be sent; bounds the memory one download holds.
const QUEUED_CHUNKS: usize = 4;

type Chunk = Result<Bytes, std::io::Error>;

/// Returns the download layout of a stored body as a stream of chunks.
pub fn encrypted_stream(
    body: StoredBody,
    file_key: Zeroizing<Vec<u8>>,
    reader: RsaPublicKey,
    gzip: bool,
    blobs: Arc<dyn BlobStore>,
) -> impl Stream<Item = Chunk> + Send + 'static {
    let (sender, receiver) = mpsc::channel::<Chunk>(QUEUED_CHUNKS);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        if let Err(error) = produce(&runtime, body, &file_key, &reader, gzip, blobs, &sender) {
            // The receiver may be gone (client disconnected); then nobody needs the error.
            let _ = sender.blocking_send(Err(error));
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|chunk| (chunk, receiver)) })
}

/// The client went away; stop producing.
#[derive(Debug)]
struct Disconnected;

impl From<Disconnected> for std::io::Error {
    fn from(_: Disconnected) -> Self {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was abandoned")
    }
}

fn send(sender: &mpsc::Sender<Chunk>, bytes: Vec<u8>) -> Result<(), Disconnected> {
    if bytes.is_empty() {
        return Ok(());
    }
    sender.blocking_send(Ok(Bytes::from(bytes))).map_err(|_| Disconnected)
}

fn produce(
    runtime: &tokio::runtime::Handle,
    body: StoredBody,
    file_key: &[u8],
    reader: &RsaPublicKey,
    gzip: bool,
    blobs: Arc<dyn BlobStore>,
    sender: &mpsc::Sender<Chunk>,
) -> Result<(), std::io::Error> {
    let (mut encryptor, header) = FileEncryptor::start(reader).map_err(std::io::Error::other)?;
    send(sender, header)?;

    let mut opener = BodyOpener::new(file_key);
    let mut compressor = gzip.then(|| GzEncoder::new(Vec::new(), Compression::default()));
    let mut plain = Vec::with_capacity(READ_CHUNK + 128 * 1024);

    match body {
        StoredBody::Inline(sealed) => {
            opener.update(&sealed, &mut plain).map_err(std::io::Error::other)?;
        }
        StoredBody::Blob(key) => {
            let mut blob = runtime.block_on(blobs.open(&key)).map_err(std::io::Error::other)?;
            let mut buffer = vec![0u8; READ_CHUNK];
            loop {
                let read = runtime.block_on(blob.read(&mut buffer))?;
                if read == 0 {
                    break;
                }
                opener.update(&buffer[..read], &mut plain).map_err(std::io::Error::other)?;
                if plain.len() >= READ_CHUNK {
                    let cipher = encrypt_chunk(&mut encryptor, compressor.as_mut(), &mut plain)?;
                    send(sender, cipher)?;
                }
            }
        }
    }
    opener.finish(&mut plain).map_err(std::io::Error::other)?;
    let mut cipher = encrypt_chunk(&mut encryptor, compressor.as_mut(), &mut plain)?;
    if let Some(compressor) = compressor {
        let tail = compressor.finish()?;
        encryptor.update(&tail, &mut cipher).map_err(std::io::Error::other)?;
    }
    encryptor.finish(&mut cipher).map_err(std::io::Error::other)?;
    send(sender, cipher)?;
    Ok(())
}

fn encrypt_chunk(
    encryptor: &mut FileEncryptor,
    compressor: Option<&mut GzEncoder<Vec<u8>>>,
    plain: &mut Vec<u8>,
) -> Result<Vec<u8>, std::io::Error> {
    let mut cipher = Vec::with_capacity(plain.len() + 32);
    match compressor {
        Some(compressor) => {
            compressor.write_all(plain)?;
            let compressed = std::mem::take(compressor.get_mut());
            encryptor.update(&compressed, &mut cipher).map_err(std::io::Error::other)?;
        }
        None => encryptor.update(plain, &mut cipher).map_err(std::io::Error::other)?,
    }
    plain.clear();
    Ok(cipher)
}
