//! The TOML file as written: one struct per `[section]`, unknown keys refused. `Config::resolve` turns
//! these into typed settings, one function per section.
use std::collections::BTreeMap;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The TOML file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub(crate) issuer: Option<String>,
    pub(crate) listen: Option<String>,
    pub(crate) database_url: Option<String>,
    pub(crate) master_key: Option<String>,
    pub(crate) master_key_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) database: RawDatabase,
    #[serde(default)]
    pub(crate) tokens: RawTokens,
    #[serde(default)]
    pub(crate) keys: RawKeys,
    #[serde(default)]
    pub(crate) http: RawHttp,
    #[serde(default)]
    pub(crate) endpoints: RawEndpoints,
    #[serde(default)]
    pub(crate) metadata: RawMetadata,
    #[serde(default)]
    pub(crate) policy: RawPolicy,
    /// In the file's order: `scopes_supported` is published in it.
    #[serde(default)]
    pub(crate) scopes: IndexMap<String, RawScope>,
    #[serde(default)]
    pub(crate) log: RawLog,
    #[serde(default)]
    pub(crate) ui: RawUi,
    #[serde(default)]
    pub(crate) login: RawLogin,
    #[serde(default)]
    pub(crate) users: RawUsers,
    #[serde(default)]
    pub(crate) resources: BTreeMap<String, RawResource>,
    #[serde(default)]
    pub(crate) cache: RawCache,
    #[serde(default)]
    pub(crate) registration: RawRegistration,
    #[serde(default)]
    pub(crate) client_id_metadata_documents: RawDocuments,
    #[serde(default)]
    pub(crate) fetch: RawFetch,
    #[serde(default)]
    pub(crate) openid: RawOpenId,
    #[serde(default)]
    pub(crate) metrics: RawMetrics,
    #[serde(default)]
    pub(crate) audit: RawAudit,
    #[serde(default)]
    pub(crate) openapi: RawOpenApi,
    #[serde(default)]
    pub(crate) rate_limits: RawRateLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOpenId {
    pub(crate) enabled: Option<bool>,
    pub(crate) id_token_ttl: Option<String>,
    pub(crate) signing_algs: Option<Vec<String>>,
    pub(crate) subject_types: Option<Vec<String>>,
    pub(crate) logout_revokes_grants: Option<bool>,
    pub(crate) require_pkce_for_confidential_clients: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOpenApi {
    pub(crate) path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimits {
    pub(crate) enabled: Option<bool>,
    pub(crate) max_keys: Option<usize>,
    pub(crate) discovery: Option<RawLimit>,
    pub(crate) token: Option<RawLimit>,
    pub(crate) introspection_revocation: Option<RawLimit>,
    pub(crate) authorization: Option<RawLimit>,
    pub(crate) registration: Option<RawLimit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudit {
    pub(crate) retention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub(crate) listen: Option<String>,
    pub(crate) public: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimit {
    pub(crate) enabled: Option<bool>,
    pub(crate) limit: Option<u32>,
    pub(crate) window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    pub(crate) max_connections: Option<u32>,
    pub(crate) statement_timeout: Option<String>,
    pub(crate) acquire_timeout: Option<String>,
    pub(crate) sqlite_synchronous: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDocuments {
    pub(crate) enabled: Option<bool>,
    pub(crate) min_cache: Option<String>,
    pub(crate) max_cache: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFetch {
    pub(crate) allow_loopback: Option<bool>,
    pub(crate) extra_roots_file: Option<PathBuf>,
    pub(crate) connect_timeout: Option<String>,
    pub(crate) timeout: Option<String>,
    pub(crate) max_bytes: Option<usize>,
    pub(crate) rate_limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegistration {
    pub(crate) policy: Option<String>,
    pub(crate) rate_limit: Option<u32>,
    pub(crate) unused_client_ttl: Option<String>,
    pub(crate) allow_client_credentials: Option<bool>,
    pub(crate) client_credentials_resources: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub(crate) refresh_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResource {
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    pub(crate) format: Option<String>,
    pub(crate) ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUi {
    pub(crate) operator_name: Option<String>,
    pub(crate) logo_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogin {
    pub(crate) session_ttl: Option<String>,
    pub(crate) delay_after: Option<u32>,
    pub(crate) lock_after: Option<u32>,
    pub(crate) lock_duration: Option<String>,
    pub(crate) address_delay_after: Option<u32>,
    pub(crate) address_lock_after: Option<u32>,
    pub(crate) max_in_flight: Option<u32>,
    pub(crate) address_max_in_flight: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUsers {
    pub(crate) min_password_length: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTokens {
    pub(crate) access_token_ttl: Option<String>,
    pub(crate) default_audience: Option<String>,
    pub(crate) code_ttl: Option<String>,
    pub(crate) refresh_token_idle_ttl: Option<String>,
    pub(crate) refresh_token_absolute_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeys {
    pub(crate) algorithm: Option<String>,
    pub(crate) refresh_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub(crate) body_limit: Option<u64>,
    pub(crate) request_timeout: Option<String>,
    pub(crate) discovery_max_age: Option<String>,
    #[serde(default)]
    pub(crate) trusted_proxies: Vec<String>,
    pub(crate) forwarded_header: Option<String>,
    pub(crate) error_shape: Option<String>,
    pub(crate) header_read_timeout: Option<String>,
    pub(crate) max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoints {
    pub(crate) base_url: Option<String>,
    pub(crate) authorization_endpoint: Option<String>,
    pub(crate) introspection_endpoint: Option<String>,
    pub(crate) revocation_endpoint: Option<String>,
    pub(crate) registration_endpoint: Option<String>,
    pub(crate) token_endpoint: Option<String>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) userinfo_endpoint: Option<String>,
    pub(crate) end_session_endpoint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetadata {
    pub(crate) service_documentation: Option<String>,
    pub(crate) op_policy_uri: Option<String>,
    pub(crate) op_tos_uri: Option<String>,
    pub(crate) ui_locales_supported: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) member_order: Vec<String>,
    #[serde(default)]
    pub(crate) extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub(crate) grant_types: Option<Vec<String>>,
    pub(crate) token_endpoint_auth_methods: Option<Vec<String>>,
    pub(crate) introspection: Option<bool>,
    pub(crate) introspection_endpoint_auth_methods: Option<Vec<String>>,
    pub(crate) revocation: Option<bool>,
    pub(crate) revocation_endpoint_auth_methods: Option<Vec<String>>,
    pub(crate) code_challenge_methods: Option<Vec<String>>,
    pub(crate) response_types: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScope {
    pub(crate) description: Option<String>,
    /// Descriptions in other languages, by BCP 47 tag.
    #[serde(default)]
    pub(crate) translations: BTreeMap<String, String>,
    pub(crate) public: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub(crate) level: Option<String>,
    pub(crate) format: Option<String>,
    pub(crate) access: Option<bool>,
}
