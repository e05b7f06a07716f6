//! `Keeper`: one function per user action. The tray menu, the window's commands and the command
//! line all call these; nothing here knows about Tauri.

use crate::atomic_file::FileLock;
use crate::clock::Clock;
use crate::config::{
    redirect_kind, slug, AuthMethod, ClientConfig, ConfigFile, Endpoints, RedirectKind,
};
use crate::error::{Error, Result};
use crate::flow::{self, Callback, FLOW_LIFETIME_MINUTES};
use crate::keychain::{self, Keychain};
use crate::metadata::{GrantMeta, MetadataStore, PendingMeta};
use crate::oauth;
use crate::paths::Paths;
use crate::secret::Secret;
use crate::status::{grant_status, GrantStatus, DEFAULT_REFRESH_MARGIN_SECS};
use crate::tokens::GrantTokens;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Told to whoever listens (the tray, the window) when something changed.
#[derive(Debug, Clone)]
pub enum Event {
    GrantsChanged,
    ClientsChanged,
    LoginCompleted { grant: Box<GrantStatus> },
    LoginFailed { code: &'static str, message: String },
}

/// The client form as the user filled it in. The secret travels only inbound.
#[derive(Debug, Deserialize)]
pub struct ClientInput {
    /// The local id when editing an existing client; `None` for a new one.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub client_id: String,
    pub auth_method: AuthMethod,
    pub redirect_uri: String,
    /// Scope IDs separated by spaces, commas or new lines.
    pub scopes: String,
    /// A new secret; `None` keeps the stored one.
    #[serde(default, deserialize_with = "deserialize_optional_secret")]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub endpoints: Option<Endpoints>,
}

fn deserialize_optional_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Secret>, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(value
        .filter(|s| !s.trim().is_empty())
        .map(|s| Secret::new(s.trim().to_string())))
}

/// How a revoked grant ended: the grant is forgotten locally in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The provider confirmed the revocation (RFC 7009).
    AtProvider,
    /// The client has no revocation endpoint: the grant lives on at the provider.
    NoRevocationEndpoint,
    /// The keychain held no tokens for it, so there was nothing to revoke.
    NoTokens,
    /// Its client is gone from the settings: no endpoint to ask.
    ClientGone,
}

impl Revoked {
    /// What the user is told.
    pub fn message(self) -> &'static str {
        match self {
            Revoked::AtProvider => "The provider revoked it and Grantkeeper forgot it.",
            Revoked::NoRevocationEndpoint => "Grantkeeper forgot it, but this client has no revocation endpoint: revoke the grant at the provider too (Cloudflare: My Profile → Access Management).",
            Revoked::NoTokens => "Grantkeeper forgot it. Its tokens were not in the keychain, so there was nothing to revoke at the provider.",
            Revoked::ClientGone => "Grantkeeper forgot it, but its client is no longer in the client settings, so the provider was not asked: revoke the grant there too (Cloudflare: My Profile → Access Management).",
        }
    }
}

/// A loopback redirect (`http://HOST:PORT/PATH`) that a pending login waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLoopback {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub expires_at: DateTime<Utc>,
}

/// What starting a login gives back: the URL for the browser.
#[derive(Debug, Clone, Serialize)]
pub struct LoginStart {
    pub authorize_url: String,
    pub expires_at: DateTime<Utc>,
    #[serde(skip)]
    pub loopback: Option<(String, u16, String)>,
}

pub struct Keeper {
    paths: Paths,
    metadata: MetadataStore,
    keychain: Keychain,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    refresh_margin: Duration,
    keychain_locked: AtomicBool,
    events: broadcast::Sender<Event>,
    /// Renewed tokens the keychain refused to store (it locked mid-refresh). The provider has
    /// already retired the old refresh token, so these are the grant's only working copy: kept
    /// until a keychain write succeeds.
    unsaved: Mutex<HashMap<String, GrantTokens>>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Invalid(format!("internal task failed: {e}")))?
}

fn new_grant_id() -> String {
    let token = flow::random_token();
    flow::state_hash(token.expose())[..16].to_string()
}

