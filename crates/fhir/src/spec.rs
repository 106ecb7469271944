//! The embedded STU3 definitions and the index the validator walks.
//!
//! `data/stu3.json.gz` is written by `tools/generate_stu3.py` from the official STU3
//! StructureDefinitions and ValueSets. Its JSON has these members:
//!
//! - `fhirVersion`: the version the definitions declare (`3.0.1`).
//! - `primitives`: primitive type name to `{json, regex?, maxLength?}`, where `json` is the
//!   JSON type (`string`, `number` or `boolean`) and `regex` the unanchored pattern from the
//!   type's `value` element.
//! - `resources`: the concrete resource type names.
//! - `types`: complex type, resource or inline structure name (`Observation.component`) to its
//!   list of child elements `{name, min, max, types, targets?, valueSet?}`. A type name in
//!   `types` is a primitive, a key of `types`, or `Resource` (any resource). `targets` lists the
//!   resource types a `Reference` may point to, and `valueSet` names a required binding.
//! - `constraints`: profile name to the base type whose JSON name it keeps
//!   (`SimpleQuantity` to `Quantity`).
//! - `valueSets`: required value set URL to `{code system URL: [codes]}`, expanded from the
//!   shipped CodeSystems. `notExpandedValueSets` lists the ones the generator could not expand,
//!   with the reason, and the validator does not check codes against them.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

static COMPACT_SPEC: &[u8] = include_bytes!("../data/stu3.json.gz");

/// Returns the parsed definitions, decompressing and indexing them on first use.
pub(crate) fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(COMPACT_SPEC)
            .read_to_end(&mut json)
            .expect("embedded data/stu3.json.gz is not valid gzip; regenerate it with tools/generate_stu3.py");
        let raw: RawSpec = serde_json::from_slice(&json)
            .expect("embedded data/stu3.json.gz does not match the layout in spec.rs; regenerate it");
        Spec::from_raw(raw)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    fhir_version: String,
    primitives: HashMap<String, RawPrimitive>,
    resources: Vec<String>,
    types: HashMap<String, Vec<RawElement>>,
    constraints: HashMap<String, String>,
    value_sets: HashMap<String, HashMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPrimitive {
    json: String,
    regex: Option<String>,
    max_length: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawElement {
    name: String,
    min: u32,
    max: String,
    types: Vec<String>,
    targets: Option<Vec<String>>,
    value_set: Option<String>,
}

/// Index into [`Spec::structures`].
pub(crate) type StructureId = usize;

/// The STU3 definitions, indexed for validation.
pub(crate) struct Spec {
    pub fhir_version: String,
    pub resource_types: Vec<String>,
    pub structures: Vec<Structure>,
    pub primitives: Vec<Primitive>,
    pub value_sets: Vec<ValueSet>,
    resources: HashMap<String, StructureId>,
    /// Structures that some checks single out.
    pub element: StructureId,
    pub extension: StructureId,
    pub reference: StructureId,
    pub coding: StructureId,
    pub codeable_concept: StructureId,
    /// Primitives whose regexes check reference strings, as indices into `primitives`.
    pub uuid: usize,
    pub oid: usize,
    pub id: usize,
}

/// A complex type, a resource, or an inline structure such as `Observation.component`.
pub(crate) struct Structure {
    pub name: String,
    pub elements: Vec<Element>,
    /// JSON property name (`status`, `valueQuantity`) to element and type index.
    properties: HashMap<String, (usize, usize)>,
}

/// One child element of a [`Structure`].
pub(crate) struct Element {
    /// The name from the definition, with `[x]` for choice elements (`value[x]`).
    pub name: String,
    pub min: u32,
    pub max: Max,
    pub types: Vec<ElementType>,
    /// Resource types a `Reference` may point to, or `None` for any resource.
    pub targets: Option<Vec<String>>,
    /// Index into [`Spec::value_sets`] for a required binding that could be expanded.
    pub value_set: Option<usize>,
}

/// Maximum cardinality of an element.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Max {
    Count(u32),
    Unbounded,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElementType {
    /// Index into [`Spec::primitives`].
    Primitive(usize),
    Structure(StructureId),
    /// Any resource, identified by its `resourceType`.
    Resource,
}

/// A primitive type with the checks its STU3 definition states.
pub(crate) struct Primitive {
    pub name: String,
    pub kind: PrimitiveKind,
    pub json: JsonType,
    /// The definition's pattern, anchored to match the whole value.
    pub regex: Option<Regex>,
    /// Maximum length in bytes.
    pub max_length: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum JsonType {
    String,
    Number,
    Boolean,
}

/// The STU3 primitive types, for checks that the definitions' regexes do not express.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PrimitiveKind {
    Base64Binary,
    Boolean,
    Code,
    Date,
    DateTime,
    Decimal,
    Id,
    Instant,
    Integer,
    Markdown,
    Oid,
    PositiveInt,
    String,
    Time,
    UnsignedInt,
    Uri,
    Uuid,
    Xhtml,
}

/// An expanded required value set.
pub(crate) struct ValueSet {
    pub url: String,
    codes_by_system: HashMap<String, HashSet<String>>,
    /// Every code of every system, for `code` elements that carry no system.
    all_codes: HashSet<String>,
}

impl Max {
    /// Returns whether the element is an array in JSON, which is the case for any maximum above 1.
    pub fn repeats(self) -> bool {
        match self {
            Max::Count(count) => count > 1,
            Max::Unbounded => true,
        }
    }
}

impl std::fmt::Display for Max {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Max::Count(count) => write!(f, "{count}"),
            Max::Unbounded => f.write_str("*"),
        }
    }
}

