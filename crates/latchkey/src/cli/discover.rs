//! `latchkey discover ISSUER`: what the seed providers tell client developers to do, against any
//! authorization server. Fetch the metadata from the RFC 8414 well-known URLs, check it
//! (`latchkey_core::discovery`), probe every advertised endpoint, check the JWKS, and report what the
//! server supports and every problem; non-zero exit on problems.
//!
//! # Security
//! Every request goes through the server's fetcher (`latchkey_server::fetch`): connect and total
//! timeouts, the size limit, no redirects, no private addresses, and loopback (and plain http, only to
//! loopback) only with `--allow-loopback`.
use anyhow::{Result, anyhow, bail};
use latchkey_core::discovery::{self, Probe};
use latchkey_server::fetch::{self, Outbound, Scheme};
use serde_json::{Map, Value, json};
use url::Url;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct DiscoverArgs {
    /// The issuer identifier the client was given, e.g. https://api.example.com/v3/oauth.
    pub issuer: String,
    /// Print one JSON object instead of the readable report.
    #[arg(long)]
    pub json: bool,
    /// Allow loopback addresses (and plain http to them), for a development server.
    #[arg(long)]
    pub allow_loopback: bool,
}

/// An advertised endpoint and how it answered.
struct Probed {
    member: String,
    method: &'static str,
    url: String,
    outcome: Result<u16, String>,
}

pub async fn run(args: DiscoverArgs, config: &Config) -> Result<()> {
    let issuer = Url::parse(&args.issuer)
        .map_err(|e| anyhow!("ISSUER: `{}` is not a URL ({e})", args.issuer))?;
    if issuer.query().is_some() || issuer.fragment().is_some() {
        bail!("ISSUER: an issuer has no query or fragment (RFC 8414 §2)");
    }
    // The fetcher would refuse it too, without naming the flag someone trying a development server
    // is missing.
    if issuer.scheme() == "http" && !args.allow_loopback {
        bail!(
            "ISSUER: only https URLs are fetched, and plain http only to a loopback address with --allow-loopback"
        );
    }
    let settings = fetch::FetchSettings {
        allow_loopback: args.allow_loopback,
        ..config.settings.fetch.clone()
    };
    let (tried, found) = find_metadata(&issuer, &settings).await;
    let Some((metadata_url, doc)) = found else {
        bail!(
            "no metadata found for {} ({})",
            args.issuer,
            tried.join("; ")
        );
    };
    let mut problems = discovery::check_metadata(&args.issuer, &doc);
    let probed = probe_endpoints(&doc, &settings, &mut problems).await;
    let jwks = match doc.get("jwks_uri").and_then(Value::as_str) {
        None => None,
        Some(url) => Some(match fetch::fetch_document(url, &settings).await {
            Ok(jwks) => {
                problems.extend(discovery::check_jwks(&jwks));
                Ok((url.to_owned(), jwks))
            }
            Err(e) => {
                problems.push(format!("`jwks_uri` {url}: {e}"));
                Err(url.to_owned())
            }
        }),
    };
    if args.json {
        println!(
            "{}",
            report_json(
                &args.issuer,
                &metadata_url,
                &tried,
                &doc,
                &probed,
                &jwks,
                &problems
            )
        );
    } else {
        print_report(&args.issuer, &metadata_url, &doc, &probed, &jwks, &problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} problem{} with {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            args.issuer
        )
    }
}

/// The first well-known URL that answers with a JSON document, and what each one tried before it
/// answered.
async fn find_metadata(
    issuer: &Url,
    settings: &fetch::FetchSettings,
) -> (Vec<String>, Option<(String, Value)>) {
    let mut tried = Vec::new();
    for url in discovery::well_known_urls(issuer) {
        match fetch::send(Outbound::get(&url), settings, Scheme::HttpToLoopback).await {
            Ok(answer) if answer.status == 200 => {
                if !answer.is_json() {
                    tried.push(format!("{url}: not application/json"));
                    continue;
                }
                match serde_json::from_slice::<Value>(&answer.body) {
                    Ok(doc) => return (tried, Some((url, doc))),
                    Err(_) => tried.push(format!("{url}: not JSON")),
                }
            }
            Ok(answer) => tried.push(format!("{url}: {}", answer.status)),
            Err(e) => tried.push(format!("{url}: {e}")),
        }
    }
    (tried, None)
}

