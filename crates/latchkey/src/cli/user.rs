//! `latchkey user …`: add, list, change and delete users, set their passwords and their standard
//! claims (OpenID Connect Core §5.1).
use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, anyhow, bail};
use latchkey_core::password::Password;
use latchkey_core::user::{User, Username};
use latchkey_store::{Store, UserStore};
use serde_json::{Value, json};

use crate::cli::{audit, open_store};
use crate::config::Config;
use latchkey_store::{AuditEvent, GrantStore};

/// The standard claims a user can have (OpenID Connect Core §5.1), one flag each.
#[derive(Debug, Default, clap::Args)]
pub struct ClaimArgs {
    /// Display name (`name`), shown on the consent page.
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// `given_name`.
    #[arg(long, value_name = "N")]
    given_name: Option<String>,
    /// `family_name`.
    #[arg(long, value_name = "N")]
    family_name: Option<String>,
    /// `middle_name`.
    #[arg(long, value_name = "N")]
    middle_name: Option<String>,
    /// `nickname`.
    #[arg(long, value_name = "N")]
    nickname: Option<String>,
    /// E-mail address (`email`).
    #[arg(long, value_name = "E")]
    email: Option<String>,
    /// The e-mail address was verified (`email_verified`); `--email-verified=false` to say it was not.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    email_verified: Option<String>,
    /// Telephone number (`phone_number`), E.164 such as +34600000000.
    #[arg(long, value_name = "P")]
    phone_number: Option<String>,
    /// The telephone number was verified (`phone_number_verified`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    phone_number_verified: Option<String>,
    /// Locale (`locale`), a BCP 47 tag such as es-ES.
    #[arg(long, value_name = "TAG")]
    locale: Option<String>,
    /// Time zone (`zoneinfo`), such as Europe/Madrid.
    #[arg(long, value_name = "TZ")]
    zoneinfo: Option<String>,
    /// `birthdate`: YYYY-MM-DD or YYYY.
    #[arg(long, value_name = "DATE")]
    birthdate: Option<String>,
    /// `gender`.
    #[arg(long, value_name = "G")]
    gender: Option<String>,
    /// `picture`: an https URL.
    #[arg(long, value_name = "URL")]
    picture: Option<String>,
    /// `profile`: an https URL.
    #[arg(long, value_name = "URL")]
    profile: Option<String>,
    /// `website`: an https URL.
    #[arg(long, value_name = "URL")]
    website: Option<String>,
    /// `address.street_address`.
    #[arg(long, value_name = "S")]
    street_address: Option<String>,
    /// `address.locality` (city).
    #[arg(long, value_name = "S")]
    locality: Option<String>,
    /// `address.region`.
    #[arg(long, value_name = "S")]
    region: Option<String>,
    /// `address.postal_code`.
    #[arg(long, value_name = "S")]
    postal_code: Option<String>,
    /// `address.country`.
    #[arg(long, value_name = "S")]
    country: Option<String>,
    /// `address.formatted`: the whole address as printed on a label.
    #[arg(long, value_name = "S")]
    address_formatted: Option<String>,
}

