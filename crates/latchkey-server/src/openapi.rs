//! The OpenAPI 3.1 description of this server as configured: only the endpoints that are on, where
//! they are published, the grants and authentication methods the policy allows, and the error shapes,
//! built from the same `Settings` the router and the metadata document come from, so the three agree.
//!
//! Schemas are JSON Schema 2020-12 (OpenAPI 3.1's dialect). Response schemas are closed
//! (`additionalProperties: false`) where Latchkey's answers are: a test checks every response the
//! integration tests receive against this document.
use serde_json::{Map, Value, json};

use crate::http_error::ErrorShape;
use crate::services::rate_limit::Group;
use crate::settings::path_of;
use crate::settings::{RegistrationPolicy, Settings};

/// The codes of errors outside the protocol endpoints (`http_error.rs`).
const HTTP_ERRORS: [&str; 6] = [
    "not_found",
    "method_not_allowed",
    "request_timeout",
    "request_too_large",
    "temporarily_unavailable",
    "rate_limited",
];

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn form_content(schema: Value) -> Value {
    json!({ "application/x-www-form-urlencoded": { "schema": schema } })
}

/// A string member, documented.
fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// An object schema: `properties`, the `required` names, closed unless `open`.
fn object(properties: Value, required: &[&str], open: bool) -> Value {
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    if !open {
        schema["additionalProperties"] = json!(false);
    }
    schema
}

/// The headers every token-bearing or error response of a protocol endpoint carries.
fn no_store_headers() -> Value {
    json!({
        "Cache-Control": { "$ref": "#/components/headers/NoStore" },
    })
}

