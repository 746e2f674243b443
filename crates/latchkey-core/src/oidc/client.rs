//! What a client registers for OpenID Connect (Dynamic Client Registration 1.0 §2): signing
//! algorithms, subject type, authentication age, logout redirects, and the links and logo the consent
//! page shows.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::OAuthError;
use crate::keys::KeyAlg;
use crate::oidc::subject::{self, SubjectType};
use crate::types::{ClientId, RedirectUri, is_display_safe};

/// `application_type` (Dynamic Client Registration 1.0 §2): `web` unless the client says `native`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// A client running on a web server (the default).
    #[default]
    Web,
    /// An app on the person's device.
    Native,
}

impl ApplicationType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }
}

/// What the server offers OpenID clients at registration.
#[derive(Clone, Copy, Debug)]
pub struct OpenIdRules<'a> {
    /// The ID token and UserInfo signing algorithms it publishes.
    pub algs: &'a [KeyAlg],
    /// Whether `subject_types_supported` lists `public`.
    pub public_subjects: bool,
    /// Whether it lists `pairwise`.
    pub pairwise_subjects: bool,
}

/// A client's OpenID metadata, with the defaults of Registration §2 for what it did not register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdClient {
    /// `id_token_signed_response_alg`: RS256 unless the client registered another.
    pub id_token_signed_response_alg: KeyAlg,
    /// `userinfo_signed_response_alg`: when set, UserInfo answers with a signed JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<KeyAlg>,
    /// `subject_type`, with the sector for pairwise.
    #[serde(flatten)]
    pub subject_type: SubjectType,
    /// `sector_identifier_uri`, when the client registered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// `default_max_age` in seconds, used when a request has no `max_age`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_age: Option<u64>,
    /// `require_auth_time`. Latchkey puts `auth_time` in every ID token, so this only records it.
    #[serde(default)]
    pub require_auth_time: bool,
    /// `post_logout_redirect_uris` (RP-Initiated Logout 1.0 §3.1), matched exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// `client_uri`: the client's home page, linked on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// `logo_uri`: shown on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// `policy_uri`: how the client uses data, linked on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// `tos_uri`: the client's terms of service, linked on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// `contacts`: e-mail addresses of people responsible for the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// `application_type`.
    #[serde(default)]
    pub application_type: ApplicationType,
    /// `require_pkce` (a Latchkey member): whether this client's OpenID requests need PKCE or a
    /// `nonce` when it is confidential; `None` follows `[openid] require_pkce_for_confidential_clients`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_pkce: Option<bool>,
}

impl Default for OpenIdClient {
    fn default() -> Self {
        OpenIdClient {
            id_token_signed_response_alg: KeyAlg::RS256,
            userinfo_signed_response_alg: None,
            subject_type: SubjectType::Public,
            sector_identifier_uri: None,
            default_max_age: None,
            require_auth_time: false,
            post_logout_redirect_uris: Vec::new(),
            client_uri: None,
            logo_uri: None,
            policy_uri: None,
            tos_uri: None,
            contacts: Vec::new(),
            application_type: ApplicationType::Web,
            require_pkce: None,
        }
    }
}

/// The OpenID members of a registration request, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct OpenIdMetadata {
    id_token_signed_response_alg: Option<String>,
    userinfo_signed_response_alg: Option<String>,
    subject_type: Option<String>,
    sector_identifier_uri: Option<String>,
    default_max_age: Option<Value>,
    require_auth_time: Option<bool>,
    post_logout_redirect_uris: Option<Vec<String>>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    policy_uri: Option<String>,
    tos_uri: Option<String>,
    contacts: Option<Vec<String>>,
    application_type: Option<String>,
    require_pkce: Option<bool>,
}

/// Longest `default_max_age` accepted: a year.
const MAX_AGE_LIMIT: u64 = 366 * 24 * 3600;

impl OpenIdMetadata {
    /// Reads the OpenID members of a registration body; other members are someone else's business.
    pub fn from_json(body: &[u8]) -> Result<Self, OAuthError> {
        serde_json::from_slice(body).map_err(|e| {
            OAuthError::invalid_client_metadata(format!(
                "the OpenID client metadata is invalid: {e}"
            ))
        })
    }

