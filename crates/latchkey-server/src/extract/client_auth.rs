//! `AuthenticatedClient`: the one client-authentication step every endpoint that authenticates
//! clients uses (RFC 6749 §2.3), reading the `Authorization` header and the form together. The type
//! parameter names the endpoint, whose accepted methods (the server's policy) are checked first.
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_core::client::{Client, ClientAuth};
use latchkey_core::client_auth::{
    AssertionContext, Authenticated, authenticate, check_method, parse_credentials,
};
use latchkey_core::metadata::Features;
use latchkey_core::params::Params;
use latchkey_core::types::AuthMethod;
use latchkey_store::RegistrationStore;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::{ApiError, Scheme};
use crate::extract::form::OAuthForm;
use crate::services::clients::LookupError;
use crate::services::rate_limit::LimitSlot;
use crate::state::AppState;

/// An endpoint that authenticates clients, and the methods the server accepts there.
pub(crate) trait ClientEndpoint {
    fn accepted(features: &Features) -> &[AuthMethod];
}

/// `token_endpoint_auth_methods_supported`.
pub(crate) struct TokenEndpoint;
/// `introspection_endpoint_auth_methods_supported`.
pub(crate) struct IntrospectionEndpoint;
/// `revocation_endpoint_auth_methods_supported`.
pub(crate) struct RevocationEndpoint;

impl ClientEndpoint for TokenEndpoint {
    fn accepted(features: &Features) -> &[AuthMethod] {
        &features.token_endpoint_auth_methods
    }
}

impl ClientEndpoint for IntrospectionEndpoint {
    fn accepted(features: &Features) -> &[AuthMethod] {
        &features.introspection_endpoint_auth_methods
    }
}

impl ClientEndpoint for RevocationEndpoint {
    fn accepted(features: &Features) -> &[AuthMethod] {
        &features.revocation_endpoint_auth_methods
    }
}

/// An authenticated client and the rest of its request's parameters (credentials removed).
pub(crate) struct AuthenticatedClient<E> {
    pub(crate) client: Arc<Client>,
    pub(crate) params: Params,
    pub(crate) endpoint: PhantomData<E>,
}

impl<E: ClientEndpoint> FromRequest<AppState> for AuthenticatedClient<E> {
    type Rejection = Response;

    /// Authenticates, then spends the rate-limit budget of the client it found, or of the address
    /// when it found none: guessing credentials is limited like any other request.
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // Whatever scheme the header named, Basic is the one this endpoint takes (RFC 6749 §5.2).
        let scheme = req
            .headers()
            .contains_key(header::AUTHORIZATION)
            .then_some(Scheme::Basic);
        let slot = req.extensions().get::<Arc<LimitSlot>>().cloned();
        let mut tried = None;
        match authenticate_request::<E>(req, state, &mut tried).await {
            Ok(authenticated) => {
                if let Some(slot) = &slot {
                    slot.check_client(state.rate_limits(), &authenticated.client)
                        .map_err(IntoResponse::into_response)?;
                }
                Ok(authenticated)
            }
            Err(e) => {
                state.metrics().client_auth_error(&e, tried);
                if let Some(slot) = &slot {
                    slot.check_address(state.rate_limits())
                        .map_err(IntoResponse::into_response)?;
                }
                Err(e.challenging(scheme).into_response())
            }
        }
    }
}

/// The keys a client publishes at `uri` (`fresh`: fetched again, not from the cache).
async fn published_keys(
    state: &AppState,
    uri: &str,
    address: &crate::services::client_address::ClientAddress,
    fresh: bool,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let keys = match fresh {
        true => state.clients().refetch_keys(uri, address).await,
        false => state.clients().key_set(uri, address).await,
    };
    match keys {
        Ok(keys) => Ok(keys),
        Err(LookupError::Store(e)) => Err(e.into()),
        Err(LookupError::Limited) => Err(limited().into()),
        Err(LookupError::Document(why)) => Err(OAuthError::invalid_client(format!(
            "the client's jwks_uri could not be used: {why}"
        ))
        .into()),
    }
}

