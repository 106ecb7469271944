//! Storage of large sealed file bodies, apart from the database.
//!
//! An upload is written to a temporary file, synced, and renamed into place only when it is
//! complete, so that a cut-off upload never appears under a key. Keys not referenced by any
//! file row (an upload acknowledged to no one because the process died between rename and
//! commit) are removed by [`BlobStore::sweep`] at startup.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::fs::{self, File};
use tokio::io::AsyncRead;

use crate::store::StoreError;

/// Storage of large sealed bodies. The filesystem implementation is [`FsBlobStore`]; an
/// S3-compatible one fits the same calls.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts a new upload.
    async fn begin(&self) -> Result<Box<dyn BlobUpload>, StoreError>;
    /// Opens a stored blob for reading.
    async fn open(&self, key: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError>;
    /// Deletes a blob; a missing blob is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Removes temporary uploads and every blob whose key is not in `referenced`.
    async fn sweep(&self, referenced: &[String]) -> Result<usize, StoreError>;
}

/// An upload in progress. Dropping it without [`BlobUpload::finish`] leaves nothing visible.
#[async_trait]
pub trait BlobUpload: Send {
    /// Appends bytes.
    async fn write(&mut self, bytes: Vec<u8>) -> Result<(), StoreError>;
    /// Makes the blob durable under a new key and returns the key.
    async fn finish(self: Box<Self>) -> Result<String, StoreError>;
}

/// Blobs as files under `<root>/<first two key characters>/<key>`.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Uses (creating) the directory `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self { root: root.to_path_buf() })
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let valid = key.len() >= 8 && key.bytes().all(|byte| byte.is_ascii_alphanumeric());
        if !valid {
            return Err(StoreError::NotFound(format!("blob {key}")));
        }
        Ok(self.root.join(&key[..2]).join(key))
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn begin(&self) -> Result<Box<dyn BlobUpload>, StoreError> {
        let key = trove_protocol::random::alphanumeric(32);
        let temporary = self.root.join("tmp").join(&key);
        let file = File::create(&temporary).await?.into_std().await;
        Ok(Box::new(FsUpload::start(self.root.clone(), key, temporary, file)))
    }

    async fn open(&self, key: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        let path = self.path_of(key)?;
        Ok(Box::new(File::open(path).await?))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.path_of(key)?).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
            _ => Ok(()),
        }
    }

    async fn sweep(&self, referenced: &[String]) -> Result<usize, StoreError> {
        let root = self.root.clone();
        let referenced: std::collections::HashSet<String> = referenced.iter().cloned().collect();
        let removed = tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
            let mut removed = 0;
            for entry in std::fs::read_dir(&root)? {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let is_tmp = entry.file_name() == "tmp";
                for blob in std::fs::read_dir(entry.path())? {
                    let blob = blob?;
                    let name = blob.file_name().to_string_lossy().to_string();
                    if is_tmp || !referenced.contains(&name) {
                        std::fs::remove_file(blob.path())?;
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|error| StoreError::Database(format!("blob sweep task failed: {error}")))??;
        Ok(removed)
    }
}

/// Chunks queued to the writer thread; bounds the memory an upload holds.
const QUEUED_CHUNKS: usize = 4;

/// An upload whose bytes a dedicated thread writes and syncs, so that sealing the next chunk
/// overlaps with writing the previous one.
struct FsUpload {
    root: PathBuf,
    key: String,
    temporary: PathBuf,
    chunks: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl FsUpload {
    fn start(root: PathBuf, key: String, temporary: PathBuf, file: std::fs::File) -> Self {
        let (chunks, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(QUEUED_CHUNKS);
        let writer = std::thread::Builder::new()
            .name("trove-blob-writer".into())
            .spawn(move || -> std::io::Result<()> {
                use std::io::Write;
                let mut file = file;
                while let Some(chunk) = receiver.blocking_recv() {
                    file.write_all(&chunk)?;
                }
                file.sync_all()
            })
            .expect("spawning a blob writer thread");
        Self { root, key, temporary, chunks: Some(chunks), writer: Some(writer) }
    }

    async fn join_writer(&mut self) -> Result<(), StoreError> {
        drop(self.chunks.take());
        let Some(writer) = self.writer.take() else { return Ok(()) };
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(|error| StoreError::Database(format!("blob writer task failed: {error}")))?
            .map_err(|_| StoreError::Database("the blob writer thread panicked".into()))??;
        Ok(())
    }
}

#[async_trait]
impl BlobUpload for FsUpload {
    async fn write(&mut self, bytes: Vec<u8>) -> Result<(), StoreError> {
        let sender = self.chunks.as_ref().expect("upload already finished");
        if sender.send(bytes).await.is_err() {
            // The writer thread stopped early; its error comes out of join.
            self.join_writer().await?;
            return Err(StoreError::Database("the blob writer stopped".into()));
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<String, StoreError> {
        self.join_writer().await?;
        let directory = self.root.join(&self.key[..2]);
        fs::create_dir_all(&directory).await?;
        fs::rename(&self.temporary, directory.join(&self.key)).await?;
        sync_directory(&directory).await?;
        self.temporary = PathBuf::new();
        Ok(std::mem::take(&mut self.key))
    }
}

impl Drop for FsUpload {
    fn drop(&mut self) {
        drop(self.chunks.take());
        if !self.temporary.as_os_str().is_empty() {
            // Unfinished upload: the client went away or the push was rejected. The writer
            // thread ends once its queue is closed. The file is removed now, and if that thread
            // still has it open, it disappears when the thread closes it.
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

async fn sync_directory(directory: &Path) -> std::io::Result<()> {
    let directory = directory.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(directory)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}
