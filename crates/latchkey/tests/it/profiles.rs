//! The four seed profiles (`profiles/{scalev,archera,whatalo,telnyx}.toml`): each is served on loopback
//! exactly as written (its https issuer and URLs published, its endpoints reached by their paths), its
//! metadata is checked against the fixture translated from its seed (`tests/fixtures/seeds/`: required
//! members, types, formats, enums, values, order) and against `profiles/NAME.metadata.json`, and every
//! endpoint it advertises is exercised: a client of each advertised auth method gets a token, what it
//! leaves out is refused, and its error shape and rate-limit headers are the seed's.
use std::collections::BTreeMap;
use std::path::PathBuf;

use latchkey_core::client::{Client, ClientAuth, ClientPolicy};
use latchkey_core::keys::{KeyAlg, SigningKey};
use latchkey_core::types::{AuthMethod, ClientId, GrantType, ResourceUri, Scope};
use latchkey_server::settings::path_of;
use latchkey_store::ClientStore;
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::assertions::assertion;
use crate::browser::{Browser, pkce};
use crate::discover::{discover, latchkey};
use crate::documents::https_server;
use crate::harness::{TestClient, TestServer, basic, form_encode, server_test};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const CALLBACK: &str = "https://integrations.example/oauth/callback";

/// One seed profile, and how Latchkey's document may differ from its seed (each difference is
/// explained in the example's comment).
struct Profile {
    name: &'static str,
    /// The origins of its published URLs, mapped to loopback when a test needs to fetch them.
    origins: &'static [&'static str],
    /// Members Latchkey publishes that the seed does not show.
    additions: &'static [&'static str],
    /// Members the seed shows that Latchkey does not publish yet.
    not_yet: &'static [&'static str],
}

const SCALEV: Profile = Profile {
    name: "scalev",
    origins: &["https://api.scalev.com", "https://app.scalev.com"],
    additions: &[
        "jwks_uri",
        "response_modes_supported",
        "token_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
        "authorization_response_iss_parameter_supported",
        "resource_parameter_supported",
    ],
    not_yet: &[],
};

const ARCHERA: Profile = Profile {
    name: "archera",
    origins: &["https://api.archera.ai"],
    additions: &[
        "response_modes_supported",
        "authorization_response_iss_parameter_supported",
        "resource_parameter_supported",
    ],
    not_yet: &[],
};

const WHATALO: Profile = Profile {
    name: "whatalo",
    origins: &["https://app.whatalo.com"],
    // OpenID Connect is on (the seed shows subject_types_supported): Discovery's members come after
    // the seed's.
    additions: &[
        "userinfo_endpoint",
        "response_modes_supported",
        "acr_values_supported",
        "id_token_signing_alg_values_supported",
        "userinfo_signing_alg_values_supported",
        "display_values_supported",
        "claim_types_supported",
        "claims_supported",
        "claims_parameter_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
        "end_session_endpoint",
        "authorization_response_iss_parameter_supported",
    ],
    not_yet: &[],
};

const TELNYX: Profile = Profile {
    name: "telnyx",
    origins: &["https://api.telnyx.com"],
    additions: &[
        "response_modes_supported",
        "introspection_endpoint_auth_methods_supported",
        "authorization_response_iss_parameter_supported",
        "resource_parameter_supported",
    ],
    not_yet: &[],
};

const PROFILES: [&Profile; 4] = [&SCALEV, &ARCHERA, &WHATALO, &TELNYX];

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read_json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn profile_config(profile: &Profile) -> String {
    std::fs::read_to_string(repo(&format!("profiles/{}.toml", profile.name))).unwrap()
}

fn seed(profile: &Profile) -> Value {
    read_json(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/seeds/{}.json", profile.name)),
    )
}

fn names(doc: &Value) -> Vec<String> {
    doc.as_object().unwrap().keys().cloned().collect()
}

