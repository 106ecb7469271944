//! Invalid variants of the resources in tests/data: each must be rejected at one exact path.

use std::path::PathBuf;

use serde_json::{json, Value};
use trove_fhir::ValidationIssue;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

fn issues(value: &Value) -> Vec<ValidationIssue> {
    match trove_fhir::validate(value) {
        Ok(()) => panic!("expected validation to fail for {value}"),
        Err(errors) => errors.issues,
    }
}

/// Returns the message of the only issue, after asserting that it sits at `path`.
fn single_issue_at(value: &Value, path: &str) -> String {
    let issues = issues(value);
    let paths: Vec<&str> = issues.iter().map(|issue| issue.path.as_str()).collect();
    assert_eq!(paths, [path], "issues: {issues:#?}");
    issues[0].message.clone()
}

fn patient() -> Value {
    load("patient.json")
}

fn blood_pressure() -> Value {
    load("observation-blood-pressure.json")
}

fn body_weight() -> Value {
    load("observation-body-weight.json")
}

fn remove(value: &mut Value, key: &str) {
    value
        .as_object_mut()
        .expect("object")
        .remove(key)
        .expect("key was present");
}

// Unknown elements

#[test]
fn unknown_element_rejected() {
    let mut observation = blood_pressure();
    observation["note"] = json!([{"text": "STU3 calls this comment"}]);
    let message = single_issue_at(&observation, "Observation.note");
    assert!(message.contains("unknown element"), "{message}");
}

#[test]
fn unknown_nested_element_rejected() {
    let mut observation = blood_pressure();
    observation["component"][1]["valueQuantity"]["units"] = json!("mmHg");
    single_issue_at(&observation, "Observation.component[1].valueQuantity.units");
}

#[test]
fn fhir_comments_rejected() {
    let mut patient = patient();
    patient["fhir_comments"] = json!(["a DSTU2 comment"]);
    let message = single_issue_at(&patient, "Patient.fhir_comments");
    assert!(message.contains("DSTU2"), "{message}");
}

#[test]
fn resource_type_unknown() {
    let mut patient = patient();
    patient["resourceType"] = json!("Patients");
    single_issue_at(&patient, "Resource.resourceType");
}

#[test]
fn resource_type_missing() {
    let mut patient = patient();
    remove(&mut patient, "resourceType");
    let message = single_issue_at(&patient, "Resource");
    assert_eq!(message, "missing resourceType");
}

#[test]
fn top_level_array_rejected() {
    single_issue_at(&json!([patient()]), "Resource");
}

// Cardinality

#[test]
fn missing_status_rejected() {
    let mut observation = blood_pressure();
    remove(&mut observation, "status");
    let message = single_issue_at(&observation, "Observation.status");
    assert!(message.contains("missing required element"), "{message}");
}

#[test]
fn missing_code_rejected() {
    let mut observation = body_weight();
    remove(&mut observation, "code");
    single_issue_at(&observation, "Observation.code");
}

#[test]
fn missing_component_code_rejected() {
    let mut observation = blood_pressure();
    remove(&mut observation["component"][0], "code");
    single_issue_at(&observation, "Observation.component[0].code");
}

#[test]
fn array_for_single_value_rejected() {
    let mut observation = body_weight();
    observation["status"] = json!(["final"]);
    let message = single_issue_at(&observation, "Observation.status");
    assert!(message.contains("not an array"), "{message}");
}

#[test]
fn two_values_for_optional_single_rejected() {
    let mut observation = body_weight();
    observation["subject"] =
        json!([{"reference": "Patient/jane-doe"}, {"reference": "Patient/john-doe"}]);
    single_issue_at(&observation, "Observation.subject");
}

#[test]
fn single_value_for_array_rejected() {
    let mut observation = body_weight();
    observation["category"] = observation["category"][0].clone();
    let message = single_issue_at(&observation, "Observation.category");
    assert!(message.contains("expected an array"), "{message}");
}

#[test]
fn empty_array_rejected() {
    let mut patient = patient();
    patient["name"] = json!([]);
    single_issue_at(&patient, "Patient.name");
}

#[test]
fn empty_object_rejected() {
    let mut observation = body_weight();
    observation["meta"] = json!({});
    single_issue_at(&observation, "Observation.meta");
}

#[test]
fn null_value_rejected() {
    let mut patient = patient();
    patient["gender"] = Value::Null;
    single_issue_at(&patient, "Patient.gender");
}