fn with_keys(client: &Client, uri: &str, keys: Vec<serde_json::Value>) -> Arc<Client> {
    let mut with_keys = client.clone();
    with_keys.auth = ClientAuth::PrivateKeyJwt {
        jwks: keys,
        jwks_uri: Some(uri.to_owned()),
    };
    Arc::new(with_keys)
}

fn limited() -> OAuthError {
    OAuthError::temporarily_unavailable("too many metadata fetches; try again in a minute")
}

/// `tried` is set to the method the client used as soon as its credentials are read.
async fn authenticate_request<E: ClientEndpoint>(
    req: Request,
    state: &AppState,
    tried: &mut Option<AuthMethod>,
) -> Result<AuthenticatedClient<E>, ApiError> {
    let address = crate::extract::client_address::of_request(state, &req);
    let authorization = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| {
                    OAuthError::invalid_client("the Authorization header is not valid ASCII")
                })?
                .to_owned(),
        ),
    };
    let OAuthForm(mut params) = OAuthForm::from_request(req, state).await?;
    let presented = parse_credentials(authorization.as_deref(), &mut params)?;
    *tried = Some(presented.method);
    check_method(&presented, E::accepted(&state.settings().features))?;
    let registered = match state.clients().find(&presented.client_id, &address).await {
        Ok(found) => found,
        Err(LookupError::Store(e)) => return Err(e.into()),
        Err(LookupError::Limited) => return Err(limited().into()),
        // An unusable metadata document authenticates nobody.
        Err(LookupError::Document(why)) => {
            return Err(OAuthError::invalid_client(format!(
                "the client's metadata document is not usable: {why}"
            ))
            .into());
        }
    };
    // A client that publishes its keys at a jwks_uri: fetch them (through the safe fetcher, cached)
    // and authenticate against them, only when it actually presents an assertion.
    let jwks_uri = registered.as_ref().and_then(|client| match &client.auth {
        ClientAuth::PrivateKeyJwt {
            jwks_uri: Some(uri),
            ..
        } if presented.method == AuthMethod::PrivateKeyJwt => Some(uri.clone()),
        _ => None,
    });
    let now = state.clock().now();
    let context = AssertionContext {
        issuer: state.settings().features.issuer.as_str(),
        now,
    };
    let authenticated = match (&jwks_uri, registered) {
        (Some(uri), Some(client)) => {
            let keys = published_keys(state, uri, &address, false).await?;
            let first = authenticate(Some(with_keys(&client, uri, keys)), &presented, &context);
            match first {
                // I4: a client that rotated its keys signs with one the cache has not seen yet; its
                // key set is fetched again (at most once a minute per URL) before the answer is no.
                // The answer stays the assertion's own error whatever the refetch gives.
                Err(e) if state.clients().may_refetch_keys(uri) => {
                    match published_keys(state, uri, &address, true).await {
                        Ok(keys) => {
                            authenticate(Some(with_keys(&client, uri, keys)), &presented, &context)
                                .map_err(|_| e)
                        }
                        Err(_) => Err(e),
                    }
                }
                other => other,
            }
        }
        (_, registered) => authenticate(registered, &presented, &context),
    };
    let Authenticated {
        client,
        assertion_jti,
    } = authenticated?;
    if let Some((jti, exp)) = assertion_jti {
        // Persisted until the assertion expires, so a replay is refused by every instance.
        let first_use = state
            .store()
            .record_assertion(&client.client_id, &jti, exp)
            .await?;
        if !first_use {
            return Err(OAuthError::invalid_client(
                "client_assertion was already used (jti replayed)",
            )
            .into());
        }
    }
    Ok(AuthenticatedClient {
        client,
        params,
        endpoint: PhantomData,
    })
}