impl Keeper {
    pub fn new(paths: Paths, keychain: Keychain, clock: Arc<dyn Clock>) -> Self {
        let (events, _) = broadcast::channel(64);
        Self {
            metadata: MetadataStore::new(&paths.metadata_file, &paths.lock_dir),
            paths,
            keychain,
            http: oauth::http_client(),
            clock,
            refresh_margin: Duration::seconds(DEFAULT_REFRESH_MARGIN_SECS),
            keychain_locked: AtomicBool::new(false),
            events,
            unsaved: Mutex::default(),
        }
    }

    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// Another process changed the files: listeners should re-read.
    pub fn files_changed(&self) {
        self.emit(Event::GrantsChanged);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    fn emit(&self, event: Event) {
        // Nobody listening (the CLI) is fine.
        let _no_listener = self.events.send(event);
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    // ----- keychain, with the locked flag kept current -----

    fn note_keychain<T>(&self, result: Result<T>) -> Result<T> {
        match &result {
            Err(e) if e.is_keychain_unavailable() => {
                if !self.keychain_locked.swap(true, Ordering::SeqCst) {
                    self.emit(Event::GrantsChanged);
                }
            }
            Ok(_) => {
                if self.keychain_locked.swap(false, Ordering::SeqCst) {
                    self.emit(Event::GrantsChanged);
                }
            }
            Err(_) => {}
        }
        result
    }

    async fn kc_get(&self, key: &str) -> Result<Option<Secret>> {
        self.note_keychain(self.keychain.get(key).await)
    }

    async fn kc_set(&self, key: &str, value: Secret) -> Result<()> {
        self.note_keychain(self.keychain.set(key, value).await)
    }

    async fn kc_delete(&self, key: &str) -> Result<()> {
        self.note_keychain(self.keychain.delete(key).await)
    }

    /// Asks the keychain whether it is usable, without unlocking it or showing a prompt, and
    /// keeps the "keychain locked" state current. Cheap enough to repeat.
    pub async fn probe_keychain(&self) -> bool {
        let usable = match self.keychain.is_locked().await {
            Ok(false) => Ok(()),
            Ok(true) => Err(Error::KeychainLocked),
            Err(e) => Err(e),
        };
        self.note_keychain(usable).is_ok()
    }

    pub fn keychain_locked(&self) -> bool {
        self.keychain_locked.load(Ordering::SeqCst)
    }

    // ----- clients -----

    pub async fn clients(&self) -> Result<Vec<ClientConfig>> {
        let path = self.paths.config_file.clone();
        blocking(move || ConfigFile::load(&path))
            .await
            .map(|f| f.clients)
    }

    async fn client(&self, id: &str) -> Result<ClientConfig> {
        let path = self.paths.config_file.clone();
        let id = id.to_string();
        blocking(move || ConfigFile::load(&path)?.client(&id).cloned()).await
    }

    /// Changes the config under the cross-process lock; nothing is written when `change` fails.
    async fn update_config<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut ConfigFile) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let path = self.paths.config_file.clone();
        let lock = self.paths.lock_dir.join("clients.lock");
        blocking(move || {
            let _lock = FileLock::acquire(&lock)?;
            let mut file = ConfigFile::load(&path)?;
            let out = change(&mut file)?;
            file.save(&path)?;
            Ok(out)
        })
        .await
    }

    /// Adds or edits a client. A new secret goes to the keychain before the config is written,
    /// so the config never names a secret that is not stored.
    pub async fn save_client(&self, input: ClientInput) -> Result<ClientConfig> {
        let existing = self.clients().await?;
        let editing = match &input.id {
            Some(id) => Some(
                existing
                    .iter()
                    .find(|c| &c.id == id)
                    .cloned()
                    .ok_or_else(|| Error::UnknownClient(id.clone()))?,
            ),
            None => None,
        };
        let id = match &editing {
            Some(c) => c.id.clone(),
            None => {
                let base = slug(&input.name);
                let mut id = base.clone();
                let mut n = 2;
                while existing.iter().any(|c| c.id == id) {
                    id = format!("{base}-{n}");
                    n += 1;
                }
                id
            }
        };
        if existing
            .iter()
            .any(|c| c.id != id && c.name.trim() == input.name.trim())
        {
            return Err(Error::Invalid(format!(
                "A client named \"{}\" exists already.",
                input.name.trim()
            )));
        }
        let mut client = ClientConfig {
            id: id.clone(),
            name: input.name.trim().to_string(),
            client_id: input.client_id.trim().to_string(),
            auth_method: input.auth_method,
            redirect_uri: input.redirect_uri.trim().to_string(),
            scopes: crate::scopes::parse_scope_list(&input.scopes),
            secret_stored_at: editing.as_ref().and_then(|c| c.secret_stored_at),
            endpoints: input.endpoints.unwrap_or_default(),
        };
        client.validate()?;
        if client.auth_method.needs_secret() {
            match &input.secret {
                Some(secret) => {
                    self.kc_set(&keychain::client_secret_key(&id), secret.clone()).await?;
                    client.secret_stored_at = Some(self.now());
                }
                None if client.secret_stored_at.is_none() => {
                    return Err(Error::Invalid(
                        "This authentication method needs the client secret; paste it from the Cloudflare dashboard.".into(),
                    ))
                }
                None => {}
            }
        } else {
            client.secret_stored_at = None;
        }
        let saved = client.clone();
        self.update_config(move |file| {
            match file.clients.iter_mut().find(|c| c.id == saved.id) {
                Some(slot) => *slot = saved,
                None => file.clients.push(saved),
            }
            Ok(())
        })
        .await?;
        if !client.auth_method.needs_secret()
            && editing.is_some_and(|c| c.auth_method.needs_secret())
        {
            self.kc_delete(&keychain::client_secret_key(&id)).await?;
        }
        self.emit(Event::ClientsChanged);
        Ok(client)
    }