#[test]
fn simple_quantity_comparator_rejected() {
    let mut observation = load("observation-heart-rate.json");
    observation["referenceRange"][0]["low"]["comparator"] = json!(">=");
    let message = single_issue_at(&observation, "Observation.referenceRange[0].low.comparator");
    assert!(message.contains("maximum cardinality 0"), "{message}");
}

// Primitive values

#[test]
fn bad_birth_date_rejected() {
    let mut patient = patient();
    patient["birthDate"] = json!("12-07-1984");
    single_issue_at(&patient, "Patient.birthDate");
}

#[test]
fn nonexistent_day_rejected() {
    let mut patient = patient();
    patient["birthDate"] = json!("1983-02-29");
    let message = single_issue_at(&patient, "Patient.birthDate");
    assert!(message.contains("no day 29"), "{message}");
}

#[test]
fn leap_day_accepted() {
    let mut patient = patient();
    patient["birthDate"] = json!("1984-02-29");
    assert_eq!(trove_fhir::validate(&patient), Ok(()));
}

#[test]
fn date_time_without_zone_rejected() {
    let mut observation = body_weight();
    observation["effectiveDateTime"] = json!("2024-03-05T08:25:00");
    single_issue_at(&observation, "Observation.effectiveDateTime");
}

#[test]
fn instant_without_time_rejected() {
    let mut document = load("documentreference-pdf.json");
    document["indexed"] = json!("2024-03-05");
    let message = single_issue_at(&document, "DocumentReference.indexed");
    assert!(message.contains("invalid instant"), "{message}");
}

#[test]
fn bad_time_rejected() {
    let mut observation = body_weight();
    remove(&mut observation, "valueQuantity");
    observation["valueTime"] = json!("25:00:00");
    single_issue_at(&observation, "Observation.valueTime");
}

#[test]
fn decimal_as_string_rejected() {
    let mut observation = body_weight();
    observation["valueQuantity"]["value"] = json!("68.4");
    let message = single_issue_at(&observation, "Observation.valueQuantity.value");
    assert!(message.contains("expected a JSON number"), "{message}");
}

#[test]
fn integer_with_fraction_rejected() {
    let mut response = load("questionnaireresponse.json");
    response["item"][1]["answer"][0]["valueInteger"] = json!(4.5);
    single_issue_at(
        &response,
        "QuestionnaireResponse.item[1].answer[0].valueInteger",
    );
}

#[test]
fn integer_beyond_32_bits_rejected() {
    let mut response = load("questionnaireresponse.json");
    response["item"][1]["answer"][0]["valueInteger"] = json!(2_147_483_648_i64);
    single_issue_at(
        &response,
        "QuestionnaireResponse.item[1].answer[0].valueInteger",
    );
}

#[test]
fn negative_unsigned_int_rejected() {
    let mut document = load("documentreference-pdf.json");
    document["content"][0]["attachment"]["size"] = json!(-1);
    single_issue_at(&document, "DocumentReference.content[0].attachment.size");
}

#[test]
fn boolean_as_string_rejected() {
    let mut patient = patient();
    patient["active"] = json!("true");
    single_issue_at(&patient, "Patient.active");
}

#[test]
fn bad_base64_rejected() {
    let mut document = load("documentreference-pdf.json");
    document["content"][0]["attachment"]["data"] = json!("JVBERi0xLjQK%%");
    single_issue_at(&document, "DocumentReference.content[0].attachment.data");
}

#[test]
fn empty_string_rejected() {
    let mut patient = patient();
    patient["name"][0]["family"] = json!("");
    single_issue_at(&patient, "Patient.name[0].family");
}

#[test]
fn code_with_double_space_rejected() {
    let mut patient = patient();
    patient["gender"] = json!("fe  male");
    let issues = issues(&patient);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert!(
        issues[0].message.starts_with("invalid code value"),
        "{issues:#?}"
    );
}

#[test]
fn bad_resource_id_rejected() {
    let mut patient = patient();
    patient["id"] = json!("jane_doe");
    single_issue_at(&patient, "Patient.id");
}

#[test]
fn uri_with_space_rejected() {
    let mut observation = body_weight();
    observation["valueQuantity"]["system"] = json!("http://unitsofmeasure .org");
    single_issue_at(&observation, "Observation.valueQuantity.system");
}

#[test]
fn bad_oid_rejected() {
    let study = json!({"resourceType": "ImagingStudy", "uid": "urn:oid:1.2.03",
        "patient": {"reference": "Patient/jane-doe"}});
    single_issue_at(&study, "ImagingStudy.uid");
}

