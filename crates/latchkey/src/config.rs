//! Configuration: defaults < TOML file < `LATCHKEY_*` environment < command-line flags.
//!
//! `Config::resolve` reads each `[section]` with its own function (one file per section under
//! `config/`), each returning a `ConfigError` that names where the bad value came from and what is
//! wrong with it, printed as one line.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use latchkey_core::metadata::Features;
use latchkey_core::resource::Resource;
use latchkey_core::token::TokenPolicy;
use latchkey_core::types::{Issuer, ResourceUri, ScopeToken};
use latchkey_server::Settings;
use latchkey_server::settings::path_of;
use latchkey_server::settings::{
    DocumentSettings, HttpSettings, KeySettings, OpenIdSettings, RegistrationSettings,
};

mod audit;
mod database;
mod endpoints;
mod error;
mod http;
mod logging;
mod master_key;
mod metrics;
mod openapi;
mod openid;
mod pages;
mod policy;
mod rate_limits;
mod raw;
mod registration;
mod resources;
mod scopes;
mod tokens;
mod value;

pub use error::{ConfigError, Origin};
pub use logging::{LogConfig, LogFormat};
pub use master_key::{DEV_MASTER_KEY_FILE, MasterKeySource};
pub use metrics::MetricsConfig;
pub use raw::RawConfig;
pub use value::parse_duration;

/// Where the embedded database lives when nothing says otherwise: the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite://latchkey.db";
/// The issuer when none is configured: this machine's loopback address on the port listened on, so
/// `serve --dev --listen 127.0.0.1:9000` publishes endpoints that answer. A listener on every address
/// (`0.0.0.0`, `[::]`) or on another one still gets a loopback issuer: an http issuer is only allowed
/// on loopback, and anything else needs `issuer` set.
fn default_issuer(listen: SocketAddr) -> String {
    let ip = listen.ip();
    match ip {
        std::net::IpAddr::V6(v6) if v6.is_loopback() => format!("http://[{v6}]:{}", listen.port()),
        _ if ip.is_loopback() => format!("http://{ip}:{}", listen.port()),
        _ => format!("http://127.0.0.1:{}", listen.port()),
    }
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

/// A configured scope.
#[derive(Clone, Debug)]
pub struct ScopeConfig {
    /// Whether `scopes_supported` lists it.
    pub public: bool,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Socket address to listen on.
    pub listen: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// The connection pool (`[database]`).
    pub database: latchkey_store::ConnectOptions,
    /// Whether opening the database applies pending migrations (`serve --no-migrate` turns it off).
    pub migrate: bool,
    /// The master key's source; read only by commands that need it.
    pub master_key: MasterKeySource,
    /// `--dev` was given.
    pub dev: bool,
    /// Logging.
    pub log: LogConfig,
    /// Configured scopes by name, in the file's order.
    pub scopes: IndexMap<String, ScopeConfig>,
    /// What the server serves.
    pub settings: Settings,
    /// Shortest password `user add` and `user set-password` accept, in characters.
    pub min_password_length: usize,
    /// The metrics listener.
    pub metrics: MetricsConfig,
}

/// Reads configuration from `flags.config`, the process environment and `flags`.
pub fn load(flags: &Flags) -> Result<Config, ConfigError> {
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

fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::at(path.display().to_string(), format!("cannot read: {e}")))?;
    parse_toml(&text, &path.display().to_string())
}

fn parse_toml(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].lines().count().max(1));
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        ConfigError::at(format!("{file}{at}"), e.message().trim().replace('\n', " "))
    })
}

