//! The provider directory as apps and consent pages see it: the MedMij vocabularies, the
//! `discovery/sources` query, and the `sourcesScope` filter of push onboarding.
//!
//! Every provider is a push source (discovery type 2) and is also its own service, so a
//! provider's `service.id` equals its `id` and an app can preselect one with `serviceId`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{Provider, ProviderAuth};

/// MedMij organization types accepted as `organizationType` in `sourcesScope`.
pub const ORGANIZATION_TYPES: &[&str] = &[
    "general-practitioner",
    "health-center",
    "hospital",
    "private-treatment-center",
    "specialist-centre",
    "radiotherapy-center",
    "dialysis-center",
    "obstetrics-and-maternity-care",
    "mental-health-care",
    "youth-health-care",
    "psychology-and-psychotherapy",
    "nursing-and-care-homes-and-home-care",
    "disability-care",
    "mentally-disabled-care",
    "daycare-centers",
    "rehabilitation-center",
    "pharmacy",
    "audiological-center",
    "medical-aids",
    "physiotherapy",
    "protected-and-supported-living",
    "dentist",
    "ambulance",
    "health-insurers",
];

/// MedMij data-service names accepted in `sourcesScope.dataType`.
pub const DATA_TYPES: &[&str] = &[
    "medication-information",
    "laboratory-results",
    "appointments",
    "patient-summary-hospital-data",
    "gp-data",
    "mental-health-patient-summary",
    "documents",
    "measurements-vital-signs",
    "allergy-intolerances",
    "images",
    "medication-related-intolerances",
    "referral-to-questionnaire",
    "questionnaire-response",
    "longterm-healthcare-patient-summary",
    "patient-corrections-request",
    "vaccinations",
    "integral-birth-care-process",
];

/// Discovery source type of push-to-provider sources. Type 1 is pull.
pub const PUSH_SOURCE_TYPE: i64 = 2;

/// Service group of every provider account. NOTE: Trove's choice, because the SDKs fix no
/// numbering.
pub const SERVICE_GROUP_ID: i64 = 2;
/// Name of [`SERVICE_GROUP_ID`].
pub const SERVICE_GROUP_NAME: &str = "Medical";

/// Default page size of `discovery/sources`.
pub const DEFAULT_LIMIT: u64 = 100;
/// Largest accepted page size of `discovery/sources`.
pub const MAX_LIMIT: u64 = 1000;

/// Returns the reference of a provider: its ZAL identity, or `trove-provider-<id>`.
pub fn provider_reference(provider: &Provider) -> String {
    provider.zal_identity.clone().unwrap_or_else(|| format!("trove-provider-{}", provider.id))
}

/// Returns the discovery `json.authorisation.type`: `saas` when the person authorizes at the
/// provider through the consent pages, `none` when no authorization hop is needed.
pub fn authorisation_type(provider: &Provider) -> &'static str {
    match provider.auth {
        ProviderAuth::OAuth { .. } => "saas",
        ProviderAuth::Static { .. } | ProviderAuth::Sandbox => "none",
    }
}

/// Body of `POST discovery/sources`. Every member is optional and unknown members are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SourcesQuery {
    /// Page size.
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
    /// `{name: "asc" | "desc"}`.
    pub sort: Option<SortSpec>,
    /// Search and filter.
    pub query: Option<QuerySpec>,
}

/// `sort` member.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SortSpec {
    /// `asc` or `desc`.
    pub name: Option<String>,
}

/// `query` member.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QuerySpec {
    /// Search terms by field.
    pub search: Option<SearchSpec>,
    /// Free text matched against names.
    pub query_string: Option<String>,
    /// Filters; all given ones must match.
    pub filter: Option<FilterSpec>,
}

/// `query.search`: a source matches when any term of any field matches.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SearchSpec {
    /// Substrings of the name (case-insensitive).
    pub name: Vec<String>,
    /// Abbreviations; Trove stores none, so these never match.
    pub abbreviation: Vec<String>,
    /// Aliases; Trove stores none, so these never match.
    pub alias: Vec<String>,
    /// Medical centers; Trove stores none, so these never match.
    pub medical_center: Vec<String>,
    /// Practitioners; Trove stores none, so these never match.
    pub practitioner: Vec<String>,
}

/// `{id: [...]}` filter member.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IdFilter {
    /// Accepted ids (numbers or numeric strings).
    pub id: Vec<Value>,
}