impl Structure {
    /// Looks up a JSON property name (without a leading `_`).
    pub fn property(&self, json_name: &str) -> Option<(&Element, ElementType)> {
        let &(element, type_index) = self.properties.get(json_name)?;
        let element = &self.elements[element];
        Some((element, element.types[type_index]))
    }

    /// Returns the index of an element, for per-object presence tracking.
    pub fn element_index(&self, json_name: &str) -> Option<usize> {
        self.properties.get(json_name).map(|&(element, _)| element)
    }

    /// Returns the JSON names a choice element accepts when `json_name` looks like one of them
    /// (`valueFoo` for `value[x]`), for error messages.
    pub fn choice_names_like(&self, json_name: &str) -> Option<Vec<&str>> {
        let choice = self.elements.iter().position(|element| {
            element.name.strip_suffix("[x]").is_some_and(|base| {
                json_name
                    .strip_prefix(base)
                    .and_then(|rest| rest.chars().next())
                    .is_some_and(char::is_uppercase)
            })
        })?;
        let mut names: Vec<&str> = self
            .properties
            .iter()
            .filter(|(_, &(element, _))| element == choice)
            .map(|(name, _)| name.as_str())
            .collect();
        names.sort_unstable();
        Some(names)
    }
}

impl ValueSet {
    /// Returns the codes this value set takes from `system`, or `None` when it takes none.
    pub fn codes(&self, system: &str) -> Option<&HashSet<String>> {
        self.codes_by_system.get(system)
    }

    pub fn contains_code(&self, code: &str) -> bool {
        self.all_codes.contains(code)
    }

    pub fn systems(&self) -> impl Iterator<Item = &str> {
        self.codes_by_system.keys().map(String::as_str)
    }

    /// Returns the codes in sorted order when there are at most `limit`, for error messages.
    pub fn listed_codes(&self, limit: usize) -> Option<Vec<&str>> {
        if self.all_codes.len() > limit {
            return None;
        }
        let mut codes: Vec<&str> = self.all_codes.iter().map(String::as_str).collect();
        codes.sort_unstable();
        Some(codes)
    }
}

impl PrimitiveKind {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "base64Binary" => Self::Base64Binary,
            "boolean" => Self::Boolean,
            "code" => Self::Code,
            "date" => Self::Date,
            "dateTime" => Self::DateTime,
            "decimal" => Self::Decimal,
            "id" => Self::Id,
            "instant" => Self::Instant,
            "integer" => Self::Integer,
            "markdown" => Self::Markdown,
            "oid" => Self::Oid,
            "positiveInt" => Self::PositiveInt,
            "string" => Self::String,
            "time" => Self::Time,
            "unsignedInt" => Self::UnsignedInt,
            "uri" => Self::Uri,
            "uuid" => Self::Uuid,
            "xhtml" => Self::Xhtml,
            _ => return None,
        })
    }
}

impl Spec {
    /// Returns the structure of a concrete resource type.
    pub fn resource(&self, resource_type: &str) -> Option<StructureId> {
        self.resources.get(resource_type).copied()
    }

    pub fn is_resource_type(&self, name: &str) -> bool {
        self.resources.contains_key(name)
    }

    /// Builds the index. Panics on an inconsistent data file, which is a build defect that the
    /// crate's tests catch.
    fn from_raw(raw: RawSpec) -> Spec {
        let mut primitive_names: Vec<&String> = raw.primitives.keys().collect();
        primitive_names.sort();
        let primitives: Vec<Primitive> = primitive_names
            .iter()
            .map(|name| build_primitive(name, &raw.primitives[*name]))
            .collect();
        let primitive_index: HashMap<&str, usize> = primitives
            .iter()
            .enumerate()
            .map(|(index, primitive)| (primitive.name.as_str(), index))
            .collect();

        let mut structure_names: Vec<&String> = raw.types.keys().collect();
        structure_names.sort();
        let structure_index: HashMap<&str, StructureId> = structure_names
            .iter()
            .enumerate()
            .map(|(index, name)| (name.as_str(), index))
            .collect();

        let mut value_sets = Vec::new();
        let mut value_set_index = HashMap::new();
        for (url, systems) in &raw.value_sets {
            value_set_index.insert(url.as_str(), value_sets.len());
            value_sets.push(build_value_set(url, systems));
        }

        let type_names = TypeNames {
            primitives: &primitive_index,
            structures: &structure_index,
            constraints: &raw.constraints,
        };
        let structures = structure_names
            .iter()
            .map(|name| build_structure(name, &raw.types[*name], &type_names, &value_set_index))
            .collect();

        let resources = raw
            .resources
            .iter()
            .map(|name| (name.clone(), structure_index[name.as_str()]))
            .collect();
        let mut resource_types = raw.resources.clone();
        resource_types.sort();

        Spec {
            fhir_version: raw.fhir_version,
            resource_types,
            structures,
            value_sets,
            resources,
            element: structure_index["Element"],
            extension: structure_index["Extension"],
            reference: structure_index["Reference"],
            coding: structure_index["Coding"],
            codeable_concept: structure_index["CodeableConcept"],
            uuid: primitive_index["uuid"],
            oid: primitive_index["oid"],
            id: primitive_index["id"],
            primitives,
        }
    }
}

