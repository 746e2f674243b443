//! `latchkey client …`: register, list, show, delete clients and rotate their secrets.
use std::collections::BTreeSet;

use anyhow::{Result, anyhow, bail};
use latchkey_core::client::{Client, ClientAuth, ClientPolicy, TokenFormat};
use latchkey_core::resource::Resource;
use latchkey_core::secret::ClientSecret;
use latchkey_core::types::{AuthMethod, ClientId, GrantType, RedirectUri, Scope};
use latchkey_store::{ClientStore, Store};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::table::printable;
use crate::cli::{audit, open_store};
use crate::config::Config;
use latchkey_store::AuditEvent;

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Register a client and print its client_id and client_secret (the secret is shown only once).
    Create(Box<CreateArgs>),
    /// List registered clients.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client_id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete {
        /// The client_id.
        id: String,
    },
    /// Replace a client's secret and print the new one (the old one stops working at once).
    RotateSecret {
        /// The client_id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `client create`'s flags.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Human-readable name.
    #[arg(long)]
    pub name: String,
    /// A grant type the client may use (repeatable): client_credentials, authorization_code,
    /// refresh_token. Default: client_credentials, or authorization_code and refresh_token for
    /// --auth-method none.
    #[arg(long = "grant-type", value_name = "T")]
    pub grant_types: Vec<String>,
    /// token_endpoint_auth_method: client_secret_basic (default), client_secret_post, or none for a
    /// public client (a native or browser app, which gets no secret).
    #[arg(long, value_name = "M", default_value = "client_secret_basic")]
    pub auth_method: String,
    /// Space-separated scopes the client may request.
    #[arg(long, default_value = "")]
    pub scope: String,
    /// A redirect URI (repeatable), matched exactly.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Resource-server role: may introspect tokens issued to any client (confidential clients only).
    #[arg(long)]
    pub introspect_any: bool,
    /// Access-token format for this client: jwt (default) or opaque; a resource's own setting wins.
    #[arg(long, value_name = "F")]
    pub access_token_format: Option<String>,
    /// A resource the client may ask tokens for (repeatable; default: any configured resource).
    /// Token exchange needs its target resources listed here.
    #[arg(long = "allowed-resource", value_name = "URI")]
    pub allowed_resources: Vec<String>,
    /// For --auth-method private_key_jwt: a JSON file with the client's public keys ({"keys": [...]}).
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub openid: OpenIdArgs,
    /// Use this client_id instead of a random one.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `client create`'s OpenID Connect flags. They serialise as the members a registration request
/// sends, so that they are checked as registration checks them.
#[derive(Debug, clap::Args, Serialize)]
pub struct OpenIdArgs {
    /// OpenID Connect: `public` or `pairwise` subject identifiers (the sector is the one https host
    /// of the redirect URIs, or the client itself for loopback and private-use-scheme ones). The
    /// default is `public`, or `pairwise` where openid.subject_types lists only that.
    #[arg(long, value_name = "TYPE")]
    pub subject_type: Option<String>,
    /// OpenID Connect: the algorithm of this client's ID tokens (RS256 default, PS256, ES256, EdDSA).
    #[arg(long, value_name = "ALG")]
    pub id_token_signed_response_alg: Option<String>,
    /// OpenID Connect RP-Initiated Logout: where the client may send people after logout (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// OpenID Connect: the client's home page, shown on the consent page (https).
    #[arg(long, value_name = "URL")]
    pub client_uri: Option<String>,
    /// OpenID Connect: the client's logo, shown on the consent page (https).
    #[arg(long, value_name = "URL")]
    pub logo_uri: Option<String>,
    /// OpenID Connect: the client's privacy policy, linked from the consent page (https).
    #[arg(long, value_name = "URL")]
    pub policy_uri: Option<String>,
    /// OpenID Connect: the client's terms of service, linked from the consent page (https).
    #[arg(long, value_name = "URL")]
    pub tos_uri: Option<String>,
    /// OpenID Connect: a session older than this many seconds signs in again when the request has
    /// no max_age.
    #[arg(long, value_name = "SECONDS")]
    pub default_max_age: Option<u64>,
    /// OpenID Connect: every ID token carries auth_time.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_auth_time: bool,
    /// OpenID Connect: `false` lets this confidential client's requests omit both PKCE and nonce
    /// (Core §3.1.2.1); `true` requires one of them whatever openid.require_pkce_for_confidential_clients
    /// says. Public clients always need PKCE.
    #[arg(long, value_name = "BOOL")]
    pub require_pkce: Option<bool>,
}

pub async fn run(command: ClientCommand, config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let result = dispatch(command, config, &store).await;
    store.close().await;
    result
}

async fn dispatch(command: ClientCommand, config: &Config, store: &Store) -> Result<()> {
    match command {
        ClientCommand::Create(args) => {
            let json = args.json;
            let client = build_client(config, *args)?;
            let (client, secret) = client;
            // I5: a client_credentials token carries the client id as `sub` (RFC 9068 §2.2); if a
            // user's subject were a client id, a resource server could not tell the two apart.
            if latchkey_store::UserStore::find_user(store, client.client_id.as_str())
                .await?
                .is_some()
            {
                bail!(
                    "--client-id: `{}` is a user's subject; choose another id",
                    client.client_id
                );
            }
            store.insert_client(&client).await?;
            let created = audit::operator(AuditEvent::ClientCreated)
                .client(client.client_id.as_str())
                .reason(format!("{} ({})", client.name, client.auth.method()));
            audit::record(store, &[created]).await?;
            let openid = config.settings.openid.is_some();
            print_with_secret(&client, secret.as_ref(), openid, json);
        }
        ClientCommand::List { json } => {
            let clients = store.list_clients().await?;
            if json {
                let openid = config.settings.openid.is_some();
                let described = clients.iter().map(|c| describe(c, openid)).collect();
                println!("{}", Value::Array(described));
            } else if clients.is_empty() {
                println!("no clients registered");
            } else {
                println!(
                    "{:<24} {:<20} {:<30} NAME",
                    "CLIENT_ID", "AUTH_METHOD", "GRANT_TYPES"
                );
                for c in &clients {
                    let grants: Vec<_> = c.grant_types.iter().map(|g| g.as_str()).collect();
                    println!(
                        "{:<24} {:<20} {:<30} {}",
                        printable(c.client_id.as_str()),
                        c.auth.method(),
                        grants.join(","),
                        printable(&c.name)
                    );
                }
            }
        }
        ClientCommand::Show { id, json } => {
            let client = find(store, &id).await?;
            let described = describe(&client, config.settings.openid.is_some());
            if json {
                println!("{described}");
            } else {
                print_plain(&described);
            }
        }
        ClientCommand::Delete { id } => {
            let id = parse_id(&id)?;
            if !store.delete_client(&id).await? {
                bail!("client `{id}` does not exist");
            }
            let deleted = audit::operator(AuditEvent::ClientDeleted)
                .client(id.as_str())
                .reason("its grants, consents and tokens ended with it");
            audit::record(store, &[deleted]).await?;
            println!("deleted client {id}");
        }
        ClientCommand::RotateSecret { id, json } => {
            let client = find(store, &id).await?;
            if client.is_public() {
                bail!("client `{id}` is public (auth method none): it has no secret to rotate");
            }
            let secret = ClientSecret::generate();
            store
                .set_client_secret(&client.client_id, client.auth.method(), &secret.hash())
                .await?;
            let rotated =
                audit::operator(AuditEvent::ClientSecretRotated).client(client.client_id.as_str());
            audit::record(store, &[rotated]).await?;
            let openid = config.settings.openid.is_some();
            print_with_secret(&client, Some(&secret), openid, json);
        }
    }
    Ok(())
}

fn build_client(config: &Config, args: CreateArgs) -> Result<(Client, Option<ClientSecret>)> {
    let policy = build_policy(
        args.introspect_any,
        &args.auth_method,
        args.access_token_format.as_deref(),
        &args.allowed_resources,
    )?;
    let CreateArgs {
        name,
        grant_types,
        auth_method,
        scope,
        redirect_uris,
        client_id,
        jwks,
        openid,
        ..
    } = args;
    if jwks.is_some() && method_name(&auth_method) != Some(AuthMethod::PrivateKeyJwt) {
        bail!("--jwks: only for --auth-method private_key_jwt");
    }
    if name.trim().is_empty() {
        bail!("--name: must not be empty");
    }
    if !latchkey_core::types::is_display_safe(&name) {
        bail!("--name: must not contain control or bidirectional formatting characters");
    }
    let method: AuthMethod = auth_method
        .parse()
        .map_err(|e| anyhow!("--auth-method: {e}"))?;
    let grant_types = client_grant_types(method, &grant_types, &redirect_uris)?;
    let scope = client_scope(config, &scope)?;
    let redirect_uris = redirect_uris
        .into_iter()
        .map(|u| RedirectUri::parse(u).map_err(|e| anyhow!("--redirect-uri: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let client_id = new_client_id(config, client_id)?;
    let secret = method.uses_secret().then(ClientSecret::generate);
    let auth = match (&secret, method) {
        (Some(secret), _) => ClientAuth::Secret {
            method,
            hash: secret.hash(),
        },
        (None, AuthMethod::PrivateKeyJwt) => ClientAuth::PrivateKeyJwt {
            jwks: read_jwks(jwks.as_deref())?,
            jwks_uri: None,
        },
        (None, _) => ClientAuth::Public,
    };
    let mut client = Client {
        client_id,
        name,
        auth,
        grant_types,
        scope,
        redirect_uris,
        created_at: latchkey_server::clock::Clock::system().now(),
        policy,
    };
    client.policy.openid =
        openid_client(config, &openid, &client.client_id, &client.redirect_uris)?;
    config.settings.features.check_client(&client).map_err(|e| {
        anyhow!(
            "{}; see policy.grant_types and policy.token_endpoint_auth_methods in the configuration",
            e.description()
        )
    })?;
    Ok((client, secret))
}

/// `--grant-type`. The default is what each kind of client is for: a service gets
/// client_credentials, a public app signs people in and refreshes.
fn client_grant_types(
    method: AuthMethod,
    given: &[String],
    redirect_uris: &[String],
) -> Result<BTreeSet<GrantType>> {
    let grant_types: BTreeSet<GrantType> = if !given.is_empty() {
        given
            .iter()
            .map(|g| g.parse::<GrantType>().map_err(|_| anyhow!("--grant-type: `{g}` is not a grant type this server implements (implemented: {})", implemented_grants())))
            .collect::<Result<_>>()?
    } else if method == AuthMethod::None {
        BTreeSet::from([GrantType::AuthorizationCode, GrantType::RefreshToken])
    } else {
        BTreeSet::from([GrantType::ClientCredentials])
    };
    if method == AuthMethod::None && grant_types.contains(&GrantType::ClientCredentials) {
        bail!(
            "--grant-type: client_credentials needs a confidential client (RFC 6749 §4.4); a public client (--auth-method none) cannot use it"
        );
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        bail!("--redirect-uri: the authorization_code grant needs at least one redirect URI");
    }
    if grant_types.contains(&GrantType::RefreshToken)
        && !grant_types.contains(&GrantType::AuthorizationCode)
    {
        bail!(
            "--grant-type: refresh_token is only issued with authorization_code; add --grant-type authorization_code"
        );
    }
    Ok(grant_types)
}

/// `--scope`: with scopes configured, only those.
fn client_scope(config: &Config, text: &str) -> Result<Scope> {
    let scope = Scope::parse(text).map_err(|e| anyhow!("--scope: {}", e.description()))?;
    if !config.scopes.is_empty() {
        let unknown: Vec<_> = scope
            .iter()
            .filter(|t| !config.scopes.contains_key(t.as_str()))
            .map(|t| t.as_str())
            .collect();
        if !unknown.is_empty() {
            let known: Vec<_> = config.scopes.keys().map(String::as_str).collect();
            bail!(
                "--scope: not configured: {} (configured scopes: {})",
                unknown.join(" "),
                known.join(" ")
            );
        }
    }
    Ok(scope)
}

/// `--client-id`, or a random one.
fn new_client_id(config: &Config, given: Option<String>) -> Result<ClientId> {
    let client_id = match given {
        Some(id) => ClientId::parse(id)
            .map_err(|_| anyhow!("--client-id: must be 1 to 255 visible ASCII characters"))?,
        None => ClientId::generate(),
    };
    // I6: with documents on, an https URL client_id names a metadata document; an operator's client
    // with such an id would be shadowed by whatever that URL serves.
    if config.settings.client_id_documents.is_some()
        && latchkey_core::cimd::is_document_url(&client_id)
    {
        bail!(
            "--client-id: `{client_id}` is an https URL with a path, which names a Client ID Metadata \
             Document while client_id_metadata_documents is enabled; choose an id that is not a URL"
        );
    }
    Ok(client_id)
}

/// Each OpenID member `client create` sets, and its flag.
const OPENID_FLAGS: [(&str, &str); 10] = [
    ("subject_type", "--subject-type"),
    (
        "id_token_signed_response_alg",
        "--id-token-signed-response-alg",
    ),
    ("post_logout_redirect_uris", "--post-logout-redirect-uri"),
    ("client_uri", "--client-uri"),
    ("logo_uri", "--logo-uri"),
    ("policy_uri", "--policy-uri"),
    ("tos_uri", "--tos-uri"),
    ("default_max_age", "--default-max-age"),
    ("require_auth_time", "--require-auth-time"),
    ("require_pkce", "--require-pkce"),
];

/// The OpenID members given as flags, checked as registration checks them.
fn openid_client(
    config: &Config,
    flags: &OpenIdArgs,
    client_id: &ClientId,
    redirect_uris: &[latchkey_core::types::RedirectUri],
) -> Result<latchkey_core::oidc::client::OpenIdClient> {
    let flag_of = |member: &str| {
        OPENID_FLAGS
            .iter()
            .find(|(m, _)| *m == member)
            .map_or("", |(_, f)| f)
    };
    let Some(openid) = &config.settings.openid else {
        // Stored but never used, and not shown: refused rather than silently kept.
        let members = serde_json::to_value(flags).expect("flags serialise");
        let given = OPENID_FLAGS.iter().find(|(member, _)| {
            !matches!(&members[*member], Value::Null)
                && members[*member] != Value::Array(Vec::new())
        });
        if let Some((_, flag)) = given {
            bail!("{flag}: OpenID Connect is off; set [openid] enabled = true first");
        }
        return Ok(Default::default());
    };
    let body = serde_json::to_vec(flags).expect("flags serialise");
    // As registration: a subject type the server does not offer is refused, and a server that
    // offers only pairwise subjects makes them the default.
    let rules = latchkey_core::oidc::client::OpenIdRules {
        algs: &openid.signing_algs,
        public_subjects: openid.public,
        pairwise_subjects: openid.pairwise,
    };
    let client = latchkey_core::oidc::client::OpenIdMetadata::from_json(&body)
        .and_then(|m| m.validate(&rules, client_id, redirect_uris))
        .map_err(|e| {
            let flag = OPENID_FLAGS
                .iter()
                .map(|(member, _)| *member)
                .find(|m| e.description().contains(m))
                .map(|m| format!("{}: ", flag_of(m)))
                .unwrap_or_default();
            anyhow!("{flag}{}", e.description())
        })?;
    Ok(client)
}

fn build_policy(
    introspect_any: bool,
    auth_method: &str,
    format: Option<&str>,
    resources: &[String],
) -> Result<ClientPolicy> {
    if introspect_any && auth_method == AuthMethod::None.as_str() {
        bail!(
            "--introspect-any: a public client cannot authenticate, so it cannot be a resource server"
        );
    }
    Ok(ClientPolicy {
        openid: Default::default(),
        registration: None,
        metadata_document: false,
        introspect_any,
        access_token_format: format
            .map(|f| {
                f.parse::<TokenFormat>()
                    .map_err(|e| anyhow!("--access-token-format: {e}"))
            })
            .transpose()?,
        resources: resources
            .iter()
            .map(|r| Resource::parse_identifier(r).map_err(|e| anyhow!("--allowed-resource: {e}")))
            .collect::<Result<_>>()?,
    })
}

fn method_name(text: &str) -> Option<AuthMethod> {
    text.parse().ok()
}

/// The keys of a private_key_jwt client, from a JWKS file.
fn read_jwks(path: Option<&std::path::Path>) -> Result<Vec<Value>> {
    let path =
        path.ok_or_else(|| anyhow!("--jwks: private_key_jwt needs the client's public keys"))?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("--jwks: cannot read {}: {e}", path.display()))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("--jwks: {} is not JSON: {e}", path.display()))?;
    let keys = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| anyhow!("--jwks: expected {{\"keys\": [...]}} with at least one key"))?;
    for key in keys {
        latchkey_core::keys::check_client_jwk(key).map_err(|e| anyhow!("--jwks: {e}"))?;
    }
    Ok(keys.clone())
}

fn implemented_grants() -> String {
    GrantType::ALL
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_id(id: &str) -> Result<ClientId> {
    ClientId::parse(id).map_err(|_| anyhow!("`{id}` is not a valid client_id"))
}

async fn find(store: &Store, id: &str) -> Result<Client> {
    let id = parse_id(id)?;
    store
        .find_client(&id)
        .await?
        .ok_or_else(|| anyhow!("client `{id}` does not exist"))
}

/// The client's registered metadata (RFC 7591 §2 names, and OpenID Registration §2's when OpenID
/// Connect is on); never the secret hash.
fn describe(client: &Client, openid: bool) -> Value {
    let mut value = json!({
        "client_id": client.client_id,
        "client_name": client.name,
        "token_endpoint_auth_method": client.auth.method().as_str(),
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scope": client.scope.to_string(),
        "redirect_uris": client.redirect_uris,
        "client_id_issued_at": client.created_at.0,
        "introspect_any": client.policy.introspect_any,
        "access_token_format": client.policy.access_token_format.map(|f| f.as_str()),
        "allowed_resources": client.policy.resources,
    });
    if openid && let Value::Object(members) = &mut value {
        members.extend(client.policy.openid.describe());
    }
    value
}

fn print_with_secret(client: &Client, secret: Option<&ClientSecret>, openid: bool, json: bool) {
    let mut value = describe(client, openid);
    if let Some(secret) = secret {
        value["client_secret"] = json!(secret.expose());
    }
    if json {
        println!("{value}");
    } else {
        print_plain(&value);
        if secret.is_some() {
            println!("The client_secret is shown only once; store it now.");
        }
    }
}

fn print_plain(value: &Value) {
    if let Value::Object(map) = value {
        for (key, v) in map {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            println!("{key:<27} {}", printable(&text));
        }
    }
}
