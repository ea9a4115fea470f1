//! Keeping a service's settings current: poll with `If-None-Match` at the server's interval
//! (with jitter), back off on errors, publish changes on a `tokio::sync::watch` channel, and
//! fall back to the offline file when Fig cannot be reached.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{Fetched, FigClient, FigError, Settings};
use crate::offline::OfflineStore;

/// Where the current values came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Fetched from Fig.
    Server,
    /// Read from the offline file (Fig was unreachable).
    Offline,
}

/// The values a service should use now.
#[derive(Clone, Debug, PartialEq)]
pub struct Current {
    /// The values.
    pub settings: Settings,
    /// Where they came from.
    pub origin: Origin,
}

/// Options of [`watch`].
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// The offline file, if the service keeps one.
    pub offline: Option<OfflineStore>,
    /// Shortest poll interval, whatever the server says.
    pub min_interval: Duration,
    /// Longest wait between retries after errors.
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            offline: None,
            min_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// A running watch: read `receiver` (or `await receiver.changed()`); drop or [`Watch::stop`]
/// to end it.
#[derive(Debug)]
pub struct Watch {
    /// The current values; changes are notified.
    pub receiver: watch::Receiver<Arc<Current>>,
    task: JoinHandle<()>,
}

impl Watch {
    /// Stops polling.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn jitter(base: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.9..1.1);
    base.mul_f64(factor)
}

/// Keeps the offline file in step with what the server allows.
fn keep_offline(options: &WatchOptions, client: &FigClient, settings: &Settings) {
    if let Some(store) = &options.offline {
        let result = if settings.allow_offline {
            store.save(settings, client.secret())
        } else {
            store.delete()
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "offline settings file not updated");
        }
    }
}

fn drop_offline(options: &WatchOptions) {
    if let Some(store) = &options.offline
        && let Err(e) = store.delete()
    {
        tracing::warn!(error = %e, "offline settings file not deleted");
    }
}

/// Fetches the values once, then keeps them current in the background.
///
/// When Fig cannot be reached at start, the offline file (if configured, young enough and
/// sealed with this client's secret) is used until Fig answers. A 401 or 403 deletes the
/// offline file, and so does a server that disallows offline use.
pub async fn watch(client: FigClient, options: WatchOptions) -> Result<Watch, FigError> {
    let first = match client.fetch(None).await {
        Ok(Fetched::Settings(settings)) => {
            keep_offline(&options, &client, &settings);
            Current {
                settings,
                origin: Origin::Server,
            }
        }
        Ok(Fetched::NotModified) => return Err(FigError::Protocol("304 without an ETag".into())),
        Err(e) if e.is_refusal() => {
            drop_offline(&options);
            return Err(e);
        }
        Err(e) => match &options.offline {
            Some(store) => {
                let settings =
                    store
                        .load(client.name(), client.secret(), 0)
                        .map_err(|offline| {
                            FigError::Offline(format!(
                                "{e}; and the offline file cannot be used: {offline}"
                            ))
                        })?;
                tracing::warn!(error = %e, "Fig unreachable: using the offline settings");
                Current {
                    settings,
                    origin: Origin::Offline,
                }
            }
            None => return Err(e),
        },
    };
    let (sender, receiver) = watch::channel(Arc::new(first.clone()));
    let task = tokio::spawn(async move {
        let mut current = first;
        let mut backoff = Duration::ZERO;
        loop {
            let interval =
                Duration::from_millis(current.settings.poll_interval_ms).max(options.min_interval);
            let wait = if backoff.is_zero() {
                jitter(interval)
            } else {
                jitter(backoff)
            };
            tokio::time::sleep(wait).await;
            let etag = match current.origin {
                Origin::Server => current.settings.etag.clone(),
                Origin::Offline => None,
            };
            match client.fetch(etag.as_deref()).await {
                Ok(Fetched::NotModified) => backoff = Duration::ZERO,
                Ok(Fetched::Settings(settings)) => {
                    backoff = Duration::ZERO;
                    keep_offline(&options, &client, &settings);
                    let changed = settings != current.settings || current.origin != Origin::Server;
                    current = Current {
                        settings,
                        origin: Origin::Server,
                    };
                    if changed && sender.send(Arc::new(current.clone())).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if e.is_refusal() {
                        drop_offline(&options);
                    }
                    backoff = (backoff * 2).clamp(options.min_interval, options.max_backoff);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "settings poll failed");
                }
            }
        }
    });
    Ok(Watch { receiver, task })
}
