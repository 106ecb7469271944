//! Group commit: one thread owns the write connection and runs every write job it finds
//! queued inside a single transaction, so that one fsync makes a whole batch durable.
//!
//! Each job runs inside its own savepoint, so a failing job rolls back alone and the others in
//! the batch still commit. A job's caller is answered only after the batch's COMMIT returns.

use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::StoreError;

/// Most jobs committed in one transaction; bounds the latency a batch adds.
const MAX_BATCH: usize = 512;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A job runs on the connection, or is handed `None` when no transaction could be begun.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

/// Handle to the writer thread.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `connection`.
    pub fn start(connection: Connection) -> Self {
        let (jobs, receiver) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("trove-sqlite-writer".into())
            .spawn(move || run(connection, receiver))
            .expect("spawning the SQLite writer thread");
        Self { jobs }
    }

    /// Runs `operation` in the next batch and returns its result once the batch is durable.
    pub async fn write<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |connection| {
            let outcome = match connection {
                Some(connection) => in_savepoint(connection, operation),
                None => Err(StoreError::Database("could not begin a transaction".into())),
            };
            Box::new(move |commit: Result<(), String>| {
                let result = match commit {
                    Ok(()) => outcome,
                    Err(message) => Err(StoreError::Database(format!("commit failed: {message}"))),
                };
                let _ = reply.send(result);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Database("the SQLite writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Database("the SQLite writer thread dropped a job".into()))?
    }
}

fn in_savepoint<T>(
    connection: &Connection,
    operation: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    connection.execute_batch("SAVEPOINT job").map_err(super::database_error)?;
    let outcome = operation(connection);
    let finish = if outcome.is_ok() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
    connection.execute_batch(finish).map_err(super::database_error)?;
    outcome
}

fn run(connection: Connection, receiver: mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut completions: Vec<Completion> = Vec::new();
        if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(%error, "SQLite writer could not begin a transaction");
            first(None)(Err(error.to_string()));
            continue;
        }
        completions.push(first(Some(&connection)));
        while completions.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => completions.push(job(Some(&connection))),
                Err(_) => break,
            }
        }
        let commit = connection.execute_batch("COMMIT").map_err(|error| error.to_string());
        if let Err(message) = &commit {
            tracing::error!(error = %message, jobs = completions.len(), "SQLite batch commit failed");
            let _ = connection.execute_batch("ROLLBACK");
        }
        for completion in completions {
            completion(commit.clone());
        }
    }
    tracing::debug!("SQLite writer thread stopped");
}
