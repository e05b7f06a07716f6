//! # local-cloudflare — a local Cloudflare-compatible server, **not Cloudflare**
//!
//! A stand-in that plays Cloudflare's OAuth endpoints (`/oauth2/auth`, `/oauth2/token`,
//! `/oauth2/revoke`, `/oauth2/userinfo`, discovery) and the few API endpoints Grantkeeper calls
//! (`/client/v4/user`, `/client/v4/accounts`, `/client/v4/oauth/scopes`), for tests and for the
//! app's demo mode. Everything lives in memory. It behaves like Cloudflare where the product relies
//! on it: PKCE S256 always, exact redirect matching, optional scopes the user may decline,
//! single-use rotating refresh tokens, and the occasional HTML bot-challenge page.
//!
//! Test-only endpoints under `/_local/` (never part of Cloudflare):
//! - `GET /_local/stats`: request counters ([`Stats`]).
//! - `POST /_local/faults` `{"token_endpoint":"html_challenge"|"server_error"|"none"}`: the next
//!   token-endpoint request fails that way.
//! - `POST /_local/clock` `{"advance_secs":N}`: moves the server clock forward.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = local_cloudflare::start(local_cloudflare::Config::demo(None)).await?;
//! println!("authorize at {}/oauth2/auth", server.base_url());
//! # Ok(()) }
//! ```

mod api;
mod config;
mod consent;
mod html;
mod local;
mod params;
mod state;
mod token;

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    routing::{get, post},
    Router,
};
use tokio::{net::TcpListener, task::JoinHandle};

pub use config::{
    Account, AuthMethod, ClientConfig, Config, ConfigError, GrantType, User, DEMO_CLIENT_ID,
    DEMO_CONFIDENTIAL_CLIENT_ID, DEMO_SECRET_ENV,
};
pub use state::{Stats, TokenFault};

use state::Shared;

/// Shown on every HTML page this server renders.
pub const STAND_IN_NOTICE: &str = "Local Cloudflare-compatible server — not Cloudflare";

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(api::discovery))
        .route("/oauth2/auth", get(consent::authorize))
        .route("/oauth2/auth/decision", post(consent::decide))
        .route("/oauth2/token", post(token::token))
        .route("/oauth2/revoke", post(token::revoke))
        .route("/oauth2/userinfo", get(api::userinfo))
        .route("/client/v4/user", get(api::user))
        .route("/client/v4/accounts", get(api::accounts))
        .route("/client/v4/oauth/scopes", get(api::scopes))
        .route("/_local/stats", get(local::stats))
        .route("/_local/faults", post(local::faults))
        .route("/_local/clock", post(local::clock))
        .fallback(api::not_found)
        .with_state(shared)
}

/// `http://IP:PORT` of a listener; a wildcard address is reported as loopback.
pub fn base_url(listener: &TcpListener) -> io::Result<String> {
    let mut addr: SocketAddr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("http://{addr}"))
}

/// Serves on `listener` until the task is dropped or an I/O error occurs.
pub async fn serve(config: Config, listener: TcpListener) -> io::Result<()> {
    config.validate().map_err(invalid_input)?;
    let shared = Arc::new(Shared::new(config, base_url(&listener)?));
    axum::serve(listener, router(shared)).await
}

fn invalid_input(err: ConfigError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, err)
}

/// A server running in a background task; stops when dropped.
pub struct RunningServer {
    base_url: String,
    shared: Arc<Shared>,
    task: JoinHandle<io::Result<()>>,
}

/// Binds `127.0.0.1:0` and serves `config` in the background (for other crates' tests).
pub async fn start(config: Config) -> io::Result<RunningServer> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    spawn(config, listener)
}

/// Serves `config` on an already bound listener in the background. Needs a Tokio runtime.
pub fn spawn(config: Config, listener: TcpListener) -> io::Result<RunningServer> {
    config.validate().map_err(invalid_input)?;
    let base_url = base_url(&listener)?;
    let shared = Arc::new(Shared::new(config, base_url.clone()));
    let app = router(shared.clone());
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(RunningServer {
        base_url,
        shared,
        task,
    })
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`, also the OAuth issuer; no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Moves the server clock forward (codes, consents and access tokens expire).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.lock().advance_clock(by);
    }

    /// Makes the next token-endpoint request fail (same as `POST /_local/faults`).
    pub fn fail_next_token_request(&self, fault: TokenFault) {
        self.shared.lock().next_token_fault = fault;
    }

    /// Current request counters (same as `GET /_local/stats`).
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
