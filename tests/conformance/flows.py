"""Multi-step protocol flows shared by the checks: authorize, consent, exchange, push, read."""

import hashlib
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, quote

from consent import AppRedirect, Browser
from encrypted_file import decompress, decrypt_download
from report import CheckFailure, expect
from server_tokens import unverified_payload
from shapes import check_file_list, check_session, decode_x_metadata, describe, parse_json_body
from signing import pkce_pair, random_alphanumeric

FILE_LIST_POLL_INTERVAL_SECONDS = 0.5
FILE_LIST_MAX_POLLS = 40


@dataclass
class Credentials:
    username: str
    password: str

    @classmethod
    def random(cls):
        return cls(username=f"conformance-{random_alphanumeric(10)}", password=random_alphanumeric(24))


@dataclass
class PendingAuthorization:
    """The result of POST oauth/authorize, with the PKCE verifier kept for the exchange."""

    contract: object
    verifier: str
    state: str
    redirect_uri: str
    token: str
    payload: dict
    session: dict

    @property
    def preauthorization_code(self):
        return self.payload["preauthorization_code"]


@dataclass
class Grant:
    """A user access token pair for one contract, as returned by the code exchange or a refresh."""

    contract: object
    token: str
    payload: dict
    authorize_session: dict = None

    @property
    def access_token(self):
        return self.payload["access_token"]["value"]

    @property
    def refresh_token(self):
        return self.payload["refresh_token"]["value"]

    @property
    def sub(self):
        return self.payload.get("sub")


@dataclass
class PushedFile:
    """One library push the server accepted, kept to match read-back files against."""

    label: str
    contract: object
    content: bytes
    descriptor: dict
    pushed_at_ms: int
    sha256: str = field(init=False)

    def __post_init__(self):
        self.sha256 = hashlib.sha256(self.content).hexdigest()


def read_server_token(api, response, label):
    """Return (token, payload) from a `{token}` response, unverified, and record it for later checks.

    Flows only need the claims. Signature and header checks run separately, so that one wrong
    detail there does not stop every check that depends on the flow.
    """
    body = parse_json_body(response)
    expect(isinstance(body, dict) and isinstance(body.get("token"), str), f"{label} body has no string `token`")
    api.server_tokens.append((label, body["token"]))
    return body, body["token"], unverified_payload(body["token"])


def begin_authorization(api, contract, redirect_uri=None, state=None, access_token=None, actions=None):
    """POST oauth/authorize as Node does; return a PendingAuthorization."""
    verifier, challenge = pkce_pair()
    redirect_uri = redirect_uri or contract.callbacks[0]
    state = state if state is not None else f"state-{random_alphanumeric(12)}"
    claims = contract.authz_claims(challenge, redirect_uri, state, access_token=access_token)
    response = api.authorize(contract.sign(claims), actions=actions)
    expect(response.status_code == 200, f"authorize returned {describe(response)}")
    body, token, payload = read_server_token(api, response, "authorize")
    expect(isinstance(payload.get("preauthorization_code"), str) and payload["preauthorization_code"],
           "authorize token has no string `preauthorization_code`")
    return PendingAuthorization(
        contract=contract, verifier=verifier, state=state, redirect_uri=redirect_uri,
        token=token, payload=payload, session=body.get("session"),
    )


def onboarding_url(onboard_base, code, lng=None, sources_scope=None):
    """Build `ONBOARD + "authorize?..."` the way Node's URLSearchParams does."""
    params = [("code", code), ("sourceType", "pull")]
    if lng:
        params.append(("lng", lng))
    if sources_scope is not None:
        # Node applies encodeURIComponent before URLSearchParams encodes the value again.
        params.append(("sourcesScope", quote(json.dumps(sources_scope, separators=(",", ":")), safe="")))
    return onboard_base + "authorize?" + urlencode(params)


