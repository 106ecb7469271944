"""Checks of the authorization flow, request authentication, consent pages and token refresh."""

from urllib.parse import urlsplit

from consent import AppRedirect, Browser
from flows import (
    Credentials, begin_authorization, consent_and_return, exchange_code, onboarding_url, refresh_grant,
)
from report import expect, need
from server_tokens import (
    check_each_recorded_token, check_jwks_document, unverified_payload, verify_like_ios, verify_like_node,
)
from shapes import check_session, check_token_pair_payload, describe, parse_json_body
from signing import (
    Contract, forge_hs512, forge_unsigned, generate_private_key_pem, mobile_nonce, node_nonce, timestamp_ms,
)

DEFAULT_ACCESS_TTL_SECONDS = 3600
DEFAULT_REFRESH_TTL_SECONDS = 30 * 24 * 3600

# Trove's window for the `timestamp` claim is ±5 minutes of server time.
STALE_OFFSET_MS = 6 * 60 * 1000
WITHIN_WINDOW_OFFSET_MS = 4 * 60 * 1000

# The SDKs name no code for a failed code exchange. `InvalidToken` (401) is what Node reads as
# "reauthorize" on oauth/token, and `ValidationErrors` (400) is the API's generic rejection.
EXCHANGE_REJECTIONS = [(401, "InvalidToken"), (400, "ValidationErrors")]
# The API rejects a bad bearer with ValidationErrors: 400, or 406 in the Node SDK's test harness.
BAD_BEARER_REJECTIONS = [(400, "ValidationErrors"), (406, "ValidationErrors")]


