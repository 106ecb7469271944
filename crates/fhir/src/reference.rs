//! The forms a `Reference.reference` string may take.

use crate::primitive::quote;
use crate::spec::Spec;

/// The target of a valid reference string.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReferenceTarget<'a> {
    /// `#id`: a resource in the `contained` list of the enclosing resource.
    Contained(&'a str),
    /// `Type/id`, `Type/id/_history/vid`, `Type?search` or an absolute URL ending in one of the
    /// first two: a resource of a known type.
    Typed(&'a str),
    /// `urn:uuid:`, `urn:oid:` or an absolute URL whose resource type cannot be read from it.
    Opaque,
}

/// Parses a reference string, returning the problem as a message.
///
/// STU3 allows a relative `Type/id` (optionally `/_history/vid`) against the server's base, an
/// absolute URL, a `#id` of a contained resource, and in Bundles `urn:uuid:` or `urn:oid:`
/// identifiers of other entries. `Type?search` is a conditional reference, which a transaction
/// Bundle resolves on the server.
pub(crate) fn parse_reference<'a>(
    spec: &Spec,
    reference: &'a str,
) -> Result<ReferenceTarget<'a>, String> {
    if let Some(id) = reference.strip_prefix('#') {
        return if matches_primitive(spec, spec.id, id) {
            Ok(ReferenceTarget::Contained(id))
        } else {
            Err(format!(
                "invalid local reference {}: expected # followed by a contained resource's id",
                quote(reference)
            ))
        };
    }
    if reference.starts_with("urn:uuid:") {
        return if matches_primitive(spec, spec.uuid, reference) {
            Ok(ReferenceTarget::Opaque)
        } else {
            Err(format!(
                "invalid reference {}: expected urn:uuid: followed by a lowercase UUID",
                quote(reference)
            ))
        };
    }
    if reference.starts_with("urn:oid:") {
        return if matches_primitive(spec, spec.oid, reference) {
            Ok(ReferenceTarget::Opaque)
        } else {
            Err(format!(
                "invalid reference {}: expected urn:oid: followed by dot-separated numbers",
                quote(reference)
            ))
        };
    }
    if reference.contains("://") {
        return parse_absolute(spec, reference);
    }
    parse_relative(spec, reference).ok_or_else(|| {
        format!(
            "invalid reference {}: expected ResourceType/id, #id of a contained resource, an absolute URL, urn:uuid: or urn:oid:",
            quote(reference)
        )
    })
}

fn parse_absolute<'a>(spec: &Spec, reference: &'a str) -> Result<ReferenceTarget<'a>, String> {
    let url = url::Url::parse(reference).map_err(|error| {
        format!(
            "invalid reference {}: not an absolute URL ({error})",
            quote(reference)
        )
    })?;
    if !url.has_host() {
        return Err(format!(
            "invalid reference {}: the URL has no host",
            quote(reference)
        ));
    }
    if reference.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid reference {}: a URL cannot contain whitespace",
            quote(reference)
        ));
    }
    // A RESTful URL ends in Type/id or Type/id/_history/vid; other URLs are accepted as they are.
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    let last_segments: Vec<&str> = path.rsplit('/').take(4).collect();
    let (id, resource_type) = match last_segments.as_slice() {
        [_, "_history", id, resource_type, ..] | [id, resource_type, ..] => (*id, *resource_type),
        _ => return Ok(ReferenceTarget::Opaque),
    };
    if spec.is_resource_type(resource_type) && matches_primitive(spec, spec.id, id) {
        Ok(ReferenceTarget::Typed(resource_type))
    } else {
        Ok(ReferenceTarget::Opaque)
    }
}

fn parse_relative<'a>(spec: &Spec, reference: &'a str) -> Option<ReferenceTarget<'a>> {
    if let Some((resource_type, query)) = reference.split_once('?') {
        let valid = spec.is_resource_type(resource_type)
            && !query.is_empty()
            && !query.contains(char::is_whitespace);
        return valid.then_some(ReferenceTarget::Typed(resource_type));
    }
    let segments: Vec<&str> = reference.split('/').collect();
    let valid = match segments.as_slice() {
        [resource_type, id] => {
            spec.is_resource_type(resource_type) && matches_primitive(spec, spec.id, id)
        }
        [resource_type, id, "_history", version] => {
            spec.is_resource_type(resource_type)
                && matches_primitive(spec, spec.id, id)
                && matches_primitive(spec, spec.id, version)
        }
        _ => false,
    };
    valid.then(|| ReferenceTarget::Typed(segments[0]))
}

fn matches_primitive(spec: &Spec, primitive: usize, text: &str) -> bool {
    spec.primitives[primitive]
        .regex
        .as_ref()
        .is_some_and(|regex| regex.is_match(text))
}
