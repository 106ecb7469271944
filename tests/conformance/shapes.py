"""Response shape checks as strict as the Node SDK's codecs, plus Trove's own decisions."""

import json
import re
import time

from report import CheckFailure, expect
from signing import base64url_decode

REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9]{32}$")
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
BASE64URL_UNPADDED = re.compile(r"^[A-Za-z0-9_-]+$")

ACCOUNT_TYPES = {
    "USER", "ADMIN", "EVENT", "GROUP", "BANK", "CREDIT_CARD", "IMPORTED", "INVESTMENT",
    "INSURANCE", "LOAN", "REWARD", "BILL", "PUSH",
}
FILE_LIST_STATES = {"pending", "running", "partial", "completed"}
SCHEMA_STANDARDS = {"digime", "fhir", "me.digi"}

# Unix epoch milliseconds are above 1e12 from 2001 on, and seconds stay below it until 33658.
MIN_PLAUSIBLE_MS = 10**12


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_string_list(value):
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def parse_json_body(response, what="response body"):
    try:
        return json.loads(response.content)
    except ValueError:
        raise CheckFailure(f"{what} is not JSON: {response.content[:120]!r}") from None


def describe(response):
    return f"HTTP {response.status_code} {response.content[:200]!r}"


def check_error_response(response, allowed):
    """Check a failure response: status and code must be one of the `allowed` (status, code) pairs.

    A status of None accepts any 4xx status and a code of None any code, for the cases where
    the SDKs leave them open. The body must be exactly {"error":{"code","message","reference"}}.
    """
    expect(400 <= response.status_code < 600, f"expected a failure, got {describe(response)}")
    body = check_error_body(response)
    code = body["error"]["code"]
    for status, allowed_code in allowed:
        status_matches = (400 <= response.status_code < 500) if status is None else response.status_code == status
        if status_matches and allowed_code in (None, code):
            return body
    wanted = " or ".join(f"{status or '4xx'} {allowed_code or 'with any code'}" for status, allowed_code in allowed)
    raise CheckFailure(f"expected {wanted}, got {response.status_code} {code}")


def check_error_body(response):
    """Check the canonical error body shape and return the parsed body."""
    body = parse_json_body(response, f"error body of HTTP {response.status_code}")
    expect(isinstance(body, dict), f"error body is {type(body).__name__}, expected an object")
    expect("message" not in body, "error body has a top-level `message`, which makes Node misread the code")
    expect(set(body) == {"error"}, f"error body members are {sorted(body)}, expected only `error`")
    error = body["error"]
    expect(isinstance(error, dict), f"`error` is {type(error).__name__}, expected an object")
    expect(
        set(error) == {"code", "message", "reference"},
        f"`error` members are {sorted(error)}, expected code, message and reference",
    )
    expect(isinstance(error["code"], str), "`error.code` is not a string")
    expect(isinstance(error["message"], str), "`error.message` is not a string")
    expect(
        isinstance(error["reference"], str) and REFERENCE_PATTERN.match(error["reference"]),
        f"`error.reference` is {error['reference']!r}, expected 32 alphanumerics",
    )
    return body


def check_token_pair_payload(payload, access_ttl_seconds, refresh_ttl_seconds, tolerance_seconds=120):
    """Check an oauth/token payload: the six members Node and iOS read, with `expires_on` in seconds."""
    now = time.time()
    for name, ttl in (("access_token", access_ttl_seconds), ("refresh_token", refresh_ttl_seconds)):
        member = payload.get(name)
        expect(isinstance(member, dict), f"`{name}` is {member!r}, expected an object")
        expect(isinstance(member.get("value"), str) and member["value"], f"`{name}.value` is not a non-empty string")
        expires_on = member.get("expires_on")
        expect(is_number(expires_on), f"`{name}.expires_on` is {expires_on!r}, expected a number")
        expect(expires_on < MIN_PLAUSIBLE_MS, f"`{name}.expires_on` is {expires_on}, which looks like ms, not s")
        expected = now + ttl
        expect(
            abs(expires_on - expected) <= tolerance_seconds,
            f"`{name}.expires_on` is {expires_on}, expected about now + {ttl} s = {int(expected)}",
        )
    for name in ("sub", "consentid", "token_type"):
        expect(isinstance(payload.get(name), str) and payload[name], f"`{name}` is {payload.get(name)!r}, expected a non-empty string")
    identifier = payload.get("identifier")
    expect(isinstance(identifier, dict), f"`identifier` is {identifier!r}, expected an object")
    expect(isinstance(identifier.get("id"), str), f"`identifier.id` is {identifier.get('id')!r}, expected a string")


