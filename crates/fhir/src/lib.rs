//! FHIR STU3 (3.0.1) JSON validation.
//!
//! [`validate`] checks a JSON value as a single STU3 resource, including a Bundle whose entries
//! are validated recursively, against the official STU3 StructureDefinitions and the value sets
//! of their required bindings. These ship compacted in `data/stu3.json.gz`, which is embedded in
//! the binary and parsed once, on first use.
//!
//! What is checked:
//!
//! - `resourceType` names a concrete STU3 resource, and every property is an element of its type
//!   (unknown properties, including DSTU2's `fhir_comments`, are errors);
//! - cardinality: required elements are present, repeating elements are JSON arrays and others
//!   are single values, and elements with maximum 0 in a profile such as SimpleQuantity are absent;
//! - choice elements (`value[x]`) use one of their typed names, such as `valueQuantity`, and only one;
//! - primitive values have the JSON type and the regex of their STU3 definition, calendar-valid
//!   dates, 32-bit integers, base64 and non-empty strings, and their `_name` companions hold only
//!   `id` and `extension` and line up with repeating values;
//! - extensions have a `url` and either a value or nested extensions (ext-1);
//! - `Reference.reference` is `Type/id`, `#id`, an absolute URL, `urn:uuid:` or `urn:oid:`, and a
//!   relative or RESTful URL names a resource type the element allows;
//! - codes of `code`, `Coding` and `CodeableConcept` elements with a required binding are in the
//!   value set, when it could be expanded from the shipped CodeSystems;
//! - contained resources have an id, are referenced, and have no narrative, nested contained
//!   resources or meta.versionId/lastUpdated (dom-1 to dom-4), and `#id` references resolve.
//!
//! NOTE: other FHIRPath invariants of the specification (such as `obs-6` or the Bundle rules
//! `bdl-*`), extensible and preferred bindings, and profiles other than the base resources are
//! not checked.
//!
//! ```
//! let observation = serde_json::json!({
//!     "resourceType": "Observation",
//!     "status": "done",
//!     "code": {"text": "Body weight"},
//! });
//! let errors = trove_fhir::validate(&observation).unwrap_err();
//! assert_eq!(errors.issues[0].path, "Observation.status");
//! ```
#![warn(missing_docs)]

mod primitive;
mod reference;
mod spec;
mod validator;

use std::fmt;

use serde_json::Value;

/// One problem found by [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    /// Location of the failing element, from the resource type through JSON property names and
    /// array indices: `Observation.component[1].valueQuantity.value`,
    /// `Bundle.entry[2].resource.status`, `Patient._birthDate.extension[0].url`.
    pub path: String,
    /// Description of the problem, in one sentence.
    pub message: String,
}

/// The problems that made a value fail [`validate`], in the order they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors {
    /// At least one issue.
    pub issues: Vec<ValidationIssue>,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl fmt::Display for ValidationErrors {
    /// Writes a summary line, then one `path: message` line per issue.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.issues.len();
        let noun = if count == 1 { "issue" } else { "issues" };
        write!(f, "invalid FHIR STU3 resource ({count} {noun})")?;
        for issue in &self.issues {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Validates a JSON value as an STU3 resource, Bundles and contained resources included.
///
/// Returns every issue found, not only the first. The first call in a process also
/// decompresses and parses the embedded definitions.
pub fn validate(value: &Value) -> Result<(), ValidationErrors> {
    let spec = spec::spec();
    let root = resource_type(value).unwrap_or("Resource");
    let mut validator = validator::Validator::new(spec);
    validator.validate_resource(value, root);
    if validator.issues.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors {
            issues: validator.issues,
        })
    }
}

/// Returns the `resourceType` of a JSON value when it names an STU3 resource type.
pub fn resource_type(value: &Value) -> Option<&str> {
    let resource_type = value.get("resourceType")?.as_str()?;
    spec::spec()
        .is_resource_type(resource_type)
        .then_some(resource_type)
}

/// How many values an element takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// At most one value, a single JSON value.
    Single,
    /// More than one value allowed, a JSON array.
    Repeating,
}

/// Returns the cardinality of the direct element `element` (a JSON property name such as
/// `identifier`) of a concrete STU3 resource type, or `None` when the type has no such element.
pub fn element_cardinality(resource_type: &str, element: &str) -> Option<Cardinality> {
    let spec = spec::spec();
    let structure = &spec.structures[spec.resource(resource_type)?];
    let (element, _) = structure.property(element)?;
    Some(if element.max.repeats() { Cardinality::Repeating } else { Cardinality::Single })
}

/// Returns the names of the concrete STU3 resource types, sorted.
pub fn resource_types() -> &'static [String] {
    &spec::spec().resource_types
}

/// Returns the FHIR version of the embedded definitions (`3.0.1`).
pub fn fhir_version() -> &'static str {
    &spec::spec().fhir_version
}