    /// The subject type asked for (Core §8), or the server's default: public where it offers public
    /// subjects, else pairwise, with the sector of the `sector_identifier_uri` or the redirect URIs.
    fn subject_type(
        &self,
        rules: &OpenIdRules<'_>,
        client_id: &ClientId,
        redirect_uris: &[RedirectUri],
    ) -> Result<SubjectType, OAuthError> {
        let bad = |m: String| OAuthError::invalid_client_metadata(m);
        let requested = match self.subject_type.as_deref() {
            Some(t) => t,
            None if rules.public_subjects => "public",
            None => "pairwise",
        };
        match requested {
            "public" if rules.public_subjects => Ok(SubjectType::Public),
            "pairwise" if rules.pairwise_subjects => Ok(SubjectType::Pairwise {
                sector: match &self.sector_identifier_uri {
                    Some(uri) => subject::sector_of_uri(uri).map_err(bad)?,
                    None => {
                        subject::sector_of_redirect_uris(redirect_uris, client_id).map_err(bad)?
                    }
                },
            }),
            "public" | "pairwise" => Err(bad(format!(
                "subject_type {requested} is not offered by this server"
            ))),
            other => Err(bad(format!("subject_type `{other}` is not supported"))),
        }
    }

    /// Validates the members against what the server offers and the client's redirect URIs.
    /// Without `subject_type` a client gets `public`, or `pairwise` where that is all the server
    /// publishes.
    ///
    /// A `sector_identifier_uri` is only checked for form here: the caller fetches it and checks it
    /// with `subject::check_sector_document`.
    pub fn validate(
        self,
        rules: &OpenIdRules<'_>,
        client_id: &ClientId,
        redirect_uris: &[RedirectUri],
    ) -> Result<OpenIdClient, OAuthError> {
        let algs = rules.algs;
        let bad = |m: String| OAuthError::invalid_client_metadata(m);
        // N-L7: these are shown on the consent page and printed by the CLI.
        for (member, value) in [
            ("sector_identifier_uri", &self.sector_identifier_uri),
            ("client_uri", &self.client_uri),
            ("logo_uri", &self.logo_uri),
            ("policy_uri", &self.policy_uri),
            ("tos_uri", &self.tos_uri),
        ] {
            if value.as_deref().is_some_and(|v| !is_display_safe(v)) {
                return Err(bad(format!("{member} contains a control character")));
            }
        }
        if self.contacts.iter().flatten().any(|c| !is_display_safe(c)) {
            return Err(bad("contacts contains a control character".into()));
        }
        let alg = |member: &str, value: &str| {
            // `none` is never offered: an unsigned ID token proves nothing (Core §2).
            value
                .parse::<KeyAlg>()
                .ok()
                .filter(|a| algs.contains(a))
                .ok_or_else(|| bad(format!("{member} `{value}` is not supported here")))
        };
        let id_token_signed_response_alg = match &self.id_token_signed_response_alg {
            Some(a) => alg("id_token_signed_response_alg", a)?,
            None => KeyAlg::RS256,
        };
        let userinfo_signed_response_alg = self
            .userinfo_signed_response_alg
            .as_deref()
            .map(|a| alg("userinfo_signed_response_alg", a))
            .transpose()?;
        let sector_identifier_uri = self.sector_identifier_uri.clone();
        let subject_type = self.subject_type(rules, client_id, redirect_uris)?;
        let application_type = match self.application_type.as_deref() {
            None | Some("web") => ApplicationType::Web,
            Some("native") => ApplicationType::Native,
            Some(_) => return Err(bad("application_type must be web or native".into())),
        };
        if let Some(uri) = &sector_identifier_uri {
            subject::sector_of_uri(uri).map_err(bad)?;
        }
        let default_max_age = match &self.default_max_age {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|&s| s <= MAX_AGE_LIMIT)
                    .ok_or_else(|| {
                        bad(format!(
                            "default_max_age must be a number of seconds, at most {MAX_AGE_LIMIT} (366 days)"
                        ))
                    })?,
            ),
        };
        let post_logout_redirect_uris = self
            .post_logout_redirect_uris
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                RedirectUri::parse(u).map_err(|e| bad(format!("post_logout_redirect_uris: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let link = |member: &str, value: Option<String>| -> Result<Option<String>, OAuthError> {
            let Some(value) = value else {
                return Ok(None);
            };
            match url::Url::parse(&value) {
                Ok(u) if u.scheme() == "https" && value.len() <= 2000 => Ok(Some(value)),
                _ => Err(bad(format!("{member} must be an https URL"))),
            }
        };
        let contacts = self.contacts.unwrap_or_default();
        if contacts.len() > 10 || contacts.iter().any(|c| c.is_empty() || c.len() > 200) {
            return Err(bad(
                "contacts holds at most 10 addresses of up to 200 characters".into(),
            ));
        }
        Ok(OpenIdClient {
            id_token_signed_response_alg,
            userinfo_signed_response_alg,
            subject_type,
            sector_identifier_uri,
            default_max_age,
            require_auth_time: self.require_auth_time.unwrap_or(false),
            post_logout_redirect_uris,
            client_uri: link("client_uri", self.client_uri)?,
            logo_uri: link("logo_uri", self.logo_uri)?,
            policy_uri: link("policy_uri", self.policy_uri)?,
            tos_uri: link("tos_uri", self.tos_uri)?,
            contacts,
            application_type,
            require_pkce: self.require_pkce,
        })
    }
}

