//! Parsing of the MedMij provider list (ZAL, "zorgaanbiederslijst"), release 2.
//!
//! The list is untrusted input, so the parser is a streaming pull parser (quick-xml) that
//! rejects any document type declaration, expands only the five predefined XML entities and
//! character references, and refuses input over [`MAX_ZAL_BYTES`]. The root element must be in
//! [`ZAL_NAMESPACE`]; the namespace names the release, so any other one is rejected. Unknown
//! elements of the release 2 namespace and elements of other namespaces are skipped, so that
//! additions to the list do not break the import.
//!
//! Every URI must be absolute `https`. With `allow_loopback`, `http` is also accepted for
//! loopback hosts (127.0.0.0/8, `::1`, `localhost`), for tests against local stand-ins.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Namespace of release 2 lists.
pub const ZAL_NAMESPACE: &str = "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release2/";

/// Largest accepted list, in bytes. NOTE: a generous bound chosen without measuring real
/// lists, which are expected to stay well below it.
pub const MAX_ZAL_BYTES: usize = 16 << 20;

/// Deepest accepted element nesting. Release 2 nests nine levels, and the limit keeps a file of
/// millions of nested elements from growing the parser's stack of open elements.
pub const MAX_DEPTH: usize = 32;

/// Data-service names of the `GegevensdienstId`s that Trove maps.
///
/// NOTE: illustrative. MedMij resolves ids through its separate data-service name list, and
/// these ids are the ones used in Trove's example list and tests, not MedMij's real assignments.
/// Unknown ids become `gegevensdienst-<id>`, which no consent filter requests.
pub const DATA_SERVICE_NAMES: &[(&str, &str)] =
    &[("48", "measurements-vital-signs"), ("49", "questionnaire-response"), ("51", "documents")];

/// Returns the data-service name of a `GegevensdienstId`.
pub fn data_service_name(id: &str) -> String {
    DATA_SERVICE_NAMES
        .iter()
        .find(|(known, _)| *known == id)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("gegevensdienst-{id}"))
}

/// A reason to reject a list.
#[derive(Debug, thiserror::Error)]
pub enum ZalError {
    /// The input exceeds [`MAX_ZAL_BYTES`].
    #[error("the ZAL is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is not UTF-8, or declares another encoding.
    #[error("the ZAL must be UTF-8 encoded: {0}")]
    Encoding(String),
    /// The input has a document type declaration.
    #[error("the ZAL contains a document type declaration (<!DOCTYPE>); DTDs and entity declarations are not accepted")]
    Doctype,
    /// The input references an entity other than the five predefined ones.
    #[error("the ZAL references the entity &{0}; only &amp; &lt; &gt; &quot; &apos; and character references are accepted")]
    Entity(String),
    /// The root element is not in the release 2 namespace.
    #[error("unknown ZAL namespace {0:?}; only release 2 ({ZAL_NAMESPACE}) is supported")]
    UnknownNamespace(String),
    /// The XML is malformed.
    #[error("the ZAL is not well-formed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset of the error.
        position: u64,
        /// Parser message.
        message: String,
    },
    /// A required element is missing or a value is invalid.
    #[error("invalid ZAL: {0}")]
    Invalid(String),
    /// A URI is not acceptable.
    #[error("invalid URI {uri:?}: {reason}")]
    Uri {
        /// The URI as written.
        uri: String,
        /// The problem with it.
        reason: String,
    },
}

/// A parsed list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZalList {
    /// `Tijdstempel` as written.
    pub tijdstempel: String,
    /// `Volgnummer`.
    pub volgnummer: i64,
    /// `Zorgaanbieders`.
    pub providers: Vec<ZalProvider>,
}

/// One `Zorgaanbieder`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZalProvider {
    /// `Zorgaanbiedernaam`, of the form `name@medmij`.
    pub name: String,
    /// `Gegevensdiensten`.
    pub data_services: Vec<ZalDataService>,
}

/// One `Gegevensdienst`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZalDataService {
    /// `GegevensdienstId`.
    pub id: String,
    /// `AuthorizationEndpointuri`.
    pub authorization_endpoint: String,
    /// `TokenEndpointuri`.
    pub token_endpoint: String,
    /// `Systeemrollen`.
    pub system_roles: Vec<ZalSystemRole>,
}