/// Resolves the type names used in the data file.
struct TypeNames<'a> {
    primitives: &'a HashMap<&'a str, usize>,
    structures: &'a HashMap<&'a str, StructureId>,
    /// Profile name to the base type whose JSON name it keeps.
    constraints: &'a HashMap<String, String>,
}

impl TypeNames<'_> {
    fn resolve(&self, name: &str) -> ElementType {
        if name == "Resource" {
            ElementType::Resource
        } else if let Some(&index) = self.primitives.get(name) {
            ElementType::Primitive(index)
        } else if let Some(&index) = self.structures.get(name) {
            ElementType::Structure(index)
        } else {
            panic!("embedded STU3 data names an unknown type {name:?}")
        }
    }

    /// Returns the part of a choice element's JSON name that follows the base name: `Quantity`
    /// in `valueQuantity`, also for a SimpleQuantity.
    fn choice_suffix(&self, type_name: &str) -> String {
        let base = self
            .constraints
            .get(type_name)
            .map(String::as_str)
            .unwrap_or(type_name);
        let mut chars = base.chars();
        let first = chars.next().expect("type names are not empty");
        first.to_uppercase().chain(chars).collect()
    }
}

fn build_structure(
    name: &str,
    raw_elements: &[RawElement],
    type_names: &TypeNames<'_>,
    value_set_index: &HashMap<&str, usize>,
) -> Structure {
    let mut elements = Vec::with_capacity(raw_elements.len());
    let mut properties = HashMap::new();
    for (element_index, raw_element) in raw_elements.iter().enumerate() {
        let types: Vec<ElementType> = raw_element
            .types
            .iter()
            .map(|type_name| type_names.resolve(type_name))
            .collect();

        let mut json_names = Vec::new();
        if let Some(base) = raw_element.name.strip_suffix("[x]") {
            for (type_index, type_name) in raw_element.types.iter().enumerate() {
                json_names.push((
                    format!("{base}{}", type_names.choice_suffix(type_name)),
                    type_index,
                ));
            }
        } else {
            assert_eq!(
                types.len(),
                1,
                "{name}.{} has several types but is no choice",
                raw_element.name
            );
            json_names.push((raw_element.name.clone(), 0));
        }
        for (json_name, type_index) in json_names {
            let previous = properties.insert(json_name, (element_index, type_index));
            assert!(
                previous.is_none(),
                "{name} has two elements with one JSON name"
            );
        }

        elements.push(Element {
            name: raw_element.name.clone(),
            min: raw_element.min,
            max: parse_max(&raw_element.max),
            types,
            targets: raw_element.targets.clone(),
            value_set: raw_element
                .value_set
                .as_deref()
                .and_then(|url| value_set_index.get(url).copied()),
        });
    }
    Structure {
        name: name.to_owned(),
        elements,
        properties,
    }
}

fn build_primitive(name: &str, raw: &RawPrimitive) -> Primitive {
    let kind = PrimitiveKind::from_name(name)
        .unwrap_or_else(|| panic!("unknown STU3 primitive type {name:?}"));
    let json = match raw.json.as_str() {
        "string" => JsonType::String,
        "number" => JsonType::Number,
        "boolean" => JsonType::Boolean,
        other => panic!("primitive {name} has unknown JSON type {other:?}"),
    };
    let regex = raw.regex.as_ref().map(|pattern| {
        Regex::new(&format!("^(?:{pattern})$"))
            .unwrap_or_else(|error| panic!("regex of {name} is invalid: {error}"))
    });
    Primitive {
        name: name.to_owned(),
        kind,
        json,
        regex,
        max_length: raw.max_length,
    }
}

fn build_value_set(url: &str, systems: &HashMap<String, Vec<String>>) -> ValueSet {
    let codes_by_system: HashMap<String, HashSet<String>> = systems
        .iter()
        .map(|(system, codes)| (system.clone(), codes.iter().cloned().collect()))
        .collect();
    let all_codes = codes_by_system.values().flatten().cloned().collect();
    ValueSet {
        url: url.to_owned(),
        codes_by_system,
        all_codes,
    }
}

fn parse_max(max: &str) -> Max {
    if max == "*" {
        return Max::Unbounded;
    }
    Max::Count(
        max.parse()
            .unwrap_or_else(|_| panic!("invalid maximum cardinality {max:?}")),
    )
}
