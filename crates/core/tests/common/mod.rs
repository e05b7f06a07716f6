//! Shared set-up for the core's integration tests: the local Cloudflare-compatible server on
//! loopback, a `Keeper` with a moved clock, and a "browser" that answers the consent page.

#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use grantkeeper_core::{
    AuthMethod, ClientConfig, ClientInput, Endpoints, Keeper, Keychain, ManualClock, MemoryStore,
    Paths, Secret,
};
use std::sync::Arc;
use std::time::Duration;

pub const SECRET: &str = "test-client-secret with spaces&symbols";

pub struct Env {
    pub server: local_cloudflare::RunningServer,
    pub keeper: Arc<Keeper>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<MemoryStore>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// The server's clients: one of each authentication method, plus one with a loopback redirect.
pub fn server_config(loopback_port: u16) -> local_cloudflare::Config {
    let redirects = format!(
        r#"["grantkeeper://oauth/callback", "dev.grantkeeper.app:/oauth/callback", "http://127.0.0.1:{loopback_port}/oauth/callback"]"#
    );
    let client = |id: &str, secret: Option<&str>, method: &str| {
        format!(
            r#"{{"client_id":"{id}","client_secret":{},"auth_method":"{method}","redirect_uris":{redirects},
               "scopes":["account.read","user-details.read","zone.read","dns.read","dns.write"],
               "optional_scopes":["dns.write"],"grant_types":["authorization_code","refresh_token"]}}"#,
            secret.map(|s| format!("\"{s}\"")).unwrap_or("null".into())
        )
    };
    let json = format!(
        r#"{{"clients":[{},{},{}]}}"#,
        client("public-client", None, "none"),
        client("basic-client", Some(SECRET), "client_secret_basic"),
        client("post-client", Some(SECRET), "client_secret_post"),
    );
    local_cloudflare::Config::from_json(&json).expect("server config")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub async fn env_with_port(loopback_port: u16) -> Env {
    let server = local_cloudflare::start(server_config(loopback_port))
        .await
        .expect("server starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = Paths::in_dirs(&dir.path().join("config"), &dir.path().join("data"));
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .expect("time"),
    ));
    let keychain = Keychain::new(store.clone(), Duration::from_secs(5));
    let keeper = Arc::new(Keeper::new(paths, keychain, clock.clone()));
    Env {
        server,
        keeper,
        clock,
        store,
        dir,
        http: reqwest::Client::new(),
    }
}

pub async fn env() -> Env {
    env_with_port(free_port()).await
}

impl Env {
    pub async fn add_client(
        &self,
        name: &str,
        client_id: &str,
        method: AuthMethod,
        redirect: &str,
    ) -> ClientConfig {
        self.keeper
            .save_client(ClientInput {
                id: None,
                name: name.into(),
                client_id: client_id.into(),
                auth_method: method,
                redirect_uri: redirect.into(),
                scopes: "account.read user-details.read dns.read dns.write".into(),
                secret: method.needs_secret().then(|| Secret::new(SECRET)),
                endpoints: Some(Endpoints::cloudflare_compatible(self.server.base_url())),
            })
            .await
            .expect("client saved")
    }

    pub async fn public_client(&self) -> ClientConfig {
        self.add_client(
            "DNS manager",
            "public-client",
            AuthMethod::None,
            "grantkeeper://oauth/callback",
        )
        .await
    }

    /// Plays the user on the consent page: approve (declining `decline`) or deny.
    /// Returns the redirect the provider sends the browser to.
    pub async fn consent(&self, authorize_url: &str, approve: bool, decline: &[&str]) -> String {
        let page = self
            .http
            .get(authorize_url)
            .send()
            .await
            .expect("consent page");
        assert_eq!(page.status(), 200, "the consent page is shown");
        let html = page.text().await.expect("html");
        let consent = html
            .split("name=\"consent\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("consent id in the form");
        let mut form = vec![("consent".to_string(), consent.to_string())];
        for scope in ["dns.write"] {
            if !decline.contains(&scope) {
                form.push(("optional_scope".into(), scope.into()));
            }
        }
        form.push((
            "decision".into(),
            if approve { "approve" } else { "deny" }.into(),
        ));
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let resp = no_redirects
            .post(format!("{}/oauth2/auth/decision", self.server.base_url()))
            .form(&form)
            .send()
            .await
            .expect("decision");
        assert_eq!(resp.status(), 303, "the decision redirects back to the app");
        resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_string()
    }

    /// A whole login: start, consent, callback.
    pub async fn login(
        &self,
        client: &ClientConfig,
        decline: &[&str],
    ) -> grantkeeper_core::GrantStatus {
        let start = self
            .keeper
            .start_login(&client.id)
            .await
            .expect("login starts");
        let callback = self.consent(&start.authorize_url, true, decline).await;
        self.keeper
            .complete_login(&callback)
            .await
            .expect("login completes")
    }

    /// Whether the server accepts `token` on `/client/v4/user`.
    pub async fn api_accepts(&self, token: &Secret) -> bool {
        self.http
            .get(format!("{}/client/v4/user", self.server.base_url()))
            .bearer_auth(token.expose())
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    }

    /// The grant's tokens as stored in the keychain.
    pub fn stored_tokens(&self, grant_id: &str) -> grantkeeper_core::tokens::GrantTokens {
        use grantkeeper_core::SecretStore;
        let secret = self
            .store
            .get(&format!("grant:{grant_id}"))
            .expect("keychain readable")
            .expect("grant in keychain");
        grantkeeper_core::tokens::GrantTokens::from_secret(&secret, grant_id).expect("tokens")
    }

    /// Tries a refresh token directly at the provider; true if it was accepted.
    pub async fn refresh_token_works(&self, refresh: &Secret) -> bool {
        let resp = self
            .http
            .post(format!("{}/oauth2/token", self.server.base_url()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose()),
                ("client_id", "public-client"),
            ])
            .send()
            .await
            .expect("token endpoint answers");
        resp.status() == 200
    }

    /// Writes a client into clients.toml as a hand edit would (no validation).
    pub fn replace_client_config(&self, client: ClientConfig) {
        let path = &self.keeper.paths().config_file;
        let mut file = grantkeeper_core::config::ConfigFile::load(path).expect("config");
        let slot = file
            .clients
            .iter_mut()
            .find(|c| c.id == client.id)
            .expect("the client exists");
        *slot = client;
        file.save(path).expect("save");
    }

    pub fn metadata_text(&self) -> String {
        std::fs::read_to_string(&self.keeper.paths().metadata_file).unwrap_or_default()
    }
}