/// `query.filter`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FilterSpec {
    /// Source type: 1 pull, 2 push.
    pub r#type: Option<IdFilter>,
    /// Accepted `publishedStatus` values.
    pub published_status: Option<Vec<String>>,
    /// Accepted source ids.
    pub id: Option<Vec<Value>>,
    /// One source id.
    pub source_id: Option<Value>,
    /// Accepted service ids (equal to source ids in Trove).
    pub service: Option<IdFilter>,
    /// Accepted references (ZAL identities).
    pub reference: Option<Vec<String>>,
    /// Countries; Trove records none, so a non-empty list matches nothing.
    pub country: Option<IdFilter>,
    /// Categories; Trove records none, so a non-empty list matches nothing.
    pub category: Option<IdFilter>,
    /// Platforms; Trove records none, so a non-empty list matches nothing.
    pub platform: Option<IdFilter>,
    /// Aliases; Trove records none, so a non-empty list matches nothing.
    pub alias: Option<Vec<String>>,
    /// Trove addition: accepted data-service names, any of which must be offered.
    pub data_type: Option<Vec<String>>,
    /// Trove addition: accepted organization types.
    pub organization_type: Option<Value>,
}

/// One element of the `discovery/sources` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceItem {
    /// Source id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Publication status.
    pub published_status: String,
    /// ZAL identity or `trove-provider-<id>`.
    pub reference: String,
    /// `{id: 2, name: "push"}`.
    pub r#type: Value,
    /// The provider as a service: same id, name and reference.
    pub service: Value,
    /// `{authorisation: {type}}`.
    pub json: Value,
    /// Trove addition: MedMij organization type, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_type: Option<String>,
    /// Trove addition: accepted data services.
    pub data_types: Vec<String>,
}

/// The `discovery/sources` answer.
#[derive(Debug, Serialize)]
pub struct SourcesPage {
    /// The page.
    pub data: Vec<SourceItem>,
    /// Page size used.
    pub limit: u64,
    /// Offset used.
    pub offset: u64,
    /// Matching sources before paging.
    pub total: u64,
}

fn id_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn ids_contain(ids: &[Value], id: i64) -> bool {
    ids.iter().any(|value| id_of(value) == Some(id))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn matches_search(provider: &Provider, search: &SearchSpec) -> bool {
    let has_terms = !(search.name.is_empty()
        && search.abbreviation.is_empty()
        && search.alias.is_empty()
        && search.medical_center.is_empty()
        && search.practitioner.is_empty());
    if !has_terms {
        return true;
    }
    let reference = provider_reference(provider);
    search
        .name
        .iter()
        .any(|term| contains_ignore_case(&provider.name, term) || contains_ignore_case(&reference, term))
}

fn matches_filter(provider: &Provider, filter: &FilterSpec) -> bool {
    let id = provider.id;
    if let Some(kind) = &filter.r#type {
        if !kind.id.is_empty() && !ids_contain(&kind.id, PUSH_SOURCE_TYPE) {
            return false;
        }
    }
    if let Some(statuses) = &filter.published_status {
        if !statuses.is_empty() && !statuses.contains(&provider.published_status) {
            return false;
        }
    }
    if let Some(ids) = &filter.id {
        if !ids.is_empty() && !ids_contain(ids, id) {
            return false;
        }
    }
    if let Some(source_id) = &filter.source_id {
        if !source_id.is_null() && id_of(source_id) != Some(id) {
            return false;
        }
    }
    if let Some(service) = &filter.service {
        if !service.id.is_empty() && !ids_contain(&service.id, id) {
            return false;
        }
    }
    if let Some(references) = &filter.reference {
        let reference = provider_reference(provider);
        if !references.is_empty() && !references.contains(&reference) {
            return false;
        }
    }
    let unrecorded = [&filter.country, &filter.category, &filter.platform];
    if unrecorded.iter().any(|ids| ids.as_ref().is_some_and(|ids| !ids.id.is_empty())) {
        return false;
    }
    if filter.alias.as_ref().is_some_and(|aliases| !aliases.is_empty()) {
        return false;
    }
    if let Some(data_types) = &filter.data_type {
        if !data_types.is_empty() && !data_types.iter().any(|wanted| provider.data_services.contains(wanted)) {
            return false;
        }
    }
    match &filter.organization_type {
        Some(Value::String(wanted)) => provider.organization_type.as_deref() == Some(wanted.as_str()),
        Some(Value::Array(wanted)) if !wanted.is_empty() => wanted
            .iter()
            .any(|value| value.as_str().is_some_and(|wanted| provider.organization_type.as_deref() == Some(wanted))),
        _ => true,
    }
}

