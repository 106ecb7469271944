//! The STU3 examples published by HL7 must validate without issues.

use std::path::PathBuf;

/// Folder of the HL7 examples, beside the repository checkout.
fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fhir-examples")
}

#[test]
fn official_examples_validate_clean() {
    let dir = examples_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert_eq!(
        paths.len(),
        69,
        "expected the 69 HL7 examples in {}",
        dir.display()
    );

    let mut failures = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("example is readable");
        let value: serde_json::Value = serde_json::from_str(&text).expect("example is JSON");
        if let Err(errors) = trove_fhir::validate(&value) {
            failures.push(format!(
                "{}: {errors}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}
