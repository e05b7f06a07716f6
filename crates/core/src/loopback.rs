//! The loopback redirect (`http://127.0.0.1:PORT/path`) for providers that refuse custom schemes.
//! The app listens on that port only while one of its flows for it is pending.

use crate::error::{Error, Result};
use crate::keeper::Keeper;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Html;
use axum::Router;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Ports we are listening on right now.
#[derive(Default)]
pub struct Listeners(Mutex<HashSet<u16>>);

impl Listeners {
    fn claim(&self, port: u16) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port)
    }

    fn release(&self, port: u16) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&port);
    }

    pub fn is_listening(&self, port: u16) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&port)
    }
}

#[derive(Clone)]
struct Ctx {
    keeper: Arc<Keeper>,
    origin: String,
    path: String,
    handled: Arc<Notify>,
}

/// Starts listening on `host:port` unless already listening. Returns once the port is bound.
pub async fn ensure_listening(
    keeper: Arc<Keeper>,
    listeners: Arc<Listeners>,
    host: String,
    port: u16,
    path: String,
) -> Result<()> {
    if !listeners.claim(port) {
        return Ok(());
    }
    let bind_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let listener = match tokio::net::TcpListener::bind((bind_host.as_str(), port)).await {
        Ok(l) => l,
        Err(e) => {
            listeners.release(port);
            return Err(Error::Invalid(format!(
                "Cannot listen on {host}:{port} for the login redirect ({e}). Close the program using that port, then log in again."
            )));
        }
    };
    let ctx = Ctx {
        keeper: keeper.clone(),
        origin: format!("http://{host}:{port}"),
        path,
        handled: Arc::new(Notify::new()),
    };
    let handled = ctx.handled.clone();
    let app = Router::new().fallback(callback).with_state(ctx);
    tokio::spawn(async move {
        let shutdown = async move {
            loop {
                let deadline = match keeper.pending_loopbacks().await {
                    Ok(pending) => pending
                        .into_iter()
                        .find(|l| l.port == port)
                        .map(|l| l.expires_at),
                    Err(_) => None,
                };
                let Some(deadline) = deadline else { break };
                let wait = (deadline - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = handled.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!("loopback listener on port {port} failed: {e}");
        }
        listeners.release(port);
        tracing::info!("stopped listening on loopback port {port}");
    });
    tracing::info!("listening on loopback port {port} for a login redirect");
    Ok(())
}

async fn callback(State(ctx): State<Ctx>, uri: Uri) -> (StatusCode, Html<String>) {
    if uri.path() != ctx.path {
        return (
            StatusCode::NOT_FOUND,
            page(
                "Not found",
                "This is Grantkeeper's login redirect listener.",
            ),
        );
    }
    let url = format!("{}{}", ctx.origin, uri);
    let result = ctx.keeper.complete_login(&url).await;
    ctx.handled.notify_one();
    match result {
        Ok(grant) => (
            StatusCode::OK,
            page(
                "Logged in",
                &format!(
                    "Grantkeeper now holds a grant for {}. You can close this tab.",
                    grant.identity
                ),
            ),
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            page("Login failed", &e.to_string()),
        ),
    }
}

fn page(title: &str, message: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Grantkeeper: {t}</title><body style=\"font-family:sans-serif;margin:3em\"><h1>{t}</h1><p>{m}</p>",
        t = escape(title),
        m = escape(message)
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