#[test]
fn narrative_without_div_rejected() {
    let mut patient = patient();
    patient["text"] = json!({"status": "generated", "div": "<p>Jane Doe</p>"});
    single_issue_at(&patient, "Patient.text.div");
}

// Required bindings

#[test]
fn status_done_rejected() {
    let mut observation = blood_pressure();
    observation["status"] = json!("done");
    let message = single_issue_at(&observation, "Observation.status");
    assert!(
        message.contains("http://hl7.org/fhir/ValueSet/observation-status"),
        "{message}"
    );
}

#[test]
fn binding_inside_data_type_checked() {
    let mut patient = patient();
    patient["name"][0]["use"] = json!("formal");
    single_issue_at(&patient, "Patient.name[0].use");
}

#[test]
fn codeable_concept_binding_wrong_code() {
    let event = json!({"resourceType": "AdverseEvent",
        "outcome": {"coding": [{"system": "http://hl7.org/fhir/adverse-event-outcome", "code": "gone"}]}});
    single_issue_at(&event, "AdverseEvent.outcome.coding[0].code");
}

#[test]
fn codeable_concept_binding_other_system() {
    let event = json!({"resourceType": "AdverseEvent",
        "outcome": {"coding": [{"system": "http://snomed.info/sct", "code": "370996005"}]}});
    single_issue_at(&event, "AdverseEvent.outcome.coding");
}

#[test]
fn codeable_concept_binding_valid_code() {
    let event = json!({"resourceType": "AdverseEvent",
        "outcome": {"coding": [{"system": "http://hl7.org/fhir/adverse-event-outcome", "code": "resolved"}]}});
    assert_eq!(trove_fhir::validate(&event), Ok(()));
}

#[test]
fn coding_binding_wrong_code() {
    let plan = json!({"resourceType": "PlanDefinition", "status": "draft",
        "action": [{"type": {"system": "http://hl7.org/fhir/action-type", "code": "delete"}}]});
    single_issue_at(&plan, "PlanDefinition.action[0].type.code");
}

// Choice elements

#[test]
fn unknown_choice_type_rejected() {
    let mut observation = body_weight();
    let quantity = observation["valueQuantity"].clone();
    remove(&mut observation, "valueQuantity");
    observation["valueFoo"] = quantity;
    let message = single_issue_at(&observation, "Observation.valueFoo");
    assert!(message.contains("valueQuantity"), "{message}");
}

#[test]
fn choice_type_not_allowed_for_element() {
    let mut observation = blood_pressure();
    remove(&mut observation["component"][0], "valueQuantity");
    observation["component"][0]["valueBoolean"] = json!(true);
    single_issue_at(&observation, "Observation.component[0].valueBoolean");
}

#[test]
fn two_choice_types_rejected() {
    let mut observation = body_weight();
    observation["valueString"] = json!("68.4 kg");
    let message = single_issue_at(&observation, "Observation.value[x]");
    assert!(
        message.contains("valueQuantity") && message.contains("valueString"),
        "{message}"
    );
}

#[test]
fn choice_value_of_wrong_shape_rejected() {
    let mut observation = body_weight();
    observation["valueQuantity"] = json!(68.4);
    single_issue_at(&observation, "Observation.valueQuantity");
}

// Primitive companions (`_name`)

#[test]
fn companion_with_extension_accepted() {
    let mut patient = patient();
    patient["_birthDate"] = json!({"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
        "valueDateTime": "1984-07-12T04:15:00+02:00"}]});
    assert_eq!(trove_fhir::validate(&patient), Ok(()));
}

#[test]
fn companion_alone_counts_as_present() {
    let mut observation = body_weight();
    remove(&mut observation, "status");
    observation["_status"] =
        json!({"extension": [{"url": "http://example.org/status-note", "valueString": "unknown"}]});
    assert_eq!(trove_fhir::validate(&observation), Ok(()));
}

#[test]
fn companion_unknown_element_rejected() {
    let mut patient = patient();
    patient["_birthDate"] = json!({"note": "approximate"});
    single_issue_at(&patient, "Patient._birthDate.note");
}

#[test]
fn companion_not_object_rejected() {
    let mut patient = patient();
    patient["_birthDate"] = json!("approximate");
    single_issue_at(&patient, "Patient._birthDate");
}

#[test]
fn companion_of_complex_element_rejected() {
    let mut observation = body_weight();
    observation["_code"] = json!({"id": "c1"});
    single_issue_at(&observation, "Observation._code");
}

