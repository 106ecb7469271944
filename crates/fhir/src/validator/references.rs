//! Checks of `Reference.reference` strings and of the rules that tie `#id` references to
//! contained resources.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{ResourceScope, Validator};
use crate::primitive::quote;
use crate::reference::{parse_reference, ReferenceTarget};

impl Validator<'_> {
    /// Applies the rules on contained resources: dom-1 to dom-4 of DomainResource and the
    /// need for an id that `#id` references can name.
    pub(super) fn check_contained_rules(&mut self, object: &Map<String, Value>, path: &str) {
        match object.get("id").and_then(Value::as_str) {
            Some(id) => {
                let scope = self
                    .scopes
                    .last_mut()
                    .expect("contained resources sit inside a standalone resource");
                if scope.contained_ids.insert(id.to_owned()) {
                    scope.contained.push((id.to_owned(), path.to_owned()));
                } else {
                    let message = format!("duplicate contained resource id {}", quote(id));
                    self.issue(format!("{path}.id"), message);
                }
            }
            None => self.issue(
                path,
                "contained resource has no id, so no #id reference can point to it",
            ),
        }
        if object.contains_key("contained") {
            self.issue(
                format!("{path}.contained"),
                "a contained resource must not contain other resources (dom-2)",
            );
        }
        if object.contains_key("text") {
            self.issue(
                format!("{path}.text"),
                "a contained resource must not have narrative text (dom-1)",
            );
        }
        if let Some(meta) = object.get("meta").and_then(Value::as_object) {
            for key in ["versionId", "lastUpdated"] {
                if meta.contains_key(key) {
                    self.issue(
                        format!("{path}.meta.{key}"),
                        format!("a contained resource must not have meta.{key} (dom-4)"),
                    );
                }
            }
        }
    }

    /// Checks ref-1 (every `#id` names a contained resource) and dom-3 (every contained
    /// resource is referenced) once a standalone resource is done.
    pub(super) fn check_local_references(&mut self, scope: ResourceScope) {
        for (id, path) in &scope.local_references {
            if !scope.contained_ids.contains(id) {
                self.issue(path.clone(), format!("reference \"#{id}\" does not match the id of any contained resource (ref-1)"));
            }
        }
        let referenced: HashSet<&str> = scope
            .local_references
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        for (id, path) in &scope.contained {
            if !referenced.contains(id.as_str()) {
                self.issue(
                    path.clone(),
                    format!("contained resource {} is not referenced from the resource that contains it (dom-3)", quote(id)),
                );
            }
        }
    }
    pub(super) fn check_reference(
        &mut self,
        object: &Map<String, Value>,
        targets: Option<&[String]>,
        path: &str,
    ) {
        let Some(reference) = object.get("reference").and_then(Value::as_str) else {
            return;
        };
        let reference_path = format!("{path}.reference");
        match parse_reference(self.spec, reference) {
            Err(message) => self.issue(reference_path, message),
            Ok(ReferenceTarget::Contained(id)) => {
                if let Some(scope) = self.scopes.last_mut() {
                    scope.local_references.push((id.to_owned(), reference_path));
                }
            }
            Ok(ReferenceTarget::Typed(resource_type)) => {
                if let Some(targets) = targets {
                    if !targets.iter().any(|target| target == resource_type) {
                        let message = format!(
                            "reference to a {resource_type} is not allowed here; expected {}",
                            targets.join(" or ")
                        );
                        self.issue(reference_path, message);
                    }
                }
            }
            Ok(ReferenceTarget::Opaque) => {}
        }
    }
}
