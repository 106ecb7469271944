//! HTML of the consent pages, rendered with maud so every interpolated value is escaped.
//!
//! The pages use no JavaScript. Each input has a `<label>`, errors are announced with
//! `role="alert"` and linked to their fields, focus is always visibly outlined, and pressing
//! Enter in a field submits its form. Form actions are relative (`login`, `consent`), so the
//! pages also work when the server is published under a path prefix.

use maud::{html, Markup, DOCTYPE};

use crate::http::consent::i18n::Lang;
use crate::service::passwords::MIN_PASSWORD_CHARS;
use crate::store::ContractKind;

const STYLE: &str = "\
:root { color-scheme: light; font-family: system-ui, sans-serif; line-height: 1.5; color: #1b1b1b; background: #f4f4f2; }
body { margin: 0; }
header { display: flex; justify-content: space-between; align-items: center; padding: 0.75rem 1.5rem; background: #23395d; color: #fff; }
header a { color: #fff; }
.brand { font-weight: 700; font-size: 1.2rem; }
main { max-width: 34rem; margin: 1.5rem auto; padding: 0 1rem; }
section { background: #fff; border: 1px solid #c9c9c4; border-radius: 8px; padding: 1rem 1.5rem; margin-bottom: 1.25rem; }
h1 { font-size: 1.5rem; }
h2 { font-size: 1.2rem; margin-top: 0.25rem; }
label { display: block; font-weight: 600; margin-top: 0.75rem; }
input { display: block; width: 100%; box-sizing: border-box; font: inherit; padding: 0.45rem 0.6rem; border: 1px solid #6b6b66; border-radius: 4px; }
.hint { font-size: 0.9rem; color: #4a4a46; margin: 0.2rem 0 0; }
.error { color: #8a1c1c; background: #fbeaea; border-left: 4px solid #8a1c1c; padding: 0.5rem 0.75rem; }
button { font: inherit; font-weight: 600; margin-top: 1rem; padding: 0.5rem 1.25rem; border-radius: 4px; border: 2px solid #23395d; background: #fff; color: #23395d; cursor: pointer; }
button.primary { background: #23395d; color: #fff; }
.actions { display: flex; gap: 0.75rem; flex-wrap: wrap; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; }
a:focus-visible, input:focus-visible, button:focus-visible { outline: 3px solid #e0a000; outline-offset: 2px; }
";

/// Values that every form on a page repeats in hidden fields.
pub struct FormContext<'a> {
    /// Page language, also sent back as `lng`.
    pub lang: Lang,
    /// CSRF token, the same as the `trove_csrf` cookie.
    pub csrf: &'a str,
    /// The preauthorization code from the link.
    pub code: &'a str,
}

/// One of the two forms on the sign-in page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// `POST login`.
    SignIn,
    /// `POST register`.
    Register,
}

/// The field an error is about, which gets the focus and `aria-invalid`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum InvalidField {
    /// The username field.
    Username,
    /// The password field.
    Password,
}

/// A message shown above one form, with the username to fill back in.
pub struct FormError {
    /// The form that was submitted.
    pub form: FormKind,
    /// Text in the page language.
    pub message: String,
    /// The submitted username.
    pub username: String,
    /// The field to correct.
    pub field: InvalidField,
}

/// The sign-in page: a sign-in form and a create-a-library form.
pub struct SignInView<'a> {
    /// Hidden fields.
    pub form: FormContext<'a>,
    /// The application's display name.
    pub app_name: &'a str,
    /// An error from the previous submission.
    pub error: Option<FormError>,
}

/// The consent page.
pub struct ConsentView<'a> {
    /// Hidden fields.
    pub form: FormContext<'a>,
    /// The application's display name.
    pub app_name: &'a str,
    /// The contract's kind.
    pub kind: ContractKind,
    /// The username of the library that access is granted to.
    pub username: &'a str,
    /// Destination the person returns to afterwards, as shown to them.
    pub destination: &'a str,
    /// Whether to offer signing in with another library (not in a linked flow).
    pub offer_switch: bool,
    /// Page path (`authorize` or `consent`) for the language switch link.
    pub path: &'a str,
    /// The provider choice of a push flow, shown inside the form.
    pub provider_choice: Option<&'a Markup>,
    /// Whether the allow button is shown; false when a push flow has no provider to offer.
    pub can_allow: bool,
}

/// Returns `path?code=..&lng=..` plus extra pairs, for links between the pages.
pub fn page_href(path: &str, code: &str, lang: Lang, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("code", code).append_pair("lng", lang.tag());
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    format!("{path}?{}", query.finish())
}

fn layout(lang: Lang, title: &str, switch_href: Option<&str>, content: Markup) -> Markup {
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " – Trove" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    span.brand { "Trove" }
                    @if let Some(href) = switch_href {
                        nav aria-label=(lang.language_nav_label()) {
                            a href=(href) lang=(other.tag()) hreflang=(other.tag()) { (other.endonym()) }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

fn hidden_fields(form: &FormContext<'_>) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(form.csrf);
        input type="hidden" name="code" value=(form.code);
        input type="hidden" name="lng" value=(form.lang.tag());
    }
}

/// Renders one of the two credential forms. `prefix` keeps element ids unique on the page.
fn credentials_form(view: &SignInView<'_>, kind: FormKind) -> Markup {
    let lang = view.form.lang;
    let (prefix, action, heading, button, password_autocomplete) = match kind {
        FormKind::SignIn => ("signin", "login", lang.sign_in_heading(), lang.sign_in_button(), "current-password"),
        FormKind::Register => ("register", "register", lang.register_heading(), lang.register_button(), "new-password"),
    };
    let error = view.error.as_ref().filter(|error| error.form == kind);
    let username = error.map(|error| error.username.as_str()).unwrap_or("");
    let invalid_field = error.map(|error| error.field);

    // Each field points at its hint (register form only) and, when it is the invalid one,
    // at the error message.
    let error_id = format!("{prefix}-error");
    let username_hint_id = format!("{prefix}-username-hint");
    let password_hint_id = format!("{prefix}-password-hint");
    let described_by = |hint_id: &str, field: InvalidField| -> Option<String> {
        let mut ids = Vec::new();
        if kind == FormKind::Register {
            ids.push(hint_id.to_string());
        }
        if invalid_field == Some(field) {
            ids.push(error_id.clone());
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    };
    let username_described_by = described_by(&username_hint_id, InvalidField::Username);
    let password_described_by = described_by(&password_hint_id, InvalidField::Password);
    let heading_id = format!("{prefix}-heading");

    html! {
        section aria-labelledby=(heading_id) {
            h2 id=(heading_id) { (heading) }
            form method="post" action=(action) {
                @if let Some(error) = error {
                    p.error id=(error_id) role="alert" { (error.message) }
                }
                (hidden_fields(&view.form))
                label for=(format!("{prefix}-username")) { (lang.username_label()) }
                input id=(format!("{prefix}-username")) name="username" type="text" value=(username)
                    autocomplete="username" autocapitalize="none" spellcheck="false" required
                    minlength=[(kind == FormKind::Register).then_some(3)]
                    maxlength=[(kind == FormKind::Register).then_some(64)]
                    pattern=[(kind == FormKind::Register).then_some(r"[A-Za-z0-9._@\-]{3,64}")]
                    aria-describedby=[username_described_by]
                    aria-invalid=[(invalid_field == Some(InvalidField::Username)).then_some("true")]
                    autofocus[invalid_field == Some(InvalidField::Username)];
                @if kind == FormKind::Register {
                    p.hint id=(username_hint_id) { (lang.username_hint()) }
                }
                label for=(format!("{prefix}-password")) { (lang.password_label()) }
                input id=(format!("{prefix}-password")) name="password" type="password"
                    autocomplete=(password_autocomplete) required
                    minlength=[(kind == FormKind::Register).then_some(MIN_PASSWORD_CHARS)]
                    aria-describedby=[password_described_by]
                    aria-invalid=[(invalid_field == Some(InvalidField::Password)).then_some("true")]
                    autofocus[invalid_field == Some(InvalidField::Password)];
                @if kind == FormKind::Register {
                    p.hint id=(password_hint_id) { (lang.password_hint(MIN_PASSWORD_CHARS)) }
                }
                button.primary type="submit" { (button) }
            }
        }
    }
}

/// Renders the sign-in page.
pub fn sign_in_page(view: &SignInView<'_>) -> Markup {
    let lang = view.form.lang;
    let switch_href = page_href("authorize", view.form.code, lang.other(), &[]);
    let content = html! {
        h1 { (lang.sign_in_title()) }
        p { (lang.sign_in_intro(view.app_name)) }
        (credentials_form(view, FormKind::SignIn))
        (credentials_form(view, FormKind::Register))
    };
    layout(lang, lang.sign_in_title(), Some(&switch_href), content)
}

/// Renders the consent page with its Allow and Deny buttons, Allow first.
pub fn consent_page(view: &ConsentView<'_>) -> Markup {
    let lang = view.form.lang;
    let switch_href = page_href(view.path, view.form.code, lang.other(), &[]);
    let content = html! {
        h1 { (lang.consent_heading(view.app_name)) }
        section {
            dl {
                dt { (lang.application_label()) }
                dd { (view.app_name) }
                dt { (lang.access_label()) }
                dd { (lang.kind_label(view.kind)) }
                dt { (lang.library_label()) }
                dd { (view.username) }
            }
            p { (lang.permissions_intro(view.app_name)) }
            ul {
                li { (lang.kind_permission(view.kind)) }
            }
            p { (lang.return_notice(view.destination)) }
            form method="post" action="consent" {
                (hidden_fields(&view.form))
                @if let Some(choice) = view.provider_choice {
                    (choice)
                }
                div.actions {
                    @if view.can_allow {
                        button.primary type="submit" name="decision" value="allow" { (lang.allow_button()) }
                    }
                    button type="submit" name="decision" value="deny" { (lang.deny_button()) }
                }
            }
        }
        @if view.offer_switch {
            p {
                a href=(page_href("authorize", view.form.code, lang, &[("prompt", "login")])) {
                    (lang.switch_library(view.username))
                }
            }
        }
    };
    layout(lang, lang.consent_title(), Some(&switch_href), content)
}

/// Renders a page with a title and one paragraph, for errors.
pub fn message_page(lang: Lang, title: &str, body: &str) -> Markup {
    let content = html! {
        h1 { (title) }
        p { (body) }
    };
    layout(lang, title, None, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> FormContext<'static> {
        FormContext { lang: Lang::Nl, csrf: "csrf-token", code: "pre&code" }
    }

    #[test]
    fn sign_in_page_escapes_and_keeps_username() {
        let view = SignInView {
            form: form(),
            app_name: "<b>Evil</b> & co",
            error: Some(FormError {
                form: FormKind::SignIn,
                message: "Fout".into(),
                username: "a\"lice".into(),
                field: InvalidField::Password,
            }),
        };
        let page = sign_in_page(&view).into_string();
        assert!(page.contains(r#"<html lang="nl">"#));
        assert!(page.contains("&lt;b&gt;Evil&lt;/b&gt; &amp; co"));
        assert!(!page.contains("<b>Evil"));
        assert!(page.contains(r#"value="a&quot;lice""#));
        assert!(page.contains(r#"name="code" value="pre&amp;code""#));
        assert!(page.contains(r#"role="alert""#));
        assert!(page.contains(r#"aria-describedby="signin-error" aria-invalid="true" autofocus"#));
        assert!(page.contains(r#"action="login""#));
        assert!(page.contains(r#"action="register""#));
    }

    #[test]
    fn consent_page_orders_allow_before_deny() {
        let view = ConsentView {
            form: form(),
            app_name: "App",
            kind: ContractKind::ReadRaw,
            username: "alice",
            destination: "app.example",
            offer_switch: true,
            path: "consent",
            provider_choice: None,
            can_allow: true,
        };
        let page = consent_page(&view).into_string();
        let allow = page.find(r#"value="allow""#).expect("allow button");
        let deny = page.find(r#"value="deny""#).expect("deny button");
        assert!(allow < deny);
        assert!(page.contains("Toestaan"));
        assert!(page.contains("prompt=login"));
        assert!(page.contains(Lang::Nl.kind_permission(ContractKind::ReadRaw)));
    }
}
