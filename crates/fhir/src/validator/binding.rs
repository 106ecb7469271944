//! Checks of codes against the expanded value sets of required bindings.

use serde_json::{Map, Value};

use super::Validator;
use crate::primitive::quote;
use crate::spec::ValueSet;

/// Maximum number of codes listed in a message about a code outside a required value set.
const LISTED_CODES_LIMIT: usize = 20;

impl Validator<'_> {
    /// Checks a Coding under a required binding: a code from a system the value set uses
    /// must be one of its codes, and a system the value set does not use is rejected.
    pub(super) fn check_coding_binding(
        &mut self,
        object: &Map<String, Value>,
        value_set: &ValueSet,
        path: &str,
    ) {
        let system = object.get("system").and_then(Value::as_str);
        let Some(code) = object.get("code").and_then(Value::as_str) else {
            return;
        };
        match system {
            Some(system) => match value_set.codes(system) {
                Some(codes) if codes.contains(code) => {}
                Some(_) => self.issue(format!("{path}.code"), not_in_value_set(code, value_set)),
                None => self.issue(
                    format!("{path}.system"),
                    format!(
                        "code system {} is not part of the required value set {}",
                        quote(system),
                        value_set.url
                    ),
                ),
            },
            None if value_set.contains_code(code) => {}
            None => self.issue(format!("{path}.code"), not_in_value_set(code, value_set)),
        }
    }

    /// Checks a CodeableConcept under a required binding: codings from the value set's systems
    /// must use its codes, and when codings are present, one must come from the value set.
    ///
    /// NOTE: a CodeableConcept with only `text` passes, although a strict reading of a
    /// required binding requires a code from the value set.
    pub(super) fn check_codeable_concept_binding(
        &mut self,
        object: &Map<String, Value>,
        value_set: &ValueSet,
        path: &str,
    ) {
        let Some(codings) = object.get("coding").and_then(Value::as_array) else {
            return;
        };
        // Whether a coding used one of the value set's systems. A wrong code in such a
        // coding is reported on that coding alone.
        let mut uses_value_set_system = false;
        for (index, coding) in codings.iter().enumerate() {
            let system = coding.get("system").and_then(Value::as_str);
            let Some(code) = coding.get("code").and_then(Value::as_str) else {
                continue;
            };
            let Some(codes) = system.and_then(|system| value_set.codes(system)) else {
                continue;
            };
            uses_value_set_system = true;
            if !codes.contains(code) {
                self.issue(
                    format!("{path}.coding[{index}].code"),
                    not_in_value_set(code, value_set),
                );
            }
        }
        if !uses_value_set_system {
            let systems: Vec<&str> = value_set.systems().collect();
            self.issue(
                format!("{path}.coding"),
                format!(
                    "no coding is from the required value set {} (code systems: {})",
                    value_set.url,
                    systems.join(", ")
                ),
            );
        }
    }
}

pub(super) fn not_in_value_set(code: &str, value_set: &ValueSet) -> String {
    let mut message = format!(
        "code {} is not in the required value set {}",
        quote(code),
        value_set.url
    );
    if let Some(codes) = value_set.listed_codes(LISTED_CODES_LIMIT) {
        message.push_str(&format!("; expected one of: {}", codes.join(", ")));
    }
    message
}
