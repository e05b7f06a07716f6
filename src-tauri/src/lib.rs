//! Grantkeeper's Tauri shell: tray, window, deep-link intake, clipboard and notifications over
//! `grantkeeper_core`. `main.rs` only calls [`run`].

mod actions;
mod browser;
mod clipboard;
mod cold_start;
mod commands;
mod demo;
mod events;
mod menu_id;
mod notify;
mod state;
mod tray;
mod watch;
mod window;

use grantkeeper_core::keychain::SERVICE;
use grantkeeper_core::{Keeper, Keychain, KeyringStore, Paths, SystemClock};
use state::AppState;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;
use tauri::{AppHandle, Manager, RunEvent, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;

/// The app's identifier (tauri.conf.json); the single-instance plugin's D-Bus name derives from it.
const IDENTIFIER: &str = "dev.grantkeeper.app";

/// Keychain calls that take longer than this are treated as "locked" (an unanswered unlock prompt).
const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(20);

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _already = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn keeper() -> Result<Keeper, String> {
    let paths = Paths::from_environment()
        .ok_or("cannot find the user's config and data folders (is HOME set?)")?;
    let keychain = Keychain::new(Arc::new(KeyringStore::new(SERVICE)), KEYCHAIN_TIMEOUT);
    Ok(Keeper::new(paths, keychain, Arc::new(SystemClock))
        .with_refresh_margin(grantkeeper_core::status::refresh_margin_from_env()))
}

fn handle_urls<R: Runtime>(app: &AppHandle<R>, urls: Vec<String>) {
    for url in urls {
        let handle = app.clone();
        tauri::async_runtime::spawn(async move { actions::handle_callback(&handle, &url).await });
    }
}

/// The app, generic over the runtime so tests can build it with `tauri::test`.
pub fn builder<R: Runtime>(keeper: Keeper, callbacks: Vec<String>) -> tauri::Builder<R> {
    tauri::Builder::<R>::new()
        // First: a second instance (e.g. started by xdg-open with a callback URL) hands its
        // arguments to this one and exits; the deep-link feature forwards the URL.
        .plugin(tauri_plugin_single_instance::init(|_app, _argv, _cwd| {
            tracing::info!("a second instance forwarded its arguments");
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .manage(AppState {
            keeper: Arc::new(keeper),
            clipboard: clipboard::TokenClipboard::default(),
            listeners: Arc::default(),
        })
        .invoke_handler(tauri::generate_handler![
            commands::list_clients,
            commands::save_client,
            commands::remove_client,
            commands::list_grants,
            commands::start_login,
            commands::copy_token,
            commands::revoke_grant,
            commands::demo_endpoints,
        ])
        .setup(|app| {
            let handle = app.handle().clone();
            tray::create(&handle)?;
            let forwarded = handle.clone();
            app.deep_link().on_open_url(move |event| {
                let urls = event.urls().into_iter().map(|u| u.to_string()).collect();
                handle_urls(&forwarded, urls);
            });
            events::spawn(&handle);
            watch::spawn(&handle);
            let startup = handle.clone();
            tauri::async_runtime::spawn(async move {
                let keeper = startup.state::<AppState>().keeper.clone();
                demo::seed_if_empty(&keeper).await;
                tray::refresh(&startup).await;
                handle_urls(&startup, callbacks);
                actions::resume_loopback_listeners(&startup).await;
                if !keeper.probe_keychain().await {
                    tracing::warn!("the keychain is not usable right now");
                    tray::refresh(&startup).await;
                }
            });
            if std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true") {
                window::open(&handle);
            }
            tracing::info!("tray ready");
            Ok(())
        })
}

pub fn run() {
    cold_start::refuse_non_utf8_arguments();
    cold_start::hide_callback_arguments(IDENTIFIER);
    let callbacks = cold_start::take_callback_urls();
    init_tracing();
    let keeper = match keeper() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("Grantkeeper cannot start: {e}");
            std::process::exit(1);
        }
    };
    let app = match builder::<tauri::Wry>(keeper, callbacks)
        .build(tauri::generate_context!("../tauri.conf.json"))
    {
        Ok(app) => app,
        Err(e) => {
            eprintln!("Grantkeeper cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        // Closing the window must not quit a tray app; only "Quit" (an explicit exit code) does.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifier_matches_the_tauri_config() {
        let config: serde_json::Value = serde_json::from_str(include_str!("../../tauri.conf.json"))
            .expect("tauri.conf.json is JSON");
        assert_eq!(config["identifier"], super::IDENTIFIER);
    }
}
