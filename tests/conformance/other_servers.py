"""Checks that need their own server instance: short token lifetimes and a custom prefix."""

import os
import time

from flows import Credentials, authorize_fully, refresh_grant
from report import Skip, expect, need
from server_tokens import (
    check_each_recorded_token, check_jwks_document, check_server_header, verify_like_ios, verify_like_node,
)
from shapes import check_error_response, check_token_pair_payload, describe, parse_json_body
from signing import Contract
from trove_process import TroveServer, run_admin, serve_supports
from wire import Api, chunks

ACCESS_TTL_SECONDS = 2
REFRESH_TTL_SECONDS = 10
REFRESH_GRACE_SECONDS = 2
# Token lifetimes are whole seconds, so wait a margin past them before expecting a rejection.
EXPIRY_MARGIN_SECONDS = 1.5


class SecondaryServer:
    """Shared set-up: one application with a write and a read-raw contract on a new server."""

    app_id = "conf-s"

    def __init__(self, report, trove_bin, workdir, name, server_arguments):
        self.report = report
        self.trove_bin = trove_bin
        self.name = name
        self.data_dir = os.path.join(workdir, f"{name}-data")
        self.keys_dir = os.path.join(workdir, f"{name}-keys")
        self.log_path = os.path.join(workdir, f"{name}-server.log")
        self.server_arguments = server_arguments
        self.server = None
        self.contracts = {}

    def check(self, name, function, *args, **kwargs):
        return self.report.check(f"{self.name}: {name}", function, *args, **kwargs)

    def set_up(self):
        os.makedirs(self.keys_dir, exist_ok=True)
        # trove admin works on an existing data directory only (docs/cli.md).
        os.makedirs(self.data_dir, exist_ok=True)
        callback = f"https://{self.app_id}.example/callback"
        run_admin(self.trove_bin, self.data_dir, "app", "add", "--id", self.app_id, "--name", "Conformance App S")
        for name, kind in (("write", "write"), ("read-raw", "read-raw")):
            key_path = os.path.join(self.keys_dir, f"{name}.pem")
            run_admin(self.trove_bin, self.data_dir, "contract", "add", "--app", self.app_id, "--id", name,
                      "--kind", kind, "--generate-key", key_path, "--callback", callback)
            expect(os.path.exists(key_path), f"`contract add --generate-key {key_path}` wrote no key file")
            with open(key_path, "rb") as key_file:
                self.contracts[name] = Contract(self.app_id, name, kind, key_file.read(), [callback])
        self.server = TroveServer(self.trove_bin, self.data_dir, self.log_path, self.server_arguments)
        self.server.start()
        self.api = Api(self.server.api_base)
        return True

    def run(self):
        try:
            if self.check("server starts", self.set_up):
                self.run_checks()
        finally:
            if self.server is not None:
                self.server.stop()


