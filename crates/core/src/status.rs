//! A grant's state, computed from metadata and a `now` (no keychain, no network).

use crate::metadata::GrantMeta;
use crate::scopes::{missing_scopes, PROVIDER_ADDED};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Access tokens expiring within this window count as "expiring soon" and are refreshed before
/// being handed out.
pub const DEFAULT_REFRESH_MARGIN_SECS: i64 = 5 * 60;

/// The refresh margin: `GRANTKEEPER_REFRESH_MARGIN_SECS` if set to a number, else 5 minutes.
pub fn refresh_margin_from_env() -> Duration {
    let secs = std::env::var("GRANTKEEPER_REFRESH_MARGIN_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s >= 0)
        .unwrap_or(DEFAULT_REFRESH_MARGIN_SECS);
    Duration::seconds(secs)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Healthy,
    ExpiringSoon,
    Expired,
    NeedsReconsent,
    KeychainLocked,
}

impl GrantState {
    pub fn label(self) -> &'static str {
        match self {
            GrantState::Healthy => "healthy",
            GrantState::ExpiringSoon => "expiring soon",
            GrantState::Expired => "expired",
            GrantState::NeedsReconsent => "needs re-consent",
            GrantState::KeychainLocked => "keychain locked",
        }
    }
}

/// Everything the window and the tray show about a grant. No secret in here: this is what
/// crosses into the webview.
#[derive(Debug, Clone, Serialize)]
pub struct GrantStatus {
    pub id: String,
    pub client: String,
    pub client_name: String,
    pub identity: String,
    pub requested_scopes: Vec<String>,
    pub granted_scopes: Vec<String>,
    pub missing_scopes: Vec<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub obtained_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub state: GrantState,
    pub state_label: &'static str,
}

impl GrantStatus {
    /// "alice@example.com granted 3 of 4 requested scope(s) to DNS manager." Scopes the provider
    /// adds by itself (offline_access, openid) count neither as requested nor as missing.
    pub fn login_summary(&self) -> String {
        let requested = self
            .requested_scopes
            .iter()
            .filter(|s| !PROVIDER_ADDED.contains(&s.as_str()))
            .count();
        if requested == 0 {
            return format!("{} logged in with {}.", self.identity, self.client_name);
        }
        let granted = requested.saturating_sub(self.missing_scopes.len());
        format!(
            "{} granted {granted} of {requested} requested scope(s) to {}.",
            self.identity, self.client_name
        )
    }
}

pub fn grant_state(
    grant: &GrantMeta,
    now: DateTime<Utc>,
    margin: Duration,
    keychain_locked: bool,
) -> GrantState {
    if grant.needs_reconsent {
        return GrantState::NeedsReconsent;
    }
    if keychain_locked {
        return GrantState::KeychainLocked;
    }
    match grant.access_expires_at {
        Some(at) if at <= now => GrantState::Expired,
        Some(at) if at - now <= margin => GrantState::ExpiringSoon,
        _ => GrantState::Healthy,
    }
}

pub fn grant_status(
    grant: &GrantMeta,
    client_name: &str,
    now: DateTime<Utc>,
    margin: Duration,
    keychain_locked: bool,
) -> GrantStatus {
    let state = grant_state(grant, now, margin, keychain_locked);
    GrantStatus {
        id: grant.id.clone(),
        client: grant.client.clone(),
        client_name: client_name.to_string(),
        identity: grant.identity.clone(),
        requested_scopes: grant.requested_scopes.clone(),
        granted_scopes: grant.granted_scopes.clone(),
        missing_scopes: missing_scopes(&grant.requested_scopes, &grant.granted_scopes),
        access_expires_at: grant.access_expires_at,
        obtained_at: grant.obtained_at,
        refreshed_at: grant.refreshed_at,
        last_used_at: grant.last_used_at,
        state,
        state_label: state.label(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn grant(expires_at: DateTime<Utc>) -> GrantMeta {
        GrantMeta {
            id: "g".into(),
            client: "dns".into(),
            identity: "a@example.com".into(),
            requested_scopes: vec!["dns.read".into(), "dns.write".into()],
            granted_scopes: vec!["dns.read".into()],
            access_expires_at: Some(expires_at),
            obtained_at: expires_at - Duration::hours(1),
            refreshed_at: None,
            last_used_at: None,
            needs_reconsent: false,
        }
    }

    #[test]
    fn state_follows_the_clock() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .expect("valid time");
        let g = grant(t0 + Duration::hours(1));
        let margin = Duration::minutes(5);
        let check =
            |now, expected| assert_eq!(grant_state(&g, now, margin, false), expected, "at {now}");
        check(t0, GrantState::Healthy);
        check(t0 + Duration::minutes(54), GrantState::Healthy);
        check(t0 + Duration::minutes(55), GrantState::ExpiringSoon);
        check(t0 + Duration::minutes(59), GrantState::ExpiringSoon);
        check(t0 + Duration::hours(1), GrantState::Expired);
        check(t0 + Duration::days(3), GrantState::Expired);
    }

    #[test]
    fn reconsent_and_locked_keychain_win_over_expiry() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .expect("valid time");
        let mut g = grant(t0 + Duration::hours(1));
        assert_eq!(
            grant_state(&g, t0, Duration::minutes(5), true),
            GrantState::KeychainLocked
        );
        g.needs_reconsent = true;
        assert_eq!(
            grant_state(&g, t0, Duration::minutes(5), true),
            GrantState::NeedsReconsent
        );
    }

    #[test]
    fn declined_scopes_stand_out_as_missing() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .expect("valid time");
        let s = grant_status(&grant(t0), "DNS", t0, Duration::minutes(5), false);
        assert_eq!(s.missing_scopes, vec!["dns.write"]);
    }

    #[test]
    fn login_summary_counts_only_scopes_the_user_could_decline() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .expect("valid time");
        let mut g = grant(t0);
        g.requested_scopes.push("offline_access".into());
        let s = grant_status(&g, "DNS", t0, Duration::minutes(5), false);
        assert_eq!(
            s.login_summary(),
            "a@example.com granted 1 of 2 requested scope(s) to DNS."
        );
        g.requested_scopes = vec!["openid".into(), "offline_access".into()];
        let s = grant_status(&g, "DNS", t0, Duration::minutes(5), false);
        assert_eq!(s.login_summary(), "a@example.com logged in with DNS.");
    }
}
