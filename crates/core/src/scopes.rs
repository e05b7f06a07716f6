//! Scope IDs: validation and the comparison of what was requested with what was granted.

use crate::error::{Error, Result};

/// Scopes Cloudflare adds by itself from the client's grant types; asking for them is harmless
/// but pointless, and they never count as "missing".
pub const PROVIDER_ADDED: [&str; 2] = ["offline_access", "openid"];

/// Checks one scope ID. Cloudflare's are dot-separated lower-case IDs (`dns.read`,
/// `workers-scripts.write`); other providers may use any RFC 6749 scope token.
pub fn validate_scope(scope: &str, cloudflare: bool) -> Result<()> {
    let rfc6749_token = !scope.is_empty()
        && scope
            .chars()
            .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'));
    if !rfc6749_token {
        return Err(Error::Invalid(format!(
            "\"{}\" is not a valid scope: scopes are single words without spaces or quotes",
            scope.escape_default()
        )));
    }
    if cloudflare && !is_cloudflare_scope(scope) && !PROVIDER_ADDED.contains(&scope) {
        return Err(Error::Invalid(format!(
            "\"{scope}\" is not a Cloudflare scope ID: use the dot form, e.g. dns.read or workers-scripts.write"
        )));
    }
    Ok(())
}

fn is_cloudflare_scope(scope: &str) -> bool {
    let parts: Vec<&str> = scope.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        })
}

/// Splits user input ("dns.read, zone.read\nuser-details.read") into scope IDs, keeping order
/// and dropping duplicates.
pub fn parse_scope_list(input: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in input.split(|c: char| c.is_whitespace() || c == ',') {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// Requested scopes the provider did not grant (declined optional scopes, or narrowed).
pub fn missing_scopes(requested: &[String], granted: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|r| !PROVIDER_ADDED.contains(&r.as_str()) && !granted.contains(r))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudflare_scopes_must_be_dot_form() {
        for good in [
            "dns.read",
            "workers-scripts.write",
            "user-details.read",
            "zone.read",
        ] {
            assert!(
                validate_scope(good, true).is_ok(),
                "{good} is a Cloudflare scope"
            );
        }
        for bad in [
            "dns",
            "DNS.Read",
            "dns..read",
            "dns read",
            "\"dns.read\"",
            "",
        ] {
            assert!(
                validate_scope(bad, true).is_err(),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn other_providers_accept_any_rfc6749_scope_token() {
        assert!(validate_scope("openid", false).is_ok());
        assert!(validate_scope("https://graph.example/read", false).is_ok());
        assert!(validate_scope("has space", false).is_err());
        assert!(validate_scope("back\\slash", false).is_err());
    }

    #[test]
    fn scope_lists_split_on_commas_and_whitespace_without_duplicates() {
        assert_eq!(
            parse_scope_list("dns.read, zone.read\n dns.read  user-details.read"),
            vec!["dns.read", "zone.read", "user-details.read"]
        );
    }

    #[test]
    fn missing_scopes_ignore_provider_added_ones() {
        let requested = vec![
            "dns.read".to_string(),
            "dns.write".into(),
            "offline_access".into(),
        ];
        let granted = vec!["dns.read".to_string()];
        assert_eq!(missing_scopes(&requested, &granted), vec!["dns.write"]);
    }
}