/// Resolves configuration from TOML text, an explicit environment and flags: `load` without files or
/// the process environment, for integration tests and embedding.
pub fn from_parts(
    toml_text: &str,
    env: &BTreeMap<String, String>,
    flags: &Flags,
) -> Result<Config, ConfigError> {
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
    "LATCHKEY_METRICS_LISTEN",
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

/// A top-level key of the file, with its origin.
fn in_file(file: &str, key: &str, value: &Option<String>) -> Option<(String, String)> {
    value.clone().map(|v| (v, format!("{file}: {key}")))
}

/// Any other `LATCHKEY_*` variable is refused: a typo would otherwise go unnoticed.
fn refuse_unknown_env(env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    match env
        .keys()
        .find(|k| !KNOWN_ENV.contains(&k.as_str()) && !k.starts_with("LATCHKEY_TEST_"))
    {
        Some(unknown) => Err(ConfigError::at(
            unknown,
            format!(
                "unknown environment variable (known: {})",
                KNOWN_ENV.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// The top-level keys, each from its flag, its `LATCHKEY_*` variable or the file.
struct TopLevel {
    listen: SocketAddr,
    issuer: Issuer,
    database_url: String,
}

impl TopLevel {
    fn resolve(
        raw: &RawConfig,
        file: &str,
        env: &BTreeMap<String, String>,
        flags: &Flags,
    ) -> Result<TopLevel, ConfigError> {
        let (listen_text, listen_origin) = pick(
            flags.listen.as_ref().map(|v| ("--listen", v)),
            env,
            "LATCHKEY_LISTEN",
            in_file(file, "listen", &raw.listen),
        )
        .unwrap_or_else(|| ("127.0.0.1:8080".to_owned(), "default listen".to_owned()));
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError::at(
                &listen_origin,
                format!("`{listen_text}` is not an address such as 127.0.0.1:8080 or [::]:443"),
            )
        })?;
        let (issuer_text, issuer_origin) = pick(
            flags.issuer.as_ref().map(|v| ("--issuer", v)),
            env,
            "LATCHKEY_ISSUER",
            in_file(file, "issuer", &raw.issuer),
        )
        .unwrap_or_else(|| (default_issuer(listen), "default issuer".to_owned()));
        let issuer = Issuer::parse(&issuer_text).map_err(|e| ConfigError::at(&issuer_origin, e))?;
        let (database_url, _) = pick(
            flags.database.as_ref().map(|v| ("--database", v)),
            env,
            "LATCHKEY_DATABASE_URL",
            in_file(file, "database_url", &raw.database_url),
        )
        .unwrap_or_else(|| (DEFAULT_DATABASE.to_owned(), "default".to_owned()));
        Ok(TopLevel {
            listen,
            issuer,
            database_url,
        })
    }
}

/// What the protocol sections decide together: the routes and the metadata document come from
/// `features`, and the scopes, keys and OpenID settings depend on each other's choices.
struct Protocol {
    features: Features,
    policy: TokenPolicy,
    resources: BTreeMap<ResourceUri, Resource>,
    http: HttpSettings,
    keys: KeySettings,
    scopes: IndexMap<String, ScopeConfig>,
    registration: Option<RegistrationSettings>,
    client_id_documents: Option<DocumentSettings>,
    openid: Option<OpenIdSettings>,
    stylesheet_path: String,
}

impl Protocol {
    fn resolve(raw: &RawConfig, file: &str, issuer: Issuer) -> Result<Protocol, ConfigError> {
        let policy = tokens::tokens(&raw.tokens, file, &issuer)?;
        let resources = resources::resources(&raw.resources, file)?;
        let http = http::http(&raw.http, file)?;
        let mut scopes = scopes::scopes(&raw.scopes, file)?;
        let registration = registration::registration(&raw.registration, file)?;
        let client_id_documents = registration::documents(&raw.client_id_metadata_documents, file)?;
        let server_policy = policy::policy(&raw.policy, file)?;
        let endpoints = endpoints::endpoints(
            &raw.endpoints,
            file,
            &issuer,
            &server_policy,
            registration.is_some(),
        )?;
        let openid = openid::openid(
            &raw.openid,
            &raw.endpoints,
            file,
            &issuer,
            endpoints.authorization.as_deref(),
        )?;
        // A retired key stays published until the last token it may have signed expires (L6): ID
        // tokens, and resources that give their tokens longer lifetimes than the default.
        let longest_token_ttl = resources
            .values()
            .filter_map(|r| r.access_token_ttl)
            .chain(openid.as_ref().map(|o| o.settings.id_token_ttl))
            .fold(policy.access_token_ttl, u64::max);
        let keys = tokens::keys(&raw.keys, file, longest_token_ttl)?;
        if openid.is_some() {
            scopes::add_openid_scopes(&mut scopes);
        }
        let stylesheet_path = format!(
            "{}/assets/latchkey.css",
            endpoints
                .authorization
                .as_deref()
                .map(path_of)
                .unwrap_or_default()
        );
        let features = endpoints::features(
            &raw.metadata,
            file,
            issuer,
            endpoints,
            server_policy,
            scopes
                .iter()
                .filter(|(_, s)| s.public)
                .map(|(n, _)| n.clone())
                .collect(),
            client_id_documents.is_some(),
            openid.as_ref().map(|o| o.features.clone()),
        )?;
        Ok(Protocol {
            features,
            policy,
            resources,
            http,
            keys,
            scopes,
            registration,
            client_id_documents,
            openid: openid.map(|o| o.settings),
            stylesheet_path,
        })
    }
}

impl Config {
    /// Merges the sources and validates every value, section by section.
    pub fn resolve(
        raw: RawConfig,
        file: &str,
        env: &BTreeMap<String, String>,
        flags: &Flags,
    ) -> Result<Config, ConfigError> {
        refuse_unknown_env(env)?;
        let TopLevel {
            listen,
            issuer,
            database_url,
        } = TopLevel::resolve(&raw, file, env, flags)?;
        let database = database::database(&raw.database, file)?;
        let master_key =
            MasterKeySource::resolve(&raw.master_key, &raw.master_key_file, file, env, flags.dev);
        let log = logging::log(&raw.log, file, env)?;
        let protocol = Protocol::resolve(&raw, file, issuer)?;
        let ui = pages::ui(
            &raw.ui,
            file,
            protocol.stylesheet_path,
            scopes::descriptions(&raw.scopes, file, protocol.openid.is_some())?,
        )?;
        let login = pages::login(&raw.login, file)?;
        let min_password_length = pages::users(&raw.users, file)?;
        let cache_refresh_interval = http::cache(&raw.cache, file)?;
        let fetch = registration::fetch(&raw.fetch, file)?;
        let metrics = metrics::metrics(&raw.metrics, file, env, listen)?;
        let audit = audit::audit(&raw.audit, file)?;
        let openapi_path =
            openapi::openapi(&raw.openapi, file, &protocol.features, &ui.stylesheet_path)?;
        let rate_limits = rate_limits::rate_limits(&raw.rate_limits, file)?;
        let configured_scopes = protocol
            .scopes
            .keys()
            .filter_map(|s| ScopeToken::parse(s.clone()).ok())
            .collect();
        Ok(Config {
            listen,
            database_url,
            database,
            migrate: true,
            master_key,
            dev: flags.dev,
            log,
            scopes: protocol.scopes,
            settings: Settings {
                features: protocol.features,
                policy: protocol.policy,
                http: protocol.http,
                keys: protocol.keys,
                ui,
                login,
                resources: protocol.resources,
                cache_refresh_interval,
                registration: protocol.registration,
                configured_scopes,
                openid: protocol.openid,
                client_id_documents: protocol.client_id_documents,
                fetch,
                metrics: metrics.settings,
                audit,
                openapi_path,
                rate_limits,
            },
            min_password_length,
            metrics,
        })
    }

    /// Reads the master key, creating the dev key file if `--dev` and it is missing.
    pub fn master_key(&self) -> Result<latchkey_core::keys::MasterKey, ConfigError> {
        self.master_key.read()
    }
}

#[cfg(test)]
mod tests;
