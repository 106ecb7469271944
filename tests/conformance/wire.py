"""HTTP requests shaped exactly as the Node SDK 16.1.5 sends them: methods, paths, headers, bodies.

Each method takes a ready bearer JWT so that checks can send forged or replayed ones too.
"""

import requests

REQUEST_TIMEOUT_SECONDS = 60

# got 11 sends these on every request. Brotli is left out of accept-encoding because requests
# can only undo `br` with an extra package, and the server has no reason to pick it over gzip.
NODE_DEFAULT_HEADERS = {
    "user-agent": "got (https://github.com/sindresorhus/got)",
    "accept-encoding": "gzip, deflate",
}

NODE_AGENT = {"sdk": {"name": "nodejs", "version": "16.1.5", "meta": {"node": "v20.11.1"}}}
IOS_AGENT = {"name": "ios", "version": "5.1.0"}


def new_http_session():
    """A requests session with only got's default headers and no proxy taken from the environment."""
    session = requests.Session()
    session.trust_env = False
    session.headers.clear()
    session.headers.update(NODE_DEFAULT_HEADERS)
    return session


def chunks(data, size=16 * 1024):
    """Yield `data` in pieces; requests sends a generator body with Transfer-Encoding: chunked."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class Api:
    """The digi.me API under one base URL (with its trailing slash), called as Node calls it."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = new_http_session()
        # (label, token) of every server-signed JWT received, for the closing verification checks.
        self.server_tokens = []

    def url(self, path):
        # Node appends paths by plain concatenation with no leading slash.
        return self.base_url + path

    def _send(self, method, path, headers, **kwargs):
        kwargs.setdefault("timeout", REQUEST_TIMEOUT_SECONDS)
        kwargs.setdefault("allow_redirects", False)
        return self.http.request(method, self.url(path), headers=headers, **kwargs)

    def authorize(self, token, actions=None, agent=NODE_AGENT):
        """Row 1: POST oauth/authorize with a JSON body `{agent, actions?}`."""
        body = {"agent": agent}
        if actions is not None:
            body["actions"] = actions
        headers = {**bearer(token), "accept": "application/json"}
        return self._send("POST", "oauth/authorize", headers, json=body)

    def exchange(self, token):
        """Row 3: POST oauth/token with no body and no Content-Type (so Content-Length: 0)."""
        headers = {**bearer(token), "accept": "application/json"}
        return self._send("POST", "oauth/token", headers)

    def refresh(self, token):
        """Row 4: POST oauth/token with Content-Type: application/json and an empty body."""
        headers = {**bearer(token), "accept": "application/json", "Content-Type": "application/json"}
        return self._send("POST", "oauth/token", headers)

    def push_library(self, token, descriptor_jwt, body, content_type="application/octet-stream",
                     extra_headers=None):
        """Row 6: POST permission-access/import with the raw bytes.

        `body` as bytes goes out with Content-Length, as a generator with chunked encoding.
        `descriptor_jwt=None` leaves out the FileDescriptor header and `content_type=None` the
        Content-Type header.
        """
        headers = bearer(token)
        if descriptor_jwt is not None:
            headers["FileDescriptor"] = descriptor_jwt
        if content_type is not None:
            headers["Content-Type"] = content_type
        headers.update(extra_headers or {})
        return self._send("POST", "permission-access/import", headers, data=body)

    def push_provider(self, token, account_id, body, standard="fhir", version="stu3"):
        """Row 7: POST to the literal `h:accountId` path with the account id in the `accountId` header."""
        headers = {**bearer(token), "accept": "application/json", "accountId": account_id}
        path = f"permission-access/import/h:accountId/{standard}/{version}"
        if isinstance(body, (bytes, str)):
            headers["Content-Type"] = "application/json"
            return self._send("POST", path, headers, data=body)
        return self._send("POST", path, headers, json=body)

    def trigger(self, token, options=None, agent=NODE_AGENT, query=None):
        """Row 8: POST permission-access/trigger with `{...pullSessionOptions, agent}`."""
        body = {**(options or {}), "agent": agent}
        headers = {**bearer(token), "accept": "application/json"}
        return self._send("POST", "permission-access/trigger", headers, json=body, params=query)

    def accounts(self, token):
        """Row 9: GET permission-access/accounts."""
        headers = {**bearer(token), "accept": "application/json"}
        return self._send("GET", "permission-access/accounts", headers)

    def file_list(self, token, session_key):
        """Row 10: GET permission-access/query/<sessionKey>."""
        headers = {**bearer(token), "accept": "application/json"}
        return self._send("GET", f"permission-access/query/{session_key}", headers)

    def download(self, token, session_key, file_name):
        """Row 11: GET permission-access/query/<sessionKey>/<fileName>, the name not escaped."""
        headers = {**bearer(token), "accept": "application/octet-stream"}
        return self._send("GET", f"permission-access/query/{session_key}/{file_name}", headers)

    def file_metadata(self, token, session_key, file_name):
        """Row 12: HEAD on the download path with accept: application/json."""
        headers = {**bearer(token), "accept": "application/json"}
        return self._send("HEAD", f"permission-access/query/{session_key}/{file_name}", headers)

    def contract_details(self, token):
        """Row 19: GET permission-access/contract, Content-Type: application/json and no body."""
        headers = {**bearer(token), "Content-Type": "application/json"}
        return self._send("GET", "permission-access/contract", headers)

    def jwks(self):
        """GET <prefix>jwks/oauth, where iOS fetches the keys whatever URL the token's jku names."""
        return self._send("GET", "jwks/oauth", {"accept": "application/json"})
