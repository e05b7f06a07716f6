//! `gk`: the command-line companion. stdout carries only what was asked for (the token, or the
//! JSON listing); everything else goes to stderr. Uses the same core functions as the tray.

use clap::{Parser, Subcommand};
use grantkeeper_core::keychain::SERVICE;
use grantkeeper_core::{GrantStatus, Keeper, Keychain, KeyringStore, Paths, SystemClock};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "gk",
    version,
    about = "Hands Grantkeeper's OAuth tokens to scripts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List grants with their state (no tokens).
    List {
        /// Machine-readable output (versioned JSON).
        #[arg(long)]
        json: bool,
    },
    /// Print a fresh access token for a grant (refreshed first when close to expiry).
    Token {
        /// Grant id, client id or client name; may be omitted when there is only one grant.
        grant: Option<String>,
    },
}

fn pick<'a>(grants: &'a [GrantStatus], wanted: Option<&str>) -> Result<&'a GrantStatus, String> {
    match wanted {
        None if grants.len() == 1 => Ok(&grants[0]),
        None if grants.is_empty() => {
            Err("There are no grants. Log in from the Grantkeeper tray first.".into())
        }
        None => Err("There are several grants: name one (gk list shows them).".into()),
        Some(w) => {
            let matches: Vec<_> = grants
                .iter()
                .filter(|g| g.id == w || g.client == w || g.client_name.eq_ignore_ascii_case(w))
                .collect();
            match matches.as_slice() {
                [one] => Ok(one),
                [] => Err(format!("No grant matches \"{w}\" (gk list shows them).")),
                _ => Err(format!(
                    "Several grants match \"{w}\": use the grant id (gk list shows them)."
                )),
            }
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let paths = Paths::from_environment()
        .ok_or("cannot find the config and data folders (is HOME set?)")?;
    let keychain = Keychain::new(
        Arc::new(KeyringStore::new(SERVICE)),
        Duration::from_secs(20),
    );
    let keeper = Keeper::new(paths, keychain, Arc::new(SystemClock))
        .with_refresh_margin(grantkeeper_core::status::refresh_margin_from_env());
    if matches!(cli.command, Command::List { .. }) {
        // So the listing can say "keychain locked" (asked without unlocking).
        keeper.probe_keychain().await;
    }
    let grants = keeper.grants().await.map_err(|e| e.to_string())?;
    match cli.command {
        Command::List { json } => {
            let mut out = std::io::stdout().lock();
            if json {
                let doc = serde_json::json!({ "version": 1, "grants": grants });
                writeln!(out, "{doc}").map_err(|e| e.to_string())?;
            } else {
                for g in &grants {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        g.id, g.client_name, g.identity, g.state_label
                    )
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        Command::Token { grant } => {
            let g = pick(&grants, grant.as_deref())?;
            let token = keeper
                .access_token(&g.id, "gk token")
                .await
                .map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", token.expose()).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gk: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gk: {message}");
            ExitCode::FAILURE
        }
    }
}