    /// Removes a client that has no grants left (its grants would otherwise be orphaned).
    pub async fn remove_client(&self, id: &str) -> Result<()> {
        let grants = self.metadata_file().await?;
        let count = grants.grants.iter().filter(|g| g.client == id).count();
        if count > 0 {
            return Err(Error::Invalid(format!(
                "This client still has {count} grant(s). Revoke them first, then remove the client."
            )));
        }
        // The secret goes first: with the keychain locked nothing changes, and the user can
        // unlock it and try again, instead of a client gone and its secret left behind.
        let client = self.client(id).await?;
        if client.auth_method.needs_secret() || client.secret_stored_at.is_some() {
            self.kc_delete(&keychain::client_secret_key(id)).await?;
        }
        let target = id.to_string();
        self.update_config(move |file| {
            let before = file.clients.len();
            file.clients.retain(|c| c.id != target);
            if file.clients.len() == before {
                return Err(Error::UnknownClient(target));
            }
            Ok(())
        })
        .await?;
        self.emit(Event::ClientsChanged);
        Ok(())
    }

    async fn client_secret(&self, client: &ClientConfig) -> Result<Option<Secret>> {
        if !client.auth_method.needs_secret() {
            return Ok(None);
        }
        self.kc_get(&keychain::client_secret_key(&client.id))
            .await?
            .map(Some)
            .ok_or_else(|| Error::SecretMissing(format!("client \"{}\"", client.name)))
    }

    // ----- grants -----

    async fn metadata_file(&self) -> Result<crate::metadata::MetadataFile> {
        let store = self.metadata.clone();
        blocking(move || store.load()).await
    }

