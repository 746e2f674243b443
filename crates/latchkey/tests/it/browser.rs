//! `Browser`: a cookie-keeping, non-redirecting HTTP client that fills in the server's own forms, for
//! driving the authorization code flow over HTTP as a browser would (the real-browser test is in
//! `chromium.rs`).
use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::password::Password;
use latchkey_core::user::{User, Username};
use latchkey_store::UserStore;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use crate::harness::TestServer;

pub(crate) struct Browser {
    http: reqwest::Client,
    pub(crate) cookies: BTreeMap<String, String>,
    pub(crate) accept_language: Option<String>,
    /// `X-Forwarded-For`, as a trusted proxy in front would send it.
    pub(crate) forwarded_for: Option<String>,
    /// `Forwarded` (RFC 7239), as a trusted proxy configured for it would send it.
    pub(crate) forwarded: Option<String>,
}

/// A response, read whole.
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> String {
        self.headers[LOCATION].to_str().unwrap().to_owned()
    }

    /// The query parameters of the redirect.
    pub(crate) fn redirect_params(&self) -> BTreeMap<String, String> {
        let url = url::Url::parse(&self.location()).unwrap();
        url.query_pairs().into_owned().collect()
    }

    /// The form with this action suffix: its action and its hidden fields.
    pub(crate) fn form(&self, action_suffix: &str) -> (String, Vec<(String, String)>) {
        let start = self
            .body
            .find(&format!("{action_suffix}\""))
            .unwrap_or_else(|| panic!("no form ending in {action_suffix}: {}", self.body));
        let form_start = self.body[..start].rfind("<form").unwrap();
        let form_end = start + self.body[start..].find("</form>").unwrap();
        let form = &self.body[form_start..form_end];
        let action = attribute(form, "action").unwrap();
        let mut fields = Vec::new();
        for input in form.split("<input").skip(1) {
            if attribute(input, "type").as_deref() == Some("hidden") {
                fields.push((
                    attribute(input, "name").unwrap(),
                    attribute(input, "value").unwrap(),
                ));
            }
        }
        (action, fields)
    }
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            accept_language: None,
            forwarded_for: None,
            forwarded: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        self.try_send(request).await.unwrap()
    }

    async fn try_send(&mut self, request: reqwest::RequestBuilder) -> Result<Page, reqwest::Error> {
        let mut request = request;
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("cookie", header.join("; "));
        }
        if let Some(lang) = &self.accept_language {
            request = request.header("accept-language", lang);
        }
        if let Some(address) = &self.forwarded_for {
            request = request.header("x-forwarded-for", address);
        }
        if let Some(element) = &self.forwarded {
            request = request.header("forwarded", element);
        }
        let response = request.send().await?;
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        Ok(Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await?,
        })
    }

    pub(crate) async fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url);
        self.send(request).await
    }

    /// `get`, for a server that may be down.
    pub(crate) async fn try_get(&mut self, url: &str) -> Result<Page, reqwest::Error> {
        let request = self.http.get(url);
        self.try_send(request).await
    }

    pub(crate) async fn post(&mut self, url: &str, fields: &[(String, String)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Submits the page's login form with these credentials.
    pub(crate) async fn sign_in(
        &mut self,
        server: &TestServer,
        page: &Page,
        username: &str,
        password: &str,
    ) -> Page {
        self.sign_in_at(&server.origin, page, username, password)
            .await
    }

    /// Submits the page's login form to the server at `origin` (any instance of several).
    pub(crate) async fn sign_in_at(
        &mut self,
        origin: &str,
        page: &Page,
        username: &str,
        password: &str,
    ) -> Page {
        let (action, mut fields) = page.form("/login");
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        self.post(&format!("{origin}{action}"), &fields).await
    }

    /// The login form's submission as a request to send (as often and as concurrently as a test
    /// likes), with the browser's cookies; cookies it sets are not kept.
    pub(crate) fn login_request(
        &self,
        origin: &str,
        page: &Page,
        username: &str,
        password: &str,
    ) -> reqwest::RequestBuilder {
        let (action, mut fields) = page.form("/login");
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let cookies: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        self.http
            .post(format!("{origin}{action}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookies.join("; "))
            .body(body)
    }

    /// Submits the consent form with `approve` or `deny`.
    pub(crate) async fn decide(
        &mut self,
        server: &TestServer,
        page: &Page,
        decision: &str,
    ) -> Page {
        self.decide_at(&server.origin, page, decision).await
    }

    /// Submits the consent form to the server at `origin`.
    pub(crate) async fn decide_at(&mut self, origin: &str, page: &Page, decision: &str) -> Page {
        let (action, mut fields) = page.form("/consent");
        fields.push(("decision".into(), decision.into()));
        self.post(&format!("{origin}{action}"), &fields).await
    }
}

/// A PKCE verifier and its S256 challenge.
pub(crate) fn pkce() -> (String, String) {
    let verifier = latchkey_core::secret::random_base64url(32);
    let digest = aws_lc_rs_digest(verifier.as_bytes());
    (verifier, URL_SAFE_NO_PAD.encode(digest))
}

fn aws_lc_rs_digest(data: &[u8]) -> Vec<u8> {
    latchkey_core::secret::SecretHash::of(data)
        .as_bytes()
        .to_vec()
}

impl TestServer {
    /// Adds a user the way `latchkey user add` does; returns their `sub`.
    pub(crate) async fn create_user(&self, username: &str, password: &str) -> String {
        let user = User {
            user_id: User::generate_id(),
            username: Username::parse(username).unwrap(),
            email: None,
            name: None,
            password_hash: Password::new(password.into()).hash(),
            created_at: latchkey_server::clock::Clock::system().now(),
            attributes: Default::default(),
            updated_at: latchkey_server::clock::Clock::system().now(),
        };
        self.store.insert_user(&user).await.unwrap();
        user.user_id
    }

    /// The authorization endpoint URL with these parameters.
    pub(crate) fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let endpoint = self
            .config
            .settings
            .features
            .endpoints
            .authorization
            .as_deref();
        format!("{}?{query}", endpoint.unwrap_or_default())
    }
}