/// The OpenAPI document.
pub fn document(settings: &Settings) -> Value {
    let features = &settings.features;
    let endpoints = &features.endpoints;
    let issuer = features.issuer.as_str();
    let origin = origin_of(issuer);
    let mut paths = Map::new();

    // Discovery.
    let metadata_get = json!({
        "operationId": "getAuthorizationServerMetadata",
        "summary": "Authorization server metadata (RFC 8414 §3)",
        "tags": ["discovery"],
        "parameters": [{ "$ref": "#/components/parameters/IfNoneMatch" }],
        "responses": {
            "200": {
                "description": "The metadata document",
                "headers": { "ETag": { "$ref": "#/components/headers/ETag" }, "Cache-Control": { "$ref": "#/components/headers/PublicCache" } },
                "content": json_content(schema_ref("AuthorizationServerMetadata")),
            },
            "304": { "description": "Not modified: the `If-None-Match` tag is current" },
        },
    });
    for (i, path) in features.well_known_paths().into_iter().enumerate() {
        let mut get = metadata_get.clone();
        // Operation ids are unique; the second URL is the issuer-path-first form some clients use.
        if i > 0 {
            get["operationId"] = json!(format!("getAuthorizationServerMetadata{}", i + 1));
        }
        paths.insert(path, json!({ "get": get }));
    }
    insert(
        &mut paths,
        &origin,
        &endpoints.jwks,
        "get",
        json!({
            "operationId": "getJwks",
            "summary": "The public signing keys (RFC 7517 §5), retired ones included while their tokens may be valid",
            "tags": ["discovery"],
            "parameters": [{ "$ref": "#/components/parameters/IfNoneMatch" }],
            "responses": {
                "200": {
                    "description": "The JWK set",
                    "headers": { "ETag": { "$ref": "#/components/headers/ETag" }, "Cache-Control": { "$ref": "#/components/headers/PublicCache" } },
                    "content": json_content(schema_ref("JsonWebKeySet")),
                },
                "304": { "description": "Not modified: the `If-None-Match` tag is current" },
            },
        }),
    );

    // The authorization endpoint and its pages.
    if let Some(authorization) = &endpoints.authorization {
        insert(
            &mut paths,
            &origin,
            authorization,
            "get",
            json!({
                "operationId": "authorize",
                "summary": "Authorization request (RFC 6749 §4.1.1, PKCE S256 required): the login or consent page, or a redirect to the client",
                "tags": ["authorization"],
                "parameters": authorize_parameters(),
                "responses": {
                    "200": { "description": "The login or consent page", "content": { "text/html": { "schema": { "type": "string" } } } },
                    "303": {
                        "description": "Back to the client's redirect URI with `code`, `state` and `iss` (RFC 9207), or with `error`",
                        "headers": { "Location": { "schema": { "type": "string", "format": "uri" } } },
                    },
                    "400": { "description": "An error page: the client or redirect URI cannot be trusted, so nothing is redirected", "content": { "text/html": { "schema": { "type": "string" } } } },
                },
            }),
        );
    }

    if let Some(authorization) = &endpoints.authorization {
        // The same request form-encoded in a POST body (OpenID Connect Core §3.1.2.1).
        let mut post = operation_at(&paths, authorization, "get");
        post["operationId"] = json!("authorizePost");
        post["summary"] =
            json!("The authorization request as a form POST (OpenID Connect Core §3.1.2.1)");
        let fields: Map<String, Value> = post["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["name"].as_str()?.to_owned(), p["schema"].clone())))
            .collect();
        if let Some(op) = post.as_object_mut() {
            op.remove("parameters");
        }
        post["requestBody"] = json!({ "required": true, "content": form_content(json!({
            "type": "object", "properties": fields,
        })) });
        insert(&mut paths, &origin, authorization, "post", post);
    }

    // The token endpoint.
    let grants: Vec<&str> = features.grant_types.iter().map(|g| g.as_str()).collect();
    let requests: Vec<Value> = features
        .grant_types
        .iter()
        .map(|g| schema_ref(grant_request_schema(g.as_str())))
        .collect();
    insert(
        &mut paths,
        &origin,
        &endpoints.token,
        "post",
        json!({
            "operationId": "token",
            "summary": format!("Token request (RFC 6749 §3.2): {}", grants.join(", ")),
            "tags": ["tokens"],
            "security": security(&features.token_endpoint_auth_methods),
            "requestBody": { "required": true, "content": form_content(json!({ "oneOf": requests })) },
            "responses": {
                "200": {
                    "description": "Tokens (RFC 6749 §5.1)",
                    "headers": no_store_headers(),
                    "content": json_content(schema_ref("TokenResponse")),
                },
                "400": response_ref("OAuthBadRequest"),
                "401": response_ref("OAuthInvalidClient"),
                "408": response_ref("OAuthBadRequest"),
                "413": response_ref("OAuthBadRequest"),
                "503": response_ref("OAuthUnavailable"),
            },
        }),
    );

    if let Some(introspection) = &endpoints.introspection {
        insert(
            &mut paths,
            &origin,
            introspection,
            "post",
            json!({
                "operationId": "introspect",
                "summary": "Token introspection (RFC 7662): confidential clients only",
                "tags": ["tokens"],
                "security": security(&features.introspection_endpoint_auth_methods),
                "requestBody": { "required": true, "content": form_content(schema_ref("IntrospectionRequest")) },
                "responses": {
                    "200": {
                        "description": "The token's state; anything not active (or not the caller's to see) is exactly `{\"active\": false}`",
                        "headers": no_store_headers(),
                        "content": json_content(schema_ref("IntrospectionResponse")),
                    },
                    "400": response_ref("OAuthBadRequest"),
                    "401": response_ref("OAuthInvalidClient"),
                    "503": response_ref("OAuthUnavailable"),
                },
            }),
        );
    }
    if let Some(revocation) = &endpoints.revocation {
        insert(
            &mut paths,
            &origin,
            revocation,
            "post",
            json!({
                "operationId": "revoke",
                "summary": "Token revocation (RFC 7009): a refresh token ends its grant; an access token is deny-listed",
                "tags": ["tokens"],
                "security": security(&features.revocation_endpoint_auth_methods),
                "requestBody": { "required": true, "content": form_content(schema_ref("RevocationRequest")) },
                "responses": {
                    "200": { "description": "Revoked, or unknown or already invalid (RFC 7009 §2.2)", "headers": no_store_headers() },
                    "400": response_ref("OAuthBadRequest"),
                    "401": response_ref("OAuthInvalidClient"),
                    "503": response_ref("OAuthUnavailable"),
                },
            }),
        );
    }
    if let (Some(registration), Some(policy)) = (&endpoints.registration, &settings.registration) {
        let mut register = json!({
            "operationId": "register",
            "summary": "Dynamic client registration (RFC 7591)",
            "tags": ["registration"],
            "requestBody": { "required": true, "content": json_content(schema_ref("ClientMetadata")) },
            "responses": {
                "201": {
                    "description": "The registered client; `client_secret` for confidential clients only, shown once",
                    "headers": no_store_headers(),
                    "content": json_content(schema_ref("ClientInformation")),
                },
                "400": response_ref("OAuthBadRequest"),
                "503": response_ref("OAuthUnavailable"),
            },
        });
        if policy.policy == RegistrationPolicy::Token {
            register["security"] = json!([{ "initialAccessToken": [] }]);
            register["responses"]["401"] = response_ref("OAuthInvalidToken");
        } else {
            register["security"] = json!([{}]);
        }
        insert(&mut paths, &origin, registration, "post", register);
        let client_path = "/{client_id}";
        let managed = |operation: &str, summary: &str, ok: Value, body: bool| {
            let mut op = json!({
                "operationId": operation,
                "summary": summary,
                "tags": ["registration"],
                "security": [{ "registrationAccessToken": [] }],
                "parameters": [{ "name": "client_id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": ok,
            });
            op["responses"]["401"] = response_ref("OAuthInvalidToken");
            if body {
                op["requestBody"] = json!({ "required": true, "content": json_content(schema_ref("ClientMetadata")) });
                op["responses"]["400"] = response_ref("OAuthBadRequest");
            }
            op
        };
        let current = json!({ "200": {
            "description": "The client's current registration",
            "headers": no_store_headers(),
            "content": json_content(schema_ref("ClientInformation")),
        }});
        insert_below(
            &mut paths,
            &origin,
            registration,
            client_path,
            "get",
            managed(
                "readRegistration",
                "Read a registration (RFC 7592 §2.1)",
                current.clone(),
                false,
            ),
        );
        insert_below(
            &mut paths,
            &origin,
            registration,
            client_path,
            "put",
            managed(
                "updateRegistration",
                "Replace a registration (RFC 7592 §2.2); the authentication method cannot change",
                current,
                true,
            ),
        );
        insert_below(
            &mut paths,
            &origin,
            registration,
            client_path,
            "delete",
            managed(
                "deleteRegistration",
                "Delete a registration (RFC 7592 §2.3)",
                json!({ "204": { "description": "Deleted; its tokens stop working" } }),
                false,
            ),
        );
    }

    // OpenID Connect: UserInfo (Core §5.3) and RP-Initiated Logout 1.0; the OpenID configuration is
    // served with the metadata above (`well_known_paths`).
    if let Some(openid) = &features.openid {
        let userinfo = |operation: &str, body: bool| {
            let mut op = json!({
                "operationId": operation,
                "summary": "The signed-in user's claims for the access token's scopes (OpenID Connect Core §5.3)",
                "tags": ["openid"],
                "security": [{ "bearerAccessToken": [] }],
                "responses": {
                    "200": {
                        "description": "The claims as JSON, or a signed JWT (`application/jwt`) when the client registered `userinfo_signed_response_alg`",
                        "headers": no_store_headers(),
                        "content": {
                            "application/json": { "schema": schema_ref("UserInfo") },
                            "application/jwt": { "schema": { "type": "string" } },
                        },
                    },
                    "400": response_ref("BearerError"),
                    "401": response_ref("BearerError"),
                    "403": response_ref("BearerError"),
                    "503": response_ref("OAuthUnavailable"),
                },
            });
            if body {
                op["requestBody"] = json!({ "required": false, "content": form_content(object(
                    json!({ "access_token": string("RFC 6750 §2.2: the token in the body instead of the header") }),
                    &[],
                    false,
                )) });
            }
            op
        };
        insert(
            &mut paths,
            &origin,
            &openid.userinfo_endpoint,
            "get",
            userinfo("userinfo", false),
        );
        insert(
            &mut paths,
            &origin,
            &openid.userinfo_endpoint,
            "post",
            userinfo("userinfoPost", true),
        );
        let logout = |operation: &str| {
            json!({
                "operationId": operation,
                "summary": "RP-Initiated Logout 1.0: ends the browser session, then returns to a registered post_logout_redirect_uri",
                "tags": ["openid"],
                "parameters": [
                    { "name": "id_token_hint", "in": "query", "schema": { "type": "string" } },
                    { "name": "client_id", "in": "query", "schema": { "type": "string" } },
                    { "name": "post_logout_redirect_uri", "in": "query", "schema": { "type": "string", "format": "uri" } },
                    { "name": "state", "in": "query", "schema": { "type": "string" } },
                    { "name": "ui_locales", "in": "query", "schema": { "type": "string" } },
                ],
                "responses": {
                    "200": { "description": "A confirmation page, or the signed-out page", "content": { "text/html": { "schema": { "type": "string" } } } },
                    "303": {
                        "description": "Signed out; back to the post_logout_redirect_uri with `state`",
                        "headers": { "Location": { "schema": { "type": "string", "format": "uri" } } },
                    },
                    "400": { "description": "An error page", "content": { "text/html": { "schema": { "type": "string" } } } },
                },
            })
        };
        insert(
            &mut paths,
            &origin,
            &openid.end_session_endpoint,
            "get",
            logout("endSession"),
        );
        insert(
            &mut paths,
            &origin,
            &openid.end_session_endpoint,
            "post",
            logout("endSessionPost"),
        );
    }

    // Operations.
    paths.insert(
        "/health/live".into(),
        json!({ "get": {
            "operationId": "live",
            "summary": "Liveness: the process answers",
            "tags": ["operations"],
            "responses": { "200": { "description": "Alive", "content": json_content(schema_ref("Health")) } },
        }}),
    );
    paths.insert(
        "/health/ready".into(),
        json!({ "get": {
            "operationId": "ready",
            "summary": "Readiness: the database answers",
            "tags": ["operations"],
            "responses": {
                "200": { "description": "Ready", "content": json_content(schema_ref("Health")) },
                "503": response_ref("HttpUnavailable"),
            },
        }}),
    );
    if settings.metrics.public {
        paths.insert(
            "/metrics".into(),
            json!({ "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format 0.0.4)",
                "tags": ["operations"],
                "responses": { "200": { "description": "Every series", "content": { "text/plain": { "schema": { "type": "string" } } } } },
            }}),
        );
    }
    if let Some(path) = &settings.openapi_path {
        paths.insert(
            path.clone(),
            json!({ "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["operations"],
                "responses": { "200": { "description": "The OpenAPI 3.1 document", "content": json_content(json!({ "type": "object" })) } },
            }}),
        );
    }

    let components = components(settings);
    rate_limited(&mut paths, &components, settings);
    let ui = &settings.ui;
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": format!("{} authorization server", ui.operator_name),
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "OAuth 2.1 authorization server at issuer {issuer} (Latchkey {}), as configured. Every path no \
                 endpoint serves answers 404 with the `HttpError` schema; 405, 408 and 413 outside the protocol \
                 endpoints answer the same shape.",
                env!("CARGO_PKG_VERSION")
            ),
        },
        "servers": [{ "url": origin }],
        "tags": [
            { "name": "discovery" }, { "name": "authorization" }, { "name": "tokens" },
            { "name": "registration" }, { "name": "openid" }, { "name": "operations" },
        ],
        "paths": paths,
        "components": components,
    })
}

