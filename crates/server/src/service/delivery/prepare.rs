//! Turns a validated STU3 document into what is sent to the provider, and stamps it with the
//! delivery's idempotency identifier.
//!
//! Every resource Trove creates at the provider carries the identifier
//! `urn:trove:delivery|<delivery id>` (with `.<entry index>` appended inside a Bundle), and the
//! create is conditional on that identifier (`If-None-Exist`, or `request.ifNoneExist` in a
//! Bundle entry). A retry after a lost response therefore finds the resource it created before
//! instead of creating a second one.
//!
//! Stamping happens after validation, so the app's own document is what gets validated. The
//! stamp is either an `Identifier` added to `identifier`, or, where the type has no
//! `identifier` element or only one that the app already set, a `Coding` added to `meta.tag`
//! with a `_tag` condition. Both keep a valid resource valid.

use serde_json::{json, Map, Value};
use trove_fhir::Cardinality;

/// System of the identifier and tag that Trove sets on delivered resources.
pub const DELIVERY_SYSTEM: &str = "urn:trove:delivery";

/// A document ready for delivery.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Resource type for `POST [base]/[type]`, or `None` for a Bundle posted to `[base]`.
    pub resource_type: Option<String>,
    /// The stamped document.
    pub body: Value,
    /// The `If-None-Exist` value for a single resource; `None` for a Bundle posted to `[base]`,
    /// whose entries carry their own.
    pub if_none_exist: Option<String>,
}

/// A reason the document cannot be delivered, at a FHIR path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareIssue {
    /// FHIRPath-like location, as `trove_fhir` reports it.
    pub path: String,
    /// Description of the problem.
    pub message: String,
}

fn issue(path: String, message: impl Into<String>) -> PrepareIssue {
    PrepareIssue { path, message: message.into() }
}

/// Prepares a document that passed `trove_fhir::validate` for delivery `delivery_id`.
///
/// A `transaction` or `batch` Bundle goes to `[base]` and each POST entry is stamped and made
/// conditional. A `document` or `collection` Bundle is stored as one Bundle resource. Other
/// Bundle types (`message`, `searchset`, `history` and the two response types) are rejected:
/// the last four are server output, and a message would need `$process-message`, which the
/// push protocol does not name.
pub fn prepare(mut document: Value, delivery_id: &str) -> Result<Prepared, Vec<PrepareIssue>> {
    let resource_type = document
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| vec![issue("resourceType".into(), "a resource needs a resourceType")])?
        .to_string();
    if resource_type != "Bundle" {
        let condition = stamp(&mut document, &resource_type, delivery_id);
        return Ok(Prepared { resource_type: Some(resource_type), body: document, if_none_exist: Some(condition) });
    }

    let bundle_type = document.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
    match bundle_type.as_str() {
        "transaction" | "batch" => {
            stamp_entries(&mut document, &bundle_type, delivery_id)?;
            Ok(Prepared { resource_type: None, body: document, if_none_exist: None })
        }
        "document" | "collection" => {
            let condition = stamp(&mut document, "Bundle", delivery_id);
            Ok(Prepared { resource_type: Some("Bundle".into()), body: document, if_none_exist: Some(condition) })
        }
        other => Err(vec![issue(
            "Bundle.type".into(),
            format!("a Bundle of type {other:?} cannot be pushed; push a transaction, batch, document or collection Bundle"),
        )]),
    }
}