/// A rejected query.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// Runs a `discovery/sources` query over `providers`.
pub fn query_sources(providers: Vec<Provider>, query: &SourcesQuery) -> Result<SourcesPage, QueryError> {
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(limit) if (1..=MAX_LIMIT as i64).contains(&limit) => limit as u64,
        Some(limit) => return Err(QueryError(format!("limit {limit} is out of range; use 1 to {MAX_LIMIT}"))),
    };
    let offset = match query.offset {
        None => 0,
        Some(offset) if offset >= 0 => offset as u64,
        Some(offset) => return Err(QueryError(format!("offset {offset} is negative"))),
    };
    let descending = match query.sort.as_ref().and_then(|sort| sort.name.as_deref()) {
        None => None,
        Some(order) if order.eq_ignore_ascii_case("asc") => Some(false),
        Some(order) if order.eq_ignore_ascii_case("desc") => Some(true),
        Some(order) => return Err(QueryError(format!("sort.name {order:?} is invalid; use asc or desc"))),
    };

    let spec = query.query.as_ref();
    let mut matching: Vec<Provider> = providers
        .into_iter()
        .filter(|provider| spec.and_then(|spec| spec.search.as_ref()).is_none_or(|search| matches_search(provider, search)))
        .filter(|provider| {
            spec.and_then(|spec| spec.query_string.as_deref())
                .is_none_or(|text| text.trim().is_empty() || contains_ignore_case(&provider.name, text.trim()))
        })
        .filter(|provider| spec.and_then(|spec| spec.filter.as_ref()).is_none_or(|filter| matches_filter(provider, filter)))
        .collect();
    if let Some(descending) = descending {
        matching.sort_by(|left, right| {
            let order = left.name.to_lowercase().cmp(&right.name.to_lowercase()).then(left.id.cmp(&right.id));
            if descending {
                order.reverse()
            } else {
                order
            }
        });
    } else {
        matching.sort_by_key(|provider| provider.id);
    }

    let total = matching.len() as u64;
    let data = matching.into_iter().skip(offset as usize).take(limit as usize).map(|provider| source_item(&provider)).collect();
    Ok(SourcesPage { data, limit, offset, total })
}

/// Builds the discovery element of a provider.
pub fn source_item(provider: &Provider) -> SourceItem {
    let reference = provider_reference(provider);
    SourceItem {
        id: provider.id,
        name: provider.name.clone(),
        published_status: provider.published_status.clone(),
        reference: reference.clone(),
        r#type: serde_json::json!({ "id": PUSH_SOURCE_TYPE, "name": "push" }),
        service: serde_json::json!({ "id": provider.id, "name": provider.name, "reference": reference }),
        json: serde_json::json!({ "authorisation": { "type": authorisation_type(provider) } }),
        organization_type: provider.organization_type.clone(),
        data_types: provider.data_services.clone(),
    }
}

/// The `sourcesScope` parameter of the onboarding URL.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SourcesScope {
    /// Data services of which a provider must accept at least one.
    pub data_type: Vec<String>,
    /// Required organization type.
    pub organization_type: Option<String>,
}

/// Parses `sourcesScope` after the query string's own percent-decoding. The SDK encodes the
/// JSON once more before the query string does, so text that is not JSON and still contains
/// `%` is decoded a second time.
pub fn parse_sources_scope(decoded_once: &str) -> Result<SourcesScope, QueryError> {
    let invalid = |error: serde_json::Error| QueryError(format!("sourcesScope is not a valid scope object: {error}"));
    match serde_json::from_str::<SourcesScope>(decoded_once) {
        Ok(scope) => Ok(scope),
        Err(error) if !decoded_once.contains('%') => Err(invalid(error)),
        Err(_) => {
            let twice = percent_encoding::percent_decode_str(decoded_once)
                .decode_utf8()
                .map_err(|error| QueryError(format!("sourcesScope is not UTF-8 after percent-decoding: {error}")))?;
            serde_json::from_str::<SourcesScope>(&twice).map_err(invalid)
        }
    }
}

