//! User actions as the shell performs them: the core call plus what only a desktop app does
//! (open the browser, clipboard, notifications). The tray menu and the window commands both call
//! these, so they behave the same.

use crate::notify;
use crate::state::AppState;
use grantkeeper_core::{loopback, Error, LoginStart, Revoked};
use tauri::{AppHandle, Manager, Runtime};

fn state<R: Runtime>(app: &AppHandle<R>) -> tauri::State<'_, AppState> {
    app.state::<AppState>()
}

/// Starts a login and opens the system browser at the consent page.
pub async fn login<R: Runtime>(app: &AppHandle<R>, client_id: &str) -> Result<LoginStart, Error> {
    let st = state(app);
    let start = st.keeper.start_login(client_id).await?;
    if let Some((host, port, path)) = start.loopback.clone() {
        loopback::ensure_listening(st.keeper.clone(), st.listeners.clone(), host, port, path)
            .await?;
    }
    crate::browser::open(app, &start.authorize_url)?;
    Ok(start)
}

/// Listens again for the loopback redirects of logins that were pending when the app last quit.
pub async fn resume_loopback_listeners<R: Runtime>(app: &AppHandle<R>) {
    let st = state(app);
    let Ok(pending) = st.keeper.pending_loopbacks().await else {
        return;
    };
    for l in pending {
        let listening = loopback::ensure_listening(
            st.keeper.clone(),
            st.listeners.clone(),
            l.host,
            l.port,
            l.path,
        );
        if let Err(e) = listening.await {
            tracing::warn!("{e}");
            notify::show("A pending login cannot finish", &e.to_string());
        }
    }
}

/// Puts a fresh access token on the clipboard, and clears it later if it is still there.
pub async fn copy_token<R: Runtime>(app: &AppHandle<R>, grant_id: &str) -> Result<(), Error> {
    let st = state(app);
    let token = st.keeper.access_token(grant_id, "clipboard").await?;
    st.clipboard
        .copy_secret(&token)
        .map_err(|why| Error::Invalid(format!("Could not copy the token: {why}.")))?;
    let delay = crate::clipboard::clear_after();
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(delay).await;
        handle.state::<AppState>().clipboard.clear_if_still(&token);
    });
    Ok(())
}

pub async fn revoke<R: Runtime>(app: &AppHandle<R>, grant_id: &str) -> Result<Revoked, Error> {
    state(app).keeper.revoke(grant_id).await
}

/// Completes a login from a callback URL (deep link). Success and failure reach the user
/// through the core's events (see `events.rs`).
pub async fn handle_callback<R: Runtime>(app: &AppHandle<R>, url: &str) {
    let _reported_by_event = state(app).keeper.complete_login(url).await;
}

/// Runs an action from the tray: errors become a notification.
pub fn from_tray<F>(what: &'static str, action: F)
where
    F: std::future::Future<Output = Result<(), Error>> + Send + 'static,
{
    tauri::async_runtime::spawn(async move {
        if let Err(e) = action.await {
            tracing::warn!(code = e.code(), "{what} failed: {e}");
            notify::show(&format!("{what} failed"), &e.to_string());
        }
    });
}
