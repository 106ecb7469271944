//! The walk over a JSON value that checks it against the STU3 definitions.

mod binding;
mod references;

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::primitive::{check_primitive, describe, quote};
use crate::spec::{Element, ElementType, Max, Spec, StructureId};
use crate::ValidationIssue;
use binding::not_in_value_set;

/// Collects the issues of one validation run.
pub(crate) struct Validator<'s> {
    spec: &'s Spec,
    pub issues: Vec<ValidationIssue>,
    /// One scope per resource that may hold `contained` resources, innermost last.
    scopes: Vec<ResourceScope>,
}

/// The contained resources of one resource and the `#id` references made inside it,
/// including those made from its contained resources.
#[derive(Default)]
struct ResourceScope {
    /// Contained resource id and the path of that resource, in document order.
    contained: Vec<(String, String)>,
    /// The ids in `contained`, for lookups.
    contained_ids: HashSet<String>,
    /// Referenced id (after `#`) and the path of the `reference` element.
    local_references: Vec<(String, String)>,
}

/// Where a resource sits, which decides the extra rules it follows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// The value passed to `validate`, a Bundle entry, or a Parameters value.
    Standalone,
    /// An entry of `contained`.
    Contained,
}

impl<'s> Validator<'s> {
    pub fn new(spec: &'s Spec) -> Self {
        Validator {
            spec,
            issues: Vec::new(),
            scopes: Vec::new(),
        }
    }

