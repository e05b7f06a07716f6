//! Turns the core's events into what the user sees: tray menu, notifications, window updates.
//! Also re-renders tray and window when a grant's state changes with time (healthy → expiring →
//! expired), by sleeping until the next such moment rather than polling, and follows the
//! keychain's lock state from the Secret Service's change signal.

use crate::notify;
use crate::state::AppState;
use crate::tray;
use chrono::Utc;
use grantkeeper_core::{keychain, Event};
use std::sync::Arc;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::{broadcast, Notify};

/// How often to ask whether the keychain is locked when its change signal cannot be watched.
const KEYCHAIN_POLL: std::time::Duration = std::time::Duration::from_secs(30);

pub fn spawn<R: Runtime>(app: &AppHandle<R>) {
    spawn_keychain_watch(app);
    let keeper = app.state::<AppState>().keeper.clone();
    let mut events = keeper.subscribe();
    let changed = Arc::new(Notify::new());

    let handle = app.clone();
    let wake = changed.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_)) => Event::GrantsChanged,
                Err(broadcast::error::RecvError::Closed) => break,
            };
            match event {
                Event::GrantsChanged | Event::ClientsChanged => {
                    tray::refresh(&handle).await;
                    wake.notify_one();
                    let _ = handle.emit("grants-changed", ());
                }
                Event::LoginCompleted { grant } => {
                    notify::show("Logged in", &grant.login_summary());
                    let _ = handle.emit(
                        "login-result",
                        serde_json::json!({"ok": true, "grant": grant.id}),
                    );
                }
                Event::LoginFailed { code, message } => {
                    notify::show("Login failed", &message);
                    let _ = handle.emit(
                        "login-result",
                        serde_json::json!({"ok": false, "code": code, "message": message}),
                    );
                }
            }
        }
    });

    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let next = next_state_change(&handle).await;
            match next {
                Some(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {
                            // The window shows the state too, not only the countdown.
                            tray::refresh(&handle).await;
                            let _ = handle.emit("grants-changed", ());
                        }
                        _ = changed.notified() => {}
                    }
                }
                None => changed.notified().await,
            }
        }
    });
}

/// Notices when the keychain is locked or unlocked by someone else (the desktop's keyring), so
/// grants show "keychain locked" before a copy fails. The Secret Service announces each change;
/// if its signal cannot be watched, ask now and then instead.
fn spawn_keychain_watch<R: Runtime>(app: &AppHandle<R>) {
    let keeper = app.state::<AppState>().keeper.clone();
    let spawned = std::thread::Builder::new()
        .name("keychain-watch".into())
        .spawn(move || {
            let on_change = keeper.clone();
            let watched = keychain::watch_lock_changes(move || {
                let keeper = on_change.clone();
                // A change of state is announced by the keeper (GrantsChanged).
                tauri::async_runtime::spawn(async move { keeper.probe_keychain().await });
            });
            if let Err(e) = watched {
                tracing::warn!("{e}; asking the keychain every {KEYCHAIN_POLL:?} instead");
                tauri::async_runtime::spawn(async move {
                    loop {
                        tokio::time::sleep(KEYCHAIN_POLL).await;
                        keeper.probe_keychain().await;
                    }
                });
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch the keychain: {e}");
    }
}

/// Time until the next grant crosses into "expiring soon" or "expired".
async fn next_state_change<R: Runtime>(app: &AppHandle<R>) -> Option<std::time::Duration> {
    let keeper = app.state::<AppState>().keeper.clone();
    let margin = keeper.refresh_margin();
    let now = Utc::now();
    let grants = keeper.grants().await.ok()?;
    grants
        .iter()
        .filter_map(|g| g.access_expires_at)
        .flat_map(|at| [at - margin, at])
        .filter(|t| *t > now)
        .min()
        .and_then(|t| (t - now).to_std().ok())
        .map(|d| d + std::time::Duration::from_millis(200))
}
