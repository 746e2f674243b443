//! `[ui]`, `[login]` and `[users]`: what the login and consent pages show, how signing in is throttled,
//! and what a password must be.
use std::collections::BTreeMap;
use std::time::Duration;

use latchkey_server::settings::ThrottleSettings;
use latchkey_server::settings::{LoginSettings, UiSettings};
use latchkey_server::throttle::Limits;

use super::error::{ConfigError, Section};
use super::raw::{RawLogin, RawUi, RawUsers};
use super::value::{absolute_url, duration_at_least};

pub(crate) fn ui(
    raw: &RawUi,
    file: &str,
    stylesheet_path: String,
    scope_descriptions: BTreeMap<String, BTreeMap<String, String>>,
) -> Result<UiSettings, ConfigError> {
    let s = Section::new(file, "ui");
    Ok(UiSettings {
        operator_name: match &raw.operator_name {
            Some(name) if name.trim().is_empty() => {
                return Err(s.error("operator_name", "must not be empty"));
            }
            Some(name) => name.trim().to_owned(),
            None => "Latchkey".to_owned(),
        },
        logo_url: match &raw.logo_url {
            Some(url) if url.starts_with("https://") => Some(absolute_url(s, "logo_url", url)?),
            Some(url) => {
                return Err(s.error("logo_url", format!("`{url}` must be an https URL")));
            }
            None => None,
        },
        stylesheet_path,
        scope_descriptions,
    })
}

pub(crate) fn login(raw: &RawLogin, file: &str) -> Result<LoginSettings, ConfigError> {
    let s = Section::new(file, "login");
    let lock_seconds = duration_at_least(
        s,
        "lock_duration",
        &raw.lock_duration,
        Duration::from_secs(900),
        1,
    )?;
    let login = LoginSettings {
        session_ttl: duration_at_least(
            s,
            "session_ttl",
            &raw.session_ttl,
            Duration::from_secs(8 * 3600),
            60,
        )?,
        throttle: ThrottleSettings {
            account: Limits {
                delay_after: raw.delay_after.unwrap_or(3),
                lock_after: raw.lock_after.unwrap_or(10),
                lock_seconds,
                max_in_flight: raw.max_in_flight.unwrap_or(2),
            },
            address: Limits {
                delay_after: raw.address_delay_after.unwrap_or(20),
                lock_after: raw.address_lock_after.unwrap_or(100),
                lock_seconds,
                max_in_flight: raw.address_max_in_flight.unwrap_or(8),
            },
        },
    };
    for (key, limits) in [
        ("delay_after/lock_after", login.throttle.account),
        (
            "address_delay_after/address_lock_after",
            login.throttle.address,
        ),
    ] {
        if limits.lock_after == 0 || limits.delay_after > limits.lock_after {
            return Err(s.error(key, "need 0 < delay_after <= lock_after"));
        }
    }
    for (key, limits) in [
        ("max_in_flight", login.throttle.account),
        ("address_max_in_flight", login.throttle.address),
    ] {
        if !(1..=1000).contains(&limits.max_in_flight) {
            return Err(s.error(key, "must be between 1 and 1000"));
        }
    }
    Ok(login)
}

/// `users.min_password_length`: the shortest password `user add` and `user set-password` accept.
pub(crate) fn users(raw: &RawUsers, file: &str) -> Result<usize, ConfigError> {
    let min = raw.min_password_length.unwrap_or(8);
    if min == 0 {
        return Err(Section::new(file, "users").error("min_password_length", "must be at least 1"));
    }
    Ok(min)
}
