//! Configuration: defaults < TOML file < `LATCHKEY_*` environment < command-line flags, merged in
//! `Config::resolve`. Every error names where the bad value came from and what is wrong with it.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use latchkey_core::client::TokenFormat;
use latchkey_core::keys::{KeyAlg, MasterKey};
use latchkey_core::metadata::{Endpoints, Features, WELL_KNOWN_SUFFIX};
use latchkey_core::resource::Resource;
use latchkey_core::token::TokenPolicy;
use latchkey_core::types::{AuthMethod, GrantType, Issuer, ResourceUri, ScopeToken};
use latchkey_server::fetch::FetchSettings;
use latchkey_server::router::path_of;
use latchkey_server::state::{
    DocumentSettings, HttpSettings, KeySettings, LoginSettings, RegistrationPolicy,
    RegistrationSettings, UiSettings,
};
use latchkey_server::throttle::{Limits, ThrottleSettings};
use latchkey_server::{Locale, Settings};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Where the embedded database lives when nothing says otherwise: the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite://latchkey.db";
/// The issuer of a server started with no configuration.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";
/// The dev-mode master key file, created beside the working directory's database.
pub const DEV_MASTER_KEY_FILE: &str = "latchkey-dev.key";
/// Seconds a token may be presented after its `exp` by a verifier with a slow clock.
const CLOCK_LEEWAY: u64 = 60;

