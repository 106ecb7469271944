//! Storing a pushed body: sealed as it streams in, kept inline when small, written to the blob
//! store when large, never held whole in memory.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use zeroize::Zeroizing;

use crate::service::sealed_body::BodySealer;
use crate::store::blobs::{BlobStore, BlobUpload};
use crate::store::{StoreError, StoredBody};

/// Largest sealed body kept in the database row. Small files then need no file of their own and
/// no fsync of their own: the group commit of their row makes them durable.
pub const INLINE_MAX: usize = 64 * 1024 + 16;

/// Sealed bytes gathered before each blob write.
const WRITE_CHUNK: usize = 1 << 20;

/// Failure to store a body.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body grew past the limit.
    #[error("the body is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// The client's body stream failed (cut off or malformed).
    #[error("reading the request body failed: {0}")]
    Body(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored body and its plaintext size.
pub struct Ingested {
    /// Location of the sealed body.
    pub body: StoredBody,
    /// Plaintext bytes.
    pub size: u64,
}

/// Seals `body` with `file_key` and stores it, failing once it exceeds `max_bytes`. On any
/// failure nothing stays behind: an unfinished blob upload deletes its temporary file.
pub async fn ingest<S, E>(
    body: S,
    file_key: &Zeroizing<[u8; 32]>,
    max_bytes: u64,
    blobs: &dyn BlobStore,
) -> Result<Ingested, IngestError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = body;
    let mut sealer = BodySealer::new(file_key);
    let mut sealed = Vec::with_capacity(INLINE_MAX);
    let mut upload: Option<Box<dyn BlobUpload>> = None;
    let mut size: u64 = 0;

    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|error| IngestError::Body(error.to_string()))?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(IngestError::TooLarge(max_bytes));
        }
        sealer.update(&chunk, &mut sealed);
        if upload.is_none() && sealed.len() > INLINE_MAX {
            upload = Some(blobs.begin().await?);
        }
        if let Some(upload) = upload.as_mut() {
            if sealed.len() >= WRITE_CHUNK {
                let full = std::mem::replace(&mut sealed, Vec::with_capacity(WRITE_CHUNK + INLINE_MAX));
                upload.write(full).await?;
            }
        }
    }
    sealer.finish(&mut sealed);

    if upload.is_none() && sealed.len() > INLINE_MAX {
        upload = Some(blobs.begin().await?);
    }
    let stored = match upload {
        Some(mut upload) => {
            upload.write(sealed).await?;
            StoredBody::Blob(upload.finish().await?)
        }
        None => StoredBody::Inline(sealed),
    };
    Ok(Ingested { body: stored, size })
}