/// Every way `doc` departs from what its seed shows, beyond the profile's documented differences.
fn seed_problems(doc: &Value, seed: &Value, profile: &Profile) -> Vec<String> {
    let mut problems = Vec::new();
    for name in seed["required"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        if doc.get(name).is_none() && !profile.not_yet.contains(&name) {
            problems.push(format!("required `{name}` is missing"));
        }
    }
    for name in profile.not_yet {
        if doc.get(*name).is_some() {
            problems.push(format!(
                "`{name}` is published now: move it out of not_yet and into the example's expected document"
            ));
        }
    }
    let mut seed_order = Vec::new();
    for member in seed["members"].as_array().unwrap() {
        let name = member["name"].as_str().unwrap();
        seed_order.push(name.to_owned());
        let Some(value) = doc.get(name) else {
            continue;
        };
        let typed = match member["type"].as_str().unwrap() {
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "array" => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            other => panic!("type {other} in the fixture"),
        };
        if !typed {
            problems.push(format!("`{name}` is not a {}: {value}", member["type"]));
        }
        if member["format"] == "uri" {
            let url = url::Url::parse(value.as_str().unwrap_or(""));
            if !url.is_ok_and(|u| u.scheme() == "https") {
                problems.push(format!("`{name}` is not an https URI: {value}"));
            }
        }
        if let Some(allowed) = member.get("enum").and_then(Value::as_array) {
            for item in value.as_array().into_iter().flatten() {
                if !allowed.contains(item) {
                    problems.push(format!("`{name}` lists {item}, outside the seed's enum"));
                }
            }
        }
        if let Some(example) = member.get("example")
            && value != example
        {
            problems.push(format!("`{name}` is {value}, the seed shows {example}"));
        }
    }
    let published_order: Vec<String> = names(doc)
        .into_iter()
        .filter(|n| seed_order.contains(n))
        .collect();
    let expected_order: Vec<String> = seed_order
        .into_iter()
        .filter(|n| doc.get(n).is_some())
        .collect();
    if published_order != expected_order {
        problems.push(format!(
            "members come as {published_order:?}, the seed's order is {expected_order:?}"
        ));
    }
    let seed_names: Vec<&str> = seed["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let extras: Vec<String> = names(doc)
        .into_iter()
        .filter(|n| !seed_names.contains(&n.as_str()))
        .collect();
    if seed["additional_members"] == false && !extras.is_empty() {
        problems.push(format!("the seed allows no other member, yet {extras:?}"));
    }
    if extras != profile.additions {
        problems.push(format!(
            "members beyond the seed are {extras:?}, the example documents {:?}",
            profile.additions
        ));
    }
    problems
}

/// A profile served exactly as written.
async fn serve(db: &TestDatabase, profile: &Profile, extra: &str) -> TestServer {
    TestServer::builder()
        .profile(&profile_config(profile), &[])
        .toml(extra)
        .start(db)
        .await
}

/// What a test needs of a served profile: its document, and its URLs reached on loopback.
struct Served {
    server: TestServer,
    doc: Value,
}

impl Served {
    async fn new(server: TestServer, profile: &Profile) -> Served {
        let path = seed(profile)["metadata_path"].as_str().unwrap().to_owned();
        let response = server.http.get(server.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let doc = response.json().await.unwrap();
        Served { server, doc }
    }

    /// A published URL, reached at its path on this server (as the reverse proxy in front would).
    fn local(&self, url: &str) -> String {
        self.server.url(&path_of(url))
    }

    fn endpoint(&self, member: &str) -> String {
        self.local(
            self.doc[member]
                .as_str()
                .unwrap_or_else(|| panic!("{member} is not published")),
        )
    }

    fn issuer(&self) -> &str {
        self.doc["issuer"].as_str().unwrap()
    }

    fn list(&self, member: &str) -> Vec<String> {
        self.doc[member]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn post(
        &self,
        member: &str,
        form: &[(&str, &str)],
        authorization: Option<String>,
    ) -> reqwest::Response {
        self.post_to(&self.endpoint(member), form, authorization)
            .await
    }

    async fn post_to(
        &self,
        url: &str,
        form: &[(&str, &str)],
        authorization: Option<String>,
    ) -> reqwest::Response {
        let mut request = self
            .server
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap()
    }

    /// The authorization code flow in a browser: signs in if asked, approves, returns the code.
    async fn code(&self, browser: &mut Browser, client_id: &str, scope: &str) -> (String, String) {
        let (verifier, challenge) = pkce();
        let query = form_encode(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("scope", scope),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let mut page = browser
            .get(&format!(
                "{}?{query}",
                self.endpoint("authorization_endpoint")
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        if page.body.contains("/login\"") {
            page = browser
                .sign_in(&self.server, &page, "maria", "correct horse battery")
                .await;
        }
        if page.status == 200 {
            page = browser.decide(&self.server, &page, "approve").await;
        }
        assert_eq!(page.status, 303, "{}", page.body);
        let params = page.redirect_params();
        // RFC 9207: the published issuer comes back with the code.
        assert_eq!(params["iss"], self.issuer());
        (params["code"].clone(), verifier)
    }
}

/// A client of `method` and how it authenticates a token request.
struct Credentials {
    id: String,
    secret: String,
    method: AuthMethod,
    key: Option<SigningKey>,
}

impl Credentials {
    /// Adds this client's credentials to `form`; returns the `Authorization` header, if any.
    fn apply(&self, form: &mut Vec<(String, String)>, audience: &str) -> Option<String> {
        match self.method {
            AuthMethod::ClientSecretBasic => Some(basic(&self.id, &self.secret)),
            AuthMethod::ClientSecretPost => {
                form.push(("client_id".into(), self.id.clone()));
                form.push(("client_secret".into(), self.secret.clone()));
                None
            }
            AuthMethod::None => {
                form.push(("client_id".into(), self.id.clone()));
                None
            }
            AuthMethod::PrivateKeyJwt => {
                let key = self.key.as_ref().expect("a key");
                let now = latchkey_server::clock::Clock::system().now().0;
                let claims = json!({
                    "iss": self.id, "sub": self.id, "aud": audience, "iat": now, "exp": now + 120,
                    "jti": latchkey_core::secret::random_base64url(12),
                });
                form.push(("client_assertion_type".into(), JWT_BEARER.into()));
                form.push(("client_assertion".into(), assertion(key, "ES256", claims)));
                None
            }
        }
    }
}

impl Served {
    /// Registers a client as `client create` would (the policy checked), for `method` and `grants`.
    async fn client(
        &self,
        method: AuthMethod,
        grants: &[GrantType],
        scope: &str,
        policy: ClientPolicy,
    ) -> Credentials {
        if method != AuthMethod::PrivateKeyJwt {
            let TestClient { id, secret } = self
                .server
                .create_app_with(method, grants, scope, &[CALLBACK], policy)
                .await;
            return Credentials {
                id,
                secret,
                method,
                key: None,
            };
        }
        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let client = Client {
            client_id: ClientId::generate(),
            name: "Key client".into(),
            auth: ClientAuth::PrivateKeyJwt {
                jwks: vec![serde_json::to_value(key.public_jwk()).unwrap()],
                jwks_uri: None,
            },
            grant_types: grants.iter().copied().collect(),
            scope: Scope::parse(scope).unwrap(),
            redirect_uris: vec![latchkey_core::types::RedirectUri::parse(CALLBACK).unwrap()],
            created_at: latchkey_server::clock::Clock::system().now(),
            policy,
        };
        self.server
            .config
            .settings
            .features
            .check_client(&client)
            .unwrap();
        self.server.store.insert_client(&client).await.unwrap();
        Credentials {
            id: client.client_id.to_string(),
            secret: String::new(),
            method,
            key: Some(key),
        }
    }

    /// A token request at the published token endpoint, authenticated as `client`.
    async fn token(&self, client: &Credentials, form: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let authorization = client.apply(&mut form, self.issuer());
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post("token_endpoint", &form, authorization).await
    }

    /// A request authenticated as `client` at another endpoint.
    async fn authenticated(
        &self,
        member: &str,
        client: &Credentials,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let authorization = client.apply(&mut form, self.issuer());
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post(member, &form, authorization).await
    }

    /// For every advertised token endpoint auth method: a client of that method gets a token, by
    /// client_credentials where the profile offers it to that client, else by the authorization code
    /// flow (then refreshed, where refresh_token is offered). Returns a user's access token and the
    /// confidential client it was issued to.
    async fn every_method_gets_a_token(&self, scope: &str) -> (String, Credentials) {
        let grants = self.list("grant_types_supported");
        let offers = |g: &str| grants.iter().any(|x| x == g);
        let mut browser = Browser::new();
        let mut user_token = None;
        for method in self.list("token_endpoint_auth_methods_supported") {
            let method: AuthMethod = method.parse().unwrap();
            let by_client_credentials = offers("client_credentials") && method.is_confidential();
            let client_grants: Vec<GrantType> = if by_client_credentials {
                vec![GrantType::ClientCredentials]
            } else if offers("refresh_token") {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            } else {
                vec![GrantType::AuthorizationCode]
            };
            let client = self
                .client(method, &client_grants, scope, ClientPolicy::default())
                .await;
            let response = if by_client_credentials {
                self.token(&client, &[("grant_type", "client_credentials")])
                    .await
            } else {
                let (code, verifier) = self.code(&mut browser, &client.id, scope).await;
                self.token(
                    &client,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", CALLBACK),
                        ("code_verifier", &verifier),
                    ],
                )
                .await
            };
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, 200, "{method}: {body}");
            assert!(body["access_token"].is_string(), "{method}: {body}");
            if let Some(refresh) = body["refresh_token"].as_str() {
                let refreshed = self
                    .token(
                        &client,
                        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
                    )
                    .await;
                assert_eq!(refreshed.status(), 200, "{method}: refresh");
            }
            if !by_client_credentials && method.is_confidential() && user_token.is_none() {
                user_token = Some((body["access_token"].as_str().unwrap().to_owned(), client));
            }
        }
        match user_token {
            Some(found) => found,
            None => {
                // Every method got its token by client_credentials: take one user token as well.
                let client = self
                    .client(
                        AuthMethod::ClientSecretBasic,
                        &[GrantType::AuthorizationCode],
                        scope,
                        ClientPolicy::default(),
                    )
                    .await;
                let (code, verifier) = self.code(&mut browser, &client.id, scope).await;
                let body: Value = self
                    .token(
                        &client,
                        &[
                            ("grant_type", "authorization_code"),
                            ("code", &code),
                            ("redirect_uri", CALLBACK),
                            ("code_verifier", &verifier),
                        ],
                    )
                    .await
                    .json()
                    .await
                    .unwrap();
                (body["access_token"].as_str().unwrap().to_owned(), client)
            }
        }
    }

    /// Every implemented grant type the profile does not advertise is `unsupported_grant_type`.
    async fn unadvertised_grants_are_refused(&self, client: &Credentials) {
        let advertised = self.list("grant_types_supported");
        for grant in GrantType::ALL {
            if advertised.iter().any(|g| g == grant.as_str()) {
                continue;
            }
            let response = self.token(client, &[("grant_type", grant.as_str())]).await;
            assert_eq!(response.status(), 400, "{grant}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unsupported_grant_type", "{grant}");
        }
    }

    /// Every endpoint the profile does not publish is not routed either.
    async fn unadvertised_endpoints_are_not_served(&self) {
        let token_path = path_of(self.doc["token_endpoint"].as_str().unwrap());
        for (member, name) in [
            ("introspection_endpoint", "introspect"),
            ("revocation_endpoint", "revoke"),
            ("registration_endpoint", "register"),
        ] {
            if self.doc.get(member).is_some() {
                continue;
            }
            let path = format!("{}{name}", token_path.trim_end_matches("token"));
            let response = self
                .post_to(&self.server.url(&path), &[("token", "x")], None)
                .await;
            assert_eq!(response.status(), 404, "{member} at {path}");
        }
    }

    /// A private_key_jwt client is refused where the profile does not advertise the method.
    async fn an_unadvertised_method_is_refused(&self) {
        if self
            .list("token_endpoint_auth_methods_supported")
            .iter()
            .any(|m| m == "private_key_jwt")
        {
            return;
        }
        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let client = Credentials {
            id: "some-client".into(),
            secret: String::new(),
            method: AuthMethod::PrivateKeyJwt,
            key: Some(key),
        };
        let response = self
            .token(&client, &[("grant_type", "authorization_code")])
            .await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }

    /// Introspection and revocation, where published, for a token of `client`.
    async fn token_services_work(&self, client: &Credentials, token: &str) {
        if self.doc.get("introspection_endpoint").is_some() {
            let body: Value = self
                .authenticated("introspection_endpoint", client, &[("token", token)])
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(body["active"], true, "{body}");
        }
        if self.doc.get("revocation_endpoint").is_some() {
            let response = self
                .authenticated("revocation_endpoint", client, &[("token", token)])
                .await;
            assert_eq!(response.status(), 200);
            if self.doc.get("introspection_endpoint").is_some() {
                let body: Value = self
                    .authenticated("introspection_endpoint", client, &[("token", token)])
                    .await
                    .json()
                    .await
                    .unwrap();
                assert_eq!(body["active"], false, "revoked: {body}");
            }
        }
    }

    /// Registration, where published, takes a public client's metadata.
    async fn registration_works(&self) {
        if self.doc.get("registration_endpoint").is_none() {
            return;
        }
        let response = self
            .server
            .http
            .post(self.endpoint("registration_endpoint"))
            .header("content-type", "application/json")
            .body(
                json!({"client_name": "Registered", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    /// The seed's error shape on its metadata endpoint: a 405 with `Allow`, and an unknown path.
    async fn errors_have_the_seed_shape(&self, seed: &Value) {
        let Some(shape) = seed.get("error") else {
            return;
        };
        let metadata = self.server.url(seed["metadata_path"].as_str().unwrap());
        let unknown = format!("{}/no-such-thing", self.server.origin);
        let responses = [
            self.server.http.post(&metadata).send().await.unwrap(),
            self.server.http.get(&unknown).send().await.unwrap(),
        ];
        for response in responses {
            let status = response.status().as_u16();
            assert!(matches!(status, 404 | 405), "{status}");
            if status == 405 {
                assert!(response.headers().contains_key("allow"));
            }
            assert_eq!(response.headers()["content-type"], "application/json");
            let body: Value = response.json().await.unwrap();
            let allowed = shape["members"].as_array().unwrap();
            for name in names(&body) {
                if shape["additional_members"] == false {
                    assert!(allowed.contains(&json!(name)), "{name} in {body}");
                }
            }
            for required in shape["required"].as_array().unwrap() {
                assert!(body.get(required.as_str().unwrap()).is_some(), "{body}");
            }
            for name in allowed {
                if let Some(value) = body.get(name.as_str().unwrap()) {
                    assert!(value.is_string(), "{name}: {body}");
                }
            }
        }
    }

    /// The rate-limit headers the seed documents, on the metadata and the token endpoint.
    async fn rate_limit_headers_are_sent(&self, seed: &Value) {
        let Some(headers) = seed.get("rate_limit_headers").and_then(Value::as_array) else {
            return;
        };
        let metadata = self
            .server
            .http
            .get(self.server.url(seed["metadata_path"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        let token = self.post("token_endpoint", &[], None).await;
        for response in [metadata, token] {
            for header in headers {
                let value = response.headers()[header.as_str().unwrap()]
                    .to_str()
                    .unwrap();
                assert!(value.parse::<u64>().is_ok(), "{header}: {value}");
            }
        }
    }
}

/// What every profile test checks first: the published document against its seed and its expected
/// document.
async fn served(db: &TestDatabase, profile: &Profile, extra: &str) -> Served {
    let served = Served::new(serve(db, profile, extra).await, profile).await;
    served
        .server
        .create_user("maria", "correct horse battery")
        .await;
    let problems = seed_problems(&served.doc, &seed(profile), profile);
    assert!(problems.is_empty(), "{}: {problems:#?}", profile.name);
    let expected = read_json(repo(&format!("profiles/{}.metadata.json", profile.name)));
    assert_eq!(served.doc, expected, "{}", profile.name);
    assert_eq!(names(&served.doc), names(&expected), "{}", profile.name);
    served
}

server_test!(
    scalev_profile_publishes_its_seed_document_and_serves_all_it_advertises,
    |db: TestDatabase| async move {
        // A metadata-document client (the seed: "metadata document clients may use
        // private_key_jwt") lives on a local https site.
        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let jwk = serde_json::to_value(key.public_jwk()).unwrap();
        let site = https_server(move |origin| {
            BTreeMap::from([(
                "/agent.json".to_owned(),
                json!({
                    "client_id": format!("{origin}/agent.json"),
                    "client_name": "Agent",
                    "redirect_uris": [CALLBACK],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": [jwk]},
                }),
            )])
        })
        .await;
        let served = served(
            &db,
            &SCALEV,
            &format!(
                "[fetch]\nallow_loopback = true\nextra_roots_file = \"{}\"",
                site.ca_file.display()
            ),
        )
        .await;
        // Both well-known URLs serve it; the seed documents the appended one.
        let inserted = served
            .server
            .http
            .get(
                served
                    .server
                    .url("/.well-known/oauth-authorization-server/v3/oauth"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(inserted.json::<Value>().await.unwrap(), served.doc);
        let (token, client) = served.every_method_gets_a_token("orders:read").await;
        served.unadvertised_grants_are_refused(&client).await;
        served.token_services_work(&client, &token).await;
        served.registration_works().await;
        let seed = seed(&SCALEV);
        served.errors_have_the_seed_shape(&seed).await;
        served.rate_limit_headers_are_sent(&seed).await;
        // The metadata-document client signs its assertion and gets a token.
        let document_client = Credentials {
            id: format!("{}/agent.json", site.origin),
            secret: String::new(),
            method: AuthMethod::PrivateKeyJwt,
            key: Some(key),
        };
        let mut browser = Browser::new();
        let (code, verifier) = served
            .code(&mut browser, &document_client.id, "orders:read")
            .await;
        let response = served
            .token(
                &document_client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &verifier),
                ],
            )
            .await;
        assert_eq!(response.status(), 200);
        served.server.stop().await;
    }
);

server_test!(
    archera_profile_publishes_its_seed_document_and_serves_all_it_advertises,
    |db: TestDatabase| async move {
        let served = served(&db, &ARCHERA, "").await;
        let (token, client) = served.every_method_gets_a_token("read").await;
        served.unadvertised_grants_are_refused(&client).await;
        served.unadvertised_endpoints_are_not_served().await;
        served.an_unadvertised_method_is_refused().await;
        served.token_services_work(&client, &token).await;
        // The seed's curl sends x-api-key: a browser may too.
        let preflight = served
            .server
            .http
            .request(
                reqwest::Method::OPTIONS,
                served.server.url("/.well-known/oauth-authorization-server"),
            )
            .header("origin", "https://app.archera.ai")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-api-key")
            .send()
            .await
            .unwrap();
        assert!(
            preflight.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("x-api-key")
        );
        let with_key = served
            .server
            .http
            .get(served.server.url("/.well-known/oauth-authorization-server"))
            .header("x-api-key", "anything")
            .send()
            .await
            .unwrap();
        assert_eq!(with_key.status(), 200);
        served.server.stop().await;
    }
);

server_test!(
    whatalo_profile_publishes_its_seed_document_and_serves_all_it_advertises,
    |db: TestDatabase| async move {
        let served = served(&db, &WHATALO, "").await;
        assert_eq!(served.list("scopes_supported").len(), 15);
        let (user_token, client) = served
            .every_method_gets_a_token("read:products read:orders")
            .await;
        served.unadvertised_grants_are_refused(&client).await;
        served.an_unadvertised_method_is_refused().await;
        served.registration_works().await;
        // Token exchange: a service exchanges the user's token for one aimed at the API.
        let resource = "https://api.whatalo.com/";
        let exchanger = served
            .client(
                AuthMethod::ClientSecretPost,
                &[GrantType::TokenExchange],
                "read:products read:orders",
                ClientPolicy {
                    resources: vec![ResourceUri::parse(resource).unwrap()],
                    ..ClientPolicy::default()
                },
            )
            .await;
        let response = served
            .token(
                &exchanger,
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", &user_token),
                    ("subject_token_type", ACCESS_TOKEN_TYPE),
                    ("resource", resource),
                ],
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
        // A public client may neither introspect nor revoke here (secret methods only).
        let public = served
            .client(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "read:products",
                ClientPolicy::default(),
            )
            .await;
        for member in ["introspection_endpoint", "revocation_endpoint"] {
            let response = served
                .authenticated(member, &public, &[("token", &user_token)])
                .await;
            assert_eq!(response.status(), 401, "{member}");
        }
        served.token_services_work(&client, &user_token).await;
        // The consent page describes the scopes in Spanish to a Spanish browser.
        let app = served
            .client(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "read:products write:webhooks",
                ClientPolicy::default(),
            )
            .await;
        let mut browser = Browser::new();
        browser.accept_language = Some("es".into());
        let (_, challenge) = pkce();
        let query = form_encode(&[
            ("response_type", "code"),
            ("client_id", &app.id),
            ("redirect_uri", CALLBACK),
            ("scope", "read:products write:webhooks"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let login = browser
            .get(&format!(
                "{}?{query}",
                served.endpoint("authorization_endpoint")
            ))
            .await;
        let consent = browser
            .sign_in(&served.server, &login, "maria", "correct horse battery")
            .await;
        assert!(
            consent.body.contains("Ver tus productos"),
            "{}",
            consent.body
        );
        assert!(consent.body.contains("Crear y eliminar tus webhooks"));
        served.server.stop().await;
    }
);

server_test!(
    telnyx_profile_publishes_its_seed_document_and_serves_all_it_advertises,
    |db: TestDatabase| async move {
        let served = served(&db, &TELNYX, "").await;
        let (token, client) = served.every_method_gets_a_token("admin").await;
        served.unadvertised_grants_are_refused(&client).await;
        served.unadvertised_endpoints_are_not_served().await;
        served.an_unadvertised_method_is_refused().await;
        served.token_services_work(&client, &token).await;
        served.registration_works().await;
        served.errors_have_the_seed_shape(&seed(&TELNYX)).await;
        served.server.stop().await;
    }
);

server_test!(
    discover_finds_no_problem_with_any_profile_served_on_loopback,
    |db: TestDatabase| async move {
        for profile in PROFILES {
            let server = TestServer::builder()
                .profile(&profile_config(profile), profile.origins)
                .start(&db)
                .await;
            let (ok, report) = discover(&server.issuer).await;
            assert_eq!(report["problems"], json!([]), "{}: {report}", profile.name);
            assert!(ok, "{}", profile.name);
            server.stop().await;
        }
    }
);

#[tokio::test]
async fn every_profile_passes_metadata_check_against_its_expected_document() {
    for profile in PROFILES {
        let output = latchkey(vec![
            "metadata".into(),
            "--config".into(),
            repo(&format!("profiles/{}.toml", profile.name))
                .display()
                .to_string(),
            "--check".into(),
            repo(&format!("profiles/{}.metadata.json", profile.name))
                .display()
                .to_string(),
        ])
        .await;
        assert!(
            output.status.success(),
            "{}: {}{}",
            profile.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