/// The rate-limit group an operation belongs to (`rate_limit.rs`), by its id.
fn group_of(operation_id: &str) -> Option<Group> {
    Some(match operation_id {
        "getJwks" => Group::Discovery,
        id if id.starts_with("getAuthorizationServerMetadata") => Group::Discovery,
        "token" | "userinfo" | "userinfoPost" => Group::Token,
        "introspect" | "revoke" => Group::IntrospectionRevocation,
        "authorize" | "authorizePost" | "endSession" | "endSessionPost" => Group::Authorization,
        "register" | "readRegistration" | "updateRegistration" | "deleteRegistration" => {
            Group::Registration
        }
        _ => return None,
    })
}

/// Every response of an operation whose group is limited carries the `X-RateLimit-*` headers, and the
/// operation may answer 429 with `Retry-After`.
fn rate_limited(paths: &mut Map<String, Value>, components: &Value, settings: &Settings) {
    let limited = |group: Group| {
        Group::ALL
            .iter()
            .position(|g| *g == group)
            .and_then(|i| settings.rate_limits.groups[i])
            .is_some()
    };
    for item in paths.values_mut() {
        for (method, operation) in item.as_object_mut().into_iter().flatten() {
            if method == "servers" {
                continue;
            }
            let Some(group) = operation["operationId"].as_str().and_then(group_of) else {
                continue;
            };
            if !limited(group) {
                continue;
            }
            let responses = operation["responses"]
                .as_object_mut()
                .expect("every operation has responses");
            responses.insert("429".into(), response_ref("RateLimited"));
            for response in responses.values_mut() {
                // A reference cannot carry headers of its own: the limited operation gets a copy.
                if let Some(name) = response["$ref"].as_str() {
                    let name = name.trim_start_matches("#/components/responses/");
                    *response = components["responses"][name].clone();
                }
                for header in [
                    "X-RateLimit-Limit",
                    "X-RateLimit-Remaining",
                    "X-RateLimit-Reset",
                ] {
                    response["headers"][header] =
                        json!({ "$ref": format!("#/components/headers/{header}") });
                }
            }
        }
    }
}