impl OpenIdClient {
    /// The members echoed in a registration response (Registration §3.2).
    pub fn describe(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert(
            "id_token_signed_response_alg".into(),
            json!(self.id_token_signed_response_alg.as_str()),
        );
        if let Some(alg) = self.userinfo_signed_response_alg {
            out.insert("userinfo_signed_response_alg".into(), json!(alg.as_str()));
        }
        out.insert("subject_type".into(), json!(self.subject_type.as_str()));
        // Registration §3.2: registered values and defaults alike come back.
        out.insert(
            "application_type".into(),
            json!(self.application_type.as_str()),
        );
        if let Some(require) = self.require_pkce {
            out.insert("require_pkce".into(), json!(require));
        }
        if let Some(age) = self.default_max_age {
            out.insert("default_max_age".into(), json!(age));
        }
        out.insert("require_auth_time".into(), json!(self.require_auth_time));
        if !self.post_logout_redirect_uris.is_empty() {
            out.insert(
                "post_logout_redirect_uris".into(),
                json!(self.post_logout_redirect_uris),
            );
        }
        if !self.contacts.is_empty() {
            out.insert("contacts".into(), json!(self.contacts));
        }
        for (name, value) in [
            ("sector_identifier_uri", &self.sector_identifier_uri),
            ("client_uri", &self.client_uri),
            ("logo_uri", &self.logo_uri),
            ("policy_uri", &self.policy_uri),
            ("tos_uri", &self.tos_uri),
        ] {
            if let Some(value) = value {
                out.insert(name.into(), json!(value));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    const ALGS: [KeyAlg; 2] = [KeyAlg::RS256, KeyAlg::ES256];

    const RULES: OpenIdRules<'static> = OpenIdRules {
        algs: &ALGS,
        public_subjects: true,
        pairwise_subjects: true,
    };

    fn validate(body: &str) -> Result<OpenIdClient, OAuthError> {
        let uris = [RedirectUri::parse("https://app.example/cb").unwrap()];
        let id = ClientId::parse("c1").unwrap();
        OpenIdMetadata::from_json(body.as_bytes())?.validate(&RULES, &id, &uris)
    }

    #[test]
    fn pairwise_only_servers_default_to_pairwise_and_refuse_public() {
        let only_pairwise = OpenIdRules {
            public_subjects: false,
            ..RULES
        };
        let uris = [RedirectUri::parse("https://app.example/cb").unwrap()];
        let id = ClientId::parse("c1").unwrap();
        let with = |body: &str, rules: &OpenIdRules<'_>| {
            OpenIdMetadata::from_json(body.as_bytes())
                .unwrap()
                .validate(rules, &id, &uris)
        };
        assert_eq!(
            with("{}", &only_pairwise).unwrap().subject_type,
            SubjectType::Pairwise {
                sector: "app.example".into()
            }
        );
        let err = with(r#"{"subject_type":"public"}"#, &only_pairwise).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClientMetadata);
        let only_public = OpenIdRules {
            pairwise_subjects: false,
            ..RULES
        };
        assert!(with(r#"{"subject_type":"pairwise"}"#, &only_public).is_err());
        assert_eq!(
            with("{}", &only_public).unwrap().subject_type,
            SubjectType::Public
        );
    }

    #[test]
    fn n_l7_control_characters_are_refused_in_links_and_contacts() {
        for body in [
            r#"{"client_uri":"https://app.example/\u001b[2K"}"#,
            r#"{"logo_uri":"https://app.example/\nlogo.png"}"#,
            r#"{"contacts":["ops@app.example\r\nx"]}"#,
            r#"{"post_logout_redirect_uris":["https://app.example/b\nye"]}"#,
        ] {
            assert_eq!(
                validate(body).unwrap_err().code,
                ErrorCode::InvalidClientMetadata,
                "{body}"
            );
        }
    }

    #[test]
    fn application_type_and_require_pkce_are_read_and_echoed() {
        let described = validate("{}").unwrap().describe();
        assert_eq!(described["application_type"], "web");
        assert!(described.get("require_pkce").is_none());
        let native = validate(r#"{"application_type":"native","require_pkce":false}"#).unwrap();
        assert_eq!(native.application_type, ApplicationType::Native);
        assert_eq!(native.require_pkce, Some(false));
        let described = native.describe();
        assert_eq!(described["application_type"], "native");
        assert_eq!(described["require_pkce"], false);
        assert!(validate(r#"{"application_type":"desktop"}"#).is_err());
    }

    #[test]
    fn defaults_are_rs256_and_public() {
        let client = validate("{}").unwrap();
        assert_eq!(client, OpenIdClient::default());
        let described = client.describe();
        assert_eq!(described["id_token_signed_response_alg"], "RS256");
        assert_eq!(described["subject_type"], "public");
    }

    #[test]
    fn every_member_is_read_and_echoed() {
        let client = validate(
            r#"{"id_token_signed_response_alg":"ES256","userinfo_signed_response_alg":"RS256",
                "subject_type":"pairwise","default_max_age":300,"require_auth_time":true,
                "post_logout_redirect_uris":["https://app.example/bye"],
                "client_uri":"https://app.example/","logo_uri":"https://app.example/logo.png",
                "policy_uri":"https://app.example/privacy","tos_uri":"https://app.example/tos",
                "contacts":["ops@app.example"]}"#,
        )
        .unwrap();
        assert_eq!(client.id_token_signed_response_alg, KeyAlg::ES256);
        assert_eq!(client.userinfo_signed_response_alg, Some(KeyAlg::RS256));
        assert_eq!(
            client.subject_type,
            SubjectType::Pairwise {
                sector: "app.example".into()
            }
        );
        assert_eq!(client.default_max_age, Some(300));
        let described = client.describe();
        assert_eq!(described["subject_type"], "pairwise");
        assert_eq!(described["logo_uri"], "https://app.example/logo.png");
        assert_eq!(
            described["post_logout_redirect_uris"][0],
            "https://app.example/bye"
        );
        // Stored as JSON and read back unchanged.
        let stored = serde_json::to_string(&client).unwrap();
        assert_eq!(
            serde_json::from_str::<OpenIdClient>(&stored).unwrap(),
            client
        );
    }

    #[test]
    fn unsupported_or_malformed_members_are_refused() {
        for body in [
            r#"{"id_token_signed_response_alg":"none"}"#,
            r#"{"id_token_signed_response_alg":"HS256"}"#,
            r#"{"id_token_signed_response_alg":"EdDSA"}"#,
            r#"{"userinfo_signed_response_alg":"none"}"#,
            r#"{"subject_type":"random"}"#,
            r#"{"subject_type":"pairwise","sector_identifier_uri":"http://s.example/x"}"#,
            r#"{"default_max_age":-1}"#,
            r#"{"default_max_age":"300"}"#,
            r#"{"logo_uri":"javascript:alert(1)"}"#,
            r#"{"policy_uri":"http://app.example/privacy"}"#,
            r#"{"post_logout_redirect_uris":["https://app.example/bye#x"]}"#,
            r#"{"contacts":[""]}"#,
            r#"{"contacts":"ops@app.example"}"#,
        ] {
            assert_eq!(
                validate(body).unwrap_err().code,
                ErrorCode::InvalidClientMetadata,
                "{body}"
            );
        }
    }

    #[test]
    fn a_default_max_age_beyond_the_limit_names_the_limit() {
        let error = validate(r#"{"default_max_age":31622401}"#).unwrap_err();
        assert_eq!(
            error.description(),
            "default_max_age must be a number of seconds, at most 31622400 (366 days)"
        );
        assert_eq!(
            validate(r#"{"default_max_age":31622400}"#)
                .unwrap()
                .default_max_age,
            Some(31_622_400)
        );
    }

    #[test]
    fn a_sector_identifier_uri_names_the_sector() {
        let client = validate(
            r#"{"subject_type":"pairwise","sector_identifier_uri":"https://sector.example/uris.json"}"#,
        )
        .unwrap();
        assert_eq!(
            client.subject_type,
            SubjectType::Pairwise {
                sector: "sector.example".into()
            }
        );
    }
}