def check_session(session, max_lifetime_ms=31 * 60 * 1000):
    """Check `{key, expiry}` with expiry in ms; Trove's default session lifetime is 30 minutes."""
    expect(isinstance(session, dict), f"session is {session!r}, expected an object")
    expect(isinstance(session.get("key"), str) and session["key"], f"session.key is {session.get('key')!r}")
    expiry = session.get("expiry")
    expect(is_number(expiry), f"session.expiry is {expiry!r}, expected a number")
    now_ms = time.time() * 1000
    expect(expiry > MIN_PLAUSIBLE_MS, f"session.expiry is {expiry}, which looks like seconds, not ms")
    # iOS treats a session as valid only while expiry > now_ms + 60.
    expect(expiry > now_ms + 60_000, f"session.expiry {expiry} is less than a minute away")
    expect(expiry <= now_ms + max_lifetime_ms, f"session.expiry {expiry} is further than {max_lifetime_ms} ms away")


ACCOUNT_REQUIRED = {
    "id": str, "reference": str, "type": str, "createdDate": "number", "serviceGroupId": "any",
    "serviceGroupName": str, "serviceTypeId": "any", "serviceTypeName": str,
    "serviceTypeReference": str, "sourceId": "any", "updatedDate": "number",
}


def check_accounts(body):
    """Check the bare array of accounts that readAccounts expects."""
    expect(isinstance(body, list), f"accounts body is {type(body).__name__}, expected a bare JSON array")
    for index, account in enumerate(body):
        where = f"accounts[{index}]"
        expect(isinstance(account, dict), f"{where} is not an object")
        for member, kind in ACCOUNT_REQUIRED.items():
            expect(member in account, f"{where} lacks required `{member}`")
            value = account[member]
            if kind is str:
                expect(isinstance(value, str), f"{where}.{member} is {value!r}, expected a string")
            elif kind == "number":
                expect(is_number(value) and value > MIN_PLAUSIBLE_MS, f"{where}.{member} is {value!r}, expected ms")
        expect(account["type"] in ACCOUNT_TYPES, f"{where}.type {account['type']!r} is not an allowed type")
        status = account.get("accessTokenStatus")
        if status is not None:
            expect(isinstance(status, dict) and isinstance(status.get("authorized"), bool),
                   f"{where}.accessTokenStatus.authorized is not a boolean")
        if "sample" in account:
            expect(isinstance(account["sample"], bool), f"{where}.sample is not a boolean")


def check_file_list(body):
    """Check `{status:{state, details?}, fileList?}`; return the list of entries (maybe empty)."""
    expect(isinstance(body, dict), f"file list body is {type(body).__name__}, expected an object")
    status = body.get("status")
    expect(isinstance(status, dict), f"`status` is {status!r}, expected an object")
    expect(status.get("state") in FILE_LIST_STATES, f"status.state is {status.get('state')!r}")
    details = status.get("details")
    if details is not None:
        check_status_details(details)

    entries = body.get("fileList")
    if entries is None:
        return []
    expect(isinstance(entries, list), "fileList is not an array")
    names = set()
    for index, entry in enumerate(entries):
        check_file_entry(entry, f"fileList[{index}]")
        expect(entry["name"] not in names, f"file name {entry['name']!r} is listed twice")
        names.add(entry["name"])
    return entries


