//! `latchkey user …`: add, list, delete users and set their passwords.
use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, anyhow, bail};
use latchkey_core::password::Password;
use latchkey_core::user::{User, Username};
use latchkey_store::{Store, UserStore};
use serde_json::{Value, json};

use crate::cli::open_store;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is asked for without echo, or read from standard input.
    Add {
        /// What the person types to sign in.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// E-mail address.
        #[arg(long, value_name = "E")]
        email: Option<String>,
        /// Display name, shown on the consent page.
        #[arg(long, value_name = "N")]
        name: Option<String>,
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
    match command {
        UserCommand::Add {
            username,
            email,
            name,
            ..
        } => {
            let username = parse_username(&username)?;
            let password = password.ok_or_else(|| anyhow!("no password"))?;
            let hash = tokio::task::spawn_blocking(move || password.hash()).await?;
            let user = User {
                user_id: User::generate_id(),
                username,
                email: email.filter(|e| !e.trim().is_empty()),
                name: name.filter(|n| !n.trim().is_empty()),
                password_hash: hash,
                created_at: latchkey_server::clock::Clock.now(),
            };
            store.insert_user(&user).await?;
            println!("added user {} (sub {})", user.username, user.user_id);
        }
        UserCommand::List { json } => {
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
        }
        UserCommand::Delete { username } => {
            let username = parse_username(&username)?;
            if !store.delete_user(&username).await? {
                bail!("user `{username}` does not exist");
            }
            println!("deleted user {username}");
        }
        UserCommand::SetPassword {
            username,
            keep_grants,
            ..
        } => {
            let username = parse_username(&username)?;
            let password = password.ok_or_else(|| anyhow!("no password"))?;
            let hash = tokio::task::spawn_blocking(move || password.hash()).await?;
            let revoke = (!keep_grants).then(|| latchkey_server::clock::Clock.now());
            if !store.set_password(&username, &hash, revoke).await? {
                bail!("user `{username}` does not exist");
            }
            match keep_grants {
                true => println!("password of {username} changed; their sessions have ended"),
                false => println!(
                    "password of {username} changed; their sessions, grants and tokens have ended"
                ),
            }
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
    json!({
        "username": user.username.as_str(),
        "sub": user.user_id,
        "email": user.email,
        "name": user.name,
        "created_at": user.created_at.0,
    })
}