impl ClaimArgs {
    /// The claims given, by OpenID name.
    fn given(&self) -> Vec<(&'static str, &str)> {
        [
            ("name", &self.name),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("middle_name", &self.middle_name),
            ("nickname", &self.nickname),
            ("email", &self.email),
            ("email_verified", &self.email_verified),
            ("phone_number", &self.phone_number),
            ("phone_number_verified", &self.phone_number_verified),
            ("locale", &self.locale),
            ("zoneinfo", &self.zoneinfo),
            ("birthdate", &self.birthdate),
            ("gender", &self.gender),
            ("picture", &self.picture),
            ("profile", &self.profile),
            ("website", &self.website),
            ("street_address", &self.street_address),
            ("locality", &self.locality),
            ("region", &self.region),
            ("postal_code", &self.postal_code),
            ("country", &self.country),
            ("formatted", &self.address_formatted),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }

    /// Applies the given claims to `user`; the first bad one stops with its message.
    fn apply(&self, user: &mut User) -> Result<()> {
        for (claim, value) in self.given() {
            user.set_claim(claim, Some(value))
                .map_err(|e| anyhow!("{e}"))?;
        }
        Ok(())
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is asked for without echo, or read from standard input.
    Add {
        /// What the person types to sign in.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        claims: Box<ClaimArgs>,
    },
    /// Set or clear a user's standard claims (an empty value clears one).
    Set {
        /// The username.
        username: String,
        #[command(flatten)]
        claims: Box<ClaimArgs>,
    },
    /// List users.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user, with their sessions, consents and grants.
    Delete {
        /// The username.
        username: String,
    },
    /// Set a user's password; their sessions end, and their grants (refresh tokens) and access tokens
    /// are revoked: whatever someone holding the old password obtained stops working.
    SetPassword {
        /// The username.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Keep the user's grants and tokens (only the sessions end).
        #[arg(long)]
        keep_grants: bool,
    },
}

pub async fn run(command: UserCommand, config: &Config) -> Result<()> {
    // Read and check the password before opening the database, so a typo costs nothing.
    let password = match &command {
        UserCommand::Add { password_stdin, .. }
        | UserCommand::SetPassword { password_stdin, .. } => {
            Some(read_password(*password_stdin, config.min_password_length)?)
        }
        _ => None,
    };
    let store = open_store(config).await?;
    let result = dispatch(command, password, &store).await;
    store.close().await;
    result
}

async fn dispatch(command: UserCommand, password: Option<Password>, store: &Store) -> Result<()> {
    let password = || password.ok_or_else(|| anyhow!("no password"));
    match command {
        UserCommand::Add {
            username, claims, ..
        } => add(store, &username, &claims, password()?).await,
        UserCommand::Set { username, claims } => set(store, &username, &claims).await,
        UserCommand::List { json } => list(store, json).await,
        UserCommand::Delete { username } => delete(store, &username).await,
        UserCommand::SetPassword {
            username,
            keep_grants,
            ..
        } => set_password(store, &username, keep_grants, password()?).await,
    }
}

async fn add(store: &Store, username: &str, claims: &ClaimArgs, password: Password) -> Result<()> {
    let username = parse_username(username)?;
    let hash = tokio::task::spawn_blocking(move || password.hash()).await?;
    let now = latchkey_server::clock::Clock::system().now();
    // I5: a user's subject is never a client id (which client_credentials tokens carry as sub).
    let mut user_id = User::generate_id();
    while latchkey_store::ClientStore::find_client(
        store,
        &latchkey_core::types::ClientId::parse(user_id.clone())?,
    )
    .await?
    .is_some()
    {
        user_id = User::generate_id();
    }
    let mut user = User {
        user_id,
        username,
        email: None,
        name: None,
        password_hash: hash,
        created_at: now,
        attributes: Default::default(),
        updated_at: now,
    };
    claims.apply(&mut user)?;
    store.insert_user(&user).await?;
    let created = audit::operator(AuditEvent::UserCreated)
        .subject(user.user_id.as_str())
        .reason(format!("username {}", user.username));
    audit::record(store, &[created]).await?;
    println!("added user {} (sub {})", user.username, user.user_id);
    Ok(())
}

async fn set(store: &Store, username: &str, claims: &ClaimArgs) -> Result<()> {
    let username = parse_username(username)?;
    if claims.given().is_empty() {
        bail!("nothing to set: name a claim, such as --email or --given-name");
    }
    let mut user = store
        .find_user_by_username(&username)
        .await?
        .ok_or_else(|| anyhow!("user `{username}` does not exist"))?;
    claims.apply(&mut user)?;
    user.updated_at = latchkey_server::clock::Clock::system().now();
    if !store.update_user(&user).await? {
        bail!("user `{username}` does not exist");
    }
    println!("updated user {username}");
    Ok(())
}

async fn list(store: &Store, json: bool) -> Result<()> {
    let users = store.list_users().await?;
    if json {
        println!("{}", Value::Array(users.iter().map(describe).collect()));
    } else if users.is_empty() {
        println!("no users");
    } else {
        println!("{:<24} {:<24} {:<30} NAME", "USERNAME", "SUB", "EMAIL");
        for u in &users {
            println!(
                "{:<24} {:<24} {:<30} {}",
                u.username,
                u.user_id,
                u.email.as_deref().unwrap_or("-"),
                u.name.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}

async fn delete(store: &Store, username: &str) -> Result<()> {
    let username = parse_username(username)?;
    let Some(user) = store.find_user_by_username(&username).await? else {
        bail!("user `{username}` does not exist");
    };
    let grants = store
        .list_grants(&user.user_id, latchkey_server::clock::Clock::system().now())
        .await?;
    if !store.delete_user(&username).await? {
        bail!("user `{username}` does not exist");
    }
    let mut records: Vec<_> = grants
        .iter()
        .map(|g| {
            audit::operator(AuditEvent::GrantRevoked)
                .client(g.client_id.as_str())
                .subject(user.user_id.as_str())
                .reason(format!(
                    "grant {}: its user was deleted",
                    g.grant_id.as_str()
                ))
        })
        .collect();
    records.push(
        audit::operator(AuditEvent::UserDeleted)
            .subject(user.user_id.as_str())
            .reason(format!("username {username}")),
    );
    audit::record(store, &records).await?;
    println!("deleted user {username}");
    Ok(())
}

async fn set_password(
    store: &Store,
    username: &str,
    keep_grants: bool,
    password: Password,
) -> Result<()> {
    let username = parse_username(username)?;
    let hash = tokio::task::spawn_blocking(move || password.hash()).await?;
    let revoke = (!keep_grants).then(|| latchkey_server::clock::Clock::system().now());
    if !store.set_password(&username, &hash, revoke).await? {
        bail!("user `{username}` does not exist");
    }
    if let Some(user) = store.find_user_by_username(&username).await? {
        let changed = audit::operator(AuditEvent::UserPasswordChanged)
            .subject(user.user_id.as_str())
            .reason(if keep_grants {
                "set by an operator; the user's sessions ended"
            } else {
                "set by an operator; the user's sessions, grants and tokens ended"
            });
        audit::record(store, &[changed]).await?;
    }
    match keep_grants {
        true => println!("password of {username} changed; their sessions have ended"),
        false => {
            println!("password of {username} changed; their sessions, grants and tokens have ended")
        }
    }
    Ok(())
}

fn parse_username(text: &str) -> Result<Username> {
    Username::parse(text).map_err(|e| anyhow!("username: {e}"))
}

/// The password from the first line of standard input, or typed at a prompt without echo.
fn read_password(from_stdin: bool, min_length: usize) -> Result<Password> {
    let text = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("password: cannot read standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").context("password: cannot read")?;
        let again = rpassword::prompt_password("Repeat: ").context("password: cannot read")?;
        if first != again {
            bail!("password: the two entries differ");
        }
        first
    };
    let password = Password::new(text);
    if password.char_count() < min_length {
        bail!(
            "password: too short ({} characters); at least {min_length} are required (users.min_password_length)",
            password.char_count()
        );
    }
    Ok(password)
}

/// A user's public fields; never the password hash.
fn describe(user: &User) -> Value {
    let mut out = json!({
        "username": user.username.as_str(),
        "sub": user.user_id,
        "email": user.email,
        "name": user.name,
        "created_at": user.created_at.0,
        "updated_at": user.updated_at.0,
    });
    if let (Value::Object(out), Ok(Value::Object(attributes))) =
        (&mut out, serde_json::to_value(&user.attributes))
    {
        out.extend(attributes);
    }
    out
}
