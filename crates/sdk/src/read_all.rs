//! `read_all_files`: polling a read session and downloading every file it lists.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use trove_protocol::wire::{FileList, FileListStatus, TokenPair};

use crate::client::{Client, ContractDetails, TokenChangeCallback, WithToken};
use crate::error::{Error, Result};
use crate::read::FileDownload;
use crate::refresh::{RefreshOn, TokenState};
use crate::transport::{path_segment, read_json};

/// An error a file callback may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The per-file callback of [`Client::read_all_files`]. It receives each download as a stream
/// and must read or drop it.
pub type OnFile =
    Arc<dyn Fn(FileDownload) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// A callback called with the name and the error of each file that could not be read.
pub type OnFileError = Arc<dyn Fn(&str, &Error) + Send + Sync>;

/// A callback called with each new sync state.
pub type OnStatusChange = Arc<dyn Fn(&FileListStatus) + Send + Sync>;

/// The sync states after which no more files appear.
const FINAL_STATES: [&str; 2] = ["partial", "completed"];

/// Arguments of [`Client::read_all_files`].
#[derive(Clone)]
pub struct ReadAllOptions {
    /// The read session to poll, from `read_session` or `get_authorize_url`.
    pub session_key: String,
    /// Called with every listed file once it starts downloading.
    pub on_file: OnFile,
    /// Called for every file whose download or callback failed.
    pub on_file_error: Option<OnFileError>,
    /// Called whenever the sync state changes; a first `pending` is not reported.
    pub on_status_change: Option<OnStatusChange>,
    /// Told the new pair after a refresh, instead of the client's callback.
    pub on_token_change: Option<TokenChangeCallback>,
    /// Maximum number of downloads at a time (default 4; at least 1 is used).
    pub concurrency: usize,
    /// Wait between file-list polls while the state is `pending` or `running` (default 3 s,
    /// as in the official SDKs).
    pub poll_interval: Duration,
    /// Maximum time to keep polling (default 5 minutes, as in the iOS SDK). `None` polls until
    /// the state is `partial` or `completed`. Downloads already started still finish.
    pub timeout: Option<Duration>,
    /// Stops polling when cancelled; downloads already started still finish.
    pub stop: Option<CancellationToken>,
}

impl fmt::Debug for ReadAllOptions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ReadAllOptions")
            .field("session_key", &self.session_key)
            .field("concurrency", &self.concurrency)
            .field("poll_interval", &self.poll_interval)
            .field("timeout", &self.timeout)
            .field("stop", &self.stop.is_some())
            .finish_non_exhaustive()
    }
}

impl ReadAllOptions {
    /// Creates options for `session_key` that pass each file to `on_file`.
    pub fn new<F, Fut>(session_key: impl Into<String>, on_file: F) -> Self
    where
        F: Fn(FileDownload) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        Self {
            session_key: session_key.into(),
            on_file: Arc::new(move |file| on_file(file).boxed()),
            on_file_error: None,
            on_status_change: None,
            on_token_change: None,
            concurrency: 4,
            poll_interval: Duration::from_secs(3),
            timeout: Some(Duration::from_secs(5 * 60)),
            stop: None,
        }
    }
}

/// A file that could not be read.
#[derive(Debug)]
pub struct FileError {
    /// The file name.
    pub file_name: String,
    /// What failed.
    pub error: Error,
}

/// The result of [`Client::read_all_files`].
#[derive(Debug)]
pub struct ReadAllOutcome {
    /// The last status the server reported.
    pub status: FileListStatus,
    /// Number of files passed to `on_file` whose callback succeeded.
    pub files_read: usize,
    /// Files whose download or callback failed.
    pub file_errors: Vec<FileError>,
    /// `true` when polling stopped because the timeout passed before a final state.
    pub timed_out: bool,
    /// `true` when polling stopped because `stop` was cancelled.
    pub stopped: bool,
}

/// Files of the latest listing not yet fetched at their current version.
#[derive(Default)]
struct Pending {
    last_seen: HashMap<String, i64>,
    queue: VecDeque<String>,
    queued: HashSet<String>,
}

impl Pending {
    /// Queues each listed file whose `updatedDate` is newer than the one last fetched.
    /// A file listed with `updatedDate` 0 is never fetched, as in the Node SDK.
    fn add_listing(&mut self, list: &FileList) {
        for entry in list.file_list.iter().flatten() {
            let seen = self.last_seen.entry(entry.name.clone()).or_insert(0);
            if entry.updated_date > *seen {
                *seen = entry.updated_date;
                if self.queued.insert(entry.name.clone()) {
                    self.queue.push_back(entry.name.clone());
                }
            }
        }
    }

    fn next(&mut self) -> Option<String> {
        let name = self.queue.pop_front()?;
        self.queued.remove(&name);
        Some(name)
    }
}

async fn wait_for_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn wait_for_stop(stop: Option<&CancellationToken>) {
    match stop {
        Some(stop) => stop.cancelled().await,
        None => std::future::pending().await,
    }
}

