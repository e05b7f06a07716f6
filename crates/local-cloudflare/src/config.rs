//! Server configuration: registered OAuth clients, the signed-in user and their accounts.

use std::{collections::HashSet, fmt, path::Path};

use serde::{Deserialize, Serialize};

/// Everything the server knows before it starts. Only `clients` is required in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub clients: Vec<ClientConfig>,
    #[serde(default)]
    pub user: User,
    #[serde(default = "default_accounts")]
    pub accounts: Vec<Account>,
    #[serde(default = "default_access_ttl_secs")]
    pub access_ttl_secs: u64,
}

/// One self-managed OAuth client, as registered in the Cloudflare dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub optional_scopes: Vec<String>,
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<GrantType>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    #[default]
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct User {
    pub id: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config is not valid JSON for local-cloudflare: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// Client id of the public demo client added by `--demo`.
pub const DEMO_CLIENT_ID: &str = "grantkeeper-demo";
/// Client id of the confidential demo client added by `--demo` when a secret is given.
pub const DEMO_CONFIDENTIAL_CLIENT_ID: &str = "grantkeeper-demo-confidential";
/// Environment variable holding the confidential demo client's secret.
pub const DEMO_SECRET_ENV: &str = "LOCAL_CLOUDFLARE_DEMO_SECRET";

impl Default for Config {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            user: User::default(),
            accounts: default_accounts(),
            access_ttl_secs: default_access_ttl_secs(),
        }
    }
}

impl Default for User {
    fn default() -> Self {
        Self {
            id: "7c5dae5552338874e5053f2534d2767a".into(),
            email: "demo@example.com".into(),
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        })
    }
}

fn default_accounts() -> Vec<Account> {
    vec![Account {
        id: "023e105f4ecef8ad9ca31a8372d0c353".into(),
        name: "Demo Account".into(),
    }]
}

fn default_access_ttl_secs() -> u64 {
    3600
}

fn default_grant_types() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}

impl ClientConfig {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The demo clients' shared registration (see the crate docs).
    fn demo(client_id: &str, client_secret: Option<String>, auth_method: AuthMethod) -> Self {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Self {
            client_id: client_id.into(),
            client_secret,
            auth_method,
            redirect_uris: strings(&[
                "grantkeeper://oauth/callback",
                "dev.grantkeeper.app:/oauth/callback",
                "http://127.0.0.1:8976/oauth/callback",
            ]),
            scopes: strings(&[
                "account.read",
                "user-details.read",
                "zone.read",
                "dns.read",
                "dns.write",
            ]),
            optional_scopes: strings(&["dns.write"]),
            grant_types: default_grant_types(),
        }
    }
}

impl Config {
    /// Parses and validates a JSON config.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_str(json)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a JSON config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let json = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json)
    }

    /// Default user and accounts with only the demo clients.
    pub fn demo(confidential_secret: Option<String>) -> Self {
        let mut config = Self::default();
        config.add_demo_clients(confidential_secret);
        config
    }

    /// Adds the public demo client, and the confidential one if a secret is given.
    /// Clients already configured under the same id are kept as they are.
    pub fn add_demo_clients(&mut self, confidential_secret: Option<String>) {
        let mut demo = vec![ClientConfig::demo(DEMO_CLIENT_ID, None, AuthMethod::None)];
        if let Some(secret) = confidential_secret {
            demo.push(ClientConfig::demo(
                DEMO_CONFIDENTIAL_CLIENT_ID,
                Some(secret),
                AuthMethod::ClientSecretBasic,
            ));
        }
        for client in demo {
            if self.client(&client.client_id).is_none() {
                self.clients.push(client);
            }
        }
    }

    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// Checks the rules Cloudflare enforces when a client is registered.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if self.access_ttl_secs == 0 {
            return invalid("access_ttl_secs must be at least 1".into());
        }
        let mut ids = HashSet::new();
        for c in &self.clients {
            let id = &c.client_id;
            if id.is_empty() || !ids.insert(id) {
                return invalid(format!("client_id {id:?} is empty or listed twice"));
            }
            match (c.auth_method, &c.client_secret) {
                (AuthMethod::None, Some(_)) => {
                    return invalid(format!(
                        "client {id}: auth_method none takes no client_secret"
                    ))
                }
                (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, None) => {
                    return invalid(format!(
                        "client {id}: {} needs a client_secret",
                        c.auth_method
                    ))
                }
                _ => {}
            }
            if c.redirect_uris.is_empty() || c.scopes.is_empty() {
                return invalid(format!("client {id}: needs redirect_uris and scopes"));
            }
            for uri in &c.redirect_uris {
                match url::Url::parse(uri) {
                    Ok(parsed) if parsed.fragment().is_none() => {}
                    _ => {
                        return invalid(format!(
                        "client {id}: redirect_uri {uri:?} is not an absolute URL without fragment"
                    ))
                    }
                }
            }
            if let Some(s) = c.optional_scopes.iter().find(|s| !c.scopes.contains(s)) {
                return invalid(format!("client {id}: optional scope {s} is not in scopes"));
            }
            if !c.allows(GrantType::AuthorizationCode) {
                return invalid(format!(
                    "client {id}: grant_types must include authorization_code"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_defaults_for_everything_but_clients() {
        let config = Config::from_json(
            r#"{"clients":[{"client_id":"a","redirect_uris":["grantkeeper://oauth/callback"],"scopes":["zone.read"]}]}"#,
        )
        .expect("a client with id, redirect_uris and scopes is a complete config");
        assert_eq!(
            config.access_ttl_secs, 3600,
            "access tokens last an hour by default"
        );
        assert_eq!(config.user.email, "demo@example.com");
        assert_eq!(config.clients[0].auth_method, AuthMethod::None);
        assert!(config.clients[0].allows(GrantType::RefreshToken));
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let err = Config::from_json(r#"{"clients":[],"acess_ttl_secs":5}"#)
            .expect_err("a misspelt field must not be silently ignored");
        assert!(
            err.to_string().contains("acess_ttl_secs"),
            "error names the field: {err}"
        );
    }

    #[test]
    fn secret_must_match_auth_method() {
        let err = Config::from_json(
            r#"{"clients":[{"client_id":"a","auth_method":"client_secret_basic","redirect_uris":["https://x.test/cb"],"scopes":["zone.read"]}]}"#,
        )
        .expect_err("a confidential client without a secret could never authenticate");
        assert!(err.to_string().contains("needs a client_secret"), "{err}");
    }

    #[test]
    fn demo_adds_confidential_client_only_with_a_secret() {
        assert_eq!(Config::demo(None).clients.len(), 1);
        let config = Config::demo(Some("s".into()));
        let confidential = config
            .client(DEMO_CONFIDENTIAL_CLIENT_ID)
            .expect("a secret enables the confidential demo client");
        assert_eq!(confidential.auth_method, AuthMethod::ClientSecretBasic);
        config.validate().expect("demo config is valid");
    }
}
