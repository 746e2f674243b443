//! Conversions between a client and the column values both backends store for it.
use latchkey_core::client::{Client, ClientAuth, ClientPolicy, DynamicRegistration, TokenFormat};
use latchkey_core::oidc::client::OpenIdClient;
use latchkey_core::secret::SecretHash;
use latchkey_core::types::{
    AuthMethod, ClientId, GrantType, RedirectUri, ResourceUri, Scope, Timestamp,
};

use crate::StoreError;

/// A `clients` row.
pub(crate) struct ClientRow {
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) auth_method: String,
    pub(crate) secret_hash: Option<Vec<u8>>,
    pub(crate) grant_types: String,
    pub(crate) scope: String,
    pub(crate) redirect_uris: String,
    pub(crate) created_at: i64,
    pub(crate) introspect_any: i16,
    pub(crate) access_token_format: Option<String>,
    pub(crate) allowed_resources: String,
    pub(crate) registration_token_hash: Option<Vec<u8>>,
    pub(crate) activated_at: Option<i64>,
    pub(crate) jwks: Option<String>,
    pub(crate) openid: Option<String>,
    pub(crate) document: i16,
}

impl From<&Client> for ClientRow {
    fn from(client: &Client) -> Self {
        let (auth_method, secret_hash, jwks) = match &client.auth {
            ClientAuth::Secret { method, hash } => (
                method.as_str().to_owned(),
                Some(hash.as_bytes().to_vec()),
                None,
            ),
            // Inline keys are stored as the array, a key URL as {"jwks_uri": …}.
            ClientAuth::PrivateKeyJwt { jwks, jwks_uri } => (
                AuthMethod::PrivateKeyJwt.as_str().to_owned(),
                None,
                Some(match jwks_uri {
                    Some(uri) => serde_json::json!({ "jwks_uri": uri }).to_string(),
                    None => serde_json::to_string(jwks).expect("JSON values serialise"),
                }),
            ),
            ClientAuth::Public => (AuthMethod::None.as_str().to_owned(), None, None),
        };
        ClientRow {
            client_id: client.client_id.as_str().to_owned(),
            name: client.name.clone(),
            auth_method,
            secret_hash,
            grant_types: client
                .grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            scope: client.scope.to_string(),
            redirect_uris: serde_json::to_string(&client.redirect_uris).expect("strings serialise"),
            created_at: client.created_at.0,
            introspect_any: i16::from(client.policy.introspect_any),
            access_token_format: client
                .policy
                .access_token_format
                .map(|f| f.as_str().to_owned()),
            allowed_resources: serde_json::to_string(&client.policy.resources)
                .expect("strings serialise"),
            registration_token_hash: client
                .policy
                .registration
                .as_ref()
                .map(|r| r.token_hash.as_bytes().to_vec()),
            activated_at: client
                .policy
                .registration
                .as_ref()
                .and_then(|r| r.activated_at.map(|t| t.0)),
            jwks,
            // The defaults are not stored, so a client that registered nothing follows them.
            openid: (client.policy.openid != OpenIdClient::default()).then(|| {
                serde_json::to_string(&client.policy.openid).expect("metadata serialises")
            }),
            document: i16::from(client.policy.metadata_document),
        }
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("client {}: {what}", row.client_id));
        let method: AuthMethod = row
            .auth_method
            .parse()
            .map_err(|_| corrupt("unknown auth_method"))?;
        let auth = match (method, row.secret_hash.as_deref()) {
            (AuthMethod::PrivateKeyJwt, _) => {
                let stored: serde_json::Value = row
                    .jwks
                    .as_deref()
                    .and_then(|j| serde_json::from_str(j).ok())
                    .ok_or_else(|| corrupt("private_key_jwt client without jwks"))?;
                match stored {
                    serde_json::Value::Array(jwks) => ClientAuth::PrivateKeyJwt {
                        jwks,
                        jwks_uri: None,
                    },
                    other => ClientAuth::PrivateKeyJwt {
                        jwks: Vec::new(),
                        jwks_uri: Some(
                            other
                                .get("jwks_uri")
                                .and_then(|u| u.as_str())
                                .ok_or_else(|| corrupt("invalid jwks"))?
                                .to_owned(),
                        ),
                    },
                }
            }
            (AuthMethod::None, None) => ClientAuth::Public,
            (AuthMethod::None, Some(_)) => return Err(corrupt("public client with a secret hash")),
            (method, hash) => match hash.and_then(SecretHash::from_bytes) {
                Some(hash) => ClientAuth::Secret { method, hash },
                None => return Err(corrupt("secret method without a secret hash")),
            },
        };
        let grant_types = row
            .grant_types
            .split(' ')
            .filter(|g| !g.is_empty())
            .map(|g| g.parse::<GrantType>())
            .collect::<Result<_, _>>()
            .map_err(|_| corrupt("unknown grant type"))?;
        let redirect_uris: Vec<RedirectUri> = serde_json::from_str(&row.redirect_uris)
            .map_err(|_| corrupt("invalid redirect_uris"))?;
        Ok(Client {
            client_id: ClientId::parse(row.client_id.clone())
                .map_err(|_| corrupt("invalid client_id"))?,
            name: row.name,
            auth,
            grant_types,
            scope: Scope::parse(&row.scope).map_err(|_| corrupt("invalid scope"))?,
            redirect_uris,
            created_at: Timestamp(row.created_at),
            policy: ClientPolicy {
                introspect_any: row.introspect_any != 0,
                access_token_format: row
                    .access_token_format
                    .as_deref()
                    .map(|f| f.parse::<TokenFormat>())
                    .transpose()
                    .map_err(|_| corrupt("unknown access_token_format"))?,
                resources: serde_json::from_str::<Vec<ResourceUri>>(&row.allowed_resources)
                    .map_err(|_| corrupt("invalid allowed_resources"))?,
                openid: match row.openid.as_deref() {
                    None => OpenIdClient::default(),
                    Some(json) => serde_json::from_str(json)
                        .map_err(|_| corrupt("invalid OpenID metadata"))?,
                },
                metadata_document: row.document != 0,
                registration: match row.registration_token_hash.as_deref() {
                    None => None,
                    Some(bytes) => Some(DynamicRegistration {
                        token_hash: SecretHash::from_bytes(bytes)
                            .ok_or_else(|| corrupt("invalid registration token hash"))?,
                        activated_at: row.activated_at.map(Timestamp),
                    }),
                },
            },
        })
    }
}
