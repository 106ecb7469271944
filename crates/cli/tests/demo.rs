//! `trove demo` end to end: it must read every file back unchanged and show what the sandbox
//! provider received.

use std::process::Command;

#[test]
fn demo_reads_back_and_pushes_to_provider() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("notes.txt");
    std::fs::write(&own, "a file of the person's own\n".repeat(1000)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trove")).arg("demo").arg(&own).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "demo failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let row = stdout.lines().find(|line| line.starts_with("notes.txt")).expect("a row for the pushed file");
    assert!(row.ends_with(" ok"), "{row}");
    assert!(row.contains("27000 bytes"), "{row}");
    assert!(stdout.contains("provider push delivered"), "{stdout}");
    assert!(stdout.contains("Systolic blood pressure 118 mmHg"), "{stdout}");
}
