//! The window's commands. Each is a thin delegation to the core (or to `actions` where the
//! desktop is involved). What crosses into the webview is metadata only: never a token or secret.

use crate::actions;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use grantkeeper_core::{ClientConfig, ClientInput, Endpoints, Error, GrantStatus};
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

/// What the window gets when a command fails: a code it can switch on and a message for people.
#[derive(Debug, Serialize)]
pub struct CommandError {
    code: &'static str,
    message: String,
}

impl From<Error> for CommandError {
    fn from(e: Error) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

type CommandResult<T> = Result<T, CommandError>;

#[derive(Serialize)]
pub struct GrantsView {
    grants: Vec<GrantStatus>,
    keychain_locked: bool,
    refresh_margin_secs: i64,
}

#[derive(Serialize)]
pub struct LoginStarted {
    expires_at: DateTime<Utc>,
}

#[tauri::command]
pub async fn list_clients(state: State<'_, AppState>) -> CommandResult<Vec<ClientConfig>> {
    Ok(state.keeper.clients().await?)
}

#[tauri::command]
pub async fn save_client(
    state: State<'_, AppState>,
    input: ClientInput,
) -> CommandResult<ClientConfig> {
    Ok(state.keeper.save_client(input).await?)
}

#[tauri::command]
pub async fn remove_client(state: State<'_, AppState>, id: String) -> CommandResult<()> {
    Ok(state.keeper.remove_client(&id).await?)
}

#[tauri::command]
pub async fn list_grants(state: State<'_, AppState>) -> CommandResult<GrantsView> {
    // Asked afresh when the window looks: the keychain may have been locked meanwhile.
    state.keeper.probe_keychain().await;
    Ok(GrantsView {
        grants: state.keeper.grants().await?,
        keychain_locked: state.keeper.keychain_locked(),
        refresh_margin_secs: state.keeper.refresh_margin().num_seconds(),
    })
}

#[tauri::command]
pub async fn start_login<R: Runtime>(
    app: AppHandle<R>,
    client: String,
) -> CommandResult<LoginStarted> {
    let start = actions::login(&app, &client).await?;
    Ok(LoginStarted {
        expires_at: start.expires_at,
    })
}

#[tauri::command]
pub async fn copy_token<R: Runtime>(app: AppHandle<R>, grant: String) -> CommandResult<()> {
    Ok(actions::copy_token(&app, &grant).await?)
}

/// Returns what the user is told about the outcome.
#[tauri::command]
pub async fn revoke_grant<R: Runtime>(app: AppHandle<R>, grant: String) -> CommandResult<String> {
    Ok(actions::revoke(&app, &grant).await?.message().to_string())
}

/// The local demo server's endpoints, when the app runs in demo mode (fills the client form).
#[tauri::command]
pub fn demo_endpoints() -> Option<Endpoints> {
    crate::demo::provider_base().map(|base| Endpoints::cloudflare_compatible(&base))
}