/// One `Systeemrol`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZalSystemRole {
    /// `Systeemrolcode`, such as `MM-3.0-ZMD-FHIR`.
    pub code: String,
    /// `ResourceEndpointuri`: the FHIR base URL.
    pub resource_endpoint: String,
}

/// Parses and checks a release 2 list.
pub fn parse(input: &[u8], allow_loopback: bool) -> Result<ZalList, ZalError> {
    if input.len() > MAX_ZAL_BYTES {
        return Err(ZalError::TooLarge { size: input.len(), limit: MAX_ZAL_BYTES });
    }
    let text = std::str::from_utf8(input).map_err(|error| ZalError::Encoding(error.to_string()))?;
    let list = read_document(text)?;
    check(&list, allow_loopback)?;
    Ok(list)
}

/// Builder state while the document streams by.
#[derive(Default)]
struct Collected {
    tijdstempel: Option<String>,
    volgnummer: Option<String>,
    providers: Vec<ZalProvider>,
    provider: Option<ZalProvider>,
    service: Option<ZalDataService>,
    role: Option<ZalSystemRole>,
}

impl Collected {
    /// Handles the start of a release 2 element whose parent is `parent`.
    fn start(&mut self, parent: &str, name: &str) {
        match (parent, name) {
            ("Zorgaanbieders", "Zorgaanbieder") => self.provider = Some(ZalProvider::default()),
            ("Gegevensdiensten", "Gegevensdienst") if self.provider.is_some() => {
                self.service = Some(ZalDataService::default())
            }
            ("Systeemrollen", "Systeemrol") if self.service.is_some() => self.role = Some(ZalSystemRole::default()),
            _ => {}
        }
    }

    /// Handles the end of a release 2 element with its collected text.
    fn end(&mut self, parent: &str, name: &str, text: &str) {
        let text = text.trim().to_string();
        match (parent, name) {
            ("Zorgaanbiederslijst", "Tijdstempel") => self.tijdstempel = Some(text),
            ("Zorgaanbiederslijst", "Volgnummer") => self.volgnummer = Some(text),
            ("Zorgaanbieder", "Zorgaanbiedernaam") => {
                if let Some(provider) = &mut self.provider {
                    provider.name = text;
                }
            }
            ("Gegevensdienst", "GegevensdienstId") => {
                if let Some(service) = &mut self.service {
                    service.id = text;
                }
            }
            ("AuthorizationEndpoint", "AuthorizationEndpointuri") => {
                if let Some(service) = &mut self.service {
                    service.authorization_endpoint = text;
                }
            }
            ("TokenEndpoint", "TokenEndpointuri") => {
                if let Some(service) = &mut self.service {
                    service.token_endpoint = text;
                }
            }
            ("Systeemrol", "Systeemrolcode") => {
                if let Some(role) = &mut self.role {
                    role.code = text;
                }
            }
            ("ResourceEndpoint", "ResourceEndpointuri") => {
                if let Some(role) = &mut self.role {
                    role.resource_endpoint = text;
                }
            }
            ("Systeemrollen", "Systeemrol") => {
                if let (Some(role), Some(service)) = (self.role.take(), &mut self.service) {
                    service.system_roles.push(role);
                }
            }
            ("Gegevensdiensten", "Gegevensdienst") => {
                if let (Some(service), Some(provider)) = (self.service.take(), &mut self.provider) {
                    provider.data_services.push(service);
                }
            }
            ("Zorgaanbieders", "Zorgaanbieder") => {
                if let Some(provider) = self.provider.take() {
                    self.providers.push(provider);
                }
            }
            _ => {}
        }
    }
}

fn xml_error(reader: &NsReader<&[u8]>, error: impl std::fmt::Display) -> ZalError {
    ZalError::Xml { position: reader.error_position(), message: error.to_string() }
}

