"""Checks that another application cannot read app A's files, plus routes that may not exist yet."""

import json

from flows import authorize_fully, list_files_until_done, start_session
from report import Skip, expect, need
from shapes import describe, parse_json_body
from signing import random_alphanumeric

# A minimal STU3 Bundle, valid enough that a rejection points at the account, not the body.
MINIMAL_BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": []}


def is_protocol_error_body(response):
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and "code" in body["error"]


def error_signature(response):
    """Return (status, code, message) of a response, with None for members a non-protocol body lacks."""
    try:
        error = json.loads(response.content)["error"]
        return response.status_code, error.get("code"), error.get("message")
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.status_code, None, None


def route_is_missing(response, unrouted_response):
    """Tell whether `response` is what the router returns for a path that matches no route.

    That is a 404 without a protocol error body, or the same status, code and message as
    `unrouted_response`, the response to a path that certainly does not exist.
    """
    if response.status_code != 404:
        return False
    if not is_protocol_error_body(response):
        return True
    return error_signature(response) == error_signature(unrouted_response)


class IsolationChecks:
    """Mixin for MainServerChecks: application isolation, provider push and contract details."""

    # --- another application on the same library -------------------------------------------

    def check_foreign_token_link(self):
        grant = need(getattr(self, "w1_grant", None), "app A's token pair")
        contract = self.contract("b_rr")
        claims = contract.authz_claims("x" * 43, contract.callbacks[0], "state-b", access_token=grant.access_token)
        self.expect_error(self.api.authorize(contract.sign(claims)), [(401, "InvalidToken")])

    def check_other_app_signs_in(self):
        credentials = need(getattr(self, "credentials", None), "the library user's credentials")
        self.b_grant = authorize_fully(self.api, self.server.origin, self.contract("b_rr"), credentials=credentials)
        expect(self.b_grant.sub == self.w1_grant.sub,
               f"signing in to the same library gave sub {self.b_grant.sub!r}, expected {self.w1_grant.sub!r}")
        return self.b_grant

    def other_app_grant(self):
        return need(getattr(self, "b_grant", None), "app B's read-raw token pair")

    def check_other_app_sees_nothing(self):
        grant = self.other_app_grant()
        self.b_session = start_session(self.api, grant)
        states, entries = list_files_until_done(self.api, grant, self.b_session)
        expect(not entries, f"app B's read-raw contract lists {len(entries)} of app A's files")

    def check_other_app_authorize_session(self):
        grant = self.other_app_grant()
        session = need(grant.authorize_session, "the session from app B's authorize response")
        _, entries = list_files_until_done(self.api, grant, session["key"])
        expect(not entries, f"app B's authorize session lists {len(entries)} files")

    def check_other_app_download(self):
        grant = self.other_app_grant()
        session_key = need(getattr(self, "b_session", None), "app B's session")
        name, _, _ = self.read_back_of("p1")
        response = self.api.download(grant.contract.user_jwt(grant.access_token), session_key, name)
        self.expect_error(response, [(None, None)])

    def check_other_app_uses_foreign_session(self):
        grant = self.other_app_grant()
        session_key = need(getattr(self, "rr1_session", None), "app A's read-raw session")
        response = self.api.file_list(grant.contract.user_jwt(grant.access_token), session_key)
        self.expect_error(response, [(None, None)])

    def check_other_contract_uses_session(self):
        # The session is bound to its authorization's library and contract, not just the library.
        grant = need(getattr(self, "rd1_grant", None), "the read contract's token pair")
        session_key = need(getattr(self, "rr1_session", None), "app A's read-raw session")
        response = self.api.file_list(grant.contract.user_jwt(grant.access_token), session_key)
        self.expect_error(response, [(None, None)])

    def run_isolation_checks(self):
        check = self.check
        self.b_grant = None
        self.b_session = None
        check("other app cannot link A's token", self.check_foreign_token_link)
        check("other app signs into library", self.check_other_app_signs_in)
        check("other app's read-raw sees no files", self.check_other_app_sees_nothing)
        check("other app's authorize session empty", self.check_other_app_authorize_session)
        check("other app cannot download A's file", self.check_other_app_download)
        check("other app cannot use A's session", self.check_other_app_uses_foreign_session)
        check("other contract cannot use session", self.check_other_contract_uses_session)

    # --- push to provider (only once the route exists) ---------------------------------------

    def provider_push(self, account_id, body, version="stu3"):
        grant = need(getattr(self, "w1_grant", None), "the write contract's token pair")
        return self.api.push_provider(grant.contract.user_jwt(grant.access_token), account_id, body, version=version)

    def unrouted(self, method, token):
        """Send `method` to an API path no server serves, for comparison with a route that may be missing."""
        path = f"permission-access/no-such-route-{random_alphanumeric(8)}"
        headers = {"Authorization": f"Bearer {token}", "accept": "application/json"}
        return self.api.http.request(method, self.api.url(path), headers=headers, timeout=60)

    def check_provider_route(self):
        grant = need(getattr(self, "w1_grant", None), "the write contract's token pair")
        self.unknown_account_id = "unknown-account-" + random_alphanumeric(8)
        response = self.provider_push(self.unknown_account_id, MINIMAL_BUNDLE)
        unrouted = self.unrouted("POST", grant.contract.user_jwt(grant.access_token))
        if route_is_missing(response, unrouted):
            self.provider_route = False
            raise Skip("POST permission-access/import/h:accountId/fhir/stu3 returns the same 404 as a path "
                       "that matches no route")
        self.provider_route = True
        self.unknown_account_response = response
        return response

    def require_provider_route(self):
        if not getattr(self, "provider_route", False):
            raise Skip("push to provider is not implemented yet")

    def check_provider_unknown_account(self):
        self.require_provider_route()
        # NOTE: no SDK names the code for an unknown account, so any 4xx protocol error passes.
        self.expect_error(self.unknown_account_response, [(None, None)])

    def check_provider_invalid_fhir(self, body):
        self.require_provider_route()
        push_accounts = self.provider_accounts()
        if push_accounts:
            self.expect_error(self.provider_push(push_accounts[0], body), [(400, "ValidationErrors")])
            return
        # Without a push-capable account the body goes to an unknown account. The check can only
        # tell that the body was judged when the response differs from the one for a valid Bundle.
        response = self.provider_push("unknown-account-" + random_alphanumeric(8), body)
        if self.same_error(response, self.unknown_account_response):
            raise Skip("no push-capable account exists, and the server rejects the unknown account "
                       f"({response.status_code}) before it judges the body")
        self.expect_error(response, [(400, "ValidationErrors")])

    @staticmethod
    def same_error(first, second):
        if first.status_code != second.status_code:
            return False
        try:
            return first.json()["error"]["code"] == second.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return False

    def check_provider_version_alias(self):
        # `stu3` and `3.0.2` name the same FHIR release, and Node sends either one.
        self.require_provider_route()
        response = self.provider_push(self.unknown_account_id, MINIMAL_BUNDLE, version="3.0.2")
        expect(self.same_error(response, self.unknown_account_response),
               f"version 3.0.2 returned {describe(response)}, unlike stu3 ({self.unknown_account_response.status_code})")

    def provider_accounts(self):
        grant = getattr(self, "rr1_grant", None)
        if grant is None:
            return []
        response = self.api.accounts(grant.contract.user_jwt(grant.access_token))
        if response.status_code != 200:
            return []
        body = parse_json_body(response)
        return [account["id"] for account in body if isinstance(account, dict) and account.get("type") == "PUSH"]

    def run_provider_checks(self):
        check = self.check
        self.provider_route = False
        self.unknown_account_response = None
        check("provider push route exists", self.check_provider_route)
        check("provider push unknown account", self.check_provider_unknown_account)
        check("provider push version 3.0.2 alias", self.check_provider_version_alias)
        check("provider push rejects JSON array", self.check_provider_invalid_fhir, [MINIMAL_BUNDLE])
        check("provider push rejects non-JSON", self.check_provider_invalid_fhir, b"this is not json")
        check("provider push rejects non-FHIR", self.check_provider_invalid_fhir, {"notFhir": True})

    # --- contract details (only once the route exists) ---------------------------------------

    def check_contract_details(self):
        contract = self.contract("w1")
        response = self.api.contract_details(contract.app_jwt())
        if route_is_missing(response, self.unrouted("GET", contract.app_jwt())):
            raise Skip("GET permission-access/contract returns the same 404 as a path that matches no route")
        expect(response.status_code == 200, f"contract details returned {describe(response)}")
        body = parse_json_body(response)
        expect(isinstance(body, dict), "contract details body is not an object")
        expect(body.get("accessType") == "w", f"accessType is {body.get('accessType')!r}, expected 'w'")
        application = body.get("application")
        expect(isinstance(application, dict), "`application` is not an object")
        expect(isinstance(application.get("id"), str) and isinstance(application.get("name"), str),
               "application.id or application.name is not a string")
        expect(isinstance(application.get("resources"), dict), "application.resources is not an object")
        expect(isinstance(application.get("status"), (int, float)), "application.status is not a number")
        for member in ("certificate", "certificateContractSchemaVersion", "id", "partnerId", "type"):
            expect(isinstance(body.get(member), str), f"`{member}` is {body.get(member)!r}, expected a string")
        expect(isinstance(body.get("expirationDate"), (int, float)), "`expirationDate` is not a number")

    def run_route_checks(self):
        self.run_provider_checks()
        self.check("contract details shape", self.check_contract_details)
