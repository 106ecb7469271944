#!/usr/bin/env python3
"""Compact the official FHIR STU3 definitions into crates/fhir/data/stu3.json.gz.

Input is the `profiles/stu3/` folder of the npm package `fhir@3.3.1`, which
ships the HL7 STU3 (3.0.1) StructureDefinitions, ValueSets and CodeSystems
(CC0). Usage:

    mkdir -p /tmp/fhirpkg && (cd /tmp/fhirpkg && npm install fhir@3.3.1)
    python3 crates/fhir/tools/generate_stu3.py \
        /tmp/fhirpkg/node_modules/fhir/profiles/stu3 crates/fhir/data/stu3.json.gz

The output is deterministic: the same input gives byte-identical output. Its
layout is documented in crates/fhir/src/spec.rs, which parses it.
"""

import gzip
import json
import sys
from pathlib import Path

REGEX_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-regex"
JSON_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-json-type"
STRUCTURE_DEFINITION_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def load_bundle(folder, name):
    with open(folder / name, encoding="utf-8") as f:
        bundle = json.load(f)
    return [entry["resource"] for entry in bundle["entry"]]


def extension_value(element, url):
    for extension in element.get("extension", []):
        if extension["url"] == url:
            return extension["valueString"]
    return None


def primitive_definition(definition):
    """Return the JSON type and regex of a primitive type's `value` element."""
    value = next(e for e in definition["snapshot"]["element"] if e["path"].endswith(".value"))
    # The `value` element has no type code. Its JSON type is in an extension
    # on `_code`, and its regex (when the spec gives one) in an extension on
    # the type itself.
    value_type = value["type"][0]
    json_type = extension_value(value_type.get("_code", {}), JSON_TYPE_EXTENSION)
    regex = extension_value(value_type, REGEX_EXTENSION)
    result = {"json": json_type}
    if regex is not None:
        result["regex"] = regex
    if "maxLength" in value:
        result["maxLength"] = value["maxLength"]
    return result


def binding_url(element):
    binding = element.get("binding")
    if not binding or binding["strength"] != "required":
        return None
    reference = binding.get("valueSetReference", {}).get("reference")
    return reference or binding.get("valueSetUri")


def type_names(definition_id, element_path, element, children_paths):
    """Return the compact type names of one snapshot element."""
    if "contentReference" in element:
        # "#Observation.referenceRange" reuses that backbone element's children.
        return [element["contentReference"].lstrip("#")]
    names = []
    for element_type in element["type"]:
        code = element_type["code"]
        if code in ("Element", "BackboneElement"):
            if element_path not in children_paths:
                raise ValueError(f"{definition_id}: {element_path} has no children")
            # An inline structure becomes a type named after its path.
            code = element_path
        elif element_type.get("profile") == STRUCTURE_DEFINITION_PREFIX + "SimpleQuantity":
            code = "SimpleQuantity"
        elif "profile" in element_type:
            raise ValueError(f"{definition_id}: unhandled profile on {element_path}")
        if code not in names:
            names.append(code)
    return names


def reference_targets(element):
    """Return the resource types a Reference may point to, or None for any."""
    targets = []
    for element_type in element.get("type", []):
        if element_type["code"] != "Reference":
            continue
        profile = element_type.get("targetProfile")
        if profile is None or profile == STRUCTURE_DEFINITION_PREFIX + "Resource":
            return None
        targets.append(profile[len(STRUCTURE_DEFINITION_PREFIX):])
    return targets or None


def compact_structure(definition, required_bindings):
    """Split one snapshot into {type name: [element, ...]} with inline structures as own types."""
    elements = definition["snapshot"]["element"]
    root = elements[0]["path"]
    # SimpleQuantity's snapshot uses Quantity paths, so elements at the root
    # are filed under the definition's id rather than the root path.
    own_name = definition["id"]
    paths_with_children = {e["path"].rsplit(".", 1)[0] for e in elements[1:]}
    types = {}
    for element in elements[1:]:
        parent, name = element["path"].rsplit(".", 1)
        owner = own_name if parent == root else parent
        compact = {
            "name": name,
            "min": element["min"],
            "max": element["max"],
            "types": type_names(own_name, element["path"], element, paths_with_children),
        }
        targets = reference_targets(element)
        if targets:
            compact["targets"] = targets
        value_set = binding_url(element)
        if value_set:
            compact["valueSet"] = value_set
            required_bindings.add(value_set)
        types.setdefault(owner, []).append(compact)
    return types


