//! Read-back of a stored file as the download layout: the sealed body is opened segment by
//! segment, optionally gzipped, and encrypted to the reading contract's key with a fresh AES key
//! and IV, as a stream.

use std::io::Write;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures::Stream;
use tokio::io::AsyncReadExt;
use trove_protocol::encrypted_file::FileEncryptor;
use trove_protocol::keys::RsaPublicKey;
use zeroize::Zeroizing;

use crate::service::sealed_body::BodyOpener;
use crate::store::blobs::BlobStore;
use crate::store::StoredBody;

/// Bytes read from the blob store per step.
const READ_CHUNK: usize = 256 * 1024;

/// Returns the download layout of a stored body as a stream of chunks.
pub fn encrypted_stream(
    body: StoredBody,
    file_key: Zeroizing<Vec<u8>>,
    reader: RsaPublicKey,
    gzip: bool,
    blobs: std::sync::Arc<dyn BlobStore>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    async_stream::try_stream! {
        let (mut encryptor, header) = FileEncryptor::start(&reader).map_err(std::io::Error::other)?;
        yield Bytes::from(header);

        let mut opener = BodyOpener::new(&file_key);
        let mut compressor = gzip.then(|| GzEncoder::new(Vec::new(), Compression::default()));
        let mut plain = Vec::with_capacity(READ_CHUNK + 64 * 1024);
        let mut cipher = Vec::with_capacity(READ_CHUNK + 64 * 1024);

        match body {
            StoredBody::Inline(sealed) => {
                opener.update(&sealed, &mut plain).map_err(std::io::Error::other)?;
            }
            StoredBody::Blob(key) => {
                let mut reader = blobs.open(&key).await.map_err(std::io::Error::other)?;
                let mut buffer = vec![0u8; READ_CHUNK];
                loop {
                    let read = reader.read(&mut buffer).await?;
                    if read == 0 {
                        break;
                    }
                    opener.update(&buffer[..read], &mut plain).map_err(std::io::Error::other)?;
                    if plain.len() >= READ_CHUNK {
                        encrypt_chunk(&mut encryptor, compressor.as_mut(), &mut plain, &mut cipher)?;
                        yield Bytes::from(std::mem::take(&mut cipher));
                    }
                }
            }
        }
        opener.finish(&mut plain).map_err(std::io::Error::other)?;
        encrypt_chunk(&mut encryptor, compressor.as_mut(), &mut plain, &mut cipher)?;
        if let Some(compressor) = compressor {
            let tail = compressor.finish()?;
            encryptor.update(&tail, &mut cipher).map_err(std::io::Error::other)?;
        }
        encryptor.finish(&mut cipher).map_err(std::io::Error::other)?;
        yield Bytes::from(cipher);
    }
}

fn encrypt_chunk(
    encryptor: &mut FileEncryptor,
    compressor: Option<&mut GzEncoder<Vec<u8>>>,
    plain: &mut Vec<u8>,
    cipher: &mut Vec<u8>,
) -> Result<(), std::io::Error> {
    match compressor {
        Some(compressor) => {
            compressor.write_all(plain)?;
            let compressed = std::mem::take(compressor.get_mut());
            encryptor.update(&compressed, cipher).map_err(std::io::Error::other)?;
        }
        None => encryptor.update(plain, cipher).map_err(std::io::Error::other)?,
    }
    plain.clear();
    Ok(())
}