class ShortLifetimeChecks(SecondaryServer):
    """Expiry of access and refresh tokens, on a server with 2 s and 10 s lifetimes."""

    def __init__(self, report, trove_bin, workdir):
        arguments = ["--access-token-ttl", str(ACCESS_TTL_SECONDS), "--refresh-token-ttl", str(REFRESH_TTL_SECONDS)]
        # NOTE: docs/cli.md does not list --refresh-grace, so it is used only when `serve --help` does.
        self.grace_configurable = serve_supports(trove_bin, "--refresh-grace")
        if self.grace_configurable:
            arguments += ["--refresh-grace", str(REFRESH_GRACE_SECONDS)]
        super().__init__(report, trove_bin, workdir, "short-ttl", arguments)
        self.write_grant = None
        self.first_write_grant = None
        self.read_grant = None

    def push(self, grant):
        contract = grant.contract
        descriptor = contract.file_descriptor_jwt({"mimeType": "text/plain", "accounts": []})
        return self.api.push_library(contract.user_jwt(grant.access_token), descriptor, chunks(b"short-lived token"))

    def check_lifetimes(self):
        self.write_grant = authorize_fully(
            self.api, self.server.origin, self.contracts["write"], credentials=Credentials.random(), register=True,
        )
        self.exchanged_at = time.time()
        self.first_write_grant = self.write_grant
        check_token_pair_payload(self.write_grant.payload, ACCESS_TTL_SECONDS, REFRESH_TTL_SECONDS, tolerance_seconds=3)
        return self.write_grant

    def check_fresh_token_accepted(self):
        grant = need(self.write_grant, "a token pair")
        response = self.push(grant)
        expect(response.status_code == 201, f"push with a fresh token returned {describe(response)}")

    def sleep_until(self, moment):
        delay = moment - time.time()
        if delay > 0:
            time.sleep(delay)

    def check_expired_push(self):
        grant = need(self.write_grant, "a token pair")
        self.sleep_until(self.exchanged_at + ACCESS_TTL_SECONDS + EXPIRY_MARGIN_SECONDS)
        check_error_response(self.push(grant), [(401, "InvalidToken")])

    def check_refresh_after_expiry(self):
        grant = need(self.write_grant, "a token pair")
        self.rotated_refresh_token = grant.refresh_token
        self.write_grant = refresh_grant(self.api, grant.contract, grant.refresh_token)
        self.refreshed_at = time.time()
        pushed = self.push(self.write_grant)
        expect(pushed.status_code == 201, f"push with the refreshed token returned {describe(pushed)}")
        check_token_pair_payload(self.write_grant.payload, ACCESS_TTL_SECONDS, REFRESH_TTL_SECONDS, tolerance_seconds=3)

    def check_link_with_expired_token(self):
        # iOS re-authorization sends an expired access token; it must still name the library.
        expired = need(self.first_write_grant, "the first token pair")
        self.read_grant = authorize_fully(
            self.api, self.server.origin, self.contracts["read-raw"], access_token=expired.access_token,
        )
        self.read_granted_at = time.time()
        expect(self.read_grant.sub == expired.sub, f"linked sub {self.read_grant.sub!r} differs from {expired.sub!r}")

    def check_expired_read_calls(self):
        grant = need(self.read_grant, "the linked read-raw token pair")
        self.sleep_until(self.read_granted_at + ACCESS_TTL_SECONDS + EXPIRY_MARGIN_SECONDS)
        contract = grant.contract
        check_error_response(self.api.accounts(contract.user_jwt(grant.access_token)), [(401, "InvalidToken")])
        check_error_response(self.api.trigger(contract.user_jwt(grant.access_token)), [(401, "InvalidToken")])

    def check_rotated_token_after_grace(self):
        if not self.grace_configurable:
            raise Skip("`trove serve --help` lists no --refresh-grace, so the grace period cannot be shortened")
        grant = need(getattr(self, "refreshed_at", None) and self.write_grant, "a refreshed token pair")
        if grant.refresh_token == self.rotated_refresh_token:
            raise Skip("the server does not rotate refresh tokens, so there is no grace period to end")
        self.sleep_until(self.refreshed_at + REFRESH_GRACE_SECONDS + EXPIRY_MARGIN_SECONDS)
        response = self.api.refresh(grant.contract.refresh_jwt(self.rotated_refresh_token))
        check_error_response(response, [(401, "InvalidToken")])

    def check_expired_refresh_token(self):
        grant = need(getattr(self, "refreshed_at", None) and self.write_grant, "a refreshed token pair")
        self.sleep_until(self.refreshed_at + REFRESH_TTL_SECONDS + EXPIRY_MARGIN_SECONDS)
        response = self.api.refresh(grant.contract.refresh_jwt(grant.refresh_token))
        check_error_response(response, [(401, "InvalidToken")])

    def run_checks(self):
        check = self.check
        check("expires_on follows --*-token-ttl", self.check_lifetimes)
        check("fresh access token accepted", self.check_fresh_token_accepted)
        check("expired token push: 401", self.check_expired_push)
        check("refresh after expiry works", self.check_refresh_after_expiry)
        check("expired token links library", self.check_link_with_expired_token)
        check("expired token reads: 401", self.check_expired_read_calls)
        check("rotated refresh token after grace: 401", self.check_rotated_token_after_grace)
        check("expired refresh token: 401", self.check_expired_refresh_token)
        check("every server token verifies like Node", self.check_all_tokens_node)

    def check_all_tokens_node(self):
        check_each_recorded_token(
            self.api, lambda token: verify_like_node(self.api.http, token, expected_jku=self.api.url("jwks/oauth")))


class PrefixChecks(SecondaryServer):
    """`--prefix` and `--public-url`: the API moves, and `jku` follows the public URL.

    The public URL names a host that is never contacted: the checks compare the `jku` string and
    fetch keys only from the server's real loopback address.
    """

    prefix = "/api/v7/"
    public_url = "http://trove-public.invalid"

    def __init__(self, report, trove_bin, workdir):
        super().__init__(report, trove_bin, workdir, "prefix", [
            "--prefix", self.prefix, "--public-url", self.public_url,
        ])
        self.jwks_keys = None

    def check_jwks_under_prefix(self):
        self.api = Api(self.server.origin + self.prefix)
        response = self.api.jwks()
        expect(response.status_code == 200, f"GET {self.prefix}jwks/oauth returned {describe(response)}")
        self.jwks_keys = check_jwks_document(parse_json_body(response))

    def check_authorize_under_prefix(self):
        keys = need(self.jwks_keys, "the JWKS")
        contract = self.contracts["write"]
        claims = contract.authz_claims("x" * 43, contract.callbacks[0], "state-prefix")
        response = self.api.authorize(contract.sign(claims))
        expect(response.status_code == 200, f"authorize under {self.prefix} returned {describe(response)}")
        token = parse_json_body(response)["token"]
        check_server_header(token, expected_jku=self.public_url + self.prefix + "jwks/oauth")
        verify_like_ios(keys, token)

    def run_checks(self):
        self.check("jwks served under --prefix", self.check_jwks_under_prefix)
        self.check("jku built on --public-url", self.check_authorize_under_prefix)
