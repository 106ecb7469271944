"""A `trove serve` child process on a loopback port, `trove admin`, and the app side of the
authorization flow: PS512-signed authorize and token requests as the Node SDK sends them."""

import base64
import hashlib
import json
import os
import queue
import re
import secrets
import string
import subprocess
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import jwt

LISTENING_LINE = re.compile(r"^listening on (http://127\.0\.0\.1:\d+)$")
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10
REQUEST_TIMEOUT_SECONDS = 30
ALPHANUMERIC = string.ascii_letters + string.digits


class TroveError(Exception):
    """A `trove` command or request failed."""


def child_environment(data_dir):
    """Return the environment for a `trove` child: no inherited TROVE_* settings, and `data_dir`."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("TROVE_")}
    environment["TROVE_DATA_DIR"] = str(data_dir)
    return environment


class TroveServer:
    """One `trove serve --addr 127.0.0.1:0` process with its own data directory."""

    def __init__(self, trove_bin, data_dir, log_path):
        self.trove_bin = trove_bin
        self.data_dir = data_dir
        self.log_path = log_path
        self.process = None
        self.origin = None
        self._log_file = None

    def start(self):
        """Start the server and wait for the `listening on http://127.0.0.1:PORT` line."""
        self._log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [self.trove_bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", str(self.data_dir)],
            env=child_environment(self.data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=STARTUP_TIMEOUT_SECONDS).rstrip("\n")
        except queue.Empty:
            self.stop()
            raise TroveError(f"trove serve printed nothing within {STARTUP_TIMEOUT_SECONDS} s; see {self.log_path}")
        match = LISTENING_LINE.match(line)
        if not match:
            self.stop()
            raise TroveError(f"expected `listening on http://127.0.0.1:PORT` from trove serve, got {line!r}; see {self.log_path}")
        self.origin = match.group(1)
        return self

    @property
    def api_base(self):
        """The API base URL with the default `/v1.7/` prefix."""
        return self.origin + "/v1.7/"

    def admin(self, *arguments):
        """Run `trove admin ARGUMENTS...` on this server's data directory and return its output."""
        command = [self.trove_bin, "admin", *arguments]
        completed = subprocess.run(
            command, env=child_environment(self.data_dir), capture_output=True, text=True, timeout=120, check=False
        )
        if completed.returncode != 0:
            raise TroveError(f"`{' '.join(command)}` exited with {completed.returncode}: {completed.stderr.strip()[-500:]}")
        return completed.stdout

    def stop(self):
        """Stop the server with SIGTERM, or SIGKILL when it does not exit in time."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def base64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def node_nonce():
    """Return a nonce shaped like the Node SDK's: 32 characters from [A-Za-z0-9]."""
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(32))


def new_pkce_pair():
    """Return (verifier, S256 challenge), with the verifier built as the Node SDK builds it."""
    verifier = base64url(node_nonce().encode("ascii"))
    challenge = base64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def sign(claims, private_key_pem):
    """Sign claims as a client JWT: PS512 (salt length 64, the SHA-512 digest size) and no kid."""
    return jwt.encode(claims, private_key_pem, algorithm="PS512", headers={"typ": "JWT"})


def post(url, bearer, body=None):
    """POST with a bearer JWT and an optional JSON body, and return the parsed JSON response."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Authorization", f"Bearer {bearer}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise TroveError(f"POST {url} failed with HTTP {error.code}: {error.read()[:300]!r}") from error


def unverified_payload(token):
    """Decode a server token's payload without checking its signature."""
    return jwt.decode(token, options={"verify_signature": False})


class Contract:
    """An app contract from the app's side: ids, private key and callback."""

    def __init__(self, app_id, contract_id, private_key_pem, callback):
        self.app_id = app_id
        self.contract_id = contract_id
        self.private_key_pem = private_key_pem
        self.callback = callback

    @property
    def client_id(self):
        return f"{self.app_id}_{self.contract_id}"


class PendingAuthorization:
    """The result of `POST oauth/authorize`: the preauthorization code and what the app keeps."""

    def __init__(self, code, verifier, state):
        self.code = code
        self.verifier = verifier
        self.state = state


def begin_authorization(server, contract, state):
    """Call `POST oauth/authorize` with AUTHZ claims and return the pending authorization."""
    verifier, challenge = new_pkce_pair()
    claims = {
        "client_id": contract.client_id,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": node_nonce(),
        "redirect_uri": contract.callback,
        "response_mode": "query",
        "response_type": "code",
        "state": state,
        "timestamp": int(time.time() * 1000),
    }
    body = {"agent": {"sdk": {"name": "nodejs", "version": "16.1.5", "meta": {"node": "v20.0.0"}}}}
    answer = post(server.api_base + "oauth/authorize", sign(claims, contract.private_key_pem), body)
    code = unverified_payload(answer["token"])["preauthorization_code"]
    return PendingAuthorization(code, verifier, state)


def onboarding_url(server, pending, lng=None):
    """Build the consent URL the way the Node SDK does, form-encoded and in its parameter order."""
    parameters = [("code", pending.code), ("sourceType", "pull")]
    if lng:
        parameters.append(("lng", lng))
    return f"{server.origin}/apps/saas/authorize?{urlencode(parameters)}"


def exchange_code(server, contract, code, verifier):
    """Exchange an authorization code with EXCHANGE claims and return the token payload."""
    claims = {
        "client_id": contract.client_id,
        "code": code,
        "code_verifier": verifier,
        "grant_type": "authorization_code",
        "nonce": node_nonce(),
        "timestamp": int(time.time() * 1000),
    }
    answer = post(server.api_base + "oauth/token", sign(claims, contract.private_key_pem))
    return unverified_payload(answer["token"])
