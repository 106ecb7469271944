//! The resources in tests/data, written for Trove, validate clean, and the public helpers work.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

const DATA_FILES: [&str; 7] = [
    "patient.json",
    "observation-blood-pressure.json",
    "observation-body-weight.json",
    "observation-heart-rate.json",
    "documentreference-pdf.json",
    "questionnaireresponse.json",
    "bundle-transaction.json",
];

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

#[test]
fn data_files_validate_clean() {
    for name in DATA_FILES {
        let result = trove_fhir::validate(&load(name));
        assert!(result.is_ok(), "{name}: {}", result.unwrap_err());
    }
}

#[test]
fn blood_pressure_uses_loinc_panel() {
    let observation = load("observation-blood-pressure.json");
    let codes: Vec<&str> = observation["component"]
        .as_array()
        .expect("components")
        .iter()
        .map(|component| {
            component["code"]["coding"][0]["code"]
                .as_str()
                .expect("component code")
        })
        .collect();
    assert_eq!(observation["code"]["coding"][0]["code"], "85354-9");
    assert_eq!(codes, ["8480-6", "8462-4"]);
}

#[test]
fn transaction_bundle_mixes_resource_types() {
    let bundle = load("bundle-transaction.json");
    let types: Vec<&str> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| trove_fhir::resource_type(&entry["resource"]).expect("known resource type"))
        .collect();
    assert_eq!(
        types,
        [
            "Patient",
            "Observation",
            "Observation",
            "Observation",
            "DocumentReference",
            "QuestionnaireResponse"
        ]
    );
}

#[test]
fn resource_type_of_values() {
    let observation = load("observation-body-weight.json");
    assert_eq!(trove_fhir::resource_type(&observation), Some("Observation"));
    assert_eq!(
        trove_fhir::resource_type(&serde_json::json!({"resourceType": "Observatoin"})),
        None
    );
    assert_eq!(
        trove_fhir::resource_type(&serde_json::json!({"resourceType": 7})),
        None
    );
    assert_eq!(
        trove_fhir::resource_type(&serde_json::json!(["Observation"])),
        None
    );
}

#[test]
fn resource_types_list() {
    let types = trove_fhir::resource_types();
    assert_eq!(types.len(), 117);
    assert!(types.iter().any(|t| t == "QuestionnaireResponse"));
    assert!(
        types.windows(2).all(|pair| pair[0] < pair[1]),
        "sorted without duplicates"
    );
    assert!(
        !types.iter().any(|t| t == "DomainResource"),
        "abstract types are not listed"
    );
}

#[test]
fn fhir_version_is_stu3() {
    assert_eq!(trove_fhir::fhir_version(), "3.0.1");
}

/// Builds a transaction Bundle of about 100 KB by repeating the entries of the test Bundle.
fn large_bundle() -> Value {
    let mut bundle = load("bundle-transaction.json");
    let template = bundle["entry"].as_array().expect("entries").clone();
    let mut entries = Vec::new();
    let mut copy = 0;
    while serde_json::to_vec(&entries).expect("serializable").len() < 100_000 {
        for entry in &template {
            let mut entry = entry.clone();
            entry["fullUrl"] =
                Value::String(format!("urn:uuid:00000000-0000-4000-8000-{copy:012x}"));
            entries.push(entry);
            copy += 1;
        }
    }
    bundle["entry"] = Value::Array(entries);
    bundle
}

#[test]
fn large_bundle_validates_quickly() {
    let bundle = large_bundle();
    trove_fhir::validate(&bundle).expect("the large Bundle is valid");

    let runs = 20;
    let started = Instant::now();
    for _ in 0..runs {
        trove_fhir::validate(&bundle).expect("the large Bundle is valid");
    }
    let per_run = started.elapsed() / runs;
    let size = serde_json::to_vec(&bundle).expect("serializable").len();
    println!("validated a {size}-byte Bundle in {per_run:?} per run");
    // The 10 ms target is for release builds; this bound also holds for unoptimized test builds.
    assert!(
        per_run < Duration::from_millis(100),
        "{per_run:?} per run for {size} bytes"
    );
}

#[test]
fn identifier_cardinality_per_type() {
    use trove_fhir::{element_cardinality, Cardinality};
    assert_eq!(element_cardinality("Observation", "identifier"), Some(Cardinality::Repeating));
    assert_eq!(element_cardinality("QuestionnaireResponse", "identifier"), Some(Cardinality::Single));
    assert_eq!(element_cardinality("Bundle", "identifier"), Some(Cardinality::Single));
    assert_eq!(element_cardinality("Binary", "identifier"), None);
    assert_eq!(element_cardinality("NoSuchType", "identifier"), None);
}
