//! `POST registration_endpoint` (RFC 7591) and `GET`/`PUT`/`DELETE registration_endpoint/{client_id}`
//! (RFC 7592). The metadata rules live in `latchkey_core::registration`.
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_core::client::{Client, ClientAuth, ClientPolicy, DynamicRegistration};
use latchkey_core::oidc::client::{OpenIdClient, OpenIdMetadata, OpenIdRules};
use latchkey_core::oidc::subject::check_sector_document;
use latchkey_core::registration::{self, ClientMetadata, Registration};
use latchkey_core::secret::{ClientSecret, SecretHash};
use latchkey_core::types::{AuthMethod, ClientId};
use latchkey_store::{AuditEvent, ClientStore, RegistrationStore};

use crate::error::{ApiError, NoStore, Scheme};
use crate::extract::bearer::bearer;
use crate::services::client_address::ClientAddress;
use crate::settings::RegistrationPolicy;
use crate::settings::path_of;
use crate::state::AppState;

fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    NoStore((status, Json(body))).into_response()
}

/// The challenge a 401 carries: Bearer, when the request sent an `Authorization` header at all.
fn challenge(headers: &HeaderMap) -> Option<Scheme> {
    headers
        .contains_key(header::AUTHORIZATION)
        .then_some(Scheme::Bearer)
}

fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<ClientMetadata, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == "application/json");
    if !json {
        return Err(OAuthError::invalid_request("the body must be application/json").into());
    }
    Ok(ClientMetadata::from_json(body)?)
}

fn client_uri(app: &AppState, id: &ClientId) -> String {
    let base = app
        .settings()
        .features
        .endpoints
        .registration
        .clone()
        .unwrap_or_default();
    format!(
        "{base}/{}",
        url::form_urlencoded::byte_serialize(id.as_str().as_bytes()).collect::<String>()
    )
}

pub(crate) async fn register(
    State(app): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let registered = register_client(&app, &address, &headers, &body).await;
    app.metrics().registration(registered.is_ok());
    registered
}

async fn register_client(
    app: &AppState,
    address: &ClientAddress,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let now = app.clock().now();
    let settings = app
        .settings()
        .registration
        .as_ref()
        .ok_or_else(|| ApiError::from(OAuthError::invalid_request("registration is off")))?;
    let allowed = crate::services::throttle::allow_registration(
        app.store(),
        address,
        settings.rate_limit,
        now,
    )
    .await?;
    if !allowed {
        return Err(OAuthError::temporarily_unavailable(
            "too many registrations from this address; try again in a minute",
        )
        .into());
    }
    if settings.policy == RegistrationPolicy::Token {
        let valid = match bearer(headers).and_then(Result::ok) {
            Some(token) => {
                app.store()
                    .initial_access_token_valid(&SecretHash::of(token.as_bytes()), now)
                    .await?
            }
            None => false,
        };
        if !valid {
            return Err(ApiError::from(OAuthError::invalid_token(
                "registration requires a valid initial access token",
            ))
            .challenging(challenge(headers)));
        }
    }
    let Registration {
        name,
        method,
        grant_types,
        redirect_uris,
        scope,
        jwks,
        jwks_uri,
        dropped,
    } = json_body(headers, body)?.validate(&app.settings().registration_rules())?;
    let client_id = ClientId::generate();
    let openid = openid_metadata(app, body, &client_id, &redirect_uris)?;
    let secret = method.uses_secret().then(ClientSecret::generate);
    let registration_token = ClientSecret::generate();
    let client = Client {
        name: name.unwrap_or_else(|| client_id.to_string()),
        auth: match (&secret, method) {
            (Some(secret), _) => ClientAuth::Secret {
                method,
                hash: secret.hash(),
            },
            (None, AuthMethod::PrivateKeyJwt) => ClientAuth::PrivateKeyJwt { jwks, jwks_uri },
            (None, _) => ClientAuth::Public,
        },
        grant_types,
        scope,
        redirect_uris,
        created_at: now,
        policy: ClientPolicy {
            registration: Some(DynamicRegistration {
                token_hash: registration_token.hash(),
                activated_at: None,
            }),
            openid,
            ..ClientPolicy::default()
        },
        client_id,
    };
    // The server's policy (grant types, auth methods) bounds what a client may register. Checked
    // before anything is fetched or created for the client.
    app.settings().features.check_client(&client)?;
    prepare_openid(app, address, &client.policy.openid, &client.redirect_uris).await?;
    app.store().insert_client(&client).await?;
    app.audit()
        .client_registered(&client, &address.ip().to_string())
        .await;
    let mut body = describe(app, &client);
    // RFC 7591 §3.2.1: the response holds the values registered; what was asked for and dropped is
    // named too, so a registrant sees why its client has less than it listed.
    if let Some(dropped) = dropped.describe() {
        body["dropped_metadata"] = dropped;
    }
    body["registration_access_token"] = registration_token.expose().into();
    if let Some(secret) = &secret {
        body["client_secret"] = secret.expose().into();
        // RFC 7591 §3.2.1: 0 means the secret does not expire.
        body["client_secret_expires_at"] = 0.into();
    }
    Ok(no_store(StatusCode::CREATED, body))
}

