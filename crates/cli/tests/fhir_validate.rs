//! `trove fhir validate` on real STU3 content and on invalid variants of it.

use std::path::PathBuf;
use std::process::Command;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fhir/tests/data").join(name)
}

fn validate(files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_trove")).arg("fhir").arg("validate").args(files).output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).to_string())
}

#[test]
fn valid_files_pass() {
    let files = [data("observation-blood-pressure.json"), data("bundle-transaction.json"), data("questionnaireresponse.json")];
    let (success, stdout) = validate(&files);
    assert!(success, "{stdout}");
    assert_eq!(stdout.lines().filter(|line| line.ends_with(": valid")).count(), 3, "{stdout}");
}

#[test]
fn invalid_file_lists_paths_and_fails() {
    let mut observation: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data("observation-body-weight.json")).unwrap()).unwrap();
    observation["status"] = "done".into();
    observation["effectiveDateTime"] = "2026-13-45".into();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&observation).unwrap()).unwrap();

    let (success, stdout) = validate(&[data("observation-heart-rate.json"), bad]);
    assert!(!success, "an invalid file makes the command fail");
    assert!(stdout.contains("observation-heart-rate.json: valid"), "{stdout}");
    assert!(stdout.contains("bad.json: invalid"), "{stdout}");
    assert!(stdout.contains("  Observation.status:"), "{stdout}");
    assert!(stdout.contains("  Observation.effectiveDateTime:"), "{stdout}");
}