def consent_and_return(browser, onboard_base, pending, decision="allow", credentials=None, register=False):
    """Walk the consent pages for `pending` and return the AppRedirect to the callback.

    With `credentials`, sign in (or register, when `register` is true) if the page shows sign-in forms.
    """
    page = browser.open(onboarding_url(onboard_base, pending.preauthorization_code))
    expect(not isinstance(page, AppRedirect), f"consent start redirected off the server to {getattr(page, 'location', '')}")
    expect(page.status == 200, f"GET /apps/saas/authorize returned {page.status}")
    consent_form = page.form_posting_to("/apps/saas/consent")
    if consent_form is None:
        expect(credentials is not None, "the consent page shows sign-in forms, but a linked flow should skip them")
        action = "/apps/saas/register" if register else "/apps/saas/login"
        form = page.form_posting_to(action)
        expect(form is not None, f"no form posting to {action}")
        page = browser.submit(page, form, {"username": credentials.username, "password": credentials.password})
        expect(not isinstance(page, AppRedirect), "sign-in redirected off the server")
        expect(page.status == 200, f"consent page after sign-in returned {page.status}")
        consent_form = page.form_posting_to("/apps/saas/consent")
    expect(consent_form is not None, "no form posting to /apps/saas/consent")
    button = next((b for b in consent_form.buttons if b == ("decision", decision)), None)
    expect(button is not None, f"consent form has no submit button decision={decision}")
    result = browser.submit(page, consent_form, button=button)
    expect(isinstance(result, AppRedirect), f"consent decision did not redirect to the callback (HTTP {getattr(result, 'status', '?')})")
    return result


def grant_from(api, response, contract, label):
    """Return the Grant in an oauth/token response, requiring only the two token values."""
    _, token, payload = read_server_token(api, response, label)
    for member in ("access_token", "refresh_token"):
        expect(isinstance(payload.get(member), dict) and isinstance(payload[member].get("value"), str),
               f"{label} token has no `{member}.value` string")
    return Grant(contract=contract, token=token, payload=payload)


def exchange_code(api, contract, code, verifier):
    """POST oauth/token with EXCHANGE claims and no body; return the Grant."""
    response = api.exchange(contract.exchange_jwt(code, verifier))
    expect(response.status_code == 200, f"code exchange returned {describe(response)}")
    return grant_from(api, response, contract, "exchange")


def refresh_grant(api, grant_contract, refresh_token):
    """POST oauth/token with REFRESH claims, JSON content type and no body; return the new Grant."""
    response = api.refresh(grant_contract.refresh_jwt(refresh_token))
    expect(response.status_code == 200, f"refresh returned {describe(response)}")
    return grant_from(api, response, grant_contract, "refresh")


def authorize_fully(api, onboard_origin, contract, access_token=None, credentials=None, register=False,
                    actions=None, redirect_uri=None):
    """Run authorize, consent (in a fresh browser) and exchange; return the Grant."""
    pending = begin_authorization(api, contract, redirect_uri=redirect_uri, access_token=access_token, actions=actions)
    browser = Browser(onboard_origin)
    redirect = consent_and_return(browser, onboard_origin + "/apps/saas/", pending,
                                  credentials=credentials, register=register)
    params = redirect.params
    expect(params.get("success") == "true", f"consent ended at {redirect.location}, expected success=true")
    expect(params.get("state") == pending.state, f"callback state is {params.get('state')!r}, expected {pending.state!r}")
    grant = exchange_code(api, contract, params.get("code", ""), pending.verifier)
    grant.authorize_session = pending.session
    return grant


def start_session(api, grant, options=None):
    """POST permission-access/trigger and return the session key."""
    response = api.trigger(grant.contract.user_jwt(grant.access_token), options)
    expect(response.status_code == 200, f"trigger returned {describe(response)}")
    body = parse_json_body(response)
    expect(isinstance(body, dict), "trigger body is not an object")
    check_session(body.get("session"))
    return body["session"]["key"]


def list_files_until_done(api, grant, session_key):
    """Poll the file list (bounded) until `partial` or `completed`; return (states seen, entries)."""
    states = []
    for _ in range(FILE_LIST_MAX_POLLS):
        response = api.file_list(grant.contract.user_jwt(grant.access_token), session_key)
        expect(response.status_code == 200, f"file list returned {describe(response)}")
        body = parse_json_body(response)
        entries = check_file_list(body)
        states.append(body["status"]["state"])
        if states[-1] in ("partial", "completed"):
            return states, entries
        time.sleep(FILE_LIST_POLL_INTERVAL_SECONDS)
    raise CheckFailure(f"file list never reached partial or completed; states seen: {states[-5:]}")


def download_file(api, grant, session_key, name):
    """GET one file; return (raw encrypted bytes, x-metadata document, plaintext after decompression)."""
    response = api.download(grant.contract.user_jwt(grant.access_token), session_key, name)
    expect(response.status_code == 200, f"download of {name} returned {describe(response)}")
    document = decode_x_metadata(response.headers.get("x-metadata"))
    payload = decrypt_download(response.content, grant.contract.private_key)
    plaintext = decompress(payload, document.get("compression"))
    return response, document, plaintext