/// The client a registration access token manages. RFC 7592 §2: an unknown client and a wrong token
/// are the same 401, so the endpoint tells nothing about which clients exist.
async fn managed(app: &AppState, id: &str, headers: &HeaderMap) -> Result<Client, ApiError> {
    let denied = || {
        ApiError::from(OAuthError::invalid_token(
            "the registration access token is not valid for this client",
        ))
        .challenging(challenge(headers))
    };
    let token = bearer(headers).and_then(Result::ok).ok_or_else(denied)?;
    let id = ClientId::parse(id).map_err(|_| denied())?;
    let client = app.store().find_client(&id).await?.ok_or_else(denied)?;
    let presented = ClientSecret::presented(token.to_owned());
    match &client.policy.registration {
        Some(r) if presented.verify(&r.token_hash) => Ok(client),
        _ => Err(denied()),
    }
}

pub(crate) async fn read(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let client = managed(&app, &id, &headers).await?;
    Ok(no_store(StatusCode::OK, describe(&app, &client)))
}

/// RFC 7591 §3.2.1 and OpenID Dynamic Registration §3.2: the client's metadata, with its OpenID
/// members when OpenID is on.
fn describe(app: &AppState, client: &Client) -> serde_json::Value {
    let mut body = registration::describe(client, &client_uri(app, &client.client_id));
    if app.settings().openid.is_some()
        && let serde_json::Value::Object(members) = &mut body
    {
        members.extend(client.policy.openid.describe());
    }
    body
}

/// The OpenID members of a registration (Dynamic Registration 1.0 §2), checked against what the
/// server offers; the defaults when OpenID is off, where they are unknown members and ignored. Only
/// what needs no I/O: `prepare_openid` does the rest once every cheap check passed.
fn openid_metadata(
    app: &AppState,
    body: &[u8],
    client_id: &ClientId,
    redirect_uris: &[latchkey_core::types::RedirectUri],
) -> Result<OpenIdClient, ApiError> {
    let Some(settings) = &app.settings().openid else {
        return Ok(OpenIdClient::default());
    };
    let rules = OpenIdRules {
        algs: &settings.signing_algs,
        public_subjects: settings.public,
        pairwise_subjects: settings.pairwise,
    };
    let openid = OpenIdMetadata::from_json(body)?.validate(&rules, client_id, redirect_uris)?;
    Ok(openid)
}

