//! The user's OAuth clients, persisted in `clients.toml` (no secrets: a client secret lives in the
//! keychain; only the date it was stored is kept here).

use crate::atomic_file::write_atomically;
use crate::error::{Error, Result};
use crate::scopes::validate_scope;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;
use url::Url;

pub const CONFIG_VERSION: u32 = 1;

/// Cloudflare's real endpoints (PRODUCT.md).
pub const CLOUDFLARE_AUTHORIZE_URL: &str = "https://dash.cloudflare.com/oauth2/auth";
pub const CLOUDFLARE_TOKEN_URL: &str = "https://dash.cloudflare.com/oauth2/token";
pub const CLOUDFLARE_REVOKE_URL: &str = "https://dash.cloudflare.com/oauth2/revoke";
pub const CLOUDFLARE_USERINFO_URL: &str = "https://dash.cloudflare.com/oauth2/userinfo";
pub const CLOUDFLARE_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// How the client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Public client: no secret, PKCE only.
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

impl AuthMethod {
    pub fn needs_secret(self) -> bool {
        !matches!(self, AuthMethod::None)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    pub authorize_url: String,
    pub token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_url: Option<String>,
    /// Base of a Cloudflare-compatible API (`…/client/v4`), used for the identity (`/user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::cloudflare()
    }
}

impl Endpoints {
    pub fn cloudflare() -> Self {
        Self {
            authorize_url: CLOUDFLARE_AUTHORIZE_URL.into(),
            token_url: CLOUDFLARE_TOKEN_URL.into(),
            revoke_url: Some(CLOUDFLARE_REVOKE_URL.into()),
            userinfo_url: Some(CLOUDFLARE_USERINFO_URL.into()),
            api_base: Some(CLOUDFLARE_API_BASE.into()),
        }
    }

    /// Endpoints of a server shaped like Cloudflare at another base URL (the local
    /// Cloudflare-compatible server).
    pub fn cloudflare_compatible(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            authorize_url: format!("{base}/oauth2/auth"),
            token_url: format!("{base}/oauth2/token"),
            revoke_url: Some(format!("{base}/oauth2/revoke")),
            userinfo_url: Some(format!("{base}/oauth2/userinfo")),
            api_base: Some(format!("{base}/client/v4")),
        }
    }

    /// Cloudflare, or a server that speaks its API (the local stand-in): its scopes are
    /// Cloudflare's dot-form IDs. Other OAuth providers may use any RFC 6749 scope token.
    pub fn is_cloudflare(&self) -> bool {
        let dashboard = Url::parse(&self.authorize_url)
            .ok()
            .and_then(|u| u.host_str().map(|h| h == "dash.cloudflare.com"))
            .unwrap_or(false);
        let api = self
            .api_base
            .as_deref()
            .and_then(|b| Url::parse(b).ok())
            .is_some_and(|u| u.path().trim_end_matches('/').ends_with("/client/v4"));
        dashboard || api
    }
}

/// One OAuth client as the user registered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Local id, used in keychain keys and menus; derived from the name.
    pub id: String,
    pub name: String,
    /// The provider's client id.
    pub client_id: String,
    pub auth_method: AuthMethod,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// When the current client secret was stored in the keychain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_stored_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub endpoints: Endpoints,
}

/// What kind of redirect a client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectKind {
    /// `grantkeeper://…` or the reverse-DNS scheme: the OS hands the URL to the app.
    CustomScheme,
    /// `http://127.0.0.1:PORT/path`: the app listens on that port while a flow is pending.
    Loopback {
        host: String,
        port: u16,
        path: String,
    },
}

/// The URL schemes the app registers with the OS.
pub const SCHEMES: [&str; 2] = ["grantkeeper", "dev.grantkeeper.app"];

