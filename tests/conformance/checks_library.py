"""Checks of library pushes and read-back through read-raw contracts, in two rounds."""

import hashlib
import json
import os
from email.utils import parsedate_to_datetime

from flows import (
    PushedFile, authorize_fully, download_file, list_files_until_done, start_session,
)
from report import CheckFailure, expect, need
from shapes import check_accounts, check_raw_metadata_codec, decode_x_metadata, describe, parse_json_body
from signing import Contract, generate_private_key_pem, random_alphanumeric, timestamp_ms
from wire import chunks

LARGE_DESCRIPTOR_HEADER_CHARS = 14_000

# Descriptor members Trove lower-cases when it stores them. Other members keep their names.
LOWER_CASED_MEMBERS = {
    "mimeType": "mimetype", "accountId": "accountid", "contractId": "contractid", "appId": "appid",
    "objectTypes": "objecttypes", "serviceGroups": "servicegroups", "partnerId": "partnerid",
}

GZIP_ACTIONS = {"pull": {"accept": {"compression": "gzip"}}}
GZIP_TRIGGER_OPTIONS = {"accept": {"compression": "gzip"}}


def unique_content(label, size=None):
    """Return bytes unique to this run: JSON for small files, random bytes padded to `size`."""
    header = json.dumps({"label": label, "nonce": random_alphanumeric(16)}).encode()
    if size is None:
        return header
    return (header + os.urandom(size))[:size]


def accounts(*ids):
    return [{"accountId": account_id} for account_id in ids]


def criterion_matches(pushed, criterion):
    """Trove's read-raw filter: members of one criterion AND together, array values OR together."""
    for member, wanted in criterion.get("metadata", {}).items():
        descriptor = pushed.descriptor
        if member == "accounts":
            have = {account["accountId"] for account in descriptor.get("accounts", [])}
            matched = bool(have & {account["accountId"] for account in wanted})
        elif member in ("tags", "reference"):
            matched = bool(set(descriptor.get(member, [])) & set(wanted))
        elif member == "mimeType":
            matched = descriptor["mimeType"] in wanted
        elif member == "contractId":
            matched = pushed.contract.contract_id in wanted
        elif member == "appId":
            matched = pushed.contract.app_id in wanted
        else:
            raise ValueError(f"the suite has no rule for criterion member {member}")
        if not matched:
            return False
    return True