#[test]
fn companion_array_lines_up() {
    let mut patient = patient();
    patient["name"][0]["_given"] = json!([null, {"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier", "valueCode": "CL"}]}]);
    assert_eq!(trove_fhir::validate(&patient), Ok(()));
}

#[test]
fn companion_array_length_mismatch_rejected() {
    let mut patient = patient();
    patient["name"][0]["_given"] = json!([null, null, {"id": "g3"}]);
    let issues = issues(&patient);
    let paths: Vec<&str> = issues.iter().map(|issue| issue.path.as_str()).collect();
    assert_eq!(paths, ["Patient.name[0]._given"], "{issues:#?}");
}

#[test]
fn null_in_both_arrays_rejected() {
    let mut patient = patient();
    patient["name"][0]["given"] = json!(["Jane", null]);
    patient["name"][0]["_given"] = json!([null, null]);
    single_issue_at(&patient, "Patient.name[0].given[1]");
}

#[test]
fn null_in_primitive_array_rejected() {
    let mut patient = patient();
    patient["name"][0]["given"] = json!(["Jane", null]);
    single_issue_at(&patient, "Patient.name[0].given[1]");
}

// Extensions

#[test]
fn extension_without_url_rejected() {
    let mut patient = patient();
    patient["extension"] = json!([{"valueString": "Dutch"}]);
    single_issue_at(&patient, "Patient.extension[0].url");
}

#[test]
fn extension_with_value_and_extensions_rejected() {
    let mut patient = patient();
    patient["extension"] = json!([{"url": "http://example.org/ext", "valueString": "x",
        "extension": [{"url": "part", "valueString": "y"}]}]);
    let message = single_issue_at(&patient, "Patient.extension[0]");
    assert!(message.contains("ext-1"), "{message}");
}

#[test]
fn extension_value_validated() {
    let mut patient = patient();
    patient["modifierExtension"] =
        json!([{"url": "http://example.org/ext", "valueDate": "2024-13-01"}]);
    single_issue_at(&patient, "Patient.modifierExtension[0].valueDate");
}

// References

#[test]
fn lowercase_resource_type_reference_rejected() {
    let mut observation = body_weight();
    observation["subject"]["reference"] = json!("patient/jane-doe");
    single_issue_at(&observation, "Observation.subject.reference");
}

#[test]
fn reference_to_disallowed_type_rejected() {
    let mut observation = body_weight();
    observation["subject"]["reference"] = json!("Practitioner/pieter-jansen");
    let message = single_issue_at(&observation, "Observation.subject.reference");
    assert!(message.contains("Patient or Group"), "{message}");
}

#[test]
fn absolute_reference_accepted() {
    let mut observation = body_weight();
    observation["subject"]["reference"] =
        json!("https://fhir.example.org/base/Patient/jane-doe/_history/3");
    assert_eq!(trove_fhir::validate(&observation), Ok(()));
}

#[test]
fn conditional_reference_accepted() {
    let mut observation = body_weight();
    observation["subject"]["reference"] =
        json!("Patient?identifier=urn:oid:2.16.840.1.113883.2.4.6.3|999911120");
    assert_eq!(trove_fhir::validate(&observation), Ok(()));
}

#[test]
fn absolute_reference_type_checked() {
    let mut observation = body_weight();
    observation["subject"]["reference"] = json!("https://fhir.example.org/base/Organization/acme");
    single_issue_at(&observation, "Observation.subject.reference");
}

#[test]
fn malformed_uuid_reference_rejected() {
    let mut observation = body_weight();
    observation["subject"]["reference"] = json!("urn:uuid:not-a-uuid");
    single_issue_at(&observation, "Observation.subject.reference");
}

#[test]
fn dangling_local_reference_rejected() {
    let mut observation = body_weight();
    observation["subject"]["reference"] = json!("#patient");
    let message = single_issue_at(&observation, "Observation.subject.reference");
    assert!(message.contains("ref-1"), "{message}");
}

// Contained resources

fn document() -> Value {
    load("documentreference-pdf.json")
}

#[test]
fn contained_unknown_element_rejected() {
    let mut document = document();
    document["contained"][0]["nmae"] = document["contained"][0]["name"].clone();
    single_issue_at(&document, "DocumentReference.contained[0].nmae");
}

#[test]
fn contained_unknown_type_rejected() {
    let mut document = document();
    document["contained"][0]["resourceType"] = json!("Doctor");
    single_issue_at(&document, "DocumentReference.contained[0].resourceType");
}