/// Returns whether a provider may be offered on a push onboarding page: approved, preselected
/// by `service` when given, and within `scope`.
pub fn offered_for_onboarding(provider: &Provider, service: Option<i64>, scope: &SourcesScope) -> bool {
    if provider.published_status != "approved" {
        return false;
    }
    if service.is_some_and(|service| service != provider.id) {
        return false;
    }
    if !scope.data_type.is_empty() && !scope.data_type.iter().any(|wanted| provider.data_services.contains(wanted)) {
        return false;
    }
    match &scope.organization_type {
        Some(wanted) if !wanted.is_empty() => provider.organization_type.as_deref() == Some(wanted.as_str()),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: i64, name: &str, services: &[&str], organization_type: Option<&str>, status: &str) -> Provider {
        Provider {
            id,
            name: name.into(),
            organization_type: organization_type.map(str::to_string),
            data_services: services.iter().map(|service| service.to_string()).collect(),
            fhir_base_url: "https://fhir.example/".into(),
            auth: ProviderAuth::Sandbox,
            published_status: status.into(),
            zal_identity: None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn directory() -> Vec<Provider> {
        vec![
            provider(1, "Huisarts De Linde", &["measurements-vital-signs"], Some("general-practitioner"), "approved"),
            provider(2, "Ziekenhuis Rivierenland", &["documents", "questionnaire-response"], Some("hospital"), "approved"),
            provider(3, "Apotheek Oud", &["medication-information"], Some("pharmacy"), "deprecated"),
        ]
    }

    fn run(body: Value) -> SourcesPage {
        let query: SourcesQuery = serde_json::from_value(body).unwrap();
        query_sources(directory(), &query).unwrap()
    }

    fn ids(page: &SourcesPage) -> Vec<i64> {
        page.data.iter().map(|item| item.id).collect()
    }

    #[test]
    fn empty_query_lists_all() {
        let page = run(serde_json::json!({}));
        assert_eq!(ids(&page), vec![1, 2, 3]);
        assert_eq!(page.total, 3);
        assert_eq!(page.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn pull_type_matches_nothing() {
        let page = run(serde_json::json!({"query": {"filter": {"type": {"id": [1]}}}}));
        assert!(page.data.is_empty());
        assert_eq!(page.total, 0);
        assert_eq!(ids(&run(serde_json::json!({"query": {"filter": {"type": {"id": [1, 2]}}}}))), vec![1, 2, 3]);
    }

    #[test]
    fn status_and_service_filters() {
        let page = run(serde_json::json!({"query": {"filter": {"publishedStatus": ["approved"], "service": {"id": ["2", 3]}}}}));
        assert_eq!(ids(&page), vec![2]);
    }

    #[test]
    fn search_name_case_insensitive() {
        assert_eq!(ids(&run(serde_json::json!({"query": {"search": {"name": ["rivieren"]}}}))), vec![2]);
        assert!(run(serde_json::json!({"query": {"search": {"alias": ["x"]}}})).data.is_empty());
    }

    #[test]
    fn sort_and_paging() {
        let page = run(serde_json::json!({"sort": {"name": "desc"}, "limit": 1, "offset": 1}));
        assert_eq!(ids(&page), vec![1]);
        assert_eq!(page.total, 3);
        assert_eq!((page.limit, page.offset), (1, 1));
    }

    #[test]
    fn invalid_limit_rejected() {
        let query: SourcesQuery = serde_json::from_value(serde_json::json!({"limit": 0})).unwrap();
        assert!(query_sources(directory(), &query).is_err());
    }

    #[test]
    fn data_type_and_organization_filters() {
        let page = run(serde_json::json!({"query": {"filter": {"dataType": ["documents"], "organizationType": "hospital"}}}));
        assert_eq!(ids(&page), vec![2]);
        assert!(run(serde_json::json!({"query": {"filter": {"country": {"id": [1]}}}})).data.is_empty());
    }

    #[test]
    fn item_shape() {
        let page = run(serde_json::json!({"query": {"filter": {"id": [1]}}}));
        let item = serde_json::to_value(&page.data[0]).unwrap();
        assert_eq!(item["service"]["id"], 1);
        assert_eq!(item["service"]["reference"], "trove-provider-1");
        assert_eq!(item["publishedStatus"], "approved");
        assert_eq!(item["json"]["authorisation"]["type"], "none");
        assert_eq!(item["type"]["id"], 2);
    }

    #[test]
    fn scope_decoded_once_or_twice() {
        let scope = r#"{"dataType":["documents"],"organizationType":"hospital"}"#;
        let once = parse_sources_scope(scope).unwrap();
        assert_eq!(once.data_type, vec!["documents"]);
        let encoded = percent_encoding::utf8_percent_encode(scope, percent_encoding::NON_ALPHANUMERIC).to_string();
        assert_eq!(parse_sources_scope(&encoded).unwrap(), once);
        assert!(parse_sources_scope("{not json").is_err());
    }

    #[test]
    fn onboarding_filter() {
        let providers = directory();
        let scope = SourcesScope { data_type: vec!["documents".into()], organization_type: None };
        let offered: Vec<i64> =
            providers.iter().filter(|p| offered_for_onboarding(p, None, &scope)).map(|p| p.id).collect();
        assert_eq!(offered, vec![2]);
        let all: Vec<i64> = providers
            .iter()
            .filter(|p| offered_for_onboarding(p, None, &SourcesScope::default()))
            .map(|p| p.id)
            .collect();
        assert_eq!(all, vec![1, 2], "deprecated providers are not offered");
        assert!(!offered_for_onboarding(&providers[0], Some(2), &SourcesScope::default()));
        let gp = SourcesScope { data_type: vec![], organization_type: Some("general-practitioner".into()) };
        assert!(offered_for_onboarding(&providers[0], Some(1), &gp));
        assert!(!offered_for_onboarding(&providers[1], None, &gp));
    }
}