/// Returns whether a resolved element namespace is release 2's, and else its name for messages.
fn describe_namespace(namespace: &ResolveResult) -> (bool, String) {
    match namespace {
        ResolveResult::Bound(ns) if ns.as_ref() == ZAL_NAMESPACE => (true, String::new()),
        ResolveResult::Bound(ns) => (false, ns.as_ref().to_string()),
        ResolveResult::Unbound => (false, "(no namespace)".to_string()),
        ResolveResult::Unknown(prefix) => (false, format!("(undeclared prefix {prefix})")),
    }
}

/// Streams the document into a [`ZalList`] without checking values.
fn read_document(text: &str) -> Result<ZalList, ZalError> {
    let mut reader = NsReader::from_str(text);
    // A stack of open elements: `Some(local name)` for release 2 elements, `None` for elements
    // of other namespaces, whose whole subtree is skipped.
    let mut open: Vec<Option<String>> = Vec::new();
    let mut text_buffer = String::new();
    let mut collected = Collected::default();
    let mut seen_root = false;

    loop {
        let read = reader.read_resolved_event().map(|(namespace, event)| (describe_namespace(&namespace), event));
        let ((in_release2, namespace_name), event) = match read {
            Ok(read) => read,
            Err(error) => return Err(xml_error(&reader, error)),
        };
        match event {
            Event::DocType(_) => return Err(ZalError::Doctype),
            Event::Decl(declaration) => {
                if let Some(encoding) = declaration.encoding() {
                    let encoding = encoding.map_err(|error| xml_error(&reader, error))?;
                    let encoding = encoding.to_ascii_lowercase();
                    if encoding != "utf-8" && encoding != "utf8" {
                        return Err(ZalError::Encoding(format!("the declaration names {encoding}")));
                    }
                }
            }
            Event::Start(start) | Event::Empty(start) if !seen_root => {
                seen_root = true;
                if !in_release2 {
                    return Err(ZalError::UnknownNamespace(namespace_name));
                }
                let name = start.local_name().as_ref().to_string();
                if name != "Zorgaanbiederslijst" {
                    return Err(ZalError::Invalid(format!("the root element is {name}, expected Zorgaanbiederslijst")));
                }
                open.push(Some(name));
                text_buffer.clear();
            }
            Event::Start(start) => {
                if open.len() >= MAX_DEPTH {
                    return Err(ZalError::Invalid(format!("elements are nested deeper than {MAX_DEPTH} levels")));
                }
                let parent_known = open.last().is_some_and(Option::is_some);
                let name = start.local_name().as_ref().to_string();
                if in_release2 && parent_known {
                    let parent = open.last().cloned().flatten().unwrap_or_default();
                    collected.start(&parent, &name);
                    open.push(Some(name));
                } else {
                    open.push(None);
                }
                text_buffer.clear();
            }
            Event::Empty(start) => {
                let parent_known = open.last().is_some_and(Option::is_some);
                if in_release2 && parent_known {
                    let name = start.local_name().as_ref().to_string();
                    let parent = open.last().cloned().flatten().unwrap_or_default();
                    collected.start(&parent, &name);
                    collected.end(&parent, &name, "");
                }
            }
            Event::End(_) => {
                let closed = open.pop().ok_or_else(|| xml_error(&reader, "an end tag without a start tag"))?;
                if let (Some(name), Some(Some(parent))) = (closed, open.last()) {
                    let parent = parent.clone();
                    collected.end(&parent, &name, &text_buffer);
                }
                text_buffer.clear();
            }
            Event::Text(content) => text_buffer.push_str(&content.xml10_content()),
            Event::CData(content) => text_buffer.push_str(&content.xml10_content()),
            Event::GeneralRef(reference) => {
                if reference.is_char_ref() {
                    match reference.resolve_char_ref().map_err(|error| xml_error(&reader, error))? {
                        Some(character) => text_buffer.push(character),
                        None => return Err(xml_error(&reader, "an invalid character reference")),
                    }
                } else {
                    let name = reference.xml10_content().into_owned();
                    let replacement = match name.as_str() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(ZalError::Entity(name)),
                    };
                    text_buffer.push(replacement);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !seen_root {
        return Err(ZalError::Invalid("the document has no root element".into()));
    }
    if !open.is_empty() {
        return Err(ZalError::Xml { position: reader.buffer_position(), message: "the document ends inside an element".into() });
    }

    let tijdstempel = collected.tijdstempel.ok_or_else(|| ZalError::Invalid("Tijdstempel is missing".into()))?;
    let volgnummer_text = collected.volgnummer.ok_or_else(|| ZalError::Invalid("Volgnummer is missing".into()))?;
    let volgnummer = volgnummer_text
        .parse::<i64>()
        .ok()
        .filter(|number| *number >= 0)
        .ok_or_else(|| ZalError::Invalid(format!("Volgnummer {volgnummer_text:?} is not a non-negative integer")))?;
    Ok(ZalList { tijdstempel, volgnummer, providers: collected.providers })
}

/// Checks an endpoint URI.
pub fn check_uri(uri: &str, allow_loopback: bool) -> Result<url::Url, ZalError> {
    let invalid = |reason: &str| ZalError::Uri { uri: uri.to_string(), reason: reason.to_string() };
    let parsed = url::Url::parse(uri).map_err(|error| invalid(&error.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("user information is not allowed"));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("a fragment is not allowed"));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => return Err(invalid("the URI has no host")),
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_loopback && loopback => Ok(parsed),
        "http" if loopback => Err(invalid("http is accepted only for loopback hosts with --allow-loopback")),
        _ => Err(invalid("the scheme must be https")),
    }
}

fn check(list: &ZalList, allow_loopback: bool) -> Result<(), ZalError> {
    if list.tijdstempel.is_empty() {
        return Err(ZalError::Invalid("Tijdstempel is empty".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    for provider in &list.providers {
        let local = provider.name.strip_suffix("@medmij").unwrap_or("");
        if local.is_empty() {
            return Err(ZalError::Invalid(format!("Zorgaanbiedernaam {:?} is not of the form name@medmij", provider.name)));
        }
        if !names.insert(provider.name.as_str()) {
            return Err(ZalError::Invalid(format!("Zorgaanbieder {} appears twice", provider.name)));
        }
        if provider.data_services.is_empty() {
            return Err(ZalError::Invalid(format!("Zorgaanbieder {} has no Gegevensdienst", provider.name)));
        }
        for service in &provider.data_services {
            if service.id.is_empty() || !service.id.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(ZalError::Invalid(format!(
                    "GegevensdienstId {:?} of {} is not a number",
                    service.id, provider.name
                )));
            }
            let context = format!("Gegevensdienst {} of {}", service.id, provider.name);
            if service.authorization_endpoint.is_empty() {
                return Err(ZalError::Invalid(format!("{context} has no AuthorizationEndpointuri")));
            }
            if service.token_endpoint.is_empty() {
                return Err(ZalError::Invalid(format!("{context} has no TokenEndpointuri")));
            }
            check_uri(&service.authorization_endpoint, allow_loopback)?;
            check_uri(&service.token_endpoint, allow_loopback)?;
            if service.system_roles.is_empty() {
                return Err(ZalError::Invalid(format!("{context} has no Systeemrol")));
            }
            for role in &service.system_roles {
                if role.resource_endpoint.is_empty() {
                    return Err(ZalError::Invalid(format!("{context} has a Systeemrol without ResourceEndpointuri")));
                }
                check_uri(&role.resource_endpoint, allow_loopback)?;
            }
        }
    }
    Ok(())
}

/// Data services of one provider that share their authorization, token and FHIR endpoints.
/// Each group becomes one Trove provider (one `sourceId`), so an account always has exactly
/// one place to authorize and one FHIR base to push to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointGroup {
    /// `Zorgaanbiedernaam`.
    pub zal_identity: String,
    /// `GegevensdienstId`s in the group, sorted numerically.
    pub data_service_ids: Vec<String>,
    /// Authorization endpoint.
    pub authorize_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// FHIR base URL.
    pub fhir_base_url: String,
}

impl EndpointGroup {
    /// Returns the OAuth scope to request: the data-service ids, space-separated. It also identifies
    /// the group across imports.
    pub fn scope(&self) -> String {
        self.data_service_ids.join(" ")
    }
}

/// Splits each provider into groups of data services with identical endpoints, in list order.
pub fn endpoint_groups(list: &ZalList) -> Vec<EndpointGroup> {
    let mut groups = Vec::new();
    for provider in &list.providers {
        let mut by_endpoints: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        let mut order: Vec<(String, String, String)> = Vec::new();
        for service in &provider.data_services {
            for role in &service.system_roles {
                let key = (
                    service.authorization_endpoint.clone(),
                    service.token_endpoint.clone(),
                    role.resource_endpoint.clone(),
                );
                let ids = by_endpoints.entry(key.clone()).or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                });
                if !ids.contains(&service.id) {
                    ids.push(service.id.clone());
                }
            }
        }
        for key in order {
            let mut ids = by_endpoints.remove(&key).unwrap_or_default();
            ids.sort_by_key(|id| id.parse::<u64>().unwrap_or(u64::MAX));
            let (authorize_endpoint, token_endpoint, fhir_base_url) = key;
            groups.push(EndpointGroup {
                zal_identity: provider.name.clone(),
                data_service_ids: ids,
                authorize_endpoint,
                token_endpoint,
                fhir_base_url,
            });
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/zal-release2-example.xml");

    #[test]
    fn example_parses() {
        let list = parse(EXAMPLE.as_bytes(), false).unwrap();
        assert_eq!(list.volgnummer, 42);
        assert_eq!(list.tijdstempel, "2026-11-02T09:30:00Z");
        assert_eq!(list.providers.len(), 2);
        assert_eq!(list.providers[0].name, "huisartsdelinde@medmij");
        assert_eq!(list.providers[0].data_services.len(), 2);
        assert_eq!(list.providers[0].data_services[1].token_endpoint, "https://auth.delinde.example:8443/oauth/token");
        assert_eq!(list.providers[1].data_services[0].system_roles[0].resource_endpoint, "https://api.rivierenland.example/fhir");
    }

    #[test]
    fn example_groups_by_endpoints() {
        let list = parse(EXAMPLE.as_bytes(), false).unwrap();
        let groups = endpoint_groups(&list);
        assert_eq!(groups.len(), 3, "{groups:#?}");
        assert_eq!(groups[0].zal_identity, "huisartsdelinde@medmij");
        assert_eq!(groups[0].scope(), "48");
        assert_eq!(groups[1].scope(), "51");
        assert_eq!(groups[1].token_endpoint, "https://auth.delinde.example:8443/oauth/token");
        assert_eq!(groups[2].zal_identity, "ziekenhuisrivierenland@medmij");
    }

    #[test]
    fn shared_endpoints_form_one_group() {
        let list = ZalList {
            tijdstempel: "t".into(),
            volgnummer: 1,
            providers: vec![ZalProvider {
                name: "a@medmij".into(),
                data_services: ["51", "48"]
                    .iter()
                    .map(|id| ZalDataService {
                        id: id.to_string(),
                        authorization_endpoint: "https://a.example/authorize".into(),
                        token_endpoint: "https://a.example/token".into(),
                        system_roles: vec![ZalSystemRole { code: "X".into(), resource_endpoint: "https://a.example/fhir".into() }],
                    })
                    .collect(),
            }],
        };
        let groups = endpoint_groups(&list);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].data_service_ids, vec!["48", "51"]);
    }

    #[test]
    fn doctype_with_entity_rejected() {
        let hostile = EXAMPLE.replacen(
            "<Zorgaanbiederslijst",
            "<!DOCTYPE Zorgaanbiederslijst [<!ENTITY boom \"boom\">]>\n<Zorgaanbiederslijst",
            1,
        );
        let hostile = hostile.replacen("2026-11-02T09:30:00Z", "&boom;", 1);
        assert!(matches!(parse(hostile.as_bytes(), false), Err(ZalError::Doctype)));
    }

    #[test]
    fn undeclared_entity_rejected() {
        let hostile = EXAMPLE.replacen("2026-11-02T09:30:00Z", "&boom;", 1);
        let error = parse(hostile.as_bytes(), false).unwrap_err();
        assert!(matches!(&error, ZalError::Entity(name) if name == "boom"), "{error}");
    }

    #[test]
    fn predefined_entities_expanded() {
        let text = EXAMPLE.replacen("huisartsdelinde@medmij", "huisarts&#45;de&amp;linde@medmij", 1);
        let list = parse(text.as_bytes(), false).unwrap();
        assert_eq!(list.providers[0].name, "huisarts-de&linde@medmij");
    }

    #[test]
    fn wrong_namespace_named() {
        let other = "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release3/";
        let text = EXAMPLE.replacen(ZAL_NAMESPACE, other, 1);
        let error = parse(text.as_bytes(), false).unwrap_err();
        assert!(matches!(&error, ZalError::UnknownNamespace(ns) if ns == other), "{error}");
        assert!(error.to_string().contains(other));
    }

    #[test]
    fn missing_namespace_rejected() {
        let text = EXAMPLE.replacen(&format!(" xmlns=\"{ZAL_NAMESPACE}\""), "", 1);
        let error = parse(text.as_bytes(), false).unwrap_err();
        assert!(matches!(&error, ZalError::UnknownNamespace(ns) if ns == "(no namespace)"), "{error}");
    }

    #[test]
    fn http_uri_rejected() {
        let text = EXAMPLE.replacen("https://fhir.delinde.example/stu3", "http://fhir.delinde.example/stu3", 1);
        let error = parse(text.as_bytes(), true).unwrap_err();
        assert!(matches!(&error, ZalError::Uri { uri, .. } if uri == "http://fhir.delinde.example/stu3"), "{error}");
    }

    #[test]
    fn loopback_http_needs_flag() {
        let text = EXAMPLE.replacen("https://fhir.delinde.example/stu3", "http://127.0.0.1:9999/fhir", 1);
        assert!(matches!(parse(text.as_bytes(), false), Err(ZalError::Uri { .. })));
        let list = parse(text.as_bytes(), true).unwrap();
        assert_eq!(list.providers[0].data_services[0].system_roles[0].resource_endpoint, "http://127.0.0.1:9999/fhir");
    }

    #[test]
    fn oversized_input_rejected() {
        let big = vec![b' '; MAX_ZAL_BYTES + 1];
        assert!(matches!(parse(&big, false), Err(ZalError::TooLarge { .. })));
    }

    #[test]
    fn unknown_elements_skipped() {
        let text = EXAMPLE.replacen(
            "<Zorgaanbiedernaam>",
            "<Weergavenaam>Huisarts De Linde</Weergavenaam><x:Extra xmlns:x=\"urn:other\"><Zorgaanbiedernaam>evil@medmij</Zorgaanbiedernaam></x:Extra><Zorgaanbiedernaam>",
            1,
        );
        let list = parse(text.as_bytes(), false).unwrap();
        assert_eq!(list.providers[0].name, "huisartsdelinde@medmij");
    }

    #[test]
    fn deep_nesting_rejected() {
        let deep = format!("{}{}", "<x:a xmlns:x=\"urn:other\">".repeat(MAX_DEPTH), "</x:a>".repeat(MAX_DEPTH));
        let text = EXAMPLE.replacen("<Zorgaanbieders>", &format!("{deep}<Zorgaanbieders>"), 1);
        let error = parse(text.as_bytes(), false).unwrap_err();
        assert!(matches!(&error, ZalError::Invalid(message) if message.contains("nested")), "{error}");
    }

    #[test]
    fn non_numeric_volgnummer_rejected() {
        let text = EXAMPLE.replacen("<Volgnummer>42<", "<Volgnummer>forty-two<", 1);
        assert!(matches!(parse(text.as_bytes(), false), Err(ZalError::Invalid(_))));
    }

    #[test]
    fn malformed_xml_rejected() {
        let text = EXAMPLE.replacen("</Zorgaanbieders>", "", 1);
        assert!(matches!(parse(text.as_bytes(), false), Err(ZalError::Xml { .. })));
    }

    #[test]
    fn other_encoding_rejected() {
        let text = EXAMPLE.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1);
        assert!(matches!(parse(text.as_bytes(), false), Err(ZalError::Encoding(_))));
    }
}