/// What a registration's OpenID members need beyond checking: the `sector_identifier_uri` document
/// fetched and checked, and keys of the chosen algorithms. Runs last, so a registration refused for
/// a cheaper reason costs no outbound request and creates no key.
///
/// # Security
/// A `sector_identifier_uri` is fetched through the client cache's fetch path (https only, public
/// addresses only, size and time limits; per-address and per-host limits, single flight, negative
/// cache and a generic error, N-L1), and must list every redirect URI (Core §8.1), so a client cannot
/// claim another sector's pairwise subjects.
async fn prepare_openid(
    app: &AppState,
    address: &ClientAddress,
    openid: &OpenIdClient,
    redirect_uris: &[latchkey_core::types::RedirectUri],
) -> Result<(), ApiError> {
    if app.settings().openid.is_none() {
        return Ok(());
    }
    if let Some(uri) = &openid.sector_identifier_uri {
        use crate::services::clients::LookupError;
        let document = match app.clients().sector_document(uri, address).await {
            Ok(document) => document,
            Err(LookupError::Store(e)) => return Err(e.into()),
            Err(LookupError::Limited) => {
                return Err(OAuthError::temporarily_unavailable(
                    "too many outbound fetches; try again in a minute",
                )
                .into());
            }
            Err(LookupError::Document(why)) => {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "sector_identifier_uri: {why}"
                ))
                .into());
            }
        };
        check_sector_document(&document, redirect_uris)
            .map_err(OAuthError::invalid_client_metadata)?;
    }
    // The keys of the chosen algorithms exist before the first ID token needs them.
    for alg in std::iter::once(openid.id_token_signed_response_alg)
        .chain(openid.userinfo_signed_response_alg)
    {
        app.openid().ensure_key(alg).await?;
    }
    Ok(())
}

pub(crate) async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let client = managed(&app, &id, &headers).await?;
    let metadata = json_body(&headers, &body)?;
    // RFC 7592 §2.2: the body names the client it replaces.
    if metadata.client_id.as_deref() != Some(client.client_id.as_str()) {
        return Err(
            OAuthError::invalid_request("client_id in the body must match the client").into(),
        );
    }
    let r = metadata.validate(&app.settings().registration_rules())?;
    if r.method != client.auth.method() {
        return Err(OAuthError::invalid_client_metadata(
            "token_endpoint_auth_method cannot change; register a new client instead",
        )
        .into());
    }
    // With OpenID Connect off the body's OpenID members mean nothing here, and the client's stored
    // ones are kept for when it is turned on again, not reset to the defaults.
    let openid = match app.settings().openid {
        Some(_) => openid_metadata(&app, &body, &client.client_id, &r.redirect_uris)?,
        None => client.policy.openid.clone(),
    };
    let auth = match &client.auth {
        // Key rotation: a private_key_jwt client may replace its keys.
        ClientAuth::PrivateKeyJwt { .. } => ClientAuth::PrivateKeyJwt {
            jwks: r.jwks,
            jwks_uri: r.jwks_uri,
        },
        auth => auth.clone(),
    };
    let updated = Client {
        auth,
        name: r.name.unwrap_or_else(|| client.client_id.to_string()),
        grant_types: r.grant_types,
        scope: r.scope,
        redirect_uris: r.redirect_uris,
        policy: ClientPolicy {
            openid,
            ..client.policy.clone()
        },
        ..client
    };
    app.settings().features.check_client(&updated)?;
    prepare_openid(
        &app,
        &address,
        &updated.policy.openid,
        &updated.redirect_uris,
    )
    .await?;
    app.store().update_client_metadata(&updated).await?;
    app.clients().invalidate();
    app.audit()
        .client_managed(AuditEvent::ClientUpdated, &updated.client_id)
        .await;
    let mut body = describe(&app, &updated);
    if let Some(dropped) = r.dropped.describe() {
        body["dropped_metadata"] = dropped;
    }
    Ok(no_store(StatusCode::OK, body))
}

pub(crate) async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let client = managed(&app, &id, &headers).await?;
    app.store().delete_client(&client.client_id).await?;
    app.clients().invalidate();
    // Its outstanding access tokens were just deny-listed (L4).
    app.revocations().revoked();
    app.audit()
        .client_managed(AuditEvent::ClientDeleted, &client.client_id)
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The route of a client's registration URI.
pub(crate) fn client_route(registration_endpoint: &str) -> String {
    format!("{}/{{id}}", path_of(registration_endpoint))
}