/// Calls every advertised endpoint once; one that is not served, fails or cannot be reached is a
/// problem.
async fn probe_endpoints(
    doc: &Value,
    settings: &fetch::FetchSettings,
    problems: &mut Vec<String>,
) -> Vec<Probed> {
    let mut probed = Vec::new();
    for (member, url, probe) in discovery::advertised_endpoints(doc) {
        let (method, request) = match probe {
            Probe::Get => ("GET", Outbound::get(&url)),
            Probe::Post => ("POST", Outbound::post_form(&url, "")),
        };
        let outcome = fetch::send(request, settings, Scheme::HttpToLoopback)
            .await
            .map(|answer| answer.status)
            .map_err(|e| e.0);
        match &outcome {
            Ok(404) => problems.push(format!("`{member}` {url} answered 404: it is not served")),
            Ok(status) if *status >= 500 => {
                problems.push(format!("`{member}` {url} answered {status}"))
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("`{member}` {url} could not be reached: {e}")),
        }
        probed.push(Probed {
            member,
            method,
            url,
            outcome,
        });
    }
    probed
}

type Jwks = Option<Result<(String, Value), String>>;

fn key_count(jwks: &Value) -> usize {
    jwks.get("keys")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

fn report_json(
    issuer: &str,
    metadata_url: &str,
    tried: &[String],
    doc: &Value,
    probed: &[Probed],
    jwks: &Jwks,
    problems: &[String],
) -> Value {
    let endpoints: Vec<Value> = probed
        .iter()
        .map(|p| {
            let mut entry = Map::new();
            entry.insert("member".into(), json!(p.member));
            entry.insert("method".into(), json!(p.method));
            entry.insert("url".into(), json!(p.url));
            match &p.outcome {
                Ok(status) => entry.insert("status".into(), json!(status)),
                Err(e) => entry.insert("error".into(), json!(e)),
            };
            Value::Object(entry)
        })
        .collect();
    json!({
        "issuer": issuer,
        "metadata_url": metadata_url,
        "tried": tried,
        "metadata": doc,
        "endpoints": endpoints,
        "jwks": match jwks {
            None => Value::Null,
            Some(Ok((url, keys))) => json!({"url": url, "keys": key_count(keys)}),
            Some(Err(url)) => json!({"url": url, "keys": null}),
        },
        "problems": problems,
    })
}

fn print_report(
    issuer: &str,
    metadata_url: &str,
    doc: &Value,
    probed: &[Probed],
    jwks: &Jwks,
    problems: &[String],
) {
    let list = |name: &str| -> String {
        match doc.get(name) {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", "),
            Some(Value::Array(_)) => "(none)".into(),
            Some(other) => other.to_string(),
            None => "(not published)".into(),
        }
    };
    let flag = |name: &str| match doc.get(name) {
        Some(Value::Bool(true)) => "yes",
        _ => "no",
    };
    println!("Issuer     {issuer}");
    println!("Metadata   {metadata_url}");
    println!("Supports");
    for (label, member) in [
        ("grant types", "grant_types_supported"),
        ("response types", "response_types_supported"),
        ("PKCE methods", "code_challenge_methods_supported"),
        (
            "token endpoint auth",
            "token_endpoint_auth_methods_supported",
        ),
        (
            "introspection auth",
            "introspection_endpoint_auth_methods_supported",
        ),
        (
            "revocation auth",
            "revocation_endpoint_auth_methods_supported",
        ),
        ("scopes", "scopes_supported"),
    ] {
        println!("  {label:<26} {}", list(member));
    }
    for (label, member) in [
        (
            "metadata documents",
            "client_id_metadata_document_supported",
        ),
        ("resource indicators", "resource_parameter_supported"),
        (
            "iss in responses",
            "authorization_response_iss_parameter_supported",
        ),
    ] {
        println!("  {label:<26} {}", flag(member));
    }
    println!("Endpoints");
    for p in probed {
        let outcome = match &p.outcome {
            Ok(status) => status.to_string(),
            Err(e) => e.clone(),
        };
        println!("  {:<26} {:<4} {} -> {outcome}", p.member, p.method, p.url);
    }
    match jwks {
        None => println!("  {:<26} (no jwks_uri)", "jwks_uri"),
        Some(Ok((url, keys))) => println!(
            "  {:<26} GET  {url} -> {} key{}",
            "jwks_uri",
            key_count(keys),
            if key_count(keys) == 1 { "" } else { "s" }
        ),
        Some(Err(url)) => println!("  {:<26} GET  {url} -> unusable", "jwks_uri"),
    }
    if problems.is_empty() {
        println!("No problems found.");
    } else {
        println!("Problems");
        for problem in problems {
            println!("  - {problem}");
        }
    }
}