class AuthorizationChecks:
    """Mixin for MainServerChecks: expects self.api, self.server, self.contracts and helpers."""

    # --- JWKS -------------------------------------------------------------------------------

    def check_jwks(self):
        response = self.api.jwks()
        expect(response.status_code == 200, f"GET jwks/oauth returned {describe(response)}")
        self.jwks_keys = check_jwks_document(parse_json_body(response))

    # --- first authorization: write contract, new library ------------------------------------

    def check_authorize_write(self):
        # A state with characters that need escaping shows whether the callback echoes it intact.
        self.flow1 = begin_authorization(self.api, self.contract("w1"), state=f"s {node_nonce()[:8]}&x=/?+é")
        return self.flow1

    def check_authorize_token_node(self):
        token = need(self.flow1, "an authorize response").token
        payload = verify_like_node(self.api.http, token, expected_jku=self.api.url("jwks/oauth"))
        expect(set(payload) >= {"preauthorization_code"}, "verified payload lacks preauthorization_code")

    def check_authorize_token_ios(self):
        verify_like_ios(need(self.jwks_keys, "the JWKS"), need(self.flow1, "an authorize response").token)

    def check_authorize_session(self):
        check_session(need(self.flow1, "an authorize response").session)

    def check_consent_start_page(self):
        pending = need(self.flow1, "an authorize response")
        self.browser1 = Browser(self.server.origin)
        url = onboarding_url(self.server.onboard_base, pending.preauthorization_code, lng="nl",
                             sources_scope={"dataType": ["gp-data"], "organizationType": "hospital"})
        page = self.browser1.open(url)
        expect(not isinstance(page, AppRedirect), "consent start redirected off the server")
        expect(page.status == 200, f"GET /apps/saas/authorize returned {page.status}")
        for action in ("/apps/saas/login", "/apps/saas/register"):
            form = page.form_posting_to(action)
            expect(form is not None, f"no form posting to {action}")
            expect({"username", "password"} <= form.field_names(), f"form {action} lacks username or password")
            expect(form.hidden("csrf"), f"form {action} has no hidden csrf")
            expect(form.hidden("code") == pending.preauthorization_code, f"form {action} hidden code is {form.hidden('code')!r}")
            expect(form.hidden("lng") == "nl", f"form {action} hidden lng is {form.hidden('lng')!r}, expected 'nl'")
        self.start_page = page
        return page

    def check_register_redirect(self):
        page = need(getattr(self, "start_page", None), "the consent start page")
        pending = self.flow1
        self.credentials = Credentials.random()
        form = page.form_posting_to("/apps/saas/register")
        consent_page = self.browser1.submit(
            page, form, {"username": self.credentials.username, "password": self.credentials.password})
        expect(self.browser1.redirects, "registration did not redirect")
        status, location = self.browser1.redirects[0]
        expect(status == 303, f"registration returned {status}, expected 303")
        parts = urlsplit(location)
        expect(parts.path == "/apps/saas/consent", f"registration redirected to {location}")
        expect(f"code={pending.preauthorization_code}" in parts.query, f"consent redirect lacks the code: {location}")
        expect(not isinstance(consent_page, AppRedirect), "registration ended off the server")
        self.consent_page = consent_page
        return consent_page

    def check_consent_page(self):
        page = need(getattr(self, "consent_page", None), "the consent page")
        expect(page.status == 200, f"consent page returned {page.status}")
        form = page.form_posting_to("/apps/saas/consent")
        expect(form is not None, "no form posting to /apps/saas/consent")
        expect(form.hidden("csrf"), "consent form has no hidden csrf")
        expect(form.hidden("code") == self.flow1.preauthorization_code, "consent form hidden code differs")
        expect(("decision", "allow") in form.buttons, "no submit button decision=allow")
        expect(("decision", "deny") in form.buttons, "no submit button decision=deny")
        expect("Conformance App A" in page.text, "consent page does not name the application")

    def check_consent_allow(self):
        page = need(getattr(self, "consent_page", None), "the consent page")
        pending = self.flow1
        form = page.form_posting_to("/apps/saas/consent")
        redirect = self.browser1.submit(page, form, button=("decision", "allow"))
        expect(isinstance(redirect, AppRedirect), "allow did not redirect to the callback")
        expect(self.browser1.redirects[-1][0] == 303, f"allow returned {self.browser1.redirects[-1][0]}, expected 303")
        expect(redirect.without_query == pending.redirect_uri,
               f"callback is {redirect.without_query}, expected {pending.redirect_uri}")
        params = redirect.params
        expect(params.get("success") == "true", f"callback success is {params.get('success')!r}")
        expect(params.get("code"), "callback has no code")
        expect(params.get("state") == pending.state, f"callback state is {params.get('state')!r}, expected {pending.state!r}")
        expect("accountReference" not in params, "write-only consent returned an accountReference")
        self.flow1_code = params["code"]
        return redirect

    def check_exchange(self):
        code = need(getattr(self, "flow1_code", None), "an authorization code")
        self.w1_grant = exchange_code(self.api, self.contract("w1"), code, self.flow1.verifier)
        self.w1_grant.authorize_session = self.flow1.session
        return self.w1_grant

    def check_exchange_token_node(self):
        grant = need(getattr(self, "w1_grant", None), "a token pair")
        verify_like_node(self.api.http, grant.token, expected_jku=self.api.url("jwks/oauth"))

    def check_exchange_token_ios(self):
        grant = need(getattr(self, "w1_grant", None), "a token pair")
        verify_like_ios(need(self.jwks_keys, "the JWKS"), grant.token)

    def check_token_pair_members(self):
        grant = need(getattr(self, "w1_grant", None), "a token pair")
        check_token_pair_payload(grant.payload, DEFAULT_ACCESS_TTL_SECONDS, DEFAULT_REFRESH_TTL_SECONDS)

    def check_code_reuse(self):
        code = need(getattr(self, "w1_grant", None) and self.flow1_code, "an exchanged code")
        response = self.api.exchange(self.contract("w1").exchange_jwt(code, self.flow1.verifier))
        self.expect_error(response, EXCHANGE_REJECTIONS)

    def run_code_reuse_check(self):
        # RFC 6749 section 4.1.2 lets a server revoke the tokens a reused code issued, so this
        # check runs after every other check that uses the round-one token pair.
        self.check("code reuse rejected", self.check_code_reuse)

    def run_token_and_consent_checks(self):
        check = self.check
        self.flow1 = None
        self.w1_grant = None
        check("jwks serves iOS key shape", self.check_jwks)
        check("authorize returns preauthorization code", self.check_authorize_write)
        check("authorize token verifies like Node", self.check_authorize_token_node)
        check("authorize token verifies like iOS", self.check_authorize_token_ios)
        check("authorize session expiry in ms", self.check_authorize_session)
        check("consent offers sign-in and register", self.check_consent_start_page)
        check("register redirects 303 to consent", self.check_register_redirect)
        check("consent page offers allow and deny", self.check_consent_page)
        check("consent allow redirects to callback", self.check_consent_allow)
        check("code exchange returns token pair", self.check_exchange)
        check("exchange token verifies like Node", self.check_exchange_token_node)
        check("exchange token verifies like iOS", self.check_exchange_token_ios)
        check("token pair members and units", self.check_token_pair_members)

    # --- request authentication, exercised on oauth/authorize --------------------------------

    def authz_claims(self, **overrides):
        contract = self.contract("w1")
        claims = contract.authz_claims("x" * 43, contract.callbacks[0], "state-1")
        claims.update(overrides)
        return claims

    def check_unknown_client(self, client_id):
        response = self.api.authorize(self.contract("w1").sign(self.authz_claims(client_id=client_id)))
        self.expect_error(response, [(None, "InvalidClient")])

    def check_bad_signature(self):
        stranger_key = generate_private_key_pem()
        contract = self.contract("w1")
        impostor = Contract(contract.app_id, contract.contract_id, contract.kind, stranger_key)
        response = self.api.authorize(impostor.sign(self.authz_claims()))
        self.expect_error(response, BAD_BEARER_REJECTIONS)

    def check_hs512_with_public_key(self):
        # The classic algorithm confusion: the public key, which anyone may know, as the HMAC secret.
        contract = self.contract("w1")
        for secret in (contract.public_key_pem, b"a-shared-secret-the-server-never-issued"):
            response = self.api.authorize(forge_hs512(self.authz_claims(), secret))
            self.expect_error(response, BAD_BEARER_REJECTIONS)

    def check_alg_none(self):
        response = self.api.authorize(forge_unsigned(self.authz_claims()))
        self.expect_error(response, BAD_BEARER_REJECTIONS)

    def check_nonce_replay(self):
        token = self.contract("w1").sign(self.authz_claims())
        first = self.api.authorize(token)
        expect(first.status_code == 200, f"first use returned {describe(first)}")
        second = self.api.authorize(token)
        self.expect_error(second, [(406, "InvalidRequest")])

    def check_nonce_reuse_new_token(self):
        nonce = node_nonce()
        contract = self.contract("w1")
        first = self.api.authorize(contract.sign(self.authz_claims(nonce=nonce)))
        expect(first.status_code == 200, f"first use returned {describe(first)}")
        second = self.api.authorize(contract.sign(self.authz_claims(nonce=nonce, timestamp=timestamp_ms() + 1)))
        self.expect_error(second, [(406, "InvalidRequest")])

    def check_timestamp_rejected(self, offset_ms):
        claims = self.authz_claims(timestamp=timestamp_ms() + offset_ms)
        response = self.api.authorize(self.contract("w1").sign(claims))
        self.expect_error(response, [(400, "ValidationErrors")])

    def check_timestamp_accepted(self, offset_ms):
        claims = self.authz_claims(timestamp=timestamp_ms() + offset_ms)
        response = self.api.authorize(self.contract("w1").sign(claims))
        expect(response.status_code == 200, f"authorize returned {describe(response)}")

    def check_mobile_claims(self):
        # iOS: a hex nonce and a Swift Date in ms, which can be a non-integer JSON number.
        claims = self.authz_claims(nonce=mobile_nonce(), timestamp=timestamp_ms() + 0.456)
        response = self.api.authorize(self.contract("w1").sign(claims))
        expect(response.status_code == 200, f"authorize returned {describe(response)}")

    def check_callback_not_registered(self):
        claims = self.authz_claims(redirect_uri="https://attacker.example/steal")
        response = self.api.authorize(self.contract("w1").sign(claims))
        self.expect_error(response, [(None, "InvalidRedirectUri")])

    def check_pkcs1_key_contract(self):
        contract = self.contract("w3")
        claims = contract.authz_claims("x" * 43, contract.callbacks[0], "state-pkcs1")
        response = self.api.authorize(contract.sign(claims))
        expect(response.status_code == 200, f"authorize returned {describe(response)}")

    def check_link_unknown_token(self):
        claims = self.authz_claims(access_token="not-a-token-this-server-issued")
        response = self.api.authorize(self.contract("w1").sign(claims))
        self.expect_error(response, [(401, "InvalidToken")])

    def run_request_authentication_checks(self):
        check = self.check
        check("unknown app rejected", self.check_unknown_client, "no-such-app_write-1")
        check("unknown contract rejected", self.check_unknown_client, "conf-a_no-such-contract")
        check("client_id without underscore rejected", self.check_unknown_client, "conf-a")
        check("bad signature rejected", self.check_bad_signature)
        check("HS512 bearer rejected", self.check_hs512_with_public_key)
        check("alg none bearer rejected", self.check_alg_none)
        check("replayed JWT rejected", self.check_nonce_replay)
        check("reused nonce rejected", self.check_nonce_reuse_new_token)
        check("timestamp 6 min old rejected", self.check_timestamp_rejected, -STALE_OFFSET_MS)
        check("timestamp 6 min ahead rejected", self.check_timestamp_rejected, STALE_OFFSET_MS)
        check("timestamp 4 min old accepted", self.check_timestamp_accepted, -WITHIN_WINDOW_OFFSET_MS)
        check("float timestamp, hex nonce accepted", self.check_mobile_claims)
        check("unregistered callback rejected", self.check_callback_not_registered)
        check("PKCS#1 public-key contract authorizes", self.check_pkcs1_key_contract)
        check("linking unknown token rejected", self.check_link_unknown_token)

    # --- consent and exchange failures, on linked flows of the read contract ------------------

    def linked_pending(self, contract_name="rd1", redirect_uri=None):
        grant = need(getattr(self, "w1_grant", None), "the write contract's token pair")
        return begin_authorization(self.api, self.contract(contract_name), redirect_uri=redirect_uri,
                                   access_token=grant.access_token)

    def check_custom_scheme_callback(self):
        contract = self.contract("rd1")
        pending = self.linked_pending(redirect_uri=contract.callbacks[1])
        redirect = consent_and_return(Browser(self.server.origin), self.server.onboard_base, pending)
        expect(redirect.location.startswith(contract.callbacks[1] + "?"),
               f"callback is {redirect.location}, expected {contract.callbacks[1]}?...")
        params = redirect.params
        expect(params.get("success") == "true", f"consent ended at {redirect.location}, expected success=true")
        self.rd1_grant = exchange_code(self.api, contract, params.get("code", ""), pending.verifier)
        expect(self.rd1_grant.sub == self.w1_grant.sub, "linked read contract got a different sub")

    def check_consent_deny(self):
        pending = self.linked_pending()
        redirect = consent_and_return(Browser(self.server.origin), self.server.onboard_base, pending, decision="deny")
        params = redirect.params
        expect(redirect.without_query == pending.redirect_uri, f"deny redirected to {redirect.location}")
        expect(params.get("success") == "false", f"deny callback success is {params.get('success')!r}")
        expect(params.get("errorCode") == "USER_CANCEL", f"deny callback errorCode is {params.get('errorCode')!r}")
        expect("code" not in params, "deny callback carries a code")

    def consent_form_page(self, pending):
        browser = Browser(self.server.origin)
        page = browser.open(onboarding_url(self.server.onboard_base, pending.preauthorization_code))
        expect(not isinstance(page, AppRedirect) and page.status == 200, "linked consent page did not load")
        form = page.form_posting_to("/apps/saas/consent")
        expect(form is not None, "linked flow shows no consent form")
        return browser, page, form

    def check_consent_csrf(self, values, drop):
        pending = self.linked_pending()
        browser, page, form = self.consent_form_page(pending)
        result = browser.submit(page, form, values, button=("decision", "allow"), drop=drop)
        granted = isinstance(result, AppRedirect) and result.params.get("success") == "true"
        expect(not granted, "consent was granted without a valid csrf value")

    def check_unknown_consent_code(self):
        page = Browser(self.server.origin).open(onboarding_url(self.server.onboard_base, "no-such-code"))
        expect(not isinstance(page, AppRedirect), f"unknown code redirected to {getattr(page, 'location', '')}")
        expect(page.status == 400, f"unknown code returned {page.status}, expected a 400 page")

    def check_wrong_password(self):
        credentials = need(getattr(self, "credentials", None), "a registered library user")
        pending = begin_authorization(self.api, self.contract("rd1"))
        browser = Browser(self.server.origin)
        page = browser.open(onboarding_url(self.server.onboard_base, pending.preauthorization_code))
        expect(not isinstance(page, AppRedirect) and page.status == 200, "consent start page did not load")
        form = page.form_posting_to("/apps/saas/login")
        expect(form is not None, "no sign-in form")
        result = browser.submit(page, form, {"username": credentials.username, "password": "wrong-" + credentials.password})
        expect(not isinstance(result, AppRedirect), f"wrong password redirected to {getattr(result, 'location', '')}")
        expect(result.form_posting_to("/apps/saas/consent") is None, "wrong password reached the consent form")

    def allowed_code(self, pending):
        redirect = consent_and_return(Browser(self.server.origin), self.server.onboard_base, pending)
        expect(redirect.params.get("success") == "true", f"consent ended at {redirect.location}")
        return redirect.params["code"]

    def check_wrong_verifier(self):
        pending = self.linked_pending()
        code = self.allowed_code(pending)
        wrong_verifier = pending.verifier[::-1]
        response = self.api.exchange(self.contract("rd1").exchange_jwt(code, wrong_verifier))
        self.expect_error(response, EXCHANGE_REJECTIONS)

    def check_foreign_code(self):
        pending = self.linked_pending()
        code = self.allowed_code(pending)
        response = self.api.exchange(self.contract("rr1").exchange_jwt(code, pending.verifier))
        self.expect_error(response, EXCHANGE_REJECTIONS)

    def check_unknown_code(self):
        response = self.api.exchange(self.contract("rd1").exchange_jwt("no-such-code", "x" * 43))
        self.expect_error(response, EXCHANGE_REJECTIONS)

    def run_consent_failure_checks(self):
        check = self.check
        self.rd1_grant = None
        check("custom-scheme callback completes", self.check_custom_scheme_callback)
        check("consent deny returns USER_CANCEL", self.check_consent_deny)
        check("consent without csrf refused", self.check_consent_csrf, {}, ("csrf",))
        check("consent with wrong csrf refused", self.check_consent_csrf, {"csrf": "forged-csrf-value"}, ())
        check("unknown consent code returns 400", self.check_unknown_consent_code)
        check("wrong password refused", self.check_wrong_password)
        check("wrong code verifier rejected", self.check_wrong_verifier)
        check("code of other contract rejected", self.check_foreign_code)
        check("unknown code rejected", self.check_unknown_code)

    # --- refresh -----------------------------------------------------------------------------

    def refresh(self, contract, refresh_token):
        return refresh_grant(self.api, contract, refresh_token)

    def check_refresh(self):
        grant = need(getattr(self, "w1_grant", None), "the write contract's token pair")
        self.w1_before_refresh = grant
        refreshed = self.refresh(grant.contract, grant.refresh_token)
        expect(refreshed.sub == grant.sub, f"refresh changed sub from {grant.sub!r} to {refreshed.sub!r}")
        self.w1_grant = refreshed
        return refreshed

    def check_refreshed_pair_members(self):
        grant = need(getattr(self, "w1_refreshed", None), "a refreshed pair")
        check_token_pair_payload(grant.payload, DEFAULT_ACCESS_TTL_SECONDS, DEFAULT_REFRESH_TTL_SECONDS)

    def check_previous_refresh_token(self):
        # Trove rotates with a grace period (in which the previous token returns the current pair)
        # or does not rotate. The length of the grace period is not configurable, so only the
        # behaviour inside it is checked.
        before = need(getattr(self, "w1_refreshed", None) and self.w1_before_refresh, "a refresh")
        current = self.w1_refreshed
        again = self.refresh(before.contract, before.refresh_token)
        if current.refresh_token == before.refresh_token:
            return
        expect(again.access_token == current.access_token,
               "the previous refresh token inside the grace period returned a new access token, not the current one")
        expect(again.refresh_token == current.refresh_token,
               "the previous refresh token inside the grace period returned a new refresh token, not the current one")

    def check_unknown_refresh_token(self):
        response = self.api.refresh(self.contract("w1").refresh_jwt("not-a-refresh-token-of-this-server"))
        self.expect_error(response, [(401, "InvalidToken")])

    def check_refresh_token_other_contract(self):
        grant = need(getattr(self, "w1_refreshed", None), "a refreshed pair")
        response = self.api.refresh(self.contract("rd1").refresh_jwt(grant.refresh_token))
        self.expect_error(response, [(401, "InvalidToken"), (400, "ValidationErrors")])

    def run_refresh_checks(self):
        check = self.check
        self.w1_refreshed = check("refresh with empty JSON body", self.check_refresh)
        check("refreshed pair members and units", self.check_refreshed_pair_members)
        check("previous refresh token in grace", self.check_previous_refresh_token)
        check("unknown refresh token rejected", self.check_unknown_refresh_token)
        check("refresh token of other contract rejected", self.check_refresh_token_other_contract)

    # --- every server token received during the run --------------------------------------------

    def check_all_tokens_node(self):
        check_each_recorded_token(
            self.api, lambda token: verify_like_node(self.api.http, token, expected_jku=self.api.url("jwks/oauth")))

    def check_all_tokens_ios(self):
        keys = need(self.jwks_keys, "the JWKS")
        check_each_recorded_token(self.api, lambda token: verify_like_ios(keys, token))

    def check_all_token_pairs(self):
        def check_pair(token):
            payload = unverified_payload(token)
            if "preauthorization_code" not in payload:
                check_token_pair_payload(payload, DEFAULT_ACCESS_TTL_SECONDS, DEFAULT_REFRESH_TTL_SECONDS)
        check_each_recorded_token(self.api, check_pair)

    def run_recorded_token_checks(self):
        self.check("every server token verifies like Node", self.check_all_tokens_node)
        self.check("every server token verifies like iOS", self.check_all_tokens_ios)
        self.check("every token pair has members, units", self.check_all_token_pairs)
