//! The pages' two languages, and choosing one from `ui_locales` or `Accept-Language` (RFC 9110 §12.5.4).

/// A language the pages are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    /// English, the fallback.
    En,
    /// Spanish.
    Es,
}

impl Locale {
    /// Every supported locale, as advertised in `ui_locales_supported`.
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Es];

    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Es => "es",
        }
    }

    fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag.split(['-', '_']).next()?.trim();
        Self::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(primary))
    }

    /// `ui_locales` (space-separated, in order of preference) wins; then `Accept-Language` by q-value;
    /// then English.
    pub fn choose(ui_locales: Option<&str>, accept_language: Option<&str>) -> Locale {
        if let Some(found) = ui_locales
            .unwrap_or("")
            .split(' ')
            .find_map(Locale::from_tag)
        {
            return found;
        }
        let mut best: Option<(f32, Locale)> = None;
        for item in accept_language.unwrap_or("").split(',') {
            let mut parts = item.split(';');
            let Some(locale) = parts.next().and_then(Locale::from_tag) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, locale));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Locale::En)
    }

    /// The pages' text in this language.
    pub fn text(self) -> &'static Text {
        match self {
            Self::En => &EN,
            Self::Es => &ES,
        }
    }
}

/// Every string the pages show.
#[derive(Debug)]
pub struct Text {
    pub sign_in_title: &'static str,
    pub sign_in_lead: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub bad_credentials: &'static str,
    pub locked: &'static str,
    pub busy: &'static str,
    pub consent_title: &'static str,
    pub consent_lead: &'static str,
    pub signed_in_as: &'static str,
    pub requested_access: &'static str,
    pub no_scopes: &'static str,
    pub for_resource: &'static str,
    pub redirect_note: &'static str,
    pub allow: &'static str,
    pub deny: &'static str,
    pub error_title: &'static str,
    pub error_lead: &'static str,
    pub expired_form: &'static str,
    pub language: &'static str,
    pub shared_claims: &'static str,
    pub essential: &'static str,
    pub client_links: &'static str,
    pub client_home: &'static str,
    pub client_policy: &'static str,
    pub client_terms: &'static str,
    pub logout_title: &'static str,
    pub logout_lead: &'static str,
    pub logout_asks: &'static str,
    pub logout_confirm: &'static str,
    pub logout_stay: &'static str,
    pub logout_done_title: &'static str,
    pub logout_done_lead: &'static str,
    /// A logout that found nobody signed in on this browser: nothing ended, so nothing is claimed.
    pub logout_none_title: &'static str,
    pub logout_none_lead: &'static str,
    /// The interstitial before leaving for a redirect URI the operator did not register (N-M3).
    pub leave_title: &'static str,
    pub leave_lead: &'static str,
    pub leave_continue: &'static str,
    /// The same-site bounce of a cross-site POST (N-M1), for a browser without JavaScript.
    pub bounce_title: &'static str,
    pub bounce_lead: &'static str,
    pub bounce_continue: &'static str,
    pub claim_labels: &'static [(&'static str, &'static str)],
    pub yes: &'static str,
    pub verified: &'static str,
    pub no: &'static str,
}

static EN: Text = Text {
    sign_in_title: "Sign in",
    sign_in_lead: "to continue to",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    bad_credentials: "The username or password is incorrect.",
    locked: "Too many failed attempts. Wait a few minutes, then try again.",
    busy: "Too many sign-in attempts are in progress. Try again in a moment.",
    consent_title: "Allow access?",
    consent_lead: "wants to access your account",
    signed_in_as: "Signed in as",
    requested_access: "It is asking to:",
    no_scopes: "Know who you are. No other access is requested.",
    for_resource: "Access is limited to",
    redirect_note: "After your choice you will return to",
    allow: "Allow",
    deny: "Deny",
    error_title: "This request cannot be completed",
    error_lead: "The application sent a request this server cannot accept. Nothing was shared with it.",
    expired_form: "This form has expired. Go back to the application and start again.",
    language: "Language",
    shared_claims: "It will receive:",
    essential: "needed",
    client_links: "About this application:",
    client_home: "Home page",
    client_policy: "Privacy policy",
    client_terms: "Terms of service",
    logout_title: "Sign out?",
    logout_lead: "Do you want to sign out of this server?",
    logout_asks: "asks you to sign out of this server.",
    logout_confirm: "Sign out",
    logout_stay: "Stay signed in",
    logout_done_title: "You are signed out",
    logout_done_lead: "You can close this window.",
    logout_none_title: "You were not signed in",
    logout_none_lead: "Nobody is signed in to this server on this browser, so there was no session to end.",
    leave_title: "Leave this server?",
    leave_lead: "The application asks to send you to a site this server does not vouch for:",
    leave_continue: "Continue to",
    bounce_title: "One moment…",
    bounce_lead: "Your request is being passed on. If nothing happens, continue.",
    bounce_continue: "Continue",
    claim_labels: &[
        ("name", "Name"),
        ("given_name", "Given name"),
        ("family_name", "Family name"),
        ("middle_name", "Middle name"),
        ("nickname", "Nickname"),
        ("preferred_username", "Username"),
        ("profile", "Profile page"),
        ("picture", "Picture"),
        ("website", "Website"),
        ("gender", "Gender"),
        ("birthdate", "Date of birth"),
        ("zoneinfo", "Time zone"),
        ("locale", "Locale"),
        ("updated_at", "When your profile last changed"),
        ("email", "E-mail"),
        ("email_verified", "Whether your e-mail is verified"),
        ("address", "Postal address"),
        ("phone_number", "Phone number"),
        (
            "phone_number_verified",
            "Whether your phone number is verified",
        ),
    ],
    yes: "yes",
    verified: "verified",
    no: "no",
};

