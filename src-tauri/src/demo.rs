//! Demo mode: with `GRANTKEEPER_DEMO_PROVIDER` set to the local Cloudflare-compatible server's URL
//! and no client configured, the app adds a client for it, so a first run has something to try.

use grantkeeper_core::{AuthMethod, ClientInput, Endpoints, Keeper};

pub const DEMO_CLIENT_ID: &str = "grantkeeper-demo";

pub fn provider_base() -> Option<String> {
    std::env::var("GRANTKEEPER_DEMO_PROVIDER")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

pub async fn seed_if_empty(keeper: &Keeper) {
    let Some(base) = provider_base() else { return };
    match keeper.clients().await {
        Ok(clients) if clients.is_empty() => {}
        _ => return,
    }
    let input = ClientInput {
        id: None,
        name: "Demo (local Cloudflare stand-in)".into(),
        client_id: DEMO_CLIENT_ID.into(),
        auth_method: AuthMethod::None,
        redirect_uri: "grantkeeper://oauth/callback".into(),
        scopes: "account.read user-details.read zone.read dns.read dns.write".into(),
        secret: None,
        endpoints: Some(Endpoints::cloudflare_compatible(&base)),
    };
    match keeper.save_client(input).await {
        Ok(_) => tracing::info!("added the demo client for {base}"),
        Err(e) => tracing::warn!("could not add the demo client: {e}"),
    }
}
