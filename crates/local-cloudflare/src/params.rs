//! `application/x-www-form-urlencoded` parameters (query strings and form bodies).

/// Decoded parameters in request order. Empty values count as absent (RFC 6749 §3.1).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(input: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(input)
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The single value of `name`; a repeated parameter is an error (RFC 6749 §3.1).
    pub(crate) fn one(&self, name: &str) -> Result<Option<&str>, String> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(format!("parameter {name} is repeated")),
            (first, _) => Ok(first),
        }
    }

    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes one form-urlencoded component (`+` is a space), as used inside HTTP Basic
/// credentials of OAuth clients (RFC 6749 §2.3.1).
pub(crate) fn form_decode(component: &str) -> Option<String> {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Space-separated scope list, de-duplicated, order kept.
pub(crate) fn split_scopes(scope: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for s in scope.split_ascii_whitespace() {
        if !scopes.iter().any(|have| have == s) {
            scopes.push(s.to_string());
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_an_error_and_empty_is_absent() {
        let params = Params::parse(b"a=1&a=2&b=&c=x%20y");
        assert!(
            params.one("a").is_err(),
            "a repeated parameter is ambiguous"
        );
        assert_eq!(
            params.one("b"),
            Ok(None),
            "an empty value counts as omitted"
        );
        assert_eq!(params.one("c"), Ok(Some("x y")));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c%2B").as_deref(), Some("a:b c+"));
    }
}