impl Client {
    /// Polls a read session and downloads every file it lists, until the sync state is
    /// `partial` or `completed`.
    ///
    /// The file list is read every `poll_interval`. Files listed while the state is `pending`
    /// are skipped for that round. In any other state, each file whose `updatedDate` grew since
    /// it was last fetched is downloaded and passed to `on_file`, at most `concurrency` at a
    /// time.
    /// A failed download is reported to `on_file_error` and in the outcome, and does not stop
    /// the others. A failed file-list call ends the whole operation with its error.
    ///
    /// Unlike the Node SDK, polling gives up after `timeout`; the outcome then has `timed_out`
    /// set.
    pub async fn read_all_files(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
        options: ReadAllOptions,
    ) -> Result<WithToken<ReadAllOutcome>> {
        let session_key = path_segment(&options.session_key);
        if options.session_key.is_empty()
            || options.session_key == "."
            || options.session_key == ".."
        {
            return Err(Error::InvalidArgument(format!(
                "the session key {:?} is not a valid path segment",
                options.session_key
            )));
        }
        let list_endpoint = format!("permission-access/query/{session_key}");
        let state = TokenState::new(token.clone());
        let callback = self.token_callback(options.on_token_change.as_ref());
        let concurrency = options.concurrency.max(1);
        let deadline = options.timeout.map(|timeout| Instant::now() + timeout);

        let list_once = || {
            self.with_refresh(
                contract,
                &state,
                RefreshOn::InvalidToken,
                callback,
                |token| {
                    let endpoint = &list_endpoint;
                    async move {
                        let response = self.get_json_response(contract, &token, endpoint).await?;
                        read_json::<FileList>(response, endpoint).await
                    }
                },
            )
            .boxed()
        };
        let download = |file_name: String| {
            let endpoint = format!(
                "permission-access/query/{session_key}/{}",
                path_segment(&file_name)
            );
            let (state, on_file) = (&state, &options.on_file);
            async move {
                let result = async {
                    let file = self
                        .with_refresh(
                            contract,
                            state,
                            RefreshOn::AnyUnauthorized,
                            callback,
                            |token| {
                                self.read_file_once(
                                    contract,
                                    token,
                                    endpoint.clone(),
                                    file_name.clone(),
                                )
                            },
                        )
                        .await?;
                    on_file(file).await.map_err(Error::Callback)
                }
                .await;
                (file_name, result)
            }
            .boxed()
        };

        let mut pending = Pending::default();
        let mut in_flight = FuturesUnordered::new();
        let mut status = FileListStatus {
            state: "pending".into(),
            details: None,
        };
        let mut files_read = 0;
        let mut file_errors = Vec::new();
        let (mut timed_out, mut stopped) = (false, false);
        let mut polling = true;
        let mut list_call: Option<BoxFuture<'_, Result<FileList>>> = None;
        let next_poll = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(next_poll);

        loop {
            while in_flight.len() < concurrency {
                let Some(file_name) = pending.next() else {
                    break;
                };
                in_flight.push(download(file_name));
            }
            if !polling && in_flight.is_empty() {
                break;
            }

            tokio::select! {
                Some((file_name, result)) = in_flight.next(), if !in_flight.is_empty() => match result {
                    Ok(()) => files_read += 1,
                    Err(error) => {
                        tracing::warn!(file_name, %error, "reading a file failed");
                        if let Some(on_file_error) = &options.on_file_error {
                            on_file_error(&file_name, &error);
                        }
                        file_errors.push(FileError { file_name, error });
                    }
                },
                result = async { list_call.as_mut().expect("guarded by is_some").await }, if list_call.is_some() => {
                    list_call = None;
                    let list = result?;
                    if list.status.state != status.state {
                        if let Some(on_status_change) = &options.on_status_change {
                            on_status_change(&list.status);
                        }
                    }
                    status = list.status.clone();
                    if status.state != "pending" {
                        pending.add_listing(&list);
                    }
                    if FINAL_STATES.contains(&status.state.as_str()) {
                        polling = false;
                    } else {
                        next_poll.as_mut().reset(Instant::now() + options.poll_interval);
                    }
                },
                () = &mut next_poll, if polling && list_call.is_none() => {
                    list_call = Some(list_once());
                },
                () = wait_for_deadline(deadline), if polling => {
                    tracing::warn!(session_key = %options.session_key, state = %status.state, "read_all_files timed out");
                    (polling, timed_out) = (false, true);
                    list_call = None;
                },
                () = wait_for_stop(options.stop.as_ref()), if polling => {
                    (polling, stopped) = (false, true);
                    list_call = None;
                },
            }
        }

        let (token, refreshed) = state.snapshot().await;
        let outcome = ReadAllOutcome {
            status,
            files_read,
            file_errors,
            timed_out,
            stopped,
        };
        Ok(WithToken {
            value: outcome,
            token,
            refreshed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_protocol::wire::FileEntry;

    fn listing(entries: &[(&str, i64)]) -> FileList {
        FileList {
            status: FileListStatus {
                state: "running".into(),
                details: None,
            },
            file_list: Some(
                entries
                    .iter()
                    .map(|(name, date)| FileEntry {
                        name: (*name).into(),
                        updated_date: *date,
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn pending_queues_only_newer_files() {
        let mut pending = Pending::default();
        pending.add_listing(&listing(&[("a", 10), ("b", 0), ("c", 5)]));
        assert_eq!(pending.next().as_deref(), Some("a"));
        assert_eq!(pending.next().as_deref(), Some("c"));
        assert_eq!(pending.next(), None);

        pending.add_listing(&listing(&[("a", 10), ("b", 0), ("c", 6)]));
        assert_eq!(pending.next().as_deref(), Some("c"));
        assert_eq!(pending.next(), None);
    }

    #[test]
    fn pending_does_not_queue_twice() {
        let mut pending = Pending::default();
        pending.add_listing(&listing(&[("a", 1)]));
        pending.add_listing(&listing(&[("a", 2)]));
        assert_eq!(pending.next().as_deref(), Some("a"));
        assert_eq!(pending.next(), None);
    }
}