pub fn redirect_kind(redirect_uri: &str) -> Result<RedirectKind> {
    let url = Url::parse(redirect_uri).map_err(|e| {
        Error::Invalid(format!(
            "The redirect URL \"{redirect_uri}\" is not a URL: {e}"
        ))
    })?;
    if SCHEMES.contains(&url.scheme()) {
        return Ok(RedirectKind::CustomScheme);
    }
    if let (true, Some(host @ ("127.0.0.1" | "[::1]"))) = (url.scheme() == "http", url.host_str()) {
        let port = url.port().ok_or_else(|| {
            Error::Invalid("A loopback redirect URL needs a fixed port, e.g. http://127.0.0.1:8976/oauth/callback".into())
        })?;
        return Ok(RedirectKind::Loopback {
            host: host.to_string(),
            port,
            path: url.path().to_string(),
        });
    }
    Err(Error::Invalid(format!(
        "The redirect URL must use grantkeeper://, dev.grantkeeper.app:/ or http://127.0.0.1:PORT/…; \"{redirect_uri}\" does neither"
    )))
}

impl ClientConfig {
    /// Checks everything a user can get wrong in the client form.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::Invalid("Give the client a name.".into()));
        }
        if self.client_id.trim().is_empty() || self.client_id.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "The client ID is empty or contains control characters.".into(),
            ));
        }
        redirect_kind(&self.redirect_uri)?;
        if self.scopes.is_empty() {
            return Err(Error::Invalid(
                "Request at least one scope, e.g. dns.read.".into(),
            ));
        }
        let cloudflare = self.endpoints.is_cloudflare();
        for s in &self.scopes {
            validate_scope(s, cloudflare)?;
        }
        let e = &self.endpoints;
        check_endpoint("authorization", Some(&e.authorize_url))?;
        check_endpoint("token", Some(&e.token_url))?;
        check_endpoint("revocation", e.revoke_url.as_deref())?;
        check_endpoint("userinfo", e.userinfo_url.as_deref())?;
        check_endpoint("API base", e.api_base.as_deref())?;
        Ok(())
    }
}

/// Endpoints must be https, except on loopback (the local server, test providers).
fn check_endpoint(what: &str, url: Option<&str>) -> Result<()> {
    let Some(url) = url else { return Ok(()) };
    let parsed = Url::parse(url)
        .map_err(|e| Error::Invalid(format!("The {what} URL \"{url}\" is not a URL: {e}")))?;
    let loopback = matches!(
        parsed.host_str(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
    );
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(Error::Invalid(format!(
            "The {what} URL must use https (plain http only on 127.0.0.1): \"{url}\""
        ))),
    }
}