class Terminology:
    """Expands ValueSets from the CodeSystems and ValueSets shipped in the package."""

    def __init__(self, resources):
        self.value_sets = {}
        self.code_systems = {}
        for resource in resources:
            if resource["resourceType"] == "ValueSet":
                self.value_sets.setdefault(resource["url"], resource)
            elif resource["resourceType"] == "CodeSystem":
                self.code_systems.setdefault(resource["url"], resource)

    def expand(self, url):
        """Return ({system: sorted codes}, None) or (None, reason it cannot be expanded)."""
        value_set = self.value_sets.get(url)
        if value_set is None:
            return None, "no ValueSet with this URL in the package"
        compose = value_set.get("compose")
        if compose is None:
            return None, "ValueSet has no compose"
        codes = {}
        for include in compose.get("include", []):
            part, reason = self.expand_include(include)
            if part is None:
                return None, reason
            for system, system_codes in part.items():
                codes.setdefault(system, set()).update(system_codes)
        for exclude in compose.get("exclude", []):
            part, reason = self.expand_include(exclude)
            if part is None:
                return None, "exclude: " + reason
            for system, system_codes in part.items():
                codes.get(system, set()).difference_update(system_codes)
        return {system: sorted(c) for system, c in sorted(codes.items()) if c}, None

    def expand_include(self, include):
        if "valueSet" in include:
            if "system" in include:
                return None, "include combines system and valueSet"
            codes = {}
            for url in include["valueSet"]:
                part, reason = self.expand(url)
                if part is None:
                    return None, reason
                for system, system_codes in part.items():
                    codes.setdefault(system, set()).update(system_codes)
            return codes, None
        system = include["system"]
        if "concept" in include:
            return {system: {c["code"] for c in include["concept"]}}, None
        code_system = self.code_systems.get(system)
        if code_system is None:
            return None, f"code system {system} is not in the package"
        if code_system.get("content") != "complete":
            return None, f"code system {system} has content {code_system.get('content')!r}"
        concepts = code_system.get("concept", [])
        if "filter" not in include:
            return {system: set(all_codes(concepts))}, None
        selected = None
        for concept_filter in include["filter"]:
            if concept_filter["property"] != "concept" or concept_filter["op"] not in ("is-a", "descendent-of"):
                return None, f"filter {concept_filter['property']} {concept_filter['op']} is not supported"
            root = find_concept(concepts, concept_filter["value"])
            if root is None:
                return None, f"filter root {concept_filter['value']} is not in {system}"
            matched = set(all_codes(root.get("concept", [])))
            if concept_filter["op"] == "is-a":
                matched.add(root["code"])
            selected = matched if selected is None else selected & matched
        return {system: selected}, None


def all_codes(concepts):
    for concept in concepts:
        yield concept["code"]
        yield from all_codes(concept.get("concept", []))


def find_concept(concepts, code):
    for concept in concepts:
        if concept["code"] == code:
            return concept
        found = find_concept(concept.get("concept", []), code)
        if found is not None:
            return found
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: generate_stu3.py PROFILES_STU3_DIR OUTPUT.json.gz")
    folder = Path(sys.argv[1])
    output = Path(sys.argv[2])

    definitions = [
        resource
        for name in ("profiles-types.json", "profiles-resources.json")
        for resource in load_bundle(folder, name)
        if resource["resourceType"] == "StructureDefinition"
    ]
    versions = {d["fhirVersion"] for d in definitions}
    if len(versions) != 1:
        sys.exit(f"expected one FHIR version, found {sorted(versions)}")

    primitives = {}
    types = {}
    constraints = {}
    resources = []
    required_bindings = set()
    for definition in definitions:
        kind = definition["kind"]
        if kind == "primitive-type":
            primitives[definition["id"]] = primitive_definition(definition)
            continue
        # Abstract types (BackboneElement, Resource, DomainResource) are never
        # an element's type on their own, because snapshots already copy their
        # elements into each concrete type. Element is kept: its elements (id,
        # extension) are what a primitive's `_name` companion object may hold.
        # MetadataResource is a logical model, not a resource that can appear
        # in JSON.
        if kind == "logical" or (definition.get("abstract", False) and definition["id"] != "Element"):
            continue
        if kind == "resource":
            resources.append(definition["id"])
        if definition.get("derivation") == "constraint":
            # A profile such as SimpleQuantity keeps its base type's JSON
            # name, so `doseQuantity` may hold a SimpleQuantity.
            constraints[definition["id"]] = definition["type"]
        types.update(compact_structure(definition, required_bindings))

    terminology = Terminology(
        resource
        for name in ("valuesets.json", "v3-codesystems.json", "v2-tables.json")
        for resource in load_bundle(folder, name)
    )
    value_sets = {}
    not_expanded = {}
    for url in sorted(required_bindings):
        codes, reason = terminology.expand(url)
        if codes is None:
            not_expanded[url] = reason
        else:
            value_sets[url] = codes

    spec = {
        "fhirVersion": versions.pop(),
        "source": "npm package fhir@3.3.1, profiles/stu3",
        "primitives": dict(sorted(primitives.items())),
        "resources": sorted(resources),
        "types": dict(sorted(types.items())),
        "constraints": constraints,
        "valueSets": value_sets,
        "notExpandedValueSets": not_expanded,
    }
    text = json.dumps(spec, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(gzip.compress(text, compresslevel=9, mtime=0))

    print(f"{len(resources)} resources, {len(types)} types, {len(primitives)} primitives")
    print(f"{len(value_sets)} required value sets expanded, {len(not_expanded)} not expanded:")
    for url, reason in not_expanded.items():
        print(f"  {url}: {reason}")
    print(f"wrote {output}: {len(text)} bytes of JSON, {output.stat().st_size} bytes gzipped")


if __name__ == "__main__":
    main()