def check_status_details(details):
    # Node's codec has no `pending` state inside details, only at the top level.
    expect(isinstance(details, dict), "status.details is not an object")
    for account_id, detail in details.items():
        where = f"status.details[{account_id!r}]"
        expect(isinstance(detail, dict), f"{where} is not an object")
        state = detail.get("state")
        expect(state in {"running", "completed", "partial"}, f"{where}.state is {state!r}")
        if state == "partial":
            error = detail.get("error")
            expect(isinstance(error, dict), f"{where}.error is not an object")
            expect(isinstance(error.get("code"), str), f"{where}.error.code is not a string")
            expect(is_number(error.get("statusCode")), f"{where}.error.statusCode is not a number")


def check_file_entry(entry, where):
    expect(isinstance(entry, dict), f"{where} is not an object")
    name = entry.get("name")
    expect(isinstance(name, str) and FILE_NAME_PATTERN.match(name),
           f"{where}.name {name!r} is not made of [A-Za-z0-9._-]")
    updated = entry.get("updatedDate")
    expect(is_number(updated) and updated > 0, f"{where}.updatedDate is {updated!r}, expected a number > 0")
    now_ms = time.time() * 1000
    expect(MIN_PLAUSIBLE_MS < updated <= now_ms + 60_000, f"{where}.updatedDate {updated} is not a recent time in ms")
    if "schema" in entry:
        schema = entry["schema"]
        expect(isinstance(schema, dict) and schema.get("standard") in SCHEMA_STANDARDS
               and isinstance(schema.get("version"), str),
               f"{where}.schema is {schema!r}, but its standard must be digime, fhir or me.digi")


def decode_x_metadata(value):
    """Decode the `x-metadata` header (base64url JSON without padding); return the object."""
    expect(isinstance(value, str) and value, "x-metadata header is missing")
    expect(BASE64URL_UNPADDED.match(value), "x-metadata is not unpadded base64url")
    try:
        document = json.loads(base64url_decode(value).decode("utf-8"))
    except ValueError:
        raise CheckFailure("x-metadata does not decode to UTF-8 JSON") from None
    expect(isinstance(document, dict), "x-metadata JSON is not an object")
    expect(isinstance(document.get("metadata"), dict), "x-metadata has no `metadata` object")
    if "compression" in document:
        expect(isinstance(document["compression"], str), "x-metadata.compression is not a string")
    return document


def check_raw_metadata_codec(metadata):
    """Check Node's RawFileMetadata codec: required `mimetype` and `accounts`, typed optionals."""
    expect(isinstance(metadata.get("mimetype"), str), f"metadata.mimetype is {metadata.get('mimetype')!r}")
    accounts = metadata.get("accounts")
    expect(isinstance(accounts, list), f"metadata.accounts is {accounts!r}, expected an array")
    for index, account in enumerate(accounts):
        expect(isinstance(account, dict) and isinstance(account.get("accountid"), str),
               f"metadata.accounts[{index}] lacks a string `accountid`")
    for member in ("reference", "tags"):
        if member in metadata:
            expect(is_string_list(metadata[member]), f"metadata.{member} is not an array of strings")
    for member in ("appid", "contractid", "partnerid"):
        if member in metadata:
            expect(isinstance(metadata[member], str), f"metadata.{member} is not a string")
    if "created" in metadata:
        expect(is_number(metadata["created"]), "metadata.created is not a number")
    if "objecttypes" in metadata:
        object_types = metadata["objecttypes"]
        expect(isinstance(object_types, list), "metadata.objecttypes is not an array")
        for item in object_types:
            expect(isinstance(item, dict) and "name" in item, "metadata.objecttypes entry has no name")
            if "references" in item:
                expect(is_string_list(item["references"]), "metadata.objecttypes[].references is not string[]")
    if "servicegroups" in metadata:
        expect(isinstance(metadata["servicegroups"], list)
               and all(is_number(item) for item in metadata["servicegroups"]),
               "metadata.servicegroups is not an array of numbers")
