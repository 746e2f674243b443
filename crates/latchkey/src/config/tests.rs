//! Configuration tests: precedence, one-line errors naming source and key, every section's checks.
use super::*;

use latchkey_core::client::TokenFormat;

fn resolve(toml_text: &str, env: &[(&str, &str)], flags: Flags) -> Result<Config, String> {
    let raw: RawConfig = toml::from_str(toml_text).map_err(|e| e.message().to_owned())?;
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::resolve(raw, "latchkey.toml", &env, &flags).map_err(|e| e.to_string())
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
fn without_an_issuer_the_default_follows_the_port_listened_on() {
    for (listen, issuer) in [
        ("127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("127.0.0.2:9001", "http://127.0.0.2:9001"),
        ("[::1]:9002", "http://[::1]:9002"),
        ("0.0.0.0:9003", "http://127.0.0.1:9003"),
        ("[::]:9004", "http://127.0.0.1:9004"),
    ] {
        let flags = Flags {
            listen: Some(listen.to_owned()),
            ..Flags::default()
        };
        let config = resolve("", &[], flags).unwrap();
        assert_eq!(config.settings.features.issuer.as_str(), issuer, "{listen}");
        assert_eq!(
            config.settings.features.endpoints.token,
            format!("{issuer}/token")
        );
    }
    // A configured issuer wins, whatever the listener.
    let flags = Flags {
        listen: Some("127.0.0.1:9000".to_owned()),
        issuer: Some("https://auth.example".to_owned()),
        ..Flags::default()
    };
    let config = resolve("", &[], flags).unwrap();
    assert_eq!(
        config.settings.features.issuer.as_str(),
        "https://auth.example"
    );
}

#[test]
fn openid_keys_are_checked_even_while_openid_is_off() {
    for (toml_text, key) in [
        ("[openid]\nid_token_ttl = \"bogus\"", "openid.id_token_ttl"),
        (
            "[openid]\nenabled = false\nsigning_algs = [\"ES256\"]",
            "openid.signing_algs",
        ),
        (
            "[openid]\nsubject_types = [\"public\", \"public\"]",
            "openid.subject_types",
        ),
        (
            "[endpoints]\nuserinfo_endpoint = \"garbage\"",
            "endpoints.userinfo_endpoint",
        ),
    ] {
        let error = resolve(toml_text, &[], Flags::default()).unwrap_err();
        assert!(error.contains(key), "{toml_text}: {error}");
    }
    let twice = resolve(
        "[openid]\nsubject_types = [\"public\", \"public\"]",
        &[],
        Flags::default(),
    )
    .unwrap_err();
    assert!(twice.ends_with("`public` is listed twice"), "{twice}");
    // Valid settings with OpenID off: accepted, and nothing of OpenID is on.
    let config = resolve(
        "[openid]\nenabled = false\nid_token_ttl = \"10m\"",
        &[],
        Flags::default(),
    )
    .unwrap();
    assert!(config.settings.openid.is_none());
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
        ("[login]\nmax_in_flight = 0", "login.max_in_flight"),
        (
            "[login]\naddress_max_in_flight = 5000",
            "login.address_max_in_flight",
        ),
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
fn master_key_value_errors_name_their_origin() {
    let config = resolve("", &[("LATCHKEY_MASTER_KEY", "short")], Flags::default()).unwrap();
    assert!(
        config
            .master_key()
            .unwrap_err()
            .to_string()
            .starts_with("LATCHKEY_MASTER_KEY:")
    );
    let config = resolve("", &[], Flags::default()).unwrap();
    assert!(
        config
            .master_key()
            .unwrap_err()
            .to_string()
            .starts_with("master_key: not set")
    );
}

#[test]
fn errors_are_typed_with_the_file_and_the_dotted_key() {
    let raw: RawConfig = toml::from_str("[tokens]\ncode_ttl = \"1h\"").unwrap();
    let err =
        Config::resolve(raw, "latchkey.toml", &BTreeMap::new(), &Flags::default()).unwrap_err();
    assert_eq!(
        err.origin,
        Origin::Key {
            file: "latchkey.toml".into(),
            key: "tokens.code_ttl".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "latchkey.toml: tokens.code_ttl: must be between 1s and 10m"
    );
    let err = from_parts(
        "",
        &BTreeMap::from([("LATCHKEY_LISTEN".to_owned(), "nowhere".to_owned())]),
        &Flags::default(),
    )
    .unwrap_err();
    assert_eq!(err.origin, Origin::Source("LATCHKEY_LISTEN".into()));
}

#[test]
fn trusted_proxies_are_addresses_or_cidr_blocks_and_name_their_header() {
    let config = resolve(
        "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nforwarded_header = \"Forwarded\"",
        &[],
        Flags::default(),
    )
    .unwrap();
    let proxies = &config.settings.http.trusted_proxies;
    assert!(proxies.contains("10.9.8.7".parse().unwrap()));
    assert!(proxies.contains("::1".parse().unwrap()));
    assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
    assert!(
        resolve("", &[], Flags::default())
            .unwrap()
            .settings
            .http
            .trusted_proxies
            .is_empty()
    );
    for (text, key) in [
        (
            "[http]\ntrusted_proxies = [\"10.0.0.0/40\"]",
            "latchkey.toml: http.trusted_proxies: `10.0.0.0/40`",
        ),
        (
            "[http]\nforwarded_header = \"x-real-ip\"",
            "latchkey.toml: http.forwarded_header: `x-real-ip`",
        ),
    ] {
        let err = resolve(text, &[], Flags::default()).unwrap_err();
        assert!(err.starts_with(key), "{text}: {err}");
    }
}

#[test]
fn policy_lists_keep_their_order_and_drop_repeats() {
    let config = resolve(
        "[policy]\ngrant_types = [\"refresh_token\", \"authorization_code\", \"refresh_token\"]\n\
         token_endpoint_auth_methods = [\"none\", \"client_secret_post\"]\n\
         introspection = false",
        &[],
        Flags::default(),
    )
    .unwrap();
    let features = &config.settings.features;
    let doc = features.document();
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["refresh_token", "authorization_code"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["none", "client_secret_post"])
    );
    // Revocation defaults to the token endpoint's methods; introspection is off and unpublished.
    assert_eq!(
        doc["revocation_endpoint_auth_methods_supported"],
        serde_json::json!(["none", "client_secret_post"])
    );
    assert!(doc.get("introspection_endpoint").is_none());
    assert!(features.endpoints.introspection.is_none());
}

#[test]
fn without_authorization_code_there_is_no_authorization_endpoint() {
    let config = resolve(
        "[policy]\ngrant_types = [\"client_credentials\"]\nrevocation = false",
        &[],
        Flags::default(),
    )
    .unwrap();
    let features = &config.settings.features;
    assert!(features.endpoints.authorization.is_none());
    assert!(features.endpoints.revocation.is_none());
    let doc = features.document();
    assert_eq!(doc["response_types_supported"], serde_json::json!([]));
    assert!(doc.get("code_challenge_methods_supported").is_none());
}

#[test]
fn policy_values_that_are_not_implemented_or_inconsistent_are_one_line_errors() {
    for (toml_text, expected) in [
        (
            "[policy]\ngrant_types = [\"password\"]",
            "latchkey.toml: policy.grant_types: `password` is not a grant type Latchkey implements",
        ),
        (
            "[policy]\ngrant_types = []",
            "latchkey.toml: policy.grant_types: must name at least one",
        ),
        (
            "[policy]\ngrant_types = [\"client_credentials\", \"refresh_token\"]",
            "latchkey.toml: policy.grant_types: refresh_token is only issued with authorization_code",
        ),
        (
            "[policy]\ntoken_endpoint_auth_methods = [\"client_secret_jwt\"]",
            "latchkey.toml: policy.token_endpoint_auth_methods: unknown client authentication method `client_secret_jwt`",
        ),
        (
            "[policy]\nintrospection_endpoint_auth_methods = [\"none\"]",
            "latchkey.toml: policy.introspection_endpoint_auth_methods: `none` proves nothing",
        ),
        (
            "[policy]\ntoken_endpoint_auth_methods = [\"client_secret_basic\"]\nrevocation_endpoint_auth_methods = [\"client_secret_post\"]",
            "latchkey.toml: policy.revocation_endpoint_auth_methods: `client_secret_post` is not in policy.token_endpoint_auth_methods",
        ),
        (
            "[policy]\nintrospection = false\nintrospection_endpoint_auth_methods = [\"client_secret_basic\"]",
            "latchkey.toml: policy.introspection_endpoint_auth_methods: policy.introspection is false",
        ),
        (
            "[policy]\ncode_challenge_methods = [\"plain\", \"S256\"]",
            "latchkey.toml: policy.code_challenge_methods: only [\"S256\"] is implemented",
        ),
        (
            "[policy]\nresponse_types = [\"token\"]",
            "latchkey.toml: policy.response_types: `token` is not implemented",
        ),
        (
            "[policy]\ngrant_types = [\"client_credentials\"]\nresponse_types = [\"code\"]",
            "latchkey.toml: policy.response_types: response type code and the authorization_code grant go together",
        ),
        ("[policy]\nspeed = \"fast\"", "unknown field `speed`"),
    ] {
        let err = resolve(toml_text, &[], Flags::default()).unwrap_err();
        assert!(
            err.starts_with(expected) || err.contains(expected),
            "{toml_text}: {err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn scopes_are_published_in_the_file_order() {
    let config = resolve(
        "[scopes.\"write:b\"]\n[scopes.\"read:c\"]\n[scopes.\"read:a\"]\n[scopes.hidden]\npublic = false",
        &[],
        Flags::default(),
    )
    .unwrap();
    assert_eq!(
        config.settings.features.scopes_supported,
        ["write:b", "read:c", "read:a"]
    );
}

#[test]
fn extra_members_may_state_facts_but_never_claim_features() {
    for name in [
        "backchannel_logout_supported",
        "check_session_iframe",
        "require_pushed_authorization_requests",
    ] {
        let err = resolve(
            &format!("[metadata.extra]\n{name} = [\"x\"]"),
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(
            err.starts_with(&format!(
                "latchkey.toml: metadata.extra.{name}: names a feature"
            )),
            "{err}"
        );
    }
    // The OpenID members Latchkey publishes itself (when OpenID is on) are its own.
    for name in [
        "userinfo_endpoint",
        "acr_values_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        let err = resolve(
            &format!("[metadata.extra]\n{name} = [\"x\"]"),
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(
            err.starts_with(&format!(
                "latchkey.toml: metadata.extra.{name}: Latchkey sets this member itself"
            )),
            "{err}"
        );
    }
    let config = resolve(
        "[metadata.extra]\nx_support_email = \"oauth@example.com\"",
        &[],
        Flags::default(),
    )
    .unwrap();
    assert_eq!(
        config.settings.features.document()["x_support_email"],
        "oauth@example.com"
    );
}

#[test]
fn member_order_names_published_members_once() {
    let config = resolve(
        "[metadata]\nmember_order = [\"issuer\", \"jwks_uri\", \"token_endpoint\"]",
        &[],
        Flags::default(),
    )
    .unwrap();
    let doc = config.settings.features.document();
    let names: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names[..3], ["issuer", "jwks_uri", "token_endpoint"]);
    for (order, problem) in [
        (
            "[\"registration_endpoint\"]",
            "`registration_endpoint` is not a member this configuration publishes",
        ),
        ("[\"jwks_uri\", \"jwks_uri\"]", "`jwks_uri` is listed twice"),
        (
            "[\"jwks_uri\", \"issuer\"]",
            "`issuer` is always the first member",
        ),
    ] {
        let err = resolve(
            &format!("[metadata]\nmember_order = {order}"),
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            format!("latchkey.toml: metadata.member_order: {problem}")
        );
    }
}

#[test]
fn rate_limits_default_on_and_are_checked() {
    use latchkey_server::rate_limit::Group;
    let config = resolve("", &[], Flags::default()).unwrap();
    let limits = &config.settings.rate_limits;
    let token = limits.groups[Group::Token as usize].unwrap();
    assert_eq!((token.limit.get(), token.window.as_secs()), (600, 60));
    assert!(limits.groups.iter().all(Option::is_some));
    let config = resolve(
        "[rate_limits]\nenabled = false\n[rate_limits.token]\nenabled = true\nlimit = 5\nwindow = \"1s\"",
        &[],
        Flags::default(),
    )
    .unwrap();
    let groups = &config.settings.rate_limits.groups;
    assert_eq!(groups.iter().filter(|g| g.is_some()).count(), 1);
    assert_eq!(groups[Group::Token as usize].unwrap().limit.get(), 5);
    for (toml_text, expected) in [
        (
            "[rate_limits.token]\nlimit = 0",
            "latchkey.toml: rate_limits.token.limit: must be at least 1",
        ),
        (
            "[rate_limits.discovery]\nwindow = \"500ms\"",
            "latchkey.toml: rate_limits.discovery.window: must be between 1s and 24h",
        ),
        (
            "[rate_limits.registration]\nwindow = \"soon\"",
            "latchkey.toml: rate_limits.registration.window: expected a duration",
        ),
        (
            "[rate_limits]\nmax_keys = 3",
            "latchkey.toml: rate_limits.max_keys: must be between 16",
        ),
    ] {
        let err = resolve(toml_text, &[], Flags::default()).unwrap_err();
        assert!(err.starts_with(expected), "{toml_text}: {err}");
    }
}

#[test]
fn h1_machine_registration_is_off_unless_allowed_and_lists_only_valid_resources() {
    let open = "[registration]\npolicy = \"open\"\n";
    let off = resolve(open, &[], Flags::default()).unwrap();
    let registration = off.settings.registration.unwrap();
    assert_eq!(registration.client_credentials_resources, None);
    let on = resolve(
        &format!(
            "{open}allow_client_credentials = true\nclient_credentials_resources = [\"https://api.example/\"]"
        ),
        &[],
        Flags::default(),
    )
    .unwrap();
    let listed = on
        .settings
        .registration
        .unwrap()
        .client_credentials_resources;
    assert_eq!(
        listed
            .unwrap()
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>(),
        ["https://api.example/"]
    );
    let err = resolve(
        &format!("{open}client_credentials_resources = [\"https://api.example/\"]"),
        &[],
        Flags::default(),
    )
    .unwrap_err();
    assert!(
        err.contains("registration.client_credentials_resources"),
        "{err}"
    );
    let err = resolve(
        &format!("{open}allow_client_credentials = true\nclient_credentials_resources = [\"http://api.example/\"]"),
        &[],
        Flags::default(),
    )
    .unwrap_err();
    assert!(
        err.contains("registration.client_credentials_resources"),
        "{err}"
    );
}

#[test]
fn database_pool_settings_have_defaults_and_ranges() {
    let config = resolve("", &[], Flags::default()).unwrap();
    assert_eq!(config.database, latchkey_store::ConnectOptions::default());
    let config = resolve(
        "[database]\nmax_connections = 4\nstatement_timeout = \"2s\"\nacquire_timeout = \"250ms\"\n\
        sqlite_synchronous = \"full\"",
        &[],
        Flags::default(),
    )
    .unwrap();
    assert_eq!(config.database.max_connections, 4);
    assert_eq!(
        config.database.sqlite_synchronous,
        latchkey_store::Synchronous::Full
    );
    assert_eq!(
        config.database.statement_timeout,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(
        config.database.acquire_timeout,
        std::time::Duration::from_millis(250)
    );
    for (text, message) in [
        (
            "max_connections = 0",
            "latchkey.toml: database.max_connections: must be between 1 and 1000",
        ),
        (
            "statement_timeout = \"10ms\"",
            "latchkey.toml: database.statement_timeout: must be between 100ms and 1h",
        ),
        (
            "sqlite_synchronous = \"off\"",
            "latchkey.toml: database.sqlite_synchronous: expected \"normal\" or \"full\", got `off`",
        ),
        (
            "acquire_timeout = \"soon\"",
            "latchkey.toml: database.acquire_timeout: expected a duration such as \"10m\", got `soon`",
        ),
    ] {
        assert_eq!(
            resolve(&format!("[database]\n{text}"), &[], Flags::default()).unwrap_err(),
            message
        );
    }
}

#[test]
fn login_attempts_in_flight_are_capped_per_account_and_address() {
    let config = resolve("", &[], Flags::default()).unwrap();
    let throttle = config.settings.login.throttle;
    assert_eq!(
        (
            throttle.account.max_in_flight,
            throttle.address.max_in_flight
        ),
        (2, 8)
    );
    let config = resolve(
        "[login]\nmax_in_flight = 1\naddress_max_in_flight = 32",
        &[],
        Flags::default(),
    )
    .unwrap();
    let throttle = config.settings.login.throttle;
    assert_eq!(
        (
            throttle.account.max_in_flight,
            throttle.address.max_in_flight
        ),
        (1, 32)
    );
}

#[test]
fn metrics_are_off_by_default_and_kept_off_the_public_listener_unless_asked() {
    let config = resolve("", &[], Flags::default()).unwrap();
    assert!(config.metrics.listen.is_none());
    assert!(!config.settings.metrics.enabled);
    assert!(!config.settings.metrics.public);

    let config = resolve(
        "[metrics]\nlisten = \"127.0.0.1:9090\"",
        &[],
        Flags::default(),
    )
    .unwrap();
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9090".parse().unwrap())
    );
    assert!(config.settings.metrics.enabled && !config.settings.metrics.public);

    let env = [("LATCHKEY_METRICS_LISTEN", "127.0.0.1:9191")];
    let config = resolve("", &env, Flags::default()).unwrap();
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9191".parse().unwrap())
    );

    assert_eq!(
        resolve(
            "[metrics]\nlisten = \"127.0.0.1:8080\"",
            &[],
            Flags::default()
        )
        .unwrap_err(),
        "latchkey.toml: metrics.listen: 127.0.0.1:8080 is the public listener; set metrics.public = true to serve /metrics there"
    );
    assert_eq!(
        resolve("[metrics]\nlisten = \"nine\"", &[], Flags::default()).unwrap_err(),
        "latchkey.toml: metrics.listen: `nine` is not an address such as 127.0.0.1:9090"
    );
    let config = resolve("[metrics]\npublic = true", &[], Flags::default()).unwrap();
    assert!(config.settings.metrics.enabled && config.settings.metrics.public);
}

#[test]
fn audit_retention_defaults_to_ninety_days_and_has_a_floor() {
    let config = resolve("", &[], Flags::default()).unwrap();
    assert_eq!(
        config.settings.audit.retention,
        std::time::Duration::from_secs(90 * 86_400)
    );
    let config = resolve("[audit]\nretention = \"30d\"", &[], Flags::default()).unwrap();
    assert_eq!(
        config.settings.audit.retention,
        std::time::Duration::from_secs(30 * 86_400)
    );
    assert_eq!(
        resolve("[audit]\nretention = \"5m\"", &[], Flags::default()).unwrap_err(),
        "latchkey.toml: audit.retention: must be at least 1h"
    );
}

#[test]
fn the_openapi_path_is_off_by_default_and_may_not_shadow_an_endpoint() {
    let config = resolve("", &[], Flags::default()).unwrap();
    assert_eq!(config.settings.openapi_path, None);
    let config = resolve("[openapi]\npath = \"/openapi.json\"", &[], Flags::default()).unwrap();
    assert_eq!(
        config.settings.openapi_path.as_deref(),
        Some("/openapi.json")
    );
    assert_eq!(
        resolve("[openapi]\npath = \"/token\"", &[], Flags::default()).unwrap_err(),
        "latchkey.toml: openapi.path: /token is already served by another endpoint"
    );
    assert_eq!(
        resolve("[openapi]\npath = \"openapi.json\"", &[], Flags::default()).unwrap_err(),
        "latchkey.toml: openapi.path: `openapi.json` is not a path such as /openapi.json"
    );
}

#[test]
fn an_end_session_endpoint_outside_the_session_cookie_is_refused() {
    // An https issuer with a path scopes the page cookies to the authorization endpoint.
    let base = "issuer = \"https://api.example/v3/oauth\"\n[openid]\nenabled = true\n[endpoints]\n";
    let err = resolve(
        &format!("{base}end_session_endpoint = \"https://api.example/v3/oauth/logout\""),
        &[],
        Flags::default(),
    )
    .unwrap_err();
    assert!(
        err.starts_with(
            "latchkey.toml: endpoints.end_session_endpoint: `https://api.example/v3/oauth/logout` is outside where the session cookie is sent (the host and path of `https://api.example/v3/oauth/authorize`"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    let elsewhere = resolve(
        "issuer = \"https://id.example\"\n[openid]\nenabled = true\n[endpoints]\nend_session_endpoint = \"https://logout.example/bye\"",
        &[],
        Flags::default(),
    )
    .unwrap_err();
    assert!(
        elsewhere.contains("endpoints.end_session_endpoint"),
        "{elsewhere}"
    );
    // Under the cookie's path, and anywhere on the host of an issuer at its root: accepted.
    for toml_text in [
        format!("{base}end_session_endpoint = \"https://api.example/v3/oauth/authorize/bye\""),
        "issuer = \"https://id.example\"\n[openid]\nenabled = true\n[endpoints]\nend_session_endpoint = \"https://id.example/logout\"".to_owned(),
    ] {
        let config = resolve(&toml_text, &[], Flags::default()).unwrap();
        assert!(config.settings.openid.is_some(), "{toml_text}");
    }
}

#[test]
fn header_read_timeout_and_fetch_rate_limit_have_upper_bounds() {
    let err = resolve(
        "[http]\nheader_read_timeout = \"2h\"",
        &[],
        Flags::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "latchkey.toml: http.header_read_timeout: `2h` is longer than 60s, the most it may be"
    );
    let err = resolve("[fetch]\nrate_limit = 100000", &[], Flags::default()).unwrap_err();
    assert_eq!(
        err,
        "latchkey.toml: fetch.rate_limit: 100000 is above 1000 per minute, the most it may be"
    );
    let config = resolve(
        "[http]\nheader_read_timeout = \"60s\"\n[fetch]\nrate_limit = 1000",
        &[],
        Flags::default(),
    )
    .unwrap();
    assert_eq!(
        config.settings.http.header_read_timeout,
        std::time::Duration::from_secs(60)
    );
    assert_eq!(config.settings.fetch.rate_limit, 1000);
}

#[test]
fn openid_scope_descriptions_are_there_only_while_openid_is_on() {
    // An operator's own `profile` scope means whatever the operator says, not OpenID's claims.
    let off = resolve("[scopes.profile]\n[scopes.email]", &[], Flags::default()).unwrap();
    let descriptions = &off.settings.ui.scope_descriptions;
    for name in ["openid", "profile", "email", "address", "phone"] {
        assert!(!descriptions.contains_key(name), "{name}: {descriptions:?}");
    }
    assert!(descriptions.contains_key("offline_access"));
    let on = resolve("[openid]\nenabled = true", &[], Flags::default()).unwrap();
    assert_eq!(
        on.settings.ui.scope_descriptions["profile"]["en"],
        "See your name and profile details"
    );
    // The operator's own description wins either way.
    let own = resolve(
        "[openid]\nenabled = true\n[scopes.email]\ndescription = \"Your work address\"",
        &[],
        Flags::default(),
    )
    .unwrap();
    assert_eq!(
        own.settings.ui.scope_descriptions["email"][""],
        "Your work address"
    );
}