/// Inserts an operation at the path of `url`; an endpoint published on another origin (a reverse
/// proxy) gets that origin as its path's server.
/// The operation `insert` put at `url` for `method`.
fn operation_at(paths: &Map<String, Value>, url: &str, method: &str) -> Value {
    paths
        .get(&path_of(url))
        .and_then(|p| p.get(method))
        .cloned()
        .unwrap_or(Value::Null)
}

fn insert(paths: &mut Map<String, Value>, origin: &str, url: &str, method: &str, operation: Value) {
    insert_below(paths, origin, url, "", method, operation);
}

/// `insert` at the path of `url` followed by `suffix` (a template such as `/{client_id}`).
fn insert_below(
    paths: &mut Map<String, Value>,
    origin: &str,
    url: &str,
    suffix: &str,
    method: &str,
    operation: Value,
) {
    let path = format!("{}{suffix}", path_of(url));
    let item = paths.entry(path).or_insert_with(|| json!({}));
    item[method] = operation;
    let own = origin_of(url);
    if !own.is_empty() && own != origin {
        item["servers"] = json!([{ "url": own }]);
    }
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// Security requirements for the client authentication methods an endpoint accepts: any one of them.
/// Only `client_secret_basic` is an HTTP scheme; `client_secret_post`, `private_key_jwt` and `none`
/// put their credentials (or just `client_id`) in the form body, which the request schema describes,
/// so they appear as the empty requirement.
fn security(methods: &[latchkey_core::types::AuthMethod]) -> Value {
    use latchkey_core::types::AuthMethod;
    let mut alternatives: Vec<Value> = Vec::new();
    if methods.contains(&AuthMethod::ClientSecretBasic) {
        alternatives.push(json!({ "clientSecretBasic": [] }));
    }
    if methods.iter().any(|m| *m != AuthMethod::ClientSecretBasic) {
        alternatives.push(json!({}));
    }
    Value::Array(alternatives)
}

fn grant_request_schema(grant_type: &str) -> &'static str {
    match grant_type {
        "authorization_code" => "AuthorizationCodeTokenRequest",
        "client_credentials" => "ClientCredentialsTokenRequest",
        "refresh_token" => "RefreshTokenRequest",
        _ => "TokenExchangeRequest",
    }
}