    fn issue(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.issues.push(ValidationIssue {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Validates a resource, dispatching on its `resourceType`.
    pub fn validate_resource(&mut self, value: &Value, path: &str) {
        self.validate_placed_resource(value, path, Placement::Standalone);
    }

    fn validate_placed_resource(&mut self, value: &Value, path: &str, placement: Placement) {
        let Some(object) = value.as_object() else {
            self.issue(
                path,
                format!(
                    "expected a JSON object for a resource, found {}",
                    describe(value)
                ),
            );
            return;
        };
        // Registering a contained resource's id before anything else keeps a wrong
        // resourceType from also failing every #id reference to it.
        if placement == Placement::Contained {
            self.check_contained_rules(object, path);
        }
        let resource_type = match object.get("resourceType") {
            Some(Value::String(resource_type)) => resource_type,
            Some(other) => {
                self.issue(
                    format!("{path}.resourceType"),
                    format!("expected a string, found {}", describe(other)),
                );
                return;
            }
            None => {
                self.issue(path, "missing resourceType");
                return;
            }
        };
        let Some(structure) = self.spec.resource(resource_type) else {
            self.issue(
                format!("{path}.resourceType"),
                format!(
                    "unknown resource type {}; it is not an STU3 resource",
                    quote(resource_type)
                ),
            );
            return;
        };

        if placement == Placement::Standalone {
            self.scopes.push(ResourceScope::default());
        }
        self.validate_object(structure, object, path, true);
        if placement == Placement::Standalone {
            let scope = self
                .scopes
                .pop()
                .expect("a scope was pushed for this resource");
            self.check_local_references(scope);
        }
    }

    /// Validates the properties of one JSON object against a structure.
    fn validate_object(
        &mut self,
        structure_id: StructureId,
        object: &Map<String, Value>,
        path: &str,
        is_resource: bool,
    ) {
        let spec = self.spec;
        let structure = &spec.structures[structure_id];
        if object.is_empty() {
            self.issue(
                path,
                "empty object; FHIR JSON omits elements that have no content",
            );
            return;
        }

        // The JSON name first seen for each element, to enforce one name per choice element.
        let mut seen: Vec<Option<&str>> = vec![None; structure.elements.len()];
        for (key, value) in object {
            if is_resource && key == "resourceType" {
                continue;
            }
            let (name, is_companion) = match key.strip_prefix('_') {
                Some(name) => (name, true),
                None => (key.as_str(), false),
            };
            let Some((element, element_type)) = structure.property(name) else {
                self.report_unknown(structure_id, key, path);
                continue;
            };
            let index = structure
                .element_index(name)
                .expect("property() found this name");
            match seen[index] {
                None => seen[index] = Some(name),
                Some(first) if first != name => {
                    self.issue(
                        format!("{path}.{}", element.name),
                        format!(
                            "{} allows one type, but both {first} and {name} are present",
                            element.name
                        ),
                    );
                }
                Some(_) => {}
            }

            match element_type {
                ElementType::Primitive(primitive) if is_companion => {
                    // The pair is validated once, from the value side, when both are present.
                    if !object.contains_key(name) {
                        self.validate_primitive_element(
                            element,
                            primitive,
                            None,
                            Some(value),
                            path,
                            name,
                        );
                    }
                }
                ElementType::Primitive(primitive) => {
                    let companion = object.get(&format!("_{name}"));
                    self.validate_primitive_element(
                        element,
                        primitive,
                        Some(value),
                        companion,
                        path,
                        name,
                    );
                }
                _ if is_companion => {
                    self.issue(
                        format!("{path}.{key}"),
                        format!("unknown element; {name} is not a primitive, so it has no _{name}"),
                    );
                }
                _ => self.validate_complex_element(element, element_type, value, path, name),
            }
        }

        for (index, element) in structure.elements.iter().enumerate() {
            if element.min > 0 && seen[index].is_none() {
                self.issue(
                    format!("{path}.{}", element.name),
                    format!(
                        "missing required element (minimum cardinality {})",
                        element.min
                    ),
                );
            }
        }
        if structure_id == spec.extension {
            self.check_extension_content(object, path);
        }
    }

    fn report_unknown(&mut self, structure_id: StructureId, key: &str, path: &str) {
        let structure = &self.spec.structures[structure_id];
        // STU3 JSON has no comment property. DSTU2 allowed `fhir_comments` on any object, but
        // STU3 dropped it, so it is rejected like any other unknown element.
        let message = if key == "fhir_comments" {
            "unknown element; fhir_comments is DSTU2's comment convention and is not part of STU3 JSON".to_owned()
        } else if let Some(names) = structure.choice_names_like(key.trim_start_matches('_')) {
            format!(
                "unknown element of {}; the allowed names are {}",
                structure.name,
                names.join(", ")
            )
        } else {
            format!("unknown element of {}", structure.name)
        };
        self.issue(format!("{path}.{key}"), message);
    }

    /// Checks ext-1: an extension has either nested extensions or a value, never both or neither.
    fn check_extension_content(&mut self, object: &Map<String, Value>, path: &str) {
        let has_extensions = object.contains_key("extension");
        let has_value = object
            .keys()
            .any(|key| key.starts_with("value") || key.starts_with("_value"));
        if has_extensions == has_value {
            let found = if has_value { "both" } else { "neither" };
            self.issue(
                path,
                format!(
                    "an extension must have either extension or value[x], found {found} (ext-1)"
                ),
            );
        }
    }

    fn validate_complex_element(
        &mut self,
        element: &Element,
        element_type: ElementType,
        value: &Value,
        path: &str,
        name: &str,
    ) {
        let element_path = format!("{path}.{name}");
        if !self.check_cardinality_shape(element, value, &element_path) {
            return;
        }
        match value {
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.validate_complex_value(
                        element,
                        element_type,
                        item,
                        &format!("{element_path}[{index}]"),
                    );
                }
            }
            single => self.validate_complex_value(element, element_type, single, &element_path),
        }
    }

    /// Checks max 0, array versus single value, empty arrays and the maximum count. Returns
    /// whether the items are worth validating.
    fn check_cardinality_shape(&mut self, element: &Element, value: &Value, path: &str) -> bool {
        if element.max == Max::Count(0) {
            self.issue(path, "element is not allowed here (maximum cardinality 0)");
            return false;
        }
        match (element.max.repeats(), value) {
            (true, Value::Array(items)) => {
                if items.is_empty() {
                    self.issue(
                        path,
                        "empty array; FHIR JSON omits elements that have no content",
                    );
                    return false;
                }
                if let Max::Count(max) = element.max {
                    if items.len() > max as usize {
                        self.issue(
                            path,
                            format!(
                                "{} values, but the maximum cardinality is {max}",
                                items.len()
                            ),
                        );
                    }
                }
                true
            }
            (true, other) => {
                let found = describe(other);
                self.issue(path, format!("expected an array because the element repeats (maximum cardinality {}), found {found}", element.max));
                false
            }
            (false, Value::Array(_)) => {
                self.issue(
                    path,
                    "expected a single value, not an array (maximum cardinality 1)",
                );
                false
            }
            (false, _) => true,
        }
    }

    fn validate_complex_value(
        &mut self,
        element: &Element,
        element_type: ElementType,
        value: &Value,
        path: &str,
    ) {
        let structure = match element_type {
            ElementType::Resource => {
                let placement = if element.name == "contained" {
                    Placement::Contained
                } else {
                    Placement::Standalone
                };
                self.validate_placed_resource(value, path, placement);
                return;
            }
            ElementType::Structure(structure) => structure,
            ElementType::Primitive(_) => {
                unreachable!("primitives are validated by validate_primitive_element")
            }
        };
        let Some(object) = value.as_object() else {
            let type_name = &self.spec.structures[structure].name;
            self.issue(
                path,
                format!(
                    "expected a JSON object for {type_name}, found {}",
                    describe(value)
                ),
            );
            return;
        };
        self.validate_object(structure, object, path, false);

        if structure == self.spec.reference {
            self.check_reference(object, element.targets.as_deref(), path);
        }
        if let Some(value_set) = element.value_set.map(|index| &self.spec.value_sets[index]) {
            if structure == self.spec.coding {
                self.check_coding_binding(object, value_set, path);
            } else if structure == self.spec.codeable_concept {
                self.check_codeable_concept_binding(object, value_set, path);
            }
        }
    }

    /// Validates a primitive element given as `name` and, or only, `_name`.
    fn validate_primitive_element(
        &mut self,
        element: &Element,
        primitive: usize,
        value: Option<&Value>,
        companion: Option<&Value>,
        path: &str,
        name: &str,
    ) {
        let value_path = format!("{path}.{name}");
        let companion_path = format!("{path}._{name}");
        if let Some(value) = value {
            if !self.check_cardinality_shape(element, value, &value_path) {
                return;
            }
        }
        if let Some(companion) = companion {
            if !self.check_cardinality_shape(element, companion, &companion_path) {
                return;
            }
        }

        if !element.max.repeats() {
            match value {
                Some(Value::Null) => {
                    self.issue(&value_path, "null is not allowed; omit the element instead")
                }
                Some(value) => self.check_primitive_value(element, primitive, value, &value_path),
                None => {}
            }
            if let Some(companion) = companion {
                self.validate_companion(companion, &companion_path);
            }
            return;
        }

        // Arrays of primitives line up with their `_name` array by index, and a null in one
        // stands for an entry that only the other has.
        let empty = Vec::new();
        let values = value.and_then(Value::as_array).unwrap_or(&empty);
        let companions = companion.and_then(Value::as_array).unwrap_or(&empty);
        if value.is_some() && companion.is_some() && values.len() != companions.len() {
            self.issue(
                &companion_path,
                format!(
                    "_{name} has {} entries but {name} has {}; they must line up",
                    companions.len(),
                    values.len()
                ),
            );
        }
        for index in 0..values.len().max(companions.len()) {
            let item = values.get(index).filter(|v| !v.is_null());
            let item_companion = companions.get(index).filter(|v| !v.is_null());
            if item.is_none() && item_companion.is_none() {
                let message = if companion.is_some() {
                    format!("null in both {name} and _{name}")
                } else {
                    format!("null is allowed only where _{name} has an entry at the same index")
                };
                self.issue(format!("{value_path}[{index}]"), message);
            }
            if let Some(item) = item {
                self.check_primitive_value(
                    element,
                    primitive,
                    item,
                    &format!("{value_path}[{index}]"),
                );
            }
            if let Some(item_companion) = item_companion {
                self.validate_companion(item_companion, &format!("{companion_path}[{index}]"));
            }
        }
    }

    fn check_primitive_value(
        &mut self,
        element: &Element,
        primitive: usize,
        value: &Value,
        path: &str,
    ) {
        if let Err(message) = check_primitive(&self.spec.primitives[primitive], value) {
            self.issue(path, message);
            return;
        }
        if let (Some(index), Some(code)) = (element.value_set, value.as_str()) {
            let value_set = &self.spec.value_sets[index];
            if !value_set.contains_code(code) {
                self.issue(path, not_in_value_set(code, value_set));
            }
        }
    }

    /// Validates a `_name` object, which may hold only `id` and `extension`.
    fn validate_companion(&mut self, companion: &Value, path: &str) {
        match companion.as_object() {
            Some(object) => self.validate_object(self.spec.element, object, path, false),
            None => self.issue(
                path,
                format!(
                    "expected a JSON object with id or extension, found {}",
                    describe(companion)
                ),
            ),
        }
    }
}