    async fn update_metadata<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut crate::metadata::MetadataFile) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.metadata.clone();
        blocking(move || store.update(change)).await
    }

    /// Every grant with its state; reads only the metadata and config files.
    pub async fn grants(&self) -> Result<Vec<GrantStatus>> {
        let meta = self.metadata_file().await?;
        let clients = self.clients().await.unwrap_or_default();
        let now = self.now();
        let locked = self.keychain_locked();
        Ok(meta
            .grants
            .iter()
            .map(|g| {
                let name = clients
                    .iter()
                    .find(|c| c.id == g.client)
                    .map(|c| c.name.as_str())
                    .unwrap_or(&g.client);
                grant_status(g, name, now, self.refresh_margin, locked)
            })
            .collect())
    }

    async fn grant_status(&self, id: &str) -> Result<GrantStatus> {
        self.grants()
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or_else(|| Error::UnknownGrant(id.into()))
    }

    // ----- login -----

    /// Starts a login: a fresh state and PKCE verifier, the verifier in the keychain, the pending
    /// flow in the metadata (so a cold-started app can finish it). Expired flows are pruned.
    pub async fn start_login(&self, client_id: &str) -> Result<LoginStart> {
        let client = self.client(client_id).await?;
        let state = flow::random_token();
        let verifier = flow::random_token();
        let url = oauth::authorization_url(&client, &state, &verifier)?;
        let hash = flow::state_hash(state.expose());
        let now = self.now();
        let expires_at = now + Duration::minutes(FLOW_LIFETIME_MINUTES);
        self.kc_set(&keychain::pending_key(&hash), verifier).await?;
        let pending = PendingMeta {
            state_hash: hash,
            client: client.id.clone(),
            redirect_uri: client.redirect_uri.clone(),
            requested_scopes: client.scopes.clone(),
            expires_at,
        };
        let pending_key = keychain::pending_key(&pending.state_hash);
        let recorded = self
            .update_metadata(move |file| {
                let (expired, live): (Vec<_>, Vec<_>) =
                    file.pending.drain(..).partition(|p| p.expires_at <= now);
                file.pending = live;
                file.pending.push(pending);
                Ok(expired)
            })
            .await;
        let expired = match recorded {
            Ok(expired) => expired,
            Err(e) => {
                // No flow recorded: don't leave its verifier behind.
                let _best_effort = self.kc_delete(&pending_key).await;
                return Err(e);
            }
        };
        for p in expired {
            self.kc_delete(&keychain::pending_key(&p.state_hash))
                .await?;
        }
        let loopback = match redirect_kind(&client.redirect_uri)? {
            RedirectKind::Loopback { host, port, path } => Some((host, port, path)),
            RedirectKind::CustomScheme => None,
        };
        tracing::info!(client = %client.id, "login started");
        Ok(LoginStart {
            authorize_url: url.to_string(),
            expires_at,
            loopback,
        })
    }

    /// The loopback redirects of pending flows, one per port, with the latest expiry of the flows
    /// waiting on it. The listener lives as long as one is pending; an app that starts while one
    /// is pending listens again, so the browser's redirect still lands.
    pub async fn pending_loopbacks(&self) -> Result<Vec<PendingLoopback>> {
        let meta = self.metadata_file().await?;
        let now = self.now();
        let mut out: Vec<PendingLoopback> = Vec::new();
        for p in meta.pending.iter().filter(|p| p.expires_at > now) {
            if let Ok(RedirectKind::Loopback { host, port, path }) = redirect_kind(&p.redirect_uri)
            {
                match out.iter_mut().find(|l| l.port == port) {
                    Some(l) => l.expires_at = l.expires_at.max(p.expires_at),
                    None => out.push(PendingLoopback {
                        host,
                        port,
                        path,
                        expires_at: p.expires_at,
                    }),
                }
            }
        }
        Ok(out)
    }

    /// Completes a login from the callback URL. The result is also sent as an event.
    pub async fn complete_login(&self, callback_url: &str) -> Result<GrantStatus> {
        let result = self.complete_login_inner(callback_url).await;
        match &result {
            Ok(grant) => {
                tracing::info!(grant = %grant.id, "login completed");
                self.emit(Event::GrantsChanged);
                self.emit(Event::LoginCompleted {
                    grant: Box::new(grant.clone()),
                });
            }
            Err(e) => {
                tracing::warn!(code = e.code(), "login failed: {e}");
                self.emit(Event::LoginFailed {
                    code: e.code(),
                    message: e.to_string(),
                });
            }
        }
        result
    }

    /// Takes the pending flow for `state` out of the metadata: single use, before any request.
    /// With `verifier`, also its PKCE verifier from the keychain.
    ///
    /// The verifier is read before the flow is consumed: a keychain that cannot answer (locked)
    /// leaves the flow pending, so the same callback can complete it once the keychain is unlocked.
    async fn take_pending(
        &self,
        state: &Secret,
        verifier: bool,
    ) -> Result<(PendingMeta, Option<Secret>)> {
        let hash = flow::state_hash(state.expose());
        let now = self.now();
        let key = keychain::pending_key(&hash);
        let live = self
            .metadata_file()
            .await?
            .pending
            .iter()
            .find(|p| p.state_hash == hash)
            .map(|p| p.expires_at > now)
            .ok_or(Error::UnknownState)?;
        let verifier = match verifier && live {
            true => self.kc_get(&key).await?,
            false => None,
        };
        // Consumed here, under the metadata lock: of two callbacks with the same state only the
        // first gets past this point.
        let wanted = hash.clone();
        let pending = self
            .update_metadata(move |file| {
                let index = file.pending.iter().position(|p| p.state_hash == wanted);
                Ok(index.map(|i| file.pending.remove(i)))
            })
            .await?
            .ok_or(Error::UnknownState)?;
        if let Err(e) = self.kc_delete(&key).await {
            // The flow is used up either way; a leftover verifier is useless without its state.
            tracing::warn!("could not delete a used login's verifier from the keychain: {e}");
        }
        if pending.expires_at <= now {
            return Err(Error::FlowExpired);
        }
        Ok((pending, verifier))
    }

    async fn complete_login_inner(&self, callback_url: &str) -> Result<GrantStatus> {
        let (code, state) = match flow::parse_callback(callback_url)? {
            Callback::Code { code, state } => (code, state),
            Callback::Error {
                error,
                description,
                state,
            } => {
                // Only a callback for a flow we started may speak for the provider; anyone can
                // open a grantkeeper:// link with an `error` in it. The flow is retired either way.
                let Some(state) = state else {
                    return Err(Error::UnknownState);
                };
                match self.take_pending(&state, false).await {
                    Ok(_) | Err(Error::FlowExpired) => {}
                    Err(e) => return Err(e),
                }
                let description =
                    description.map(|d| crate::error::provider_text(&d, &[state.expose()]));
                return Err(Error::ProviderDenied { error, description });
            }
        };
        let (pending, verifier) = self.take_pending(&state, true).await?;
        // A flow whose verifier is gone from the keychain cannot be completed.
        let verifier = verifier.ok_or(Error::UnknownState)?;
        let mut client = self.client(&pending.client).await?;
        // Exchange with exactly the redirect_uri and scopes of the authorization request.
        client.redirect_uri = pending.redirect_uri.clone();
        let secret = self.client_secret(&client).await?;
        let now = self.now();
        let issued = oauth::exchange_code(
            &self.http,
            &client,
            secret.as_ref(),
            code.expose(),
            &verifier,
            now,
        )
        .await?;
        let granted = issued
            .granted_scopes
            .clone()
            .unwrap_or_else(|| pending.requested_scopes.clone());
        let identity = oauth::identity(&self.http, &client, &issued.access_token, &granted).await;

        // Same client and identity again (re-consent): replace that grant instead of adding one.
        let meta = self.metadata_file().await?;
        // Without a known identity two logins may be two people: keep both.
        let previous = identity
            .as_ref()
            .and_then(|who| {
                meta.grants
                    .iter()
                    .find(|g| g.client == client.id && &g.identity == who)
            })
            .cloned();
        let identity = identity.unwrap_or_else(|| "unknown identity".into());
        let id = previous
            .as_ref()
            .map(|g| g.id.clone())
            .unwrap_or_else(new_grant_id);
        // The replaced grant's tokens, newest first: held in memory, else from the keychain.
        let held = self.unsaved().get(&id).cloned();
        let old_tokens = match (&previous, held) {
            (None, _) => None,
            (Some(_), Some(held)) => Some(held),
            (Some(_), None) => self
                .kc_get(&keychain::grant_key(&id))
                .await
                .ok()
                .flatten()
                .and_then(|s| GrantTokens::from_secret(&s, &id).ok()),
        };
        let tokens = GrantTokens {
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
        };
        self.kc_set(&keychain::grant_key(&id), tokens.to_secret())
            .await?;
        // Tokens of the replaced grant still waiting for the keychain must not overwrite these.
        self.unsaved().remove(&id);
        let grant = GrantMeta {
            id: id.clone(),
            client: client.id.clone(),
            identity,
            requested_scopes: pending.requested_scopes,
            granted_scopes: granted,
            access_expires_at: issued.expires_at,
            obtained_at: now,
            refreshed_at: None,
            last_used_at: previous.as_ref().and_then(|g| g.last_used_at),
            needs_reconsent: false,
        };
        self.update_metadata(move |file| {
            file.grants.retain(|g| g.id != grant.id);
            file.grants.push(grant);
            Ok(())
        })
        .await?;
        // The replaced grant's refresh token would otherwise stay valid at the provider.
        if let Some(old) = old_tokens {
            if let Some(refresh) = old.refresh_token {
                if tokens.refresh_token.as_ref() != Some(&refresh) {
                    if let Err(e) =
                        oauth::revoke(&self.http, &client, secret.as_ref(), &refresh).await
                    {
                        tracing::warn!(grant = %id, "could not revoke the replaced refresh token: {e}");
                    }
                }
            }
        }
        self.grant_status(&id).await
    }

    // ----- tokens -----

    /// A valid access token for `grant_id`, refreshed first when it expires within the margin.
    /// Records the use. `consumer` says who gets it (for the log; never the token).
    pub async fn access_token(&self, grant_id: &str, consumer: &str) -> Result<Secret> {
        let meta = self.metadata_file().await?;
        let grant = meta.grant(grant_id)?.clone();
        if grant.needs_reconsent {
            return Err(Error::NeedsReconsent("refused earlier".into()));
        }
        let now = self.now();
        let fresh = grant
            .access_expires_at
            .is_none_or(|at| at - now > self.refresh_margin);
        let token = if fresh {
            self.stored_tokens(grant_id).await?.access_token
        } else {
            self.refresh_locked(grant_id, grant.refreshed_at, false)
                .await?
        };
        let id = grant_id.to_string();
        let used_at = self.now();
        self.update_metadata(move |file| {
            file.grant_mut(&id)?.last_used_at = Some(used_at);
            Ok(())
        })
        .await?;
        tracing::info!(grant = %grant_id, consumer, "access token handed out");
        self.emit(Event::GrantsChanged);
        Ok(token)
    }

    async fn stored_tokens(&self, grant_id: &str) -> Result<GrantTokens> {
        self.flush_unsaved(grant_id).await?;
        let secret = self
            .kc_get(&keychain::grant_key(grant_id))
            .await?
            .ok_or_else(|| Error::SecretMissing(format!("grant {grant_id}")))?;
        GrantTokens::from_secret(&secret, grant_id)
    }

    fn unsaved(&self) -> std::sync::MutexGuard<'_, HashMap<String, GrantTokens>> {
        self.unsaved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores renewed tokens that the keychain refused earlier, before anything reads it.
    async fn flush_unsaved(&self, grant_id: &str) -> Result<()> {
        let held = self.unsaved().get(grant_id).cloned();
        if let Some(tokens) = held {
            self.kc_set(&keychain::grant_key(grant_id), tokens.to_secret())
                .await
                .map_err(|_| Error::TokensHeldInMemory)?;
            self.unsaved().remove(grant_id);
            tracing::info!(grant = %grant_id, "renewed tokens held in memory are now in the keychain");
        }
        Ok(())
    }

    /// Refreshes a grant now (even if its token is still fresh).
    pub async fn refresh(&self, grant_id: &str) -> Result<GrantStatus> {
        let observed = self.metadata_file().await?.grant(grant_id)?.refreshed_at;
        self.refresh_locked(grant_id, observed, true).await?;
        self.grant_status(grant_id).await
    }

    /// One refresh per grant at a time, across threads and processes: the grant's lock file is
    /// held from the metadata re-read to the metadata write. Whoever waited finds the token fresh
    /// and uses it instead of spending the (single-use) refresh token again.
    ///
    /// `observed` is the grant's last refresh as the caller saw it when it decided to refresh: if
    /// it differs once we hold the lock, someone refreshed meanwhile.
    async fn refresh_locked(
        &self,
        grant_id: &str,
        observed: Option<DateTime<Utc>>,
        force: bool,
    ) -> Result<Secret> {
        let lock_path = self.paths.lock_dir.join(format!("grant-{grant_id}.lock"));
        let lock = tokio::time::timeout(
            std::time::Duration::from_secs(90),
            blocking(move || FileLock::acquire(&lock_path)),
        )
        .await
        .map_err(|_| Error::Invalid("Another Grantkeeper process has been refreshing this grant for 90 seconds; try again.".into()))??;

        let meta = self.metadata_file().await?;
        let grant = meta.grant(grant_id)?.clone();
        if grant.needs_reconsent {
            return Err(Error::NeedsReconsent("refused earlier".into()));
        }
        let now = self.now();
        let refreshed_meanwhile = grant.refreshed_at != observed;
        let still_fresh = grant
            .access_expires_at
            .is_some_and(|at| at - now > self.refresh_margin);
        let tokens = self.stored_tokens(grant_id).await?;
        if refreshed_meanwhile || (still_fresh && !force) {
            return Ok(tokens.access_token);
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            self.mark_needs_reconsent(grant_id).await?;
            return Err(Error::NeedsReconsent(
                "the grant has no refresh token".into(),
            ));
        };
        let client = self.client(&grant.client).await?;
        let secret = self.client_secret(&client).await?;
        let issued =
            match oauth::refresh(&self.http, &client, secret.as_ref(), &refresh_token, now).await {
                Ok(issued) => issued,
                Err(Error::NeedsReconsent(why)) => {
                    self.mark_needs_reconsent(grant_id).await?;
                    return Err(Error::NeedsReconsent(why));
                }
                Err(e) => return Err(e),
            };
        // Store the rotated refresh token before anyone uses the new access token; keep the old
        // one when the response carries none. Retried: the provider has already retired the old
        // token, so this write is the only copy of the new one.
        let new_tokens = GrantTokens {
            access_token: issued.access_token.clone(),
            refresh_token: issued.refresh_token.or(Some(refresh_token)),
        };
        let mut attempt = 0;
        let stored = loop {
            match self
                .kc_set(&keychain::grant_key(grant_id), new_tokens.to_secret())
                .await
            {
                Ok(()) => break true,
                Err(e) if attempt < 3 => {
                    attempt += 1;
                    tracing::warn!(grant = %grant_id, attempt, "storing refreshed tokens failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(250 * attempt)).await;
                }
                Err(e) => {
                    tracing::error!(grant = %grant_id, "the keychain refused the renewed tokens ({e}); holding them in memory");
                    self.unsaved()
                        .insert(grant_id.to_string(), new_tokens.clone());
                    break false;
                }
            }
        };
        let id = grant_id.to_string();
        let granted = issued.granted_scopes;
        let expires_at = issued.expires_at;
        self.update_metadata(move |file| {
            let g = file.grant_mut(&id)?;
            g.access_expires_at = expires_at;
            g.refreshed_at = Some(now);
            if let Some(granted) = granted {
                g.granted_scopes = granted;
            }
            Ok(())
        })
        .await?;
        drop(lock);
        tracing::info!(grant = %grant_id, "grant refreshed");
        self.emit(Event::GrantsChanged);
        if !stored {
            // Not handed out: a token must not be used before its refresh token is stored.
            return Err(Error::TokensHeldInMemory);
        }
        Ok(issued.access_token)
    }

    async fn mark_needs_reconsent(&self, grant_id: &str) -> Result<()> {
        let id = grant_id.to_string();
        self.update_metadata(move |file| {
            file.grant_mut(&id)?.needs_reconsent = true;
            Ok(())
        })
        .await?;
        tracing::warn!(grant = %grant_id, "refresh refused: grant needs re-consent");
        self.emit(Event::GrantsChanged);
        Ok(())
    }

    // ----- revoke -----

    /// Revokes the refresh token at the provider, then forgets the grant. If the provider cannot
    /// be reached the grant stays.
    pub async fn revoke(&self, grant_id: &str) -> Result<Revoked> {
        let meta = self.metadata_file().await?;
        let grant = meta.grant(grant_id)?.clone();
        // A client removed by hand from clients.toml leaves nothing to ask the provider with;
        // the grant can still be forgotten.
        let client = match self.client(&grant.client).await {
            Ok(client) => Some(client),
            Err(Error::UnknownClient(_)) => None,
            Err(e) => return Err(e),
        };
        let held = self.unsaved().get(grant_id).cloned();
        let tokens = match held {
            Some(tokens) => Some(tokens),
            None => match self.kc_get(&keychain::grant_key(grant_id)).await? {
                Some(secret) => Some(GrantTokens::from_secret(&secret, grant_id)?),
                None => None,
            },
        };
        let outcome = match (tokens, client) {
            (_, None) => Revoked::ClientGone,
            (Some(tokens), Some(client)) => {
                let token = tokens.refresh_token.unwrap_or(tokens.access_token);
                let client_secret = self.client_secret(&client).await?;
                match oauth::revoke(&self.http, &client, client_secret.as_ref(), &token).await? {
                    true => Revoked::AtProvider,
                    false => Revoked::NoRevocationEndpoint,
                }
            }
            (None, Some(_)) => {
                tracing::warn!(grant = %grant_id, "no tokens in the keychain; removing the grant locally");
                Revoked::NoTokens
            }
        };
        self.kc_delete(&keychain::grant_key(grant_id)).await?;
        self.unsaved().remove(grant_id);
        let id = grant_id.to_string();
        self.update_metadata(move |file| {
            file.grants.retain(|g| g.id != id);
            Ok(())
        })
        .await?;
        tracing::info!(grant = %grant_id, ?outcome, "grant revoked");
        self.emit(Event::GrantsChanged);
        Ok(outcome)
    }
}