#[test]
fn contained_with_narrative_rejected() {
    let mut document = document();
    document["contained"][0]["text"] = json!({"status": "generated",
        "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Dr. Pieter Jansen</div>"});
    let message = single_issue_at(&document, "DocumentReference.contained[0].text");
    assert!(message.contains("dom-1"), "{message}");
}

#[test]
fn nested_contained_rejected() {
    let mut document = document();
    document["contained"][0]["contained"] =
        json!([{"resourceType": "Organization", "id": "org", "name": "Clinic"}]);
    let issues = issues(&document);
    assert!(
        issues.iter().any(
            |issue| issue.path == "DocumentReference.contained[0].contained"
                && issue.message.contains("dom-2")
        ),
        "{issues:#?}"
    );
}

#[test]
fn contained_without_id_rejected() {
    let mut document = document();
    remove(&mut document["contained"][0], "id");
    let paths: Vec<String> = issues(&document)
        .into_iter()
        .map(|issue| issue.path)
        .collect();
    // The author reference "#author" now resolves to nothing as well.
    assert_eq!(
        paths,
        [
            "DocumentReference.contained[0]",
            "DocumentReference.author[0].reference"
        ]
    );
}

#[test]
fn unreferenced_contained_rejected() {
    let mut document = document();
    document["author"][0]["reference"] = json!("Practitioner/pieter-jansen");
    let message = single_issue_at(&document, "DocumentReference.contained[0]");
    assert!(message.contains("dom-3"), "{message}");
}

#[test]
fn contained_version_id_rejected() {
    let mut document = document();
    document["contained"][0]["meta"] = json!({"versionId": "2"});
    single_issue_at(&document, "DocumentReference.contained[0].meta.versionId");
}

#[test]
fn duplicate_contained_id_rejected() {
    let mut document = document();
    let author = document["contained"][0].clone();
    document["contained"]
        .as_array_mut()
        .expect("contained")
        .push(author);
    let message = single_issue_at(&document, "DocumentReference.contained[1].id");
    assert!(message.contains("duplicate"), "{message}");
}

// Bundles

fn bundle() -> Value {
    load("bundle-transaction.json")
}

#[test]
fn bad_code_in_bundle_entry_rejected() {
    let mut bundle = bundle();
    bundle["entry"][2]["resource"]["status"] = json!("done");
    single_issue_at(&bundle, "Bundle.entry[2].resource.status");
}

#[test]
fn unknown_element_in_bundle_entry_rejected() {
    let mut bundle = bundle();
    bundle["entry"][5]["resource"]["item"][4]["item"][1]["answer"][0]["valueStrng"] =
        json!("Pollen");
    single_issue_at(
        &bundle,
        "Bundle.entry[5].resource.item[4].item[1].answer[0].valueStrng",
    );
}

#[test]
fn bad_bundle_request_method_rejected() {
    let mut bundle = bundle();
    bundle["entry"][1]["request"]["method"] = json!("PATCH");
    single_issue_at(&bundle, "Bundle.entry[1].request.method");
}

#[test]
fn contained_in_bundle_entry_checked() {
    let mut bundle = bundle();
    bundle["entry"][4]["resource"]["contained"][0]["gender"] = json!("man");
    single_issue_at(&bundle, "Bundle.entry[4].resource.contained[0].gender");
}

#[test]
fn local_references_scoped_per_entry() {
    let mut bundle = bundle();
    // The DocumentReference's contained author cannot be named from another entry.
    bundle["entry"][1]["resource"]["performer"][0]["reference"] = json!("#author");
    single_issue_at(&bundle, "Bundle.entry[1].resource.performer[0].reference");
}

#[test]
fn several_issues_reported_together() {
    let mut observation = blood_pressure();
    observation["status"] = json!("done");
    observation["component"][1]["valueQuantity"]["value"] = json!("76");
    remove(&mut observation, "code");
    let mut paths: Vec<String> = issues(&observation)
        .into_iter()
        .map(|issue| issue.path)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "Observation.code",
            "Observation.component[1].valueQuantity.value",
            "Observation.status"
        ]
    );
}

#[test]
fn display_lists_each_issue() {
    let mut observation = body_weight();
    observation["status"] = json!("done");
    remove(&mut observation, "code");
    let errors = trove_fhir::validate(&observation).unwrap_err();
    let text = errors.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "invalid FHIR STU3 resource (2 issues)");
    assert!(
        lines.contains(&"  Observation.code: missing required element (minimum cardinality 1)"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("  Observation.status: code \"done\" is not in")),
        "{text}"
    );
}