class LibraryChecks:
    """Mixin for MainServerChecks: pushes, read-back, wrong contract kinds and raw filters."""

    # --- pushing ------------------------------------------------------------------------------

    def push(self, grant, label, content, descriptor, chunked=True, content_type="application/octet-stream",
             extra_headers=None, descriptor_jwt=None, record_as=None):
        """Push `content`; remember it when the server accepts it, whatever the check expected.

        `record_as` replaces a malformed `descriptor` in that record, so later checks can still
        compare metadata against it.
        """
        pushed_at = timestamp_ms()
        descriptor_jwt = descriptor_jwt if descriptor_jwt is not None else grant.contract.file_descriptor_jwt(descriptor)
        body = chunks(content) if chunked else content
        response = self.api.push_library(grant.contract.user_jwt(grant.access_token), descriptor_jwt, body,
                                         content_type, extra_headers)
        if 200 <= response.status_code < 300:
            self.pushed.append(PushedFile(label, grant.contract, content, record_as or descriptor, pushed_at))
        return response

    def expect_push_accepted(self, response):
        expect(response.status_code == 201, f"push returned {describe(response)}, expected 201")
        body = parse_json_body(response, "push response body")
        expect(isinstance(body, dict), f"push response body is {type(body).__name__}, expected a JSON object")

    def write_grant(self):
        return need(getattr(self, "w1_grant", None), "the write contract's token pair")

    def check_push_chunked(self):
        descriptor = {
            "mimeType": "application/json", "accounts": accounts("customer-7"),
            "tags": ["receipt", "conformance"], "reference": ["ref-p1"],
            # The server must override these three with the authenticated caller's values.
            "appId": "spoofed-app", "contractId": "spoofed-contract", "created": 12345,
            "fileName": "receipt-p1.json",
            "customField": {"NestedKey": [1, "two"]},
        }
        self.expect_push_accepted(self.push(self.write_grant(), "p1", unique_content("p1"), descriptor))

    def check_push_content_length(self):
        descriptor = {"mimeType": "application/octet-stream", "accounts": [], "tags": ["binary"], "reference": ["ref-p2"]}
        response = self.push(self.write_grant(), "p2", unique_content("p2", 200_000), descriptor, chunked=False)
        self.expect_push_accepted(response)

    def check_push_without_content_type(self):
        # Node before 16.1.3 sent a header literally named `contentType` and no Content-Type.
        descriptor = {"mimeType": "text/plain", "accounts": accounts("customer-7", "customer-8"),
                      "tags": ["note"], "reference": ["ref-p3"]}
        response = self.push(self.write_grant(), "p3", unique_content("p3"), descriptor, chunked=False,
                             content_type=None, extra_headers={"contentType": "application/octet-stream"})
        self.expect_push_accepted(response)

    def check_push_ios_descriptor(self):
        descriptor = {
            "mimeType": "application/json", "accounts": accounts("customer-9"), "tags": ["receipt"],
            "reference": ["ref-p4"], "objectTypes": [{"name": "receipt", "references": ["r-1"]}],
            "serviceGroups": [1, 4], "providerName": "Conformance Provider",
        }
        response = self.push(self.write_grant(), "p4", unique_content("p4"), descriptor, chunked=False,
                             extra_headers={"Accept": "application/json", "cache-control": "no-cache"})
        self.expect_push_accepted(response)

    def check_push_large_descriptor(self):
        grant = self.write_grant()
        descriptor = {"mimeType": "application/json", "accounts": [], "reference": ["ref-p5"], "tags": []}
        while len(grant.contract.file_descriptor_jwt(descriptor)) < LARGE_DESCRIPTOR_HEADER_CHARS:
            descriptor["tags"].extend(f"long-tag-{len(descriptor['tags']) + index:05d}" for index in range(100))
        response = self.push(grant, "p5", unique_content("p5"), descriptor)
        self.expect_push_accepted(response)

    def check_push_at_limit(self, max_bytes):
        descriptor = {"mimeType": "application/octet-stream", "accounts": [], "tags": ["large"], "reference": ["ref-p6"]}
        response = self.push(self.write_grant(), "p6", unique_content("p6", max_bytes), descriptor)
        self.expect_push_accepted(response)

    def check_push_oversize(self, max_bytes, chunked):
        descriptor = {"mimeType": "application/octet-stream", "accounts": []}
        response = self.push(self.write_grant(), "oversize", unique_content("oversize", max_bytes + 1024), descriptor,
                             chunked=chunked)
        self.expect_error(response, [(413, "ValidationErrors")])

    def check_malformed_descriptor(self, descriptor=None, descriptor_jwt=None):
        grant = self.write_grant()
        if descriptor_jwt is None:
            descriptor_jwt = grant.contract.file_descriptor_jwt(descriptor)
        response = self.push(grant, "malformed", unique_content("malformed"), descriptor, chunked=False,
                             descriptor_jwt=descriptor_jwt, record_as={"mimeType": "malformed", "accounts": []})
        self.expect_error(response, [(400, "ValidationErrors")])

    def check_push_missing_descriptor(self):
        grant = self.write_grant()
        response = self.api.push_library(grant.contract.user_jwt(grant.access_token), None, b"{}")
        if 200 <= response.status_code < 300:
            self.pushed.append(PushedFile("no-descriptor", grant.contract, b"{}", {"mimeType": "", "accounts": []},
                                          timestamp_ms()))
        self.expect_error(response, [(400, "ValidationErrors")])

    def descriptor_signed_by_stranger(self):
        contract = self.write_grant().contract
        stranger = Contract(contract.app_id, contract.contract_id, contract.kind, generate_private_key_pem())
        return stranger.file_descriptor_jwt({"mimeType": "text/plain", "accounts": []})

    def check_push_unknown_token(self):
        contract = self.contract("w1")
        descriptor_jwt = contract.file_descriptor_jwt({"mimeType": "text/plain", "accounts": []})
        response = self.api.push_library(contract.user_jwt("not-an-access-token-of-this-server"), descriptor_jwt, b"x")
        self.expect_error(response, [(401, "InvalidToken")])

    def check_push_token_of_other_contract(self):
        # One user access token belongs to one contract: w2 must not push with w1's token.
        grant = self.write_grant()
        other = self.contract("w2")
        descriptor_jwt = other.file_descriptor_jwt({"mimeType": "text/plain", "accounts": []})
        response = self.api.push_library(other.user_jwt(grant.access_token), descriptor_jwt, b"x")
        self.expect_error(response, [(401, "InvalidToken"), (403, "InsufficientScope")])

    def run_first_push_checks(self, max_bytes):
        check = self.check
        check("push chunked body", self.check_push_chunked)
        check("push Content-Length body", self.check_push_content_length)
        check("push without Content-Type", self.check_push_without_content_type)
        check("push with iOS descriptor members", self.check_push_ios_descriptor)
        check("push with 14 KB FileDescriptor", self.check_push_large_descriptor)
        check("push of exactly max bytes", self.check_push_at_limit, max_bytes)
        check("oversize chunked push returns 413", self.check_push_oversize, max_bytes, True)
        check("oversize sized push returns 413", self.check_push_oversize, max_bytes, False)
        check("descriptor missing rejected", self.check_push_missing_descriptor)
        check("descriptor not a JWT rejected", self.check_malformed_descriptor, descriptor_jwt="not.a.jwt")
        check("descriptor bad signature rejected", lambda: self.check_malformed_descriptor(
            descriptor_jwt=self.descriptor_signed_by_stranger()))
        check("descriptor without mimeType rejected", self.check_malformed_descriptor, {"accounts": []})
        check("descriptor numeric mimeType rejected", self.check_malformed_descriptor, {"mimeType": 7, "accounts": []})
        check("descriptor without accounts rejected", self.check_malformed_descriptor, {"mimeType": "text/plain"})
        check("descriptor accounts not array rejected", self.check_malformed_descriptor,
              {"mimeType": "text/plain", "accounts": {"accountId": "x"}})
        check("descriptor without metadata rejected", lambda: self.check_malformed_descriptor(
            descriptor_jwt=self.contract("w1").sign({"mimeType": "text/plain", "accounts": []})))
        check("push with unknown token: 401", self.check_push_unknown_token)
        check("push with other contract's token", self.check_push_token_of_other_contract)

    # --- first read-back: read-raw linked with the write contract's token --------------------

    def check_link_read_raw(self):
        grant = self.write_grant()
        self.rr1_grant = authorize_fully(self.api, self.server.origin, self.contract("rr1"),
                                         access_token=grant.access_token)
        return self.rr1_grant

    def check_linked_sub(self):
        grant = need(getattr(self, "rr1_grant", None), "the linked read-raw token pair")
        expect(grant.sub == self.w1_grant.sub, f"linked sub {grant.sub!r} differs from the library's {self.w1_grant.sub!r}")

    def reader(self):
        return need(getattr(self, "rr1_grant", None), "the linked read-raw token pair")

    def check_accounts(self):
        grant = self.reader()
        response = self.api.accounts(grant.contract.user_jwt(grant.access_token))
        expect(response.status_code == 200, f"accounts returned {describe(response)}")
        check_accounts(parse_json_body(response))

    def check_authorize_session_lists(self):
        grant = self.reader()
        session = need(grant.authorize_session, "the session from the authorize response")
        _, entries = list_files_until_done(self.api, grant, session["key"])
        expect(len(entries) == len(self.pushed), f"authorize session lists {len(entries)} files, {len(self.pushed)} were pushed")

    def check_trigger(self):
        grant = self.reader()
        self.rr1_session = start_session(self.api, grant)
        return self.rr1_session

    def check_completed_at_once(self):
        grant = self.reader()
        session_key = need(getattr(self, "rr1_session", None), "a trigger session")
        response = self.api.file_list(grant.contract.user_jwt(grant.access_token), session_key)
        expect(response.status_code == 200, f"file list returned {describe(response)}")
        state = parse_json_body(response).get("status", {}).get("state")
        expect(state == "completed", f"first file list state is {state!r}; a library without sync sources is completed at once")

    def read_all(self, grant, session_key, expected_compression):
        """List and download every file of a session; return {name: (PushedFile, x-metadata, response)}."""
        _, entries = list_files_until_done(self.api, grant, session_key)
        by_sha = {pushed.sha256: pushed for pushed in self.pushed}
        files = {}
        for entry in entries:
            response, document, plaintext = download_file(self.api, grant, session_key, entry["name"])
            compression = document.get("compression")
            if expected_compression is None:
                expect(compression in (None, ""), f"{entry['name']} came with compression {compression!r} nobody asked for")
            else:
                expect(compression == expected_compression, f"{entry['name']} compression is {compression!r}, expected {expected_compression!r}")
            sha = hashlib.sha256(plaintext).hexdigest()
            expect(sha in by_sha, f"{entry['name']} decrypts to bytes that match no pushed file")
            files[entry["name"]] = (by_sha[sha], document, response)
        missing = {pushed.label for pushed in self.pushed} - {pushed.label for pushed, _, _ in files.values()}
        expect(not missing, f"pushed files missing from the read-back: {sorted(missing)}")
        return files

    def check_read_back(self):
        self.first_read = self.read_all(self.reader(), need(getattr(self, "rr1_session", None), "a trigger session"), None)
        return self.first_read

    def read_back_files(self):
        return need(getattr(self, "first_read", None), "the first read-back").items()

    def check_metadata_codec(self):
        for name, (_, document, _) in self.read_back_files():
            try:
                check_raw_metadata_codec(document["metadata"])
            except CheckFailure as failure:
                raise CheckFailure(f"{name}: {failure}") from None

    def check_metadata_values(self):
        for name, (pushed, document, _) in self.read_back_files():
            metadata = document["metadata"]
            descriptor = pushed.descriptor
            where = f"{pushed.label} ({name})"
            expect(metadata.get("mimetype") == descriptor["mimeType"], f"{where}: mimetype is {metadata.get('mimetype')!r}")
            wanted_accounts = [{"accountid": account["accountId"]} for account in descriptor["accounts"]]
            expect(metadata.get("accounts") == wanted_accounts, f"{where}: accounts are {metadata.get('accounts')!r}, expected {wanted_accounts!r}")
            for member in ("tags", "reference"):
                if member in descriptor:
                    expect(metadata.get(member) == descriptor[member], f"{where}: {member} not kept as pushed")
            for camel, lower in LOWER_CASED_MEMBERS.items():
                expect(camel not in metadata, f"{where}: `{camel}` kept its camelCase name instead of `{lower}`")

    def check_server_set_members(self):
        now_ms = timestamp_ms()
        for name, (pushed, document, _) in self.read_back_files():
            metadata = document["metadata"]
            where = f"{pushed.label} ({name})"
            expect(metadata.get("appid") == pushed.contract.app_id, f"{where}: appid is {metadata.get('appid')!r}, expected {pushed.contract.app_id!r}")
            expect(metadata.get("contractid") == pushed.contract.contract_id,
                   f"{where}: contractid is {metadata.get('contractid')!r}, expected {pushed.contract.contract_id!r}")
            created = metadata.get("created")
            expect(isinstance(created, (int, float)) and pushed.pushed_at_ms - 2000 <= created <= now_ms + 2000,
                   f"{where}: created is {created!r}, expected the push time in ms (about {pushed.pushed_at_ms})")

    def read_back_of(self, label):
        for name, (pushed, document, response) in self.read_back_files():
            if pushed.label == label:
                return name, document, response
        raise CheckFailure(f"file {label} was not read back")

    def check_ios_members(self):
        _, document, _ = self.read_back_of("p4")
        metadata = document["metadata"]
        expect(metadata.get("objecttypes") == [{"name": "receipt", "references": ["r-1"]}], f"objecttypes is {metadata.get('objecttypes')!r}")
        expect(metadata.get("servicegroups") == [1, 4], f"servicegroups is {metadata.get('servicegroups')!r}")
        expect(metadata.get("providerName") == "Conformance Provider", f"providerName is {metadata.get('providerName')!r}")

    def check_file_name_member(self):
        _, document, _ = self.read_back_of("p1")
        expect(document["metadata"].get("filename") == "receipt-p1.json",
               f"filename is {document['metadata'].get('filename')!r}, expected 'receipt-p1.json'")

    def check_unknown_member_kept(self):
        # NOTE: Trove's wire contract states both that unknown members stay unchanged and that
        # the Rust SDK's `fileName` is lower-cased "like every other member". Either spelling passes.
        _, document, _ = self.read_back_of("p1")
        metadata = document["metadata"]
        value = metadata.get("customField", metadata.get("customfield"))
        expect(value == {"NestedKey": [1, "two"]}, f"customField came back as {value!r}")

    def check_head_metadata(self):
        grant = self.reader()
        for name, (_, document, _) in self.read_back_files():
            response = self.api.file_metadata(grant.contract.user_jwt(grant.access_token), self.rr1_session, name)
            expect(response.status_code == 200, f"HEAD {name} returned {response.status_code}")
            expect(not response.content, f"HEAD {name} returned a body")
            expect(decode_x_metadata(response.headers.get("x-metadata")) == document, f"HEAD {name} x-metadata differs from GET's")

    def check_last_modified(self):
        # Optional, and Node passes it through as a string, but when sent it is an HTTP-date.
        for name, (_, _, response) in self.read_back_files():
            value = response.headers.get("last-modified")
            if value is None:
                continue
            try:
                parsedate_to_datetime(value)
            except (TypeError, ValueError):
                raise CheckFailure(f"{name}: last-modified {value!r} is not an HTTP-date") from None

    def check_fresh_key_per_download(self):
        grant = self.reader()
        name, _, first = self.read_back_of("p1")
        second = self.api.download(grant.contract.user_jwt(grant.access_token), self.rr1_session, name)
        expect(second.status_code == 200, f"second download returned {describe(second)}")
        expect(first.content[:256] != second.content[:256], "two downloads reuse the wrapped data key")
        expect(first.content[256:272] != second.content[256:272], "two downloads reuse the IV")

    def check_gzip_on_trigger(self):
        grant = self.reader()
        session_key = start_session(self.api, grant, GZIP_TRIGGER_OPTIONS)
        self.read_all(grant, session_key, "gzip")

    def check_unknown_session(self):
        grant = self.reader()
        response = self.api.file_list(grant.contract.user_jwt(grant.access_token), "no-such-session-" + random_alphanumeric(8))
        # NOTE: no SDK names the code for an unknown session. A 401 would make Node refresh the
        # token for a problem that is not about the token, so any other 4xx passes.
        body = self.expect_error(response, [(None, None)])
        expect(response.status_code != 401, f"unknown session returned 401 {body['error']['code']}")

    def check_unknown_file(self):
        # iOS retries a download on 404, which shows the real server returns 404 for a missing file.
        grant = self.reader()
        session_key = need(getattr(self, "rr1_session", None), "a trigger session")
        response = self.api.download(grant.contract.user_jwt(grant.access_token), session_key, "no-such-file")
        self.expect_error(response, [(404, None)])

    def check_unknown_file_head(self):
        grant = self.reader()
        session_key = need(getattr(self, "rr1_session", None), "a trigger session")
        response = self.api.file_metadata(grant.contract.user_jwt(grant.access_token), session_key, "no-such-file")
        expect(response.status_code == 404, f"HEAD of unknown file returned {response.status_code}, expected 404")

    def check_accounts_replay(self):
        grant = self.reader()
        token = grant.contract.user_jwt(grant.access_token)
        first = self.api.accounts(token)
        expect(first.status_code == 200, f"first use returned {describe(first)}")
        self.expect_error(self.api.accounts(token), [(406, "InvalidRequest")])

    def check_accounts_unknown_token(self):
        contract = self.contract("rr1")
        response = self.api.accounts(contract.user_jwt("not-an-access-token-of-this-server"))
        self.expect_error(response, [(401, "InvalidToken")])

    def check_trigger_tolerance(self):
        # Unknown body members and Android's query parameters must be ignored.
        grant = self.reader()
        response = self.api.trigger(grant.contract.user_jwt(grant.access_token),
                                    {"sourceFetch": False, "someFutureMember": {"x": 1}},
                                    query={"schemaVersion": "5.0.0", "prefetch": "false"})
        expect(response.status_code == 200, f"trigger returned {describe(response)}")

    def run_first_read_checks(self):
        check = self.check
        self.rr1_grant = None
        self.rr1_session = None
        self.first_read = None
        check("read-raw links with write token", self.check_link_read_raw)
        check("linked read-raw has library sub", self.check_linked_sub)
        check("accounts is bare array", self.check_accounts)
        check("authorize session lists pushes", self.check_authorize_session_lists)
        check("trigger returns session", self.check_trigger)
        check("file list completed at once", self.check_completed_at_once)
        check("downloads decrypt to pushed bytes", self.check_read_back)
        check("metadata passes Node codec", self.check_metadata_codec)
        check("metadata keeps pushed members", self.check_metadata_values)
        check("server sets appid, contractid, created", self.check_server_set_members)
        check("iOS descriptor members read back", self.check_ios_members)
        check("fileName read back as filename", self.check_file_name_member)
        check("unknown descriptor member kept", self.check_unknown_member_kept)
        check("HEAD returns same x-metadata", self.check_head_metadata)
        check("last-modified is an HTTP-date", self.check_last_modified)
        check("each download has fresh key, IV", self.check_fresh_key_per_download)
        check("trigger gzip compresses downloads", self.check_gzip_on_trigger)
        check("unknown session rejected", self.check_unknown_session)
        check("unknown file returns 404", self.check_unknown_file)
        check("HEAD unknown file returns 404", self.check_unknown_file_head)
        check("replayed JWT on accounts rejected", self.check_accounts_replay)
        check("unknown access token: 401", self.check_accounts_unknown_token)
        check("trigger ignores unknown members", self.check_trigger_tolerance)

    # --- wrong contract kinds -----------------------------------------------------------------

    def check_push_with_reader(self, grant_attribute):
        grant = need(getattr(self, grant_attribute, None), f"a token pair ({grant_attribute})")
        response = self.push(grant, "reader-push", unique_content("reader-push"),
                             {"mimeType": "text/plain", "accounts": []}, chunked=False)
        self.expect_error(response, [(403, "InsufficientScope")])

    def check_trigger_with_writer(self):
        grant = self.write_grant()
        response = self.api.trigger(grant.contract.user_jwt(grant.access_token))
        self.expect_error(response, [(400, "InvalidContractDataRequest")])

    def check_query_with_writer(self, download):
        grant = self.write_grant()
        session_key = need(getattr(self, "rr1_session", None), "a read-raw session")
        if download:
            name, _, _ = self.read_back_of("p1")
            response = self.api.download(grant.contract.user_jwt(grant.access_token), session_key, name)
        else:
            response = self.api.file_list(grant.contract.user_jwt(grant.access_token), session_key)
        self.expect_error(response, [(400, "InvalidContractDataRequest")])

    def run_contract_kind_checks(self):
        check = self.check
        check("push with read-raw: 403", self.check_push_with_reader, "rr1_grant")
        check("push with read contract: 403", self.check_push_with_reader, "rd1_grant")
        check("trigger with write contract: 400", self.check_trigger_with_writer)
        check("file list with write contract: 400", self.check_query_with_writer, False)
        check("download with write contract: 400", self.check_query_with_writer, True)

    # --- second round: more pushes, then read-raw linked again -------------------------------

    def check_refreshed_token_pushes(self):
        descriptor = {"mimeType": "text/csv", "accounts": accounts("customer-7"), "tags": ["flow2"], "reference": ["ref-p7"]}
        self.expect_push_accepted(self.push(self.write_grant(), "p7", unique_content("p7"), descriptor))

    def check_link_second_writer(self):
        self.w2_grant = authorize_fully(self.api, self.server.origin, self.contract("w2"),
                                        access_token=self.write_grant().access_token)
        expect(self.w2_grant.sub == self.write_grant().sub, "second write contract got a different sub")
        return self.w2_grant

    def check_second_writer_pushes(self):
        grant = need(getattr(self, "w2_grant", None), "the second write contract's token pair")
        first = self.push(grant, "p8", unique_content("p8"),
                          {"mimeType": "application/xml", "accounts": accounts("customer-8"), "tags": ["flow2", "receipt"],
                           "reference": ["ref-p8"]})
        self.expect_push_accepted(first)
        second = self.push(grant, "p9", unique_content("p9", 50_000),
                           {"mimeType": "application/pdf", "accounts": [], "tags": ["flow2"], "reference": ["ref-p9"]},
                           chunked=False)
        self.expect_push_accepted(second)

    def check_relink_read_raw_gzip(self):
        linking_grant = need(getattr(self, "w2_grant", None), "the second write contract's token pair")
        self.rr1_second = authorize_fully(self.api, self.server.origin, self.contract("rr1"),
                                          access_token=linking_grant.access_token, actions=GZIP_ACTIONS)
        expect(self.rr1_second.sub == linking_grant.sub, "re-linked read-raw got a different sub")
        return self.rr1_second

    def check_second_read_back(self):
        grant = need(getattr(self, "rr1_second", None), "the re-linked read-raw token pair")
        session = need(grant.authorize_session, "the session from the authorize response")
        files = self.read_all(grant, session["key"], "gzip")
        for name, (pushed, document, _) in files.items():
            expect(document["metadata"].get("contractid") == pushed.contract.contract_id,
                   f"{pushed.label}: contractid is {document['metadata'].get('contractid')!r}")

    def run_second_round_checks(self):
        check = self.check
        self.w2_grant = None
        self.rr1_second = None
        check("refreshed token pushes", self.check_refreshed_token_pushes)
        check("public-key contract links", self.check_link_second_writer)
        check("public-key contract pushes", self.check_second_writer_pushes)
        check("read-raw relinks with gzip actions", self.check_relink_read_raw_gzip)
        check("authorize session reads all, gzip", self.check_second_read_back)

    # --- scope.criteria filters ----------------------------------------------------------------

    def check_criteria(self, criteria):
        grant = need(getattr(self, "rr1_second", None), "the re-linked read-raw token pair")
        session_key = start_session(self.api, grant, {"scope": {"criteria": criteria}})
        _, entries = list_files_until_done(self.api, grant, session_key)
        by_sha = {pushed.sha256: pushed for pushed in self.pushed}
        seen = set()
        for entry in entries:
            _, _, plaintext = download_file(self.api, grant, session_key, entry["name"])
            pushed = by_sha.get(hashlib.sha256(plaintext).hexdigest())
            expect(pushed is not None, f"{entry['name']} matches no pushed file")
            seen.add(pushed.label)
        wanted = {pushed.label for pushed in self.pushed if any(criterion_matches(pushed, c) for c in criteria)}
        expect(seen == wanted, f"filter returned {sorted(seen)}, expected {sorted(wanted)}")

    def run_criteria_checks(self):
        check = self.check
        check("criteria tags filter", self.check_criteria, [{"metadata": {"tags": ["receipt"]}}])
        check("criteria tag values OR", self.check_criteria, [{"metadata": {"tags": ["note", "binary"]}}])
        check("criteria mimeType filter", self.check_criteria, [{"metadata": {"mimeType": ["application/octet-stream"]}}])
        check("criteria members AND", self.check_criteria,
              [{"metadata": {"tags": ["receipt"], "mimeType": ["application/json"]}}])
        check("criteria list OR", self.check_criteria,
              [{"metadata": {"reference": ["ref-p2"]}}, {"metadata": {"reference": ["ref-p7"]}}])
        check("criteria accounts filter", self.check_criteria, [{"metadata": {"accounts": [{"accountId": "customer-8"}]}}])
        check("criteria contractId filter", self.check_criteria, [{"metadata": {"contractId": ["write-2"]}}])