static ES: Text = Text {
    sign_in_title: "Iniciar sesión",
    sign_in_lead: "para continuar a",
    username: "Usuario",
    password: "Contraseña",
    sign_in: "Iniciar sesión",
    bad_credentials: "El usuario o la contraseña no son correctos.",
    locked: "Demasiados intentos fallidos. Espera unos minutos y vuelve a intentarlo.",
    busy: "Hay demasiados intentos de inicio de sesión en curso. Vuelve a intentarlo en un momento.",
    consent_title: "¿Permitir el acceso?",
    consent_lead: "quiere acceder a tu cuenta",
    signed_in_as: "Sesión iniciada como",
    requested_access: "Solicita permiso para:",
    no_scopes: "Saber quién eres. No solicita ningún otro acceso.",
    for_resource: "El acceso se limita a",
    redirect_note: "Después de elegir volverás a",
    allow: "Permitir",
    deny: "Denegar",
    error_title: "No se puede completar esta solicitud",
    error_lead: "La aplicación envió una solicitud que este servidor no puede aceptar. No se compartió nada con ella.",
    expired_form: "Este formulario ha caducado. Vuelve a la aplicación y empieza de nuevo.",
    language: "Idioma",
    shared_claims: "Recibirá:",
    essential: "necesario",
    client_links: "Sobre esta aplicación:",
    client_home: "Página principal",
    client_policy: "Política de privacidad",
    client_terms: "Condiciones del servicio",
    logout_title: "¿Cerrar sesión?",
    logout_lead: "¿Quieres cerrar la sesión en este servidor?",
    logout_asks: "te pide que cierres la sesión en este servidor.",
    logout_confirm: "Cerrar sesión",
    logout_stay: "Seguir conectado",
    logout_done_title: "Has cerrado la sesión",
    logout_done_lead: "Ya puedes cerrar esta ventana.",
    logout_none_title: "No habías iniciado sesión",
    logout_none_lead: "Nadie tiene la sesión iniciada en este servidor desde este navegador, así que no había ninguna sesión que cerrar.",
    leave_title: "¿Salir de este servidor?",
    leave_lead: "La aplicación pide enviarte a un sitio del que este servidor no responde:",
    leave_continue: "Continuar a",
    bounce_title: "Un momento…",
    bounce_lead: "Tu solicitud se está transmitiendo. Si no ocurre nada, continúa.",
    bounce_continue: "Continuar",
    claim_labels: &[
        ("name", "Nombre"),
        ("given_name", "Nombre de pila"),
        ("family_name", "Apellidos"),
        ("middle_name", "Segundo nombre"),
        ("nickname", "Apodo"),
        ("preferred_username", "Usuario"),
        ("profile", "Página de perfil"),
        ("picture", "Foto"),
        ("website", "Sitio web"),
        ("gender", "Género"),
        ("birthdate", "Fecha de nacimiento"),
        ("zoneinfo", "Zona horaria"),
        ("locale", "Idioma y región"),
        ("updated_at", "Cuándo cambió tu perfil por última vez"),
        ("email", "Correo electrónico"),
        ("email_verified", "Si tu correo está verificado"),
        ("address", "Dirección postal"),
        ("phone_number", "Teléfono"),
        ("phone_number_verified", "Si tu teléfono está verificado"),
    ],
    yes: "sí",
    verified: "verificado",
    no: "no",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_wins_then_accept_language_by_quality() {
        assert_eq!(Locale::choose(Some("fr es"), Some("en")), Locale::Es);
        assert_eq!(
            Locale::choose(Some("fr"), Some("es-MX,en;q=0.5")),
            Locale::Es
        );
        assert_eq!(Locale::choose(None, Some("en;q=0.4, es;q=0.8")), Locale::Es);
        assert_eq!(Locale::choose(None, Some("es;q=0, en")), Locale::En);
        assert_eq!(Locale::choose(None, Some("de, fr")), Locale::En);
        assert_eq!(Locale::choose(None, None), Locale::En);
    }
}