/// Turns a display name into a local id: lower-case ASCII letters, digits and dashes.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-').to_string();
    if trimmed.is_empty() {
        "client".into()
    } else {
        trimmed
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub version: u32,
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

impl ConfigFile {
    /// Reads the config. A missing file is an empty config; an unreadable one is an error naming
    /// the file and the problem, and is never replaced.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    version: CONFIG_VERSION,
                    clients: Vec::new(),
                })
            }
            Err(e) => {
                return Err(Error::Config {
                    path: path.into(),
                    reason: e.to_string(),
                })
            }
        };
        let bad = |reason: String| Error::Config {
            path: path.into(),
            reason,
        };
        let file: ConfigFile = toml::from_str(&text).map_err(|e| {
            // The line, not the whole annotated snippet: a snippet could quote a secret that was
            // pasted into the wrong file.
            let line = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| before.matches('\n').count() + 1);
            match line {
                Some(line) => bad(format!("line {line}: {}", e.message())),
                None => bad(e.message().to_string()),
            }
        })?;
        if file.version != CONFIG_VERSION {
            return Err(bad(format!(
                "version {} is not supported (this Grantkeeper reads version {CONFIG_VERSION})",
                file.version
            )));
        }
        for (i, client) in file.clients.iter().enumerate() {
            client
                .validate()
                .map_err(|e| bad(format!("client \"{}\": {e}", client.id)))?;
            if file.clients[..i].iter().any(|c| c.id == client.id) {
                return Err(bad(format!(
                    "two clients have the id \"{}\"; give each its own",
                    client.id
                )));
            }
        }
        Ok(file)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::Write {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let header =
            "# Grantkeeper OAuth clients. Secrets are not here: they live in the OS keychain.\n";
        write_atomically(path, format!("{header}{text}").as_bytes())
    }

    pub fn client(&self, id: &str) -> Result<&ClientConfig> {
        self.clients
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Error::UnknownClient(id.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientConfig {
        ClientConfig {
            id: "dns".into(),
            name: "DNS manager".into(),
            client_id: "abc".into(),
            auth_method: AuthMethod::None,
            redirect_uri: "grantkeeper://oauth/callback".into(),
            scopes: vec!["dns.read".into()],
            secret_stored_at: None,
            endpoints: Endpoints::cloudflare(),
        }
    }

    #[test]
    fn redirect_kinds_are_recognised() {
        assert_eq!(
            redirect_kind("grantkeeper://oauth/callback").ok(),
            Some(RedirectKind::CustomScheme)
        );
        assert_eq!(
            redirect_kind("dev.grantkeeper.app:/oauth/callback").ok(),
            Some(RedirectKind::CustomScheme)
        );
        assert_eq!(
            redirect_kind("http://127.0.0.1:8976/oauth/callback").ok(),
            Some(RedirectKind::Loopback {
                host: "127.0.0.1".into(),
                port: 8976,
                path: "/oauth/callback".into()
            })
        );
        assert!(
            redirect_kind("http://127.0.0.1/cb").is_err(),
            "loopback needs a fixed port"
        );
        assert!(redirect_kind("https://example.com/cb").is_err());
    }

    #[test]
    fn cloudflare_compatible_endpoints_take_only_dot_form_scopes() {
        let mut c = client();
        c.scopes = vec!["dns.read".into(), "DNS:Write".into()];
        c.endpoints = Endpoints::cloudflare_compatible("http://127.0.0.1:8787");
        let err = c
            .validate()
            .expect_err("the local stand-in speaks Cloudflare's scopes");
        assert!(err.to_string().contains("DNS:Write"), "{err}");
        c.endpoints.api_base = None;
        assert!(
            c.validate().is_ok(),
            "another OAuth provider may name its scopes as it likes"
        );
    }

    #[test]
    fn endpoints_must_be_https_except_on_loopback() {
        let mut c = client();
        c.endpoints = Endpoints::cloudflare_compatible("http://127.0.0.1:8787");
        assert!(c.validate().is_ok());
        c.endpoints = Endpoints::cloudflare_compatible("http://example.com");
        assert!(c.validate().is_err());
    }

    #[test]
    fn an_unreadable_config_names_the_file_and_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clients.toml");
        std::fs::write(&path, "version = 1\n[[clients]]\nname = 3\n").expect("write");
        let err = ConfigFile::load(&path).expect_err("a broken config must not load");
        assert_eq!(err.code(), "config_unreadable");
        assert!(
            err.to_string().contains("clients.toml"),
            "the error names the file: {err}"
        );
        assert!(
            err.to_string().contains("line 3"),
            "the error says where: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "version = 1\n[[clients]]\nname = 3\n",
            "the broken file is never reset"
        );
    }

    #[test]
    fn two_clients_with_one_id_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clients.toml");
        let mut twin = client();
        twin.name = "Evil twin".into();
        ConfigFile {
            version: CONFIG_VERSION,
            clients: vec![client(), twin],
        }
        .save(&path)
        .expect("save");
        let err = ConfigFile::load(&path).expect_err("ambiguous ids");
        assert!(
            err.to_string().contains("two clients have the id \"dns\""),
            "{err}"
        );
    }

    #[test]
    fn config_round_trips_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clients.toml");
        let file = ConfigFile {
            version: CONFIG_VERSION,
            clients: vec![client()],
        };
        file.save(&path).expect("save");
        assert_eq!(ConfigFile::load(&path).expect("load"), file);
    }

    #[test]
    fn slugs_are_lowercase_dashed() {
        assert_eq!(slug("DNS manager (prod)"), "dns-manager-prod");
        assert_eq!(slug("!!!"), "client");
    }
}