/// Stamps every POST entry of a transaction or batch Bundle.
fn stamp_entries(bundle: &mut Value, bundle_type: &str, delivery_id: &str) -> Result<(), Vec<PrepareIssue>> {
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return Err(vec![issue("Bundle.entry".into(), format!("a {bundle_type} Bundle needs at least one entry"))]);
    };
    let mut issues = Vec::new();
    for (index, entry) in entries.iter_mut().enumerate() {
        let path = format!("Bundle.entry[{index}]");
        let method = entry.pointer("/request/method").and_then(Value::as_str).map(str::to_string);
        let Some(method) = method else {
            issues.push(issue(format!("{path}.request"), format!("every entry of a {bundle_type} Bundle needs a request")));
            continue;
        };
        if method != "POST" {
            // PUT, DELETE and GET are idempotent by themselves and go out unchanged.
            continue;
        }
        let entry_type = entry.pointer("/resource/resourceType").and_then(Value::as_str).map(str::to_string);
        let Some(entry_type) = entry_type else {
            issues.push(issue(format!("{path}.resource"), "a POST entry needs a resource"));
            continue;
        };
        let value = format!("{delivery_id}.{index}");
        let condition = stamp(&mut entry["resource"], &entry_type, &value);
        // NOTE: an ifNoneExist the app set itself is kept, so the app's condition decides
        // whether a retry creates a duplicate of that entry.
        let request = entry["request"].as_object_mut().expect("request.method was read from an object");
        request.entry("ifNoneExist").or_insert_with(|| Value::String(condition));
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

/// Adds the delivery identifier (or tag) to one resource and returns the matching search.
fn stamp(resource: &mut Value, resource_type: &str, value: &str) -> String {
    let object = resource.as_object_mut().expect("a validated resource is a JSON object");
    let identifier = json!({"system": DELIVERY_SYSTEM, "value": value});
    match trove_fhir::element_cardinality(resource_type, "identifier") {
        Some(Cardinality::Repeating) => {
            let list = object.entry("identifier").or_insert_with(|| Value::Array(Vec::new()));
            list.as_array_mut().expect("a validated repeating element is an array").push(identifier);
            format!("identifier={DELIVERY_SYSTEM}|{value}")
        }
        Some(Cardinality::Single) if !object.contains_key("identifier") => {
            object.insert("identifier".into(), identifier);
            format!("identifier={DELIVERY_SYSTEM}|{value}")
        }
        _ => {
            let meta = object.entry("meta").or_insert_with(|| Value::Object(Map::new()));
            let tags = meta.as_object_mut().expect("a validated meta is an object").entry("tag").or_insert_with(|| json!([]));
            tags.as_array_mut().expect("a validated meta.tag is an array").push(json!({"system": DELIVERY_SYSTEM, "code": value}));
            format!("_tag={DELIVERY_SYSTEM}|{value}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_gets_identifier() {
        let observation = json!({"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
            "identifier": [{"system": "urn:app", "value": "1"}]});
        let prepared = prepare(observation, "d1").unwrap();

        assert_eq!(prepared.resource_type.as_deref(), Some("Observation"));
        assert_eq!(prepared.if_none_exist.as_deref(), Some("identifier=urn:trove:delivery|d1"));
        assert_eq!(prepared.body["identifier"][1], json!({"system": DELIVERY_SYSTEM, "value": "d1"}));
        assert_eq!(prepared.body["identifier"][0]["system"], "urn:app");
        assert!(trove_fhir::validate(&prepared.body).is_ok());
    }

    #[test]
    fn single_identifier_taken_uses_tag() {
        let response = json!({"resourceType": "QuestionnaireResponse", "status": "completed",
            "identifier": {"system": "urn:app", "value": "7"}});
        let prepared = prepare(response, "d2").unwrap();

        assert_eq!(prepared.if_none_exist.as_deref(), Some("_tag=urn:trove:delivery|d2"));
        assert_eq!(prepared.body["identifier"]["value"], "7");
        assert_eq!(prepared.body["meta"]["tag"][0], json!({"system": DELIVERY_SYSTEM, "code": "d2"}));
        assert!(trove_fhir::validate(&prepared.body).is_ok());
    }

    #[test]
    fn single_identifier_free_is_set() {
        let response = json!({"resourceType": "QuestionnaireResponse", "status": "completed"});
        let prepared = prepare(response, "d3").unwrap();

        assert_eq!(prepared.body["identifier"], json!({"system": DELIVERY_SYSTEM, "value": "d3"}));
        assert_eq!(prepared.if_none_exist.as_deref(), Some("identifier=urn:trove:delivery|d3"));
    }

    #[test]
    fn transaction_entries_are_conditional() {
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "a"}},
             "request": {"method": "POST", "url": "Observation"}},
            {"resource": {"resourceType": "Patient", "id": "p1"}, "request": {"method": "PUT", "url": "Patient/p1"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "b"}},
             "request": {"method": "POST", "url": "Observation", "ifNoneExist": "identifier=urn:app|9"}},
        ]});
        let prepared = prepare(bundle, "d4").unwrap();
        let entries = prepared.body["entry"].as_array().unwrap();

        assert_eq!(prepared.resource_type, None);
        assert_eq!(prepared.if_none_exist, None);
        assert_eq!(entries[0]["request"]["ifNoneExist"], "identifier=urn:trove:delivery|d4.0");
        assert_eq!(entries[0]["resource"]["identifier"][0]["value"], "d4.0");
        assert!(entries[1]["request"].get("ifNoneExist").is_none());
        assert!(entries[1]["resource"].get("identifier").is_none());
        assert_eq!(entries[2]["request"]["ifNoneExist"], "identifier=urn:app|9");
        assert_eq!(entries[2]["resource"]["identifier"][0]["value"], "d4.2");
        assert!(trove_fhir::validate(&prepared.body).is_ok());
    }

    #[test]
    fn entry_without_request_is_rejected() {
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "a"}}},
        ]});
        let issues = prepare(bundle, "d5").unwrap_err();

        assert_eq!(issues[0].path, "Bundle.entry[0].request");
    }

    #[test]
    fn document_bundle_goes_to_bundle_endpoint() {
        let bundle = json!({"resourceType": "Bundle", "type": "collection"});
        let prepared = prepare(bundle, "d6").unwrap();

        assert_eq!(prepared.resource_type.as_deref(), Some("Bundle"));
        assert_eq!(prepared.body["identifier"]["value"], "d6");
    }

    #[test]
    fn searchset_bundle_is_rejected() {
        let issues = prepare(json!({"resourceType": "Bundle", "type": "searchset"}), "d7").unwrap_err();

        assert_eq!(issues[0].path, "Bundle.type");
        assert!(issues[0].message.contains("searchset"), "{}", issues[0].message);
    }

    #[test]
    fn binary_without_identifier_uses_tag() {
        let binary = json!({"resourceType": "Binary", "contentType": "text/plain", "content": "aGk="});
        let prepared = prepare(binary, "d8").unwrap();

        assert_eq!(prepared.if_none_exist.as_deref(), Some("_tag=urn:trove:delivery|d8"));
        assert!(trove_fhir::validate(&prepared.body).is_ok());
    }
}
