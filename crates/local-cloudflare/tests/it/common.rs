//! A tiny test "browser" and OAuth client talking real HTTP to an in-process server.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use local_cloudflare::{AuthMethod, ClientConfig, Config, GrantType, RunningServer};
use reqwest::{header, redirect::Policy, Response, StatusCode};
use serde_json::Value;

/// RFC 7636 Appendix B.
pub const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const LOOPBACK_REDIRECT: &str = "http://127.0.0.1:8976/oauth/callback";
/// Needs form-encoding inside Basic credentials (RFC 6749 §2.3.1).
pub const BASIC_SECRET: &str = "s3cr:et+&= ü";
pub const POST_SECRET: &str = "post-secret";
pub const SCOPES: &str = "account.read user-details.read dns.read dns.write";
pub const STATE: &str = "st 123/+&";

fn client(id: &str, auth_method: AuthMethod, secret: Option<&str>, refresh: bool) -> ClientConfig {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    let mut grant_types = vec![GrantType::AuthorizationCode];
    if refresh {
        grant_types.push(GrantType::RefreshToken);
    }
    ClientConfig {
        client_id: id.into(),
        client_secret: secret.map(Into::into),
        auth_method,
        redirect_uris: strings(&[
            LOOPBACK_REDIRECT,
            "grantkeeper://oauth/callback",
            "dev.grantkeeper.app:/oauth/callback",
            "https://app.test/cb?tenant=7",
        ]),
        scopes: strings(&[
            "account.read",
            "user-details.read",
            "zone.read",
            "dns.read",
            "dns.write",
        ]),
        optional_scopes: strings(&["dns.write"]),
        grant_types,
    }
}

pub fn test_config() -> Config {
    Config {
        clients: vec![
            client("public-app", AuthMethod::None, None, true),
            client(
                "basic-app",
                AuthMethod::ClientSecretBasic,
                Some(BASIC_SECRET),
                true,
            ),
            client(
                "post-app",
                AuthMethod::ClientSecretPost,
                Some(POST_SECRET),
                true,
            ),
            client("no-refresh-app", AuthMethod::None, None, false),
        ],
        ..Config::default()
    }
}

/// Status and JSON body (`Null` when the body is empty or not JSON).
pub type Answer = (StatusCode, Value);

pub fn assert_error(answer: &Answer, status: u16, error: &str, why: &str) {
    let (got_status, body) = answer;
    let got = (got_status.as_u16(), body["error"].as_str());
    assert_eq!(got, (status, Some(error)), "{why}: {body}");
}

pub struct Harness {
    pub server: RunningServer,
    pub http: reqwest::Client,
}

pub async fn harness() -> Harness {
    let server = local_cloudflare::start(test_config())
        .await
        .expect("the server starts on 127.0.0.1:0");
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("reqwest client builds");
    Harness { server, http }
}

/// `Basic base64(urlencode(id):urlencode(secret))`.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .expect("a redirect carries Location")
        .to_str()
        .expect("Location is ASCII")
        .to_string()
}

pub fn query_param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location).expect("Location is an absolute URL");
    let value = url.query_pairs().find(|(k, _)| k == name);
    value.map(|(_, v)| v.into_owned())
}

pub fn auth_query<'a>(
    client_id: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("state", STATE),
        ("code_challenge", RFC_CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub async fn get_auth(&self, query: &[(&str, &str)]) -> Response {
        let request = self.http.get(self.url("/oauth2/auth")).query(query);
        request.send().await.expect("GET /oauth2/auth answers")
    }

    /// Opens the consent page and returns its consent id, the way the Python browser does.
    pub async fn open_consent(&self, query: &[(&str, &str)]) -> String {
        let response = self.get_auth(query).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "a valid request shows the consent page"
        );
        let html = response.text().await.expect("consent page body");
        let start = html
            .find("name=\"consent\" value=\"")
            .expect("consent page has the hidden consent id")
            + 22;
        let end = start + html[start..].find('"').expect("consent value is quoted");
        html[start..end].to_string()
    }

    pub async fn decide(&self, consent: &str, decision: &str, keep_optional: &[&str]) -> Response {
        let mut form = vec![("consent", consent), ("decision", decision)];
        form.extend(keep_optional.iter().map(|s| ("optional_scope", *s)));
        let request = self
            .http
            .post(self.url("/oauth2/auth/decision"))
            .form(&form);
        request.send().await.expect("POST decision answers")
    }

    /// Approves keeping only `keep_optional` and returns the authorization code.
    pub async fn approve(&self, consent: &str, keep_optional: &[&str]) -> String {
        let response = self.decide(consent, "approve", keep_optional).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "approval redirects with 303"
        );
        query_param(&location(&response), "code").expect("approval redirect carries a code")
    }

    /// Approves with all optional scopes and returns the authorization code.
    pub async fn code_for(&self, client_id: &str, redirect_uri: &str, scope: &str) -> String {
        let consent = self
            .open_consent(&auth_query(client_id, redirect_uri, scope))
            .await;
        self.approve(&consent, &["dns.write"]).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("server answers");
        let status = response.status();
        let text = response.text().await.expect("body is readable");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn post(
        &self,
        path: &str,
        basic_auth: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic_auth {
            request = request.header("authorization", basic(id, secret));
        }
        self.send(request).await
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.post("/oauth2/token", None, form).await
    }

    pub async fn exchange_with(
        &self,
        client: &str,
        code: &str,
        redirect: &str,
        verifier: &str,
    ) -> Answer {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", client),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ];
        self.token(&form).await
    }

    pub async fn exchange(&self, client_id: &str, code: &str) -> Answer {
        self.exchange_with(client_id, code, LOOPBACK_REDIRECT, RFC_VERIFIER)
            .await
    }

    /// Full flow for the public client; returns the token response.
    pub async fn login(&self) -> Value {
        let code = self.code_for("public-app", LOOPBACK_REDIRECT, SCOPES).await;
        let (status, body) = self.exchange("public-app", &code).await;
        assert_eq!(status, StatusCode::OK, "code exchange succeeds: {body}");
        body
    }

    pub async fn refresh(&self, client_id: &str, refresh_token: &str) -> Answer {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ];
        self.token(&form).await
    }

    pub async fn api(&self, path: &str, access_token: Option<&str>) -> Answer {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = access_token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn stats(&self) -> Value {
        self.api("/_local/stats", None).await.1
    }
}

pub fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {body}"))
}