fn authorize_parameters() -> Value {
    let query = |name: &str, required: bool, description: &str| json!({ "name": name, "in": "query", "required": required, "description": description, "schema": { "type": "string" } });
    json!([
        query("response_type", true, "`code`"),
        query("client_id", true, "The client"),
        query(
            "redirect_uri",
            false,
            "One of the client's registered redirect URIs, matched exactly; optional when it has one"
        ),
        query("scope", false, "Space-separated scopes"),
        query("state", false, "Returned unchanged"),
        query(
            "code_challenge",
            true,
            "PKCE (RFC 7636): BASE64URL(SHA-256(code_verifier))"
        ),
        query("code_challenge_method", true, "`S256`"),
        query("resource", false, "RFC 8707 resource indicator"),
        query("prompt", false, "`none`, `login` or `consent`"),
        query("ui_locales", false, "Preferred page languages"),
    ])
}

fn components(settings: &Settings) -> Value {
    let features = &settings.features;
    let client_auth = json!({
        "client_id": string("The client (client_secret_post, private_key_jwt, and public clients)"),
        "client_secret": string("client_secret_post: the secret"),
        "client_assertion_type": { "type": "string", "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" },
        "client_assertion": string("private_key_jwt (RFC 7523 §2.2): a signed JWT"),
    });
    let grant = |grant_type: &str, members: Value, required: &[&str]| {
        let mut properties = client_auth.clone();
        properties["grant_type"] = json!({ "type": "string", "const": grant_type });
        for (name, schema) in members.as_object().into_iter().flatten() {
            properties[name] = schema.clone();
        }
        let mut all = vec!["grant_type"];
        all.extend_from_slice(required);
        object(properties, &all, false)
    };
    let scopes: Vec<&str> = features
        .scopes_supported
        .iter()
        .map(String::as_str)
        .collect();
    let mut schemas = Map::new();
    schemas.insert(
        "AuthorizationCodeTokenRequest".into(),
        grant(
            "authorization_code",
            json!({
                "code": string("The authorization code"),
                "redirect_uri": string("As sent in the authorization request, if it was"),
                "code_verifier": string("PKCE code verifier"),
                "resource": { "type": "string", "format": "uri" },
            }),
            &["code", "code_verifier"],
        ),
    );
    schemas.insert(
        "ClientCredentialsTokenRequest".into(),
        grant(
            "client_credentials",
            json!({
                "scope": string("Space-separated scopes"),
                "resource": { "type": "string", "format": "uri" },
            }),
            &[],
        ),
    );
    schemas.insert(
        "RefreshTokenRequest".into(),
        grant(
            "refresh_token",
            json!({
                "refresh_token": string("The current refresh token; it is rotated"),
                "scope": string("A subset of the grant's scope"),
                "resource": { "type": "string", "format": "uri" },
            }),
            &["refresh_token"],
        ),
    );
    schemas.insert(
        "TokenExchangeRequest".into(),
        grant(
            "urn:ietf:params:oauth:grant-type:token-exchange",
            json!({
                "subject_token": string("An access token this server issued"),
                "subject_token_type": { "type": "string", "const": "urn:ietf:params:oauth:token-type:access_token" },
                "actor_token": string("An access token this server issued"),
                "actor_token_type": { "type": "string", "const": "urn:ietf:params:oauth:token-type:access_token" },
                "requested_token_type": { "type": "string", "const": "urn:ietf:params:oauth:token-type:access_token" },
                "resource": { "type": "string", "format": "uri" },
                "audience": string("The resource, by identifier"),
                "scope": string("No broader than the subject token's"),
            }),
            &["subject_token", "subject_token_type"],
        ),
    );
    schemas.insert(
        "TokenResponse".into(),
        object(
            json!({
                "access_token": string("A JWT (RFC 9068) or an opaque reference, per resource or client"),
                "issued_token_type": { "type": "string", "const": "urn:ietf:params:oauth:token-type:access_token" },
                "token_type": { "type": "string", "const": "Bearer" },
                "expires_in": { "type": "integer", "minimum": 1 },
                "scope": string("The granted scope, when not empty"),
                "refresh_token": string("Authorization code and refresh grants of clients registered for refresh_token"),
                "id_token": string("OpenID Connect Core §3.1.3.3: a signed JWT, when the grant's scope holds `openid`"),
            }),
            &["access_token", "token_type", "expires_in"],
            false,
        ),
    );
    let token_type_hint = json!({ "type": "string", "description": "`access_token` or `refresh_token`; only orders the search" });
    let mut token_form = client_auth.clone();
    token_form["token"] = string("The token");
    token_form["token_type_hint"] = token_type_hint;
    schemas.insert(
        "IntrospectionRequest".into(),
        object(token_form.clone(), &["token"], false),
    );
    schemas.insert(
        "RevocationRequest".into(),
        object(token_form, &["token"], false),
    );
    schemas.insert(
        "IntrospectionResponse".into(),
        json!({ "oneOf": [
            object(json!({ "active": { "const": false } }), &["active"], false),
            object(
                json!({
                    "active": { "const": true },
                    "scope": { "type": "string" },
                    "client_id": { "type": "string" },
                    "sub": { "type": "string" },
                    "username": { "type": "string" },
                    "token_type": { "enum": ["Bearer", "refresh_token"] },
                    "exp": { "type": "integer" },
                    "iat": { "type": "integer" },
                    "nbf": { "type": "integer" },
                    "aud": { "type": "string" },
                    "iss": { "type": "string" },
                    "jti": { "type": "string" },
                    "act": { "type": "object", "description": "RFC 8693 §4.1: the acting party, earlier actors nested" },
                }),
                &["active", "client_id", "sub", "token_type", "exp", "iat", "aud", "iss"],
                false,
            ),
        ]}),
    );
    let methods: Vec<&str> = features
        .token_endpoint_auth_methods
        .iter()
        .map(|m| m.as_str())
        .collect();
    let grant_names: Vec<&str> = features.grant_types.iter().map(|g| g.as_str()).collect();
    let metadata_members = json!({
        "redirect_uris": { "type": "array", "items": { "type": "string", "format": "uri" } },
        "client_name": { "type": "string" },
        "token_endpoint_auth_method": { "enum": methods },
        "grant_types": { "type": "array", "items": { "enum": grant_names } },
        "response_types": { "type": "array", "items": { "enum": ["code"] } },
        "scope": { "type": "string", "description": format!("Space-separated, from: {}", scopes.join(" ")) },
        "jwks": { "type": "object", "description": "private_key_jwt: public keys" },
        "jwks_uri": { "type": "string", "format": "uri" },
    });
    let mut metadata_members = metadata_members;
    if let Some(openid) = &features.openid {
        // OpenID Connect Dynamic Client Registration 1.0 §2, as far as this server implements it.
        let algs: Vec<&str> = openid.signing_algs.iter().map(|a| a.as_str()).collect();
        let uri = json!({ "type": "string", "format": "uri" });
        let members = json!({
            "id_token_signed_response_alg": { "enum": algs },
            "userinfo_signed_response_alg": { "enum": algs },
            "subject_type": { "enum": openid.subject_types },
            "sector_identifier_uri": uri,
            "default_max_age": { "type": "integer", "minimum": 0 },
            "require_auth_time": { "type": "boolean" },
            "post_logout_redirect_uris": { "type": "array", "items": uri },
            "client_uri": uri,
            "logo_uri": uri,
            "policy_uri": uri,
            "tos_uri": uri,
            "contacts": { "type": "array", "items": { "type": "string" } },
            "application_type": { "enum": ["web", "native"] },
            "require_pkce": {
                "type": "boolean",
                "description": "Latchkey: false lets this confidential client's OpenID requests omit both PKCE and nonce",
            },
        });
        for (name, schema) in members.as_object().into_iter().flatten() {
            metadata_members[name] = schema.clone();
        }
    }
    let mut request = metadata_members.clone();
    request["client_id"] = string("RFC 7592 updates: the client being replaced");
    // RFC 7591 §2: unknown members are ignored.
    schemas.insert("ClientMetadata".into(), object(request, &[], true));
    let mut info = metadata_members;
    info["client_id"] = json!({ "type": "string" });
    info["client_id_issued_at"] = json!({ "type": "integer" });
    info["client_secret"] = string("Confidential clients, at registration only");
    info["client_secret_expires_at"] = json!({ "const": 0 });
    info["registration_access_token"] =
        string("RFC 7592: manages this registration; at registration only");
    info["registration_client_uri"] = json!({ "type": "string", "format": "uri" });
    info["dropped_metadata"] = json!({
        "type": "object",
        "description": "RFC 7591 §3.2.1: requested values not registered (grant_types, response_types, scope)",
        "properties": {
            "grant_types": { "type": "array", "items": { "type": "string" } },
            "response_types": { "type": "array", "items": { "type": "string" } },
            "scope": { "type": "string" },
        },
        "additionalProperties": false,
    });
    schemas.insert(
        "ClientInformation".into(),
        object(
            info,
            &[
                "client_id",
                "client_id_issued_at",
                "redirect_uris",
                "token_endpoint_auth_method",
                "grant_types",
                "response_types",
                "scope",
                "registration_client_uri",
            ],
            false,
        ),
    );
    schemas.insert(
        "OAuthError".into(),
        object(
            json!({
                "error": { "enum": latchkey_core::ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>() },
                "error_description": { "type": "string", "pattern": "^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]*$" },
            }),
            &["error"],
            false,
        ),
    );
    schemas.insert(
        "HttpError".into(),
        match settings.http.error_shape {
            ErrorShape::OAuth => object(
                json!({
                    "error": { "enum": HTTP_ERRORS },
                    "error_description": { "type": "string" },
                }),
                &["error", "error_description"],
                false,
            ),
            ErrorShape::Api => object(
                json!({
                    "error": string("The status's reason phrase, e.g. `Not Found`"),
                    "error_code": { "enum": HTTP_ERRORS },
                    "message": { "type": "string" },
                }),
                &["error", "error_code", "message"],
                false,
            ),
        },
    );
    schemas.insert(
        "Health".into(),
        object(
            json!({ "status": { "const": "ok" }, "database": { "enum": ["sqlite", "postgres"] } }),
            &["status"],
            false,
        ),
    );
    schemas.insert(
        "JsonWebKeySet".into(),
        object(
            json!({ "keys": { "type": "array", "items": object(
                json!({
                    "kty": { "enum": ["EC", "OKP", "RSA"] },
                    "kid": { "type": "string" },
                    "alg": { "enum": ["ES256", "EdDSA", "RS256"] },
                    "use": { "const": "sig" },
                    "crv": { "enum": ["P-256", "Ed25519"] },
                    "x": { "type": "string" },
                    "y": { "type": "string" },
                    "n": { "type": "string" },
                    "e": { "type": "string" },
                }),
                &["kty", "kid", "alg", "use"],
                false,
            ) } }),
            &["keys"],
            false,
        ),
    );
    schemas.insert(
        "UserInfo".into(),
        object(
            json!({ "sub": string("The same subject as the ID token's (OpenID Connect Core §5.3.2)") }),
            &["sub"],
            true,
        ),
    );
    schemas.insert(
        "AuthorizationServerMetadata".into(),
        metadata_schema(&features.document()),
    );

    let oauth_error = |description: &str| {
        json!({
            "description": description,
            "headers": no_store_headers(),
            "content": json_content(schema_ref("OAuthError")),
        })
    };
    let mut invalid_client = oauth_error(
        "`invalid_client` (RFC 6749 §5.2); a challenge only when the request sent an Authorization header",
    );
    invalid_client["headers"]["WWW-Authenticate"] =
        json!({ "schema": { "const": "Basic realm=\"latchkey\"" } });
    let mut invalid_token =
        oauth_error("`invalid_token`: the registration or initial access token is not valid");
    invalid_token["headers"]["WWW-Authenticate"] =
        json!({ "schema": { "const": "Bearer error=\"invalid_token\"" } });

    json!({
        "schemas": schemas,
        "responses": {
            "OAuthBadRequest": oauth_error("An RFC 6749 §5.2 error"),
            "OAuthInvalidClient": invalid_client,
            "OAuthInvalidToken": invalid_token,
            "BearerError": {
                "description": "RFC 6750 §3: no, an invalid, or an insufficient access token",
                "headers": {
                    "WWW-Authenticate": { "required": true, "schema": { "type": "string", "pattern": "^Bearer" } },
                    "Cache-Control": { "$ref": "#/components/headers/NoStore" },
                },
                "content": json_content(schema_ref("OAuthError")),
            },
            "OAuthUnavailable": oauth_error("`temporarily_unavailable`: the database cannot serve, or too many registrations from this address"),
            "RateLimited": {
                "description": "Too many requests from this client or address (`rate_limits`)",
                "headers": { "Retry-After": { "$ref": "#/components/headers/Retry-After" } },
                "content": json_content(schema_ref("HttpError")),
            },
            "HttpUnavailable": {
                "description": "The database does not answer",
                "content": json_content(schema_ref("HttpError")),
            },
        },
        "parameters": {
            "IfNoneMatch": { "name": "If-None-Match", "in": "header", "required": false, "schema": { "type": "string" } },
        },
        "headers": {
            "NoStore": { "description": "RFC 6749 §5.1", "required": true, "schema": { "const": "no-store" } },
            "X-RateLimit-Limit": { "description": "Requests allowed per window", "required": true, "schema": { "type": "integer", "minimum": 1 } },
            "X-RateLimit-Remaining": { "description": "Requests left now", "required": true, "schema": { "type": "integer", "minimum": 0 } },
            "X-RateLimit-Reset": { "description": "Seconds until the whole budget is back", "required": true, "schema": { "type": "integer", "minimum": 0 } },
            "Retry-After": { "description": "Seconds until one more request is allowed", "required": true, "schema": { "type": "integer", "minimum": 1 } },
            "ETag": { "description": "A strong tag of this version", "required": true, "schema": { "type": "string" } },
            "PublicCache": { "required": true, "schema": { "type": "string", "const": format!("public, max-age={}", settings.http.discovery_max_age) } },
        },
        "securitySchemes": {
            "clientSecretBasic": { "type": "http", "scheme": "basic", "description": "client_secret_basic: client_id and secret, each form-encoded first (RFC 6749 §2.3.1)" },
            "registrationAccessToken": { "type": "http", "scheme": "bearer", "description": "RFC 7592 registration access token" },
            "initialAccessToken": { "type": "http", "scheme": "bearer", "description": "RFC 7591 §3 initial access token (`latchkey registration token create`)" },
            "bearerAccessToken": { "type": "http", "scheme": "bearer", "description": "RFC 6750: an access token this server issued with the `openid` scope" },
        },
    })
}

/// The metadata document's schema: each member this configuration publishes, required, with its type;
/// published lists enumerate their values.
fn metadata_schema(document: &Value) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, value) in document.as_object().into_iter().flatten() {
        let schema = match value {
            Value::Bool(_) => json!({ "type": "boolean" }),
            Value::Array(items) => json!({ "type": "array", "items": { "enum": items } }),
            Value::String(_)
                if name == "issuer"
                    || name.ends_with("_endpoint")
                    || name.ends_with("_uri")
                    || name == "service_documentation" =>
            {
                json!({ "type": "string", "format": "uri" })
            }
            // Operator extras: whatever was configured.
            other => json!({ "const": other }),
        };
        properties.insert(name.clone(), schema);
        required.push(name.as_str());
    }
    object(Value::Object(properties), &required, false)
}