/// The TOML file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    issuer: Option<String>,
    listen: Option<String>,
    database_url: Option<String>,
    master_key: Option<String>,
    master_key_file: Option<PathBuf>,
    #[serde(default)]
    tokens: RawTokens,
    #[serde(default)]
    keys: RawKeys,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    endpoints: RawEndpoints,
    #[serde(default)]
    metadata: RawMetadata,
    #[serde(default)]
    scopes: BTreeMap<String, RawScope>,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    ui: RawUi,
    #[serde(default)]
    login: RawLogin,
    #[serde(default)]
    users: RawUsers,
    #[serde(default)]
    resources: BTreeMap<String, RawResource>,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    registration: RawRegistration,
    #[serde(default)]
    client_id_metadata_documents: RawDocuments,
    #[serde(default)]
    fetch: RawFetch,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocuments {
    enabled: Option<bool>,
    min_cache: Option<String>,
    max_cache: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFetch {
    allow_loopback: Option<bool>,
    extra_roots_file: Option<PathBuf>,
    connect_timeout: Option<String>,
    timeout: Option<String>,
    max_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistration {
    policy: Option<String>,
    rate_limit: Option<u32>,
    unused_client_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    refresh_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    #[serde(default)]
    scopes: Vec<String>,
    format: Option<String>,
    ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    operator_name: Option<String>,
    logo_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    session_ttl: Option<String>,
    delay_after: Option<u32>,
    lock_after: Option<u32>,
    lock_duration: Option<String>,
    address_delay_after: Option<u32>,
    address_lock_after: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsers {
    min_password_length: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    access_token_ttl: Option<String>,
    default_audience: Option<String>,
    code_ttl: Option<String>,
    refresh_token_idle_ttl: Option<String>,
    refresh_token_absolute_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    algorithm: Option<String>,
    refresh_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    body_limit: Option<u64>,
    request_timeout: Option<String>,
    discovery_max_age: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoints {
    base_url: Option<String>,
    authorization_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    registration_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    service_documentation: Option<String>,
    op_policy_uri: Option<String>,
    op_tos_uri: Option<String>,
    ui_locales_supported: Option<Vec<String>>,
    #[serde(default)]
    extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    description: Option<String>,
    /// Descriptions in other languages, by BCP 47 tag.
    #[serde(default)]
    translations: BTreeMap<String, String>,
    public: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
    format: Option<String>,
    access: Option<bool>,
}

/// Values given on the command line; `None` when the flag is absent.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--issuer`.
    pub issuer: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database`.
    pub database: Option<String>,
    /// `--dev`.
    pub dev: bool,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Logging configuration.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// A `tracing` target filter such as `info` or `info,sqlx=warn`.
    pub filter: tracing_subscriber::filter::Targets,
    /// Output format.
    pub format: LogFormat,
    /// Whether each request is logged.
    pub access: bool,
}

/// A configured scope.
#[derive(Clone, Debug)]
pub struct ScopeConfig {
    /// Whether `scopes_supported` lists it.
    pub public: bool,
}

/// Where the master key comes from.
#[derive(Clone, Debug)]
pub enum MasterKeySource {
    /// The key itself, from `LATCHKEY_MASTER_KEY` or `master_key`; `origin` names which.
    Value { text: String, origin: String },
    /// A file holding the key.
    File(PathBuf),
    /// `--dev`: a file created on first use with 0600 permissions.
    DevFile(PathBuf),
    /// Nothing configured.
    Missing,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Socket address to listen on.
    pub listen: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// The master key's source; read only by commands that need it.
    pub master_key: MasterKeySource,
    /// `--dev` was given.
    pub dev: bool,
    /// Logging.
    pub log: LogConfig,
    /// Configured scopes by name.
    pub scopes: BTreeMap<String, ScopeConfig>,
    /// What the server serves.
    pub settings: Settings,
    /// Shortest password `user add` and `user set-password` accept, in characters.
    pub min_password_length: usize,
}

/// Reads configuration from `flags.config`, the process environment and `flags`.
pub fn load(flags: &Flags) -> Result<Config, String> {
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("LATCHKEY_"))
        .collect();
    let path = flags
        .config
        .clone()
        .or_else(|| env.get("LATCHKEY_CONFIG").map(PathBuf::from));
    let (raw, file) = match &path {
        Some(path) => (read_file(path)?, path.display().to_string()),
        None => (RawConfig::default(), "config".to_owned()),
    };
    Config::resolve(raw, &file, &env, flags)
}

fn read_file(path: &Path) -> Result<RawConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse_toml(&text, &path.display().to_string())
}

fn parse_toml(text: &str, file: &str) -> Result<RawConfig, String> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].lines().count().max(1));
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        format!("{file}{at}: {}", e.message().trim().replace('\n', " "))
    })
}

/// Resolves configuration from TOML text, an explicit environment and flags: `load` without files or
/// the process environment, for integration tests and embedding.
pub fn from_parts(
    toml_text: &str,
    env: &BTreeMap<String, String>,
    flags: &Flags,
) -> Result<Config, String> {
    let raw = parse_toml(toml_text, "config")?;
    Config::resolve(raw, "config", env, flags)
}

/// Environment variables Latchkey reads; any other `LATCHKEY_*` is a typo worth stopping for.
const KNOWN_ENV: &[&str] = &[
    "LATCHKEY_CONFIG",
    "LATCHKEY_ISSUER",
    "LATCHKEY_LISTEN",
    "LATCHKEY_DATABASE_URL",
    "LATCHKEY_MASTER_KEY",
    "LATCHKEY_MASTER_KEY_FILE",
    "LATCHKEY_LOG_LEVEL",
    "LATCHKEY_LOG_FORMAT",
];

/// Picks the highest-precedence value and says where it came from.
fn pick(
    flag: Option<(&str, &String)>,
    env: &BTreeMap<String, String>,
    var: &str,
    file: Option<(String, String)>,
) -> Option<(String, String)> {
    flag.map(|(name, v)| (v.clone(), name.to_owned()))
        .or_else(|| env.get(var).map(|v| (v.clone(), var.to_owned())))
        .or(file)
}

impl Config {
    /// Merges the sources and validates every value.
    pub fn resolve(
        raw: RawConfig,
        file: &str,
        env: &BTreeMap<String, String>,
        flags: &Flags,
    ) -> Result<Config, String> {
        if let Some(unknown) = env
            .keys()
            .find(|k| !KNOWN_ENV.contains(&k.as_str()) && !k.starts_with("LATCHKEY_TEST_"))
        {
            return Err(format!(
                "{unknown}: unknown environment variable (known: {})",
                KNOWN_ENV.join(", ")
            ));
        }
        let in_file =
            |key: &str, v: &Option<String>| v.clone().map(|v| (v, format!("{file}: {key}")));

        let (issuer_text, issuer_origin) = pick(
            flags.issuer.as_ref().map(|v| ("--issuer", v)),
            env,
            "LATCHKEY_ISSUER",
            in_file("issuer", &raw.issuer),
        )
        .unwrap_or_else(|| (DEFAULT_ISSUER.to_owned(), "default issuer".to_owned()));
        let issuer = Issuer::parse(&issuer_text).map_err(|e| format!("{issuer_origin}: {e}"))?;

        let (listen_text, listen_origin) = pick(
            flags.listen.as_ref().map(|v| ("--listen", v)),
            env,
            "LATCHKEY_LISTEN",
            in_file("listen", &raw.listen),
        )
        .unwrap_or_else(|| ("127.0.0.1:8080".to_owned(), "default listen".to_owned()));
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| format!("{listen_origin}: `{listen_text}` is not an address such as 127.0.0.1:8080 or [::]:443"))?;

        let (database_url, _) = pick(
            flags.database.as_ref().map(|v| ("--database", v)),
            env,
            "LATCHKEY_DATABASE_URL",
            in_file("database_url", &raw.database_url),
        )
        .unwrap_or_else(|| (DEFAULT_DATABASE.to_owned(), "default".to_owned()));

        let master_key = match pick(
            None,
            env,
            "LATCHKEY_MASTER_KEY",
            in_file("master_key", &raw.master_key),
        ) {
            Some((text, origin)) => MasterKeySource::Value { text, origin },
            None => match env
                .get("LATCHKEY_MASTER_KEY_FILE")
                .map(PathBuf::from)
                .or(raw.master_key_file.clone())
            {
                Some(path) => MasterKeySource::File(path),
                None if flags.dev => MasterKeySource::DevFile(PathBuf::from(DEV_MASTER_KEY_FILE)),
                None => MasterKeySource::Missing,
            },
        };

        let log = resolve_log(&raw.log, file, env)?;

        let ttl = duration(
            &raw.tokens.access_token_ttl,
            file,
            "tokens.access_token_ttl",
            Duration::from_secs(600),
        )?;
        if ttl.as_secs() == 0 || ttl.as_secs() > 86_400 {
            return Err(format!(
                "{file}: tokens.access_token_ttl: must be between 1s and 24h"
            ));
        }
        let policy = TokenPolicy {
            issuer: issuer.clone(),
            access_token_ttl: ttl.as_secs(),
            default_audience: raw
                .tokens
                .default_audience
                .clone()
                .unwrap_or_else(|| issuer.as_str().to_owned()),
            code_ttl: duration(
                &raw.tokens.code_ttl,
                file,
                "tokens.code_ttl",
                Duration::from_secs(60),
            )?
            .as_secs(),
            refresh_token_idle_ttl: duration(
                &raw.tokens.refresh_token_idle_ttl,
                file,
                "tokens.refresh_token_idle_ttl",
                Duration::from_secs(14 * 86_400),
            )?
            .as_secs(),
            refresh_token_absolute_ttl: duration(
                &raw.tokens.refresh_token_absolute_ttl,
                file,
                "tokens.refresh_token_absolute_ttl",
                Duration::from_secs(90 * 86_400),
            )?
            .as_secs(),
        };
        if !(1..=600).contains(&policy.code_ttl) {
            return Err(format!(
                "{file}: tokens.code_ttl: must be between 1s and 10m"
            ));
        }
        if policy.refresh_token_idle_ttl == 0
            || policy.refresh_token_idle_ttl > policy.refresh_token_absolute_ttl
        {
            return Err(format!(
                "{file}: tokens.refresh_token_idle_ttl: must be positive and at most tokens.refresh_token_absolute_ttl"
            ));
        }

        let alg = match &raw.keys.algorithm {
            Some(a) => a
                .parse::<KeyAlg>()
                .map_err(|e| format!("{file}: keys.algorithm: {e}"))?,
            None => KeyAlg::ES256,
        };
        let keys = KeySettings {
            alg,
            refresh_interval: duration(
                &raw.keys.refresh_interval,
                file,
                "keys.refresh_interval",
                Duration::from_secs(10),
            )?,
            publish_window: policy.access_token_ttl + CLOCK_LEEWAY,
        };
        if keys.refresh_interval.is_zero() {
            return Err(format!(
                "{file}: keys.refresh_interval: must be longer than zero"
            ));
        }

        let http = HttpSettings {
            body_limit: usize::try_from(raw.http.body_limit.unwrap_or(64 * 1024))
                .unwrap_or(usize::MAX),
            request_timeout: duration(
                &raw.http.request_timeout,
                file,
                "http.request_timeout",
                Duration::from_secs(15),
            )?,
            discovery_max_age: duration(
                &raw.http.discovery_max_age,
                file,
                "http.discovery_max_age",
                Duration::from_secs(300),
            )?
            .as_secs(),
        };
        if http.body_limit < 1024 {
            return Err(format!(
                "{file}: http.body_limit: must be at least 1024 bytes"
            ));
        }

        let mut scopes = BTreeMap::new();
        for (name, scope) in &raw.scopes {
            ScopeToken::parse(name.clone()).map_err(|_| {
                format!("{file}: scopes.{name}: not a valid scope token (RFC 6749 §3.3)")
            })?;
            scopes.insert(
                name.clone(),
                ScopeConfig {
                    public: scope.public.unwrap_or(true),
                },
            );
        }

        let base = match &raw.endpoints.base_url {
            Some(base) => absolute_url(base, file, "endpoints.base_url")?
                .trim_end_matches('/')
                .to_owned(),
            None => issuer.as_str().to_owned(),
        };
        let endpoint = |key: &str, value: &Option<String>, suffix: &str| match value {
            Some(url) => absolute_url(url, file, key),
            None => Ok(format!("{base}{suffix}")),
        };
        let registration = match raw.registration.policy.as_deref().unwrap_or("off") {
            "off" => None,
            policy @ ("open" | "token") => Some(RegistrationSettings {
                policy: if policy == "open" {
                    RegistrationPolicy::Open
                } else {
                    RegistrationPolicy::Token
                },
                rate_limit: match raw.registration.rate_limit.unwrap_or(20) {
                    0 => {
                        return Err(format!(
                            "{file}: registration.rate_limit: must be at least 1 per minute"
                        ));
                    }
                    n => n,
                },
                unused_client_ttl: duration_at_least(
                    &raw.registration.unused_client_ttl,
                    file,
                    "registration.unused_client_ttl",
                    Duration::from_secs(86_400),
                    60,
                )?,
            }),
            other => {
                return Err(format!(
                    "{file}: registration.policy: `{other}` is not a policy (expected off, open or token)"
                ));
            }
        };
        let authorization = endpoint(
            "endpoints.authorization_endpoint",
            &raw.endpoints.authorization_endpoint,
            "/authorize",
        )?;
        let stylesheet_path = format!("{}/assets/latchkey.css", path_of(&authorization));
        let endpoints = Endpoints {
            authorization: Some(authorization),
            token: endpoint(
                "endpoints.token_endpoint",
                &raw.endpoints.token_endpoint,
                "/token",
            )?,
            jwks: endpoint("endpoints.jwks_uri", &raw.endpoints.jwks_uri, "/jwks")?,
            introspection: Some(endpoint(
                "endpoints.introspection_endpoint",
                &raw.endpoints.introspection_endpoint,
                "/introspect",
            )?),
            revocation: Some(endpoint(
                "endpoints.revocation_endpoint",
                &raw.endpoints.revocation_endpoint,
                "/revoke",
            )?),
            registration: match &registration {
                Some(_) => Some(endpoint(
                    "endpoints.registration_endpoint",
                    &raw.endpoints.registration_endpoint,
                    "/register",
                )?),
                None => None,
            },
        };

        for key in raw.metadata.extra.keys() {
            if latchkey_core::metadata::GENERATED_MEMBERS.contains(&key.as_str()) {
                return Err(format!(
                    "{file}: metadata.extra.{key}: Latchkey sets this member itself; remove it"
                ));
            }
        }
        for (key, value) in [
            (
                "metadata.service_documentation",
                &raw.metadata.service_documentation,
            ),
            ("metadata.op_policy_uri", &raw.metadata.op_policy_uri),
            ("metadata.op_tos_uri", &raw.metadata.op_tos_uri),
        ] {
            if let Some(value) = value {
                absolute_url(value, file, key)?;
            }
        }

        let features = Features {
            issuer,
            endpoints,
            grant_types: GrantType::ALL.into(),
            token_endpoint_auth_methods: AuthMethod::ALL.into(),
            resource_parameter_supported: true,
            client_id_metadata_document_supported: raw
                .client_id_metadata_documents
                .enabled
                .unwrap_or(false),
            scopes_supported: scopes
                .iter()
                .filter(|(_, s)| s.public)
                .map(|(n, _)| n.clone())
                .collect(),
            service_documentation: raw.metadata.service_documentation.clone(),
            op_policy_uri: raw.metadata.op_policy_uri.clone(),
            op_tos_uri: raw.metadata.op_tos_uri.clone(),
            ui_locales_supported: ui_locales(&raw.metadata.ui_locales_supported, file)?,
            extra: raw.metadata.extra.clone(),
        };
        check_distinct_paths(&features, file)?;

        let ui = UiSettings {
            operator_name: match &raw.ui.operator_name {
                Some(name) if name.trim().is_empty() => {
                    return Err(format!("{file}: ui.operator_name: must not be empty"));
                }
                Some(name) => name.trim().to_owned(),
                None => "Latchkey".to_owned(),
            },
            logo_url: match &raw.ui.logo_url {
                Some(url) if url.starts_with("https://") => {
                    Some(absolute_url(url, file, "ui.logo_url")?)
                }
                Some(url) => {
                    return Err(format!("{file}: ui.logo_url: `{url}` must be an https URL"));
                }
                None => None,
            },
            stylesheet_path,
            scope_descriptions: scope_descriptions(&raw.scopes, file)?,
        };
        let lock_seconds = duration_at_least(
            &raw.login.lock_duration,
            file,
            "login.lock_duration",
            Duration::from_secs(900),
            1,
        )?;
        let login = LoginSettings {
            session_ttl: duration_at_least(
                &raw.login.session_ttl,
                file,
                "login.session_ttl",
                Duration::from_secs(8 * 3600),
                60,
            )?,
            throttle: ThrottleSettings {
                account: Limits {
                    delay_after: raw.login.delay_after.unwrap_or(3),
                    lock_after: raw.login.lock_after.unwrap_or(10),
                    lock_seconds,
                },
                address: Limits {
                    delay_after: raw.login.address_delay_after.unwrap_or(20),
                    lock_after: raw.login.address_lock_after.unwrap_or(100),
                    lock_seconds,
                },
            },
        };
        for (key, limits) in [
            ("login.delay_after/lock_after", login.throttle.account),
            (
                "login.address_delay_after/address_lock_after",
                login.throttle.address,
            ),
        ] {
            if limits.lock_after == 0 || limits.delay_after > limits.lock_after {
                return Err(format!("{file}: {key}: need 0 < delay_after <= lock_after"));
            }
        }
        let cache_refresh = duration(
            &raw.cache.refresh_interval,
            file,
            "cache.refresh_interval",
            Duration::from_millis(250),
        )?;
        if cache_refresh.is_zero() || cache_refresh > Duration::from_secs(60) {
            return Err(format!(
                "{file}: cache.refresh_interval: must be between 1ms and 60s"
            ));
        }
        let min_password_length = raw.users.min_password_length.unwrap_or(8);
        if min_password_length == 0 {
            return Err(format!(
                "{file}: users.min_password_length: must be at least 1"
            ));
        }

        let client_id_documents = match raw.client_id_metadata_documents.enabled {
            Some(true) => {
                let min_cache = duration(
                    &raw.client_id_metadata_documents.min_cache,
                    file,
                    "client_id_metadata_documents.min_cache",
                    Duration::from_secs(300),
                )?;
                let max_cache = duration(
                    &raw.client_id_metadata_documents.max_cache,
                    file,
                    "client_id_metadata_documents.max_cache",
                    Duration::from_secs(86_400),
                )?;
                if min_cache > max_cache {
                    return Err(format!(
                        "{file}: client_id_metadata_documents.min_cache: must not exceed max_cache"
                    ));
                }
                Some(DocumentSettings {
                    min_cache,
                    max_cache,
                })
            }
            _ => None,
        };
        let fetch = FetchSettings {
            allow_loopback: raw.fetch.allow_loopback.unwrap_or(false),
            extra_roots_pem: match &raw.fetch.extra_roots_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    format!(
                        "{file}: fetch.extra_roots_file: cannot read {}: {e}",
                        path.display()
                    )
                })?),
                None => None,
            },
            connect_timeout: duration(
                &raw.fetch.connect_timeout,
                file,
                "fetch.connect_timeout",
                Duration::from_secs(3),
            )?,
            timeout: duration(
                &raw.fetch.timeout,
                file,
                "fetch.timeout",
                Duration::from_secs(5),
            )?,
            max_bytes: match raw.fetch.max_bytes.unwrap_or(64 * 1024) {
                n @ 1024..=1_048_576 => n,
                n => {
                    return Err(format!(
                        "{file}: fetch.max_bytes: {n} is outside 1024 to 1048576"
                    ));
                }
            },
        };
        let configured_scopes = scopes
            .keys()
            .filter_map(|s| ScopeToken::parse(s.clone()).ok())
            .collect();
        Ok(Config {
            listen,
            database_url,
            master_key,
            dev: flags.dev,
            log,
            scopes,
            settings: Settings {
                features,
                policy,
                http,
                keys,
                ui,
                login,
                resources: resources(&raw.resources, file)?,
                cache_refresh_interval: cache_refresh,
                registration,
                configured_scopes,
                client_id_documents,
                fetch,
            },
            min_password_length,
        })
    }

    /// Reads the master key, creating the dev key file if `--dev` and it is missing.
    pub fn master_key(&self) -> Result<MasterKey, String> {
        match &self.master_key {
            MasterKeySource::Value { text, origin } => {
                MasterKey::parse(text).map_err(|e| format!("{origin}: {e}"))
            }
            MasterKeySource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("master_key_file: cannot read {}: {e}", path.display()))?;
                MasterKey::parse(&text)
                    .map_err(|e| format!("master_key_file: {}: {e}", path.display()))
            }
            MasterKeySource::DevFile(path) => read_or_create_dev_key(path),
            MasterKeySource::Missing => Err(
                "master_key: not set; set LATCHKEY_MASTER_KEY to 32 random bytes in base64 \
                 (`openssl rand -base64 32`), or master_key_file, or run with --dev"
                    .to_owned(),
            ),
        }
    }
}

/// `ui_locales_supported` (RFC 8414 §2): the pages' languages, or the subset of them the operator lists.
fn ui_locales(value: &Option<Vec<String>>, file: &str) -> Result<Vec<String>, String> {
    let supported: Vec<&str> = Locale::ALL.iter().map(|l| l.tag()).collect();
    match value {
        None => Ok(supported.iter().map(|t| (*t).to_owned()).collect()),
        Some(tags) => {
            for tag in tags {
                if !supported.contains(&tag.as_str()) {
                    return Err(format!(
                        "{file}: metadata.ui_locales_supported: the pages are not written in `{tag}` (available: {})",
                        supported.join(", ")
                    ));
                }
            }
            Ok(tags.clone())
        }
    }
}

/// `[resources."URI"]`: resources (RFC 8707) listed in the file.
fn resources(
    raw: &BTreeMap<String, RawResource>,
    file: &str,
) -> Result<BTreeMap<ResourceUri, Resource>, String> {
    let mut out = BTreeMap::new();
    for (uri, r) in raw {
        let key = format!("resources.\"{uri}\"");
        let parsed = Resource::parse_identifier(uri).map_err(|e| format!("{file}: {key}: {e}"))?;
        let scopes = r
            .scopes
            .iter()
            .map(|s| {
                ScopeToken::parse(s.clone())
                    .map_err(|_| format!("{file}: {key}.scopes: `{s}` is not a scope token"))
            })
            .collect::<Result<_, _>>()?;
        let format = r
            .format
            .as_deref()
            .map(|f| {
                f.parse::<TokenFormat>()
                    .map_err(|e| format!("{file}: {key}.format: {e}"))
            })
            .transpose()?;
        let ttl = match &r.ttl {
            Some(text) => {
                let ttl = parse_duration(text)
                    .map(|d| d.as_secs())
                    .filter(|s| (1..=86_400).contains(s))
                    .ok_or_else(|| {
                        format!(
                            "{file}: {key}.ttl: expected a duration from 1s to 24h, got `{text}`"
                        )
                    })?;
                Some(ttl)
            }
            None => None,
        };
        out.insert(
            parsed.clone(),
            Resource {
                uri: parsed,
                scopes,
                format,
                access_token_ttl: ttl,
            },
        );
    }
    Ok(out)
}

/// Scope descriptions for the consent page: `""` is the default text, other keys are language tags.
fn scope_descriptions(
    scopes: &BTreeMap<String, RawScope>,
    file: &str,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    // offline_access is defined by OpenID Connect; describe it even when the operator does not.
    out.insert(
        "offline_access".into(),
        BTreeMap::from([
            ("en".into(), "Keep access while you are away".into()),
            ("es".into(), "Mantener el acceso cuando no estés".into()),
        ]),
    );
    for (name, scope) in scopes {
        let mut texts = BTreeMap::new();
        if let Some(description) = &scope.description {
            texts.insert(String::new(), description.clone());
        }
        for (tag, text) in &scope.translations {
            if !Locale::ALL.iter().any(|l| l.tag() == tag) {
                return Err(format!(
                    "{file}: scopes.{name}.translations.{tag}: the pages are not written in `{tag}`"
                ));
            }
            texts.insert(tag.clone(), text.clone());
        }
        if !texts.is_empty() {
            out.insert(name.clone(), texts);
        }
    }
    Ok(out)
}

fn resolve_log(
    raw: &RawLog,
    file: &str,
    env: &BTreeMap<String, String>,
) -> Result<LogConfig, String> {
    let (level, origin) = pick(
        None,
        env,
        "LATCHKEY_LOG_LEVEL",
        raw.level.clone().map(|v| (v, format!("{file}: log.level"))),
    )
    .unwrap_or_else(|| ("info".to_owned(), "default".to_owned()));
    // sqlx logs each statement at info; that is noise for an operator and a cost on the hot path.
    let filter = format!("sqlx=warn,{level}").parse().map_err(|_| {
        format!("{origin}: `{level}` is not a log filter such as `info` or `info,latchkey=debug`")
    })?;
    let (format, origin) = pick(
        None,
        env,
        "LATCHKEY_LOG_FORMAT",
        raw.format
            .clone()
            .map(|v| (v, format!("{file}: log.format"))),
    )
    .unwrap_or_else(|| ("plain".to_owned(), "default".to_owned()));
    let format = match format.as_str() {
        "plain" => LogFormat::Plain,
        "json" => LogFormat::Json,
        other => {
            return Err(format!(
                "{origin}: `{other}` is not a log format (expected plain or json)"
            ));
        }
    };
    Ok(LogConfig {
        filter,
        format,
        access: raw.access.unwrap_or(true),
    })
}

/// Parses `"90s"`, `"10m"`, `"1h"`, `"7d"` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn duration(
    value: &Option<String>,
    file: &str,
    key: &str,
    default: Duration,
) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(text) => parse_duration(text).ok_or_else(|| {
            format!("{file}: {key}: expected a duration such as \"10m\", got `{text}`")
        }),
    }
}

/// `duration` in seconds, refusing values below `min_seconds` rather than quietly raising them.
fn duration_at_least(
    value: &Option<String>,
    file: &str,
    key: &str,
    default: Duration,
    min_seconds: u64,
) -> Result<u64, String> {
    let seconds = duration(value, file, key, default)?.as_secs();
    if seconds < min_seconds {
        return Err(format!("{file}: {key}: must be at least {min_seconds}s"));
    }
    Ok(seconds)
}

fn absolute_url(value: &str, file: &str, key: &str) -> Result<String, String> {
    let url = url::Url::parse(value)
        .map_err(|e| format!("{file}: {key}: `{value}` is not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("{file}: {key}: `{value}` must be an http(s) URL"));
    }
    if url.fragment().is_some() {
        return Err(format!("{file}: {key}: `{value}` must not have a fragment"));
    }
    Ok(value.to_owned())
}

fn check_distinct_paths(features: &Features, file: &str) -> Result<(), String> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let well_known = features.well_known_paths();
    let authorization = features
        .endpoints
        .authorization
        .as_deref()
        .map(path_of)
        .unwrap_or_default();
    let mut paths: Vec<(String, &str)> = vec![
        (authorization.clone(), "endpoints.authorization_endpoint"),
        (format!("{authorization}/login"), "the login form"),
        (format!("{authorization}/consent"), "the consent form"),
        (
            format!("{authorization}/assets/latchkey.css"),
            "the stylesheet",
        ),
        (
            path_of(&features.endpoints.token),
            "endpoints.token_endpoint",
        ),
        (
            features
                .endpoints
                .introspection
                .as_deref()
                .map(path_of)
                .unwrap_or_default(),
            "endpoints.introspection_endpoint",
        ),
        (
            features
                .endpoints
                .registration
                .as_deref()
                .map(path_of)
                .unwrap_or_else(|| "/-registration-off".into()),
            "endpoints.registration_endpoint",
        ),
        (
            features
                .endpoints
                .revocation
                .as_deref()
                .map(path_of)
                .unwrap_or_default(),
            "endpoints.revocation_endpoint",
        ),
        (path_of(&features.endpoints.jwks), "endpoints.jwks_uri"),
        ("/health/live".to_owned(), "the liveness probe"),
        ("/health/ready".to_owned(), "the readiness probe"),
    ];
    paths.extend(
        well_known
            .iter()
            .map(|p| (p.clone(), "the metadata document")),
    );
    for (path, owner) in paths {
        if path.contains(WELL_KNOWN_SUFFIX) && owner != "the metadata document" {
            return Err(format!(
                "{file}: {owner}: path `{path}` collides with the metadata document"
            ));
        }
        if let Some(other) = seen.insert(path.clone(), owner) {
            return Err(format!(
                "{file}: {owner}: path `{path}` is already used by {other}"
            ));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn read_or_create_dev_key(path: &Path) -> Result<MasterKey, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    format!("{}: cannot create the dev master key: {e}", path.display())
                })?;
            writeln!(file, "{}", key.to_base64())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(format!(
            "{}: cannot read the dev master key: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(toml_text: &str, env: &[(&str, &str)], flags: Flags) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(toml_text).map_err(|e| e.message().to_owned())?;
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(raw, "latchkey.toml", &env, &flags)
    }

    #[test]
    fn defaults_give_a_loopback_server_on_sqlite() {
        let config = resolve("", &[], Flags::default()).unwrap();
        assert_eq!(
            config.settings.features.issuer.as_str(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(config.database_url, DEFAULT_DATABASE);
        assert_eq!(
            config.settings.features.endpoints.token,
            "http://127.0.0.1:8080/token"
        );
        assert!(matches!(config.master_key, MasterKeySource::Missing));
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let file = "issuer = \"https://file.example\"\nlisten = \"127.0.0.1:1\"";
        let env = [("LATCHKEY_ISSUER", "https://env.example")];
        assert_eq!(
            resolve(file, &[], Flags::default())
                .unwrap()
                .settings
                .policy
                .issuer
                .as_str(),
            "https://file.example"
        );
        assert_eq!(
            resolve(file, &env, Flags::default())
                .unwrap()
                .settings
                .policy
                .issuer
                .as_str(),
            "https://env.example"
        );
        let flags = Flags {
            issuer: Some("https://flag.example".into()),
            ..Flags::default()
        };
        let config = resolve(file, &env, flags).unwrap();
        assert_eq!(
            config.settings.policy.issuer.as_str(),
            "https://flag.example"
        );
        assert_eq!(config.listen.port(), 1);
    }

    #[test]
    fn errors_name_the_source_and_key() {
        let err = resolve("issuer = \"http://as.example.com\"", &[], Flags::default()).unwrap_err();
        assert!(
            err.starts_with("latchkey.toml: issuer:") && err.contains("https"),
            "{err}"
        );
        let err = resolve(
            "",
            &[("LATCHKEY_ISSUER", "https://x.example?q=1")],
            Flags::default(),
        )
        .unwrap_err();
        assert!(
            err.starts_with("LATCHKEY_ISSUER:") && err.contains("query"),
            "{err}"
        );
        let flags = Flags {
            issuer: Some("https://x.example#f".into()),
            ..Flags::default()
        };
        assert!(
            resolve("", &[], flags)
                .unwrap_err()
                .starts_with("--issuer:")
        );
        let err = resolve(
            "[tokens]\naccess_token_ttl = \"ten\"",
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "latchkey.toml: tokens.access_token_ttl: expected a duration such as \"10m\", got `ten`"
        );
        let err = resolve("", &[("LATCHKEY_ISUER", "x")], Flags::default()).unwrap_err();
        assert!(
            err.starts_with("LATCHKEY_ISUER: unknown environment variable"),
            "{err}"
        );
        assert!(
            resolve("isuer = \"x\"", &[], Flags::default())
                .unwrap_err()
                .contains("isuer")
        );
        let err = resolve("[metadata.extra]\nissuer = \"x\"", &[], Flags::default()).unwrap_err();
        assert!(err.contains("metadata.extra.issuer"), "{err}");
        let err = resolve("[keys]\nalgorithm = \"HS256\"", &[], Flags::default()).unwrap_err();
        assert!(err.starts_with("latchkey.toml: keys.algorithm:"), "{err}");
    }

    #[test]
    fn endpoints_can_live_on_another_host() {
        let config = resolve(
            "issuer = \"https://api.example.com/v3/oauth\"\n[endpoints]\ntoken_endpoint = \"https://app.example.com/oauth/token\"",
            &[],
            Flags::default(),
        )
        .unwrap();
        let endpoints = &config.settings.features.endpoints;
        assert_eq!(endpoints.token, "https://app.example.com/oauth/token");
        assert_eq!(endpoints.jwks, "https://api.example.com/v3/oauth/jwks");
    }

    #[test]
    fn colliding_endpoint_paths_are_refused() {
        let err = resolve(
            "[endpoints]\njwks_uri = \"http://127.0.0.1:8080/token\"",
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(err.contains("already used"), "{err}");
    }

    #[test]
    fn page_settings_are_checked() {
        let err = resolve(
            "[metadata]\nui_locales_supported = [\"fr\"]",
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(
            err.contains("metadata.ui_locales_supported") && err.contains("fr"),
            "{err}"
        );
        let err = resolve(
            "[ui]\nlogo_url = \"http://x.example/logo.png\"",
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(err.contains("ui.logo_url"), "{err}");
        let err = resolve(
            "[scopes.a]\ntranslations = { de = \"x\" }",
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(err.contains("scopes.a.translations.de"), "{err}");
        let err = resolve(
            "[login]\ndelay_after = 5\nlock_after = 2",
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(err.contains("login."), "{err}");
        for (text, key) in [
            ("[login]\nsession_ttl = \"10s\"", "login.session_ttl"),
            ("[login]\nlock_duration = \"0\"", "login.lock_duration"),
            (
                "[registration]\npolicy = \"open\"\nunused_client_ttl = \"5s\"",
                "registration.unused_client_ttl",
            ),
            (
                "[registration]\npolicy = \"sometimes\"",
                "registration.policy",
            ),
            ("[fetch]\nmax_bytes = 10", "fetch.max_bytes"),
            (
                "[cache]\nrefresh_interval = \"2m\"",
                "cache.refresh_interval",
            ),
            (
                "[client_id_metadata_documents]\nenabled = true\nmin_cache = \"2d\"",
                "min_cache",
            ),
        ] {
            let err = resolve(text, &[], Flags::default()).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
        let err = resolve("[tokens]\ncode_ttl = \"1h\"", &[], Flags::default()).unwrap_err();
        assert!(err.contains("tokens.code_ttl"), "{err}");
        let err = resolve(
            "[tokens]\nrefresh_token_idle_ttl = \"100d\"",
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(err.contains("tokens.refresh_token_idle_ttl"), "{err}");
        let config = resolve("", &[], Flags::default()).unwrap();
        assert_eq!(config.settings.features.ui_locales_supported, ["en", "es"]);
        assert_eq!(config.min_password_length, 8);
    }

    #[test]
    fn resources_are_checked() {
        let config = resolve(
            "[resources.\"https://api.example.com/\"]\nscopes = [\"read\"]\nformat = \"opaque\"\nttl = \"5m\"",
            &[],
            Flags::default(),
        )
        .unwrap();
        let api = config.settings.resources.values().next().unwrap();
        assert_eq!(
            (api.format, api.access_token_ttl),
            (Some(TokenFormat::Opaque), Some(300))
        );
        for (text, key) in [
            ("[resources.\"http://api.example.com/\"]", "resources."),
            (
                "[resources.\"https://a.example/\"]\nformat = \"paseto\"",
                ".format",
            ),
            ("[resources.\"https://a.example/\"]\nttl = \"2d\"", ".ttl"),
            (
                "[resources.\"https://a.example/\"]\nscopes = [\"a b\"]",
                ".scopes",
            ),
        ] {
            let err = resolve(text, &[], Flags::default()).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn master_key_value_errors_name_their_origin() {
        let config = resolve("", &[("LATCHKEY_MASTER_KEY", "short")], Flags::default()).unwrap();
        assert!(
            config
                .master_key()
                .unwrap_err()
                .starts_with("LATCHKEY_MASTER_KEY:")
        );
        let config = resolve("", &[], Flags::default()).unwrap();
        assert!(
            config
                .master_key()
                .unwrap_err()
                .starts_with("master_key: not set")
        );
    }
}
