//! Command line for the local Cloudflare-compatible server (not Cloudflare).

use std::{
    io::{IsTerminal as _, Write as _},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
};

use clap::Parser;
use local_cloudflare::{Config, DEMO_SECRET_ENV};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Local Cloudflare-compatible server — not Cloudflare.
///
/// Plays Cloudflare's OAuth endpoints (/oauth2/auth, /oauth2/token, /oauth2/revoke,
/// /oauth2/userinfo, /.well-known/openid-configuration) and a few API endpoints
/// (/client/v4/user, /client/v4/accounts, /client/v4/oauth/scopes) in memory, for tests and
/// Grantkeeper's demo mode. Test-only endpoints live under /_local/. Prints
/// "local-cloudflare listening on http://IP:PORT" when ready; logs go to stderr (RUST_LOG).
#[derive(Parser)]
#[command(name = "local-cloudflare", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// JSON config with clients, user, accounts and access_ttl_secs.
    #[arg(long, value_name = "FILE.json")]
    config: Option<PathBuf>,
    /// Add the demo clients grantkeeper-demo (public) and grantkeeper-demo-confidential
    /// (client_secret_basic, only if LOCAL_CLOUDFLARE_DEMO_SECRET is set).
    #[arg(long)]
    demo: bool,
    /// Access-token lifetime in seconds [default: access_ttl_secs from the config, else 3600].
    #[arg(long, value_name = "SECS")]
    access_ttl: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("local-cloudflare: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if cli.demo {
        let secret = std::env::var(DEMO_SECRET_ENV)
            .ok()
            .filter(|s| !s.is_empty());
        config.add_demo_clients(secret);
    }
    if let Some(ttl) = cli.access_ttl {
        config.access_ttl_secs = ttl;
    }
    if config.clients.is_empty() {
        return Err("no OAuth clients configured: pass --config FILE.json and/or --demo".into());
    }
    config.validate().map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let base_url = local_cloudflare::base_url(&listener).map_err(|e| e.to_string())?;
    let clients: Vec<&str> = config
        .clients
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    tracing::info!(
        ?clients,
        "local Cloudflare-compatible server (not Cloudflare) starting"
    );
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "local-cloudflare listening on {base_url}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(stdout);
    local_cloudflare::serve(config, listener)
        .await
        .map_err(|e| format!("server stopped: {e}"))
}
