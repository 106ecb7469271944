//! Languages of the consent pages and every text they show.
//!
//! Each message is one method with both languages side by side, so a text missing in one
//! language does not compile. The Dutch uses the informal "je", as most Dutch consumer sites do.

use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::HeaderMap;

use crate::store::ContractKind;

/// A language the consent pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English, the default.
    #[default]
    En,
    /// Dutch.
    Nl,
}

impl Lang {
    /// Returns the BCP 47 tag, as used in `lang` attributes and the `lng` parameter.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }

    /// Parses a language tag such as `nl`, `NL` or `nl-BE` by its primary subtag.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if primary.eq_ignore_ascii_case("nl") {
            Some(Lang::Nl)
        } else {
            None
        }
    }

    /// Chooses the page language: the `lng` parameter when it names a supported language, then
    /// the best supported entry of `Accept-Language`, then English.
    pub fn choose(lng: Option<&str>, headers: &HeaderMap) -> Self {
        if let Some(lang) = lng.and_then(Lang::parse) {
            return lang;
        }
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .and_then(Self::from_accept_language)
            .unwrap_or_default()
    }

    /// Picks the supported language with the highest quality value. On equal quality the one
    /// listed first wins, and `q=0` excludes a language.
    fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(Lang, f32)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else { continue };
            let quality = parts
                .filter_map(|parameter| parameter.trim().strip_prefix("q="))
                .find_map(|value| value.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if quality <= 0.0 {
                continue;
            }
            if best.is_none_or(|(_, best_quality)| quality > best_quality) {
                best = Some((lang, quality));
            }
        }
        best.map(|(lang, _)| lang)
    }

    /// Returns the language that the switch link offers.
    pub fn other(self) -> Self {
        match self {
            Lang::En => Lang::Nl,
            Lang::Nl => Lang::En,
        }
    }

    /// Returns the language's own name, shown on the switch link.
    pub fn endonym(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Nl => "Nederlands",
        }
    }

    pub fn language_nav_label(self) -> &'static str {
        match self {
            Lang::En => "Language",
            Lang::Nl => "Taal",
        }
    }

    // Sign-in page.

    pub fn sign_in_title(self) -> &'static str {
        match self {
            Lang::En => "Sign in",
            Lang::Nl => "Inloggen",
        }
    }

    pub fn sign_in_intro(self, app: &str) -> String {
        match self {
            Lang::En => format!("{app} asks for access to your Trove library. Sign in to your library or create a new one to continue."),
            Lang::Nl => format!("{app} vraagt om toegang tot je Trove-bibliotheek. Log in met je account of maak een nieuw account aan om verder te gaan."),
        }
    }

    pub fn sign_in_heading(self) -> &'static str {
        match self {
            Lang::En => "Sign in",
            Lang::Nl => "Inloggen",
        }
    }

    pub fn register_heading(self) -> &'static str {
        match self {
            Lang::En => "New here? Create a library",
            Lang::Nl => "Nieuw hier? Maak een account aan",
        }
    }

    pub fn username_label(self) -> &'static str {
        match self {
            Lang::En => "Username",
            Lang::Nl => "Gebruikersnaam",
        }
    }

    pub fn password_label(self) -> &'static str {
        match self {
            Lang::En => "Password",
            Lang::Nl => "Wachtwoord",
        }
    }

    pub fn username_hint(self) -> &'static str {
        match self {
            Lang::En => "3 to 64 characters: letters, digits and . _ - @",
            Lang::Nl => "3 tot 64 tekens: letters, cijfers en . _ - @",
        }
    }

    pub fn password_hint(self, min_chars: usize) -> String {
        match self {
            Lang::En => format!("At least {min_chars} characters"),
            Lang::Nl => format!("Minstens {min_chars} tekens"),
        }
    }

    pub fn sign_in_button(self) -> &'static str {
        match self {
            Lang::En => "Sign in",
            Lang::Nl => "Inloggen",
        }
    }

    pub fn register_button(self) -> &'static str {
        match self {
            Lang::En => "Create library",
            Lang::Nl => "Bibliotheek aanmaken",
        }
    }

    // Sign-in and registration errors.

    pub fn error_wrong_credentials(self) -> &'static str {
        match self {
            Lang::En => "The username or password is incorrect. Check both and try again.",
            Lang::Nl => "De gebruikersnaam of het wachtwoord klopt niet. Controleer ze en probeer het opnieuw.",
        }
    }

    pub fn error_locked_out(self, minutes: u64) -> String {
        match (self, minutes) {
            (Lang::En, 1) => "Too many failed sign-in attempts for this username. Wait a minute and try again.".into(),
            (Lang::En, _) => format!("Too many failed sign-in attempts for this username. Wait {minutes} minutes and try again."),
            (Lang::Nl, 1) => "Er is te vaak een verkeerd wachtwoord gegeven voor deze gebruikersnaam. Wacht een minuut en probeer het opnieuw.".into(),
            (Lang::Nl, _) => format!("Er is te vaak een verkeerd wachtwoord gegeven voor deze gebruikersnaam. Wacht {minutes} minuten en probeer het opnieuw."),
        }
    }

    pub fn error_username_invalid(self) -> &'static str {
        match self {
            Lang::En => "Choose a username of 3 to 64 characters, using only letters, digits and . _ - @",
            Lang::Nl => "Kies een gebruikersnaam van 3 tot 64 tekens met alleen letters, cijfers en . _ - @",
        }
    }

    pub fn error_password_short(self, min_chars: usize) -> String {
        match self {
            Lang::En => format!("Choose a password of at least {min_chars} characters."),
            Lang::Nl => format!("Kies een wachtwoord van minstens {min_chars} tekens."),
        }
    }

    pub fn error_username_taken(self) -> &'static str {
        match self {
            Lang::En => "This username is already taken. Choose another one, or sign in if it is yours.",
            Lang::Nl => "Deze gebruikersnaam is al in gebruik. Kies een andere, of log in als hij van jou is.",
        }
    }

    pub fn error_fields_missing(self) -> &'static str {
        match self {
            Lang::En => "Fill in both the username and the password.",
            Lang::Nl => "Vul zowel de gebruikersnaam als het wachtwoord in.",
        }
    }

    // Consent page.

    pub fn consent_title(self) -> &'static str {
        match self {
            Lang::En => "Give access",
            Lang::Nl => "Toegang geven",
        }
    }

    pub fn consent_heading(self, app: &str) -> String {
        match self {
            Lang::En => format!("Give {app} access to your library?"),
            Lang::Nl => format!("{app} toegang geven tot je bibliotheek?"),
        }
    }

    pub fn application_label(self) -> &'static str {
        match self {
            Lang::En => "Application",
            Lang::Nl => "App",
        }
    }

    pub fn access_label(self) -> &'static str {
        match self {
            Lang::En => "Access",
            Lang::Nl => "Soort toegang",
        }
    }

    pub fn library_label(self) -> &'static str {
        match self {
            Lang::En => "Your library",
            Lang::Nl => "Je bibliotheek",
        }
    }

    /// Returns the contract kind as a short label.
    pub fn kind_label(self, kind: ContractKind) -> &'static str {
        match (self, kind) {
            (Lang::En, ContractKind::Write) => "Add files",
            (Lang::En, ContractKind::Read) => "Read connected data",
            (Lang::En, ContractKind::ReadRaw) => "View the files this app added",
            (Lang::Nl, ContractKind::Write) => "Bestanden toevoegen",
            (Lang::Nl, ContractKind::Read) => "Gekoppelde gegevens lezen",
            (Lang::Nl, ContractKind::ReadRaw) => "Bestanden bekijken die deze app heeft toegevoegd",
        }
    }

    pub fn permissions_intro(self, app: &str) -> String {
        match self {
            Lang::En => format!("If you allow this, {app} can:"),
            Lang::Nl => format!("Als je dit toestaat, kan {app}:"),
        }
    }

    /// Describes in plain words what a contract of this kind may do.
    pub fn kind_permission(self, kind: ContractKind) -> &'static str {
        match (self, kind) {
            (Lang::En, ContractKind::Write) => "add files to your library",
            (Lang::En, ContractKind::ReadRaw) => "read back the files this application added to your library",
            (Lang::En, ContractKind::Read) => "read data from sources you connect",
            (Lang::Nl, ContractKind::Write) => "bestanden aan je bibliotheek toevoegen",
            (Lang::Nl, ContractKind::ReadRaw) => {
                "de bestanden bekijken die deze app aan je bibliotheek heeft toegevoegd"
            }
            (Lang::Nl, ContractKind::Read) => "gegevens lezen uit bronnen die je koppelt",
        }
    }

    pub fn return_notice(self, destination: &str) -> String {
        match self {
            Lang::En => format!("After you choose, you go back to {destination}."),
            Lang::Nl => format!("Na je keuze ga je terug naar {destination}."),
        }
    }

    pub fn allow_button(self) -> &'static str {
        match self {
            Lang::En => "Allow",
            Lang::Nl => "Toestaan",
        }
    }

    pub fn deny_button(self) -> &'static str {
        match self {
            Lang::En => "Deny",
            Lang::Nl => "Weigeren",
        }
    }

    pub fn switch_library(self, username: &str) -> String {
        match self {
            Lang::En => format!("Not {username}? Sign in with another library"),
            Lang::Nl => format!("Ben je niet {username}? Log in met een ander account"),
        }
    }

    // Error pages.

    pub fn invalid_link_title(self) -> &'static str {
        match self {
            Lang::En => "This link is invalid",
            Lang::Nl => "Deze link is ongeldig",
        }
    }

    pub fn invalid_link_body(self) -> &'static str {
        match self {
            Lang::En => "Trove does not recognise the link you followed, or it is incomplete. Go back to the application and start again.",
            Lang::Nl => "Trove herkent de link die je hebt gevolgd niet, of hij is onvolledig. Ga terug naar de app en begin opnieuw.",
        }
    }

    pub fn bad_form_title(self) -> &'static str {
        match self {
            Lang::En => "The form is incomplete",
            Lang::Nl => "Het formulier is onvolledig",
        }
    }

    pub fn bad_form_body(self) -> &'static str {
        match self {
            Lang::En => "Trove could not read the form that was sent. Go back, reload the page and try again.",
            Lang::Nl => "Trove kon het verstuurde formulier niet lezen. Ga terug, laad de pagina opnieuw en probeer het nog eens.",
        }
    }

    pub fn csrf_title(self) -> &'static str {
        match self {
            Lang::En => "The form could not be verified",
            Lang::Nl => "Het formulier kon niet worden gecontroleerd",
        }
    }

    pub fn csrf_body(self) -> &'static str {
        match self {
            Lang::En => "This happens when your browser blocks cookies, or when the form came from another page or site. Go back, reload the page and try again.",
            Lang::Nl => "Dit gebeurt als je browser cookies blokkeert, of als het formulier van een andere pagina of site kwam. Ga terug, laad de pagina opnieuw en probeer het nog eens.",
        }
    }

    pub fn server_error_title(self) -> &'static str {
        match self {
            Lang::En => "Something went wrong",
            Lang::Nl => "Er ging iets mis",
        }
    }

    pub fn server_error_body(self, reference: &str) -> String {
        match self {
            Lang::En => format!("Trove could not handle this request. Try again in a moment. If it keeps failing, give the administrator this reference: {reference}"),
            Lang::Nl => format!("Trove kon dit verzoek niet afhandelen. Probeer het zo nog eens. Lukt het steeds niet, geef de beheerder dan deze referentie: {reference}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_accept_language(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn lng_parameter_wins_over_header() {
        let headers = with_accept_language("nl");
        assert_eq!(Lang::choose(Some("en"), &headers), Lang::En);
        assert_eq!(Lang::choose(Some("nl-BE"), &HeaderMap::new()), Lang::Nl);
    }

    #[test]
    fn unsupported_lng_falls_back_to_header() {
        let headers = with_accept_language("nl-NL,nl;q=0.9");
        assert_eq!(Lang::choose(Some("fr"), &headers), Lang::Nl);
    }

    #[test]
    fn accept_language_quality_order() {
        assert_eq!(Lang::choose(None, &with_accept_language("fr, en;q=0.5, nl;q=0.8")), Lang::Nl);
        assert_eq!(Lang::choose(None, &with_accept_language("de,en-GB;q=0.9,nl;q=0.9")), Lang::En);
        assert_eq!(Lang::choose(None, &with_accept_language("nl;q=0, en;q=0.1")), Lang::En);
    }

    #[test]
    fn default_is_english() {
        assert_eq!(Lang::choose(None, &HeaderMap::new()), Lang::En);
        assert_eq!(Lang::choose(None, &with_accept_language("fr, de")), Lang::En);
        assert_eq!(Lang::choose(Some(""), &with_accept_language("nl;q=0")), Lang::En);
    }
}
