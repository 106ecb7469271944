"""A stand-in healthcare provider for Trove's delivery tests.

It is a FHIR STU3 server built on fhirstarter: create and read of a few resource types, plus
`POST /` for transaction and batch Bundles. A small OAuth 2.0 authorization server sits in
front of it, with the authorization code flow with PKCE, rotating refresh tokens and
short-lived access tokens. Received resources are kept in a SQLite file, so a restarted
provider still has them.

Control endpoints let a test change its behavior:

The transaction endpoint takes POST entries (with `ifNoneExist`) and PUT entries (`Type/id`,
or a conditional `Type?identifier=...`).

- `POST /control/down` answers every FHIR request with 503 until `POST /control/up`;
- `POST /control/reject` with `{"count", "status", "diagnostics"}` answers the next FHIR writes
  with that status and an OperationOutcome;
- `POST /control/expire-tokens` expires every access token issued so far;
- `GET /control/resources[?type=T]` and `GET /control/requests` list what was stored and every
  FHIR request seen.

NOTE: a create answers with an empty body. fhirstarter 4.2.0 can only echo the resource by
building a new response, which drops the 201 status and the `Location` header, and it cannot
serialize STU3 `base64Binary` values (for example `Attachment.data`) at all.

Run: `python provider.py --data DIR --client-id ID --client-secret SECRET [--token-ttl S]`.
It binds 127.0.0.1 on a free port and prints `listening on http://127.0.0.1:PORT` once ready.
"""

import argparse
import base64
import hashlib
import importlib
import json
import os
import secrets
import socket
import sqlite3
import sys
import threading
import time
import warnings
from urllib.parse import parse_qsl, urlencode

# fhirstarter reads the FHIR release from the environment when it is imported.
os.environ["FHIR_SEQUENCE"] = "STU3"
# fhirstarter 4.2.0 uses FastAPI and Starlette names that now warn on import.
warnings.simplefilter("ignore", DeprecationWarning)

import uvicorn  # noqa: E402
from fastapi import Request  # noqa: E402
from fastapi.responses import JSONResponse, RedirectResponse  # noqa: E402
from fhirstarter import FHIRProvider, FHIRStarter, InteractionContext  # noqa: E402
from fhirstarter.exceptions import FHIRResourceNotFoundError  # noqa: E402

RESOURCE_TYPES = ["Patient", "Observation", "DocumentReference", "QuestionnaireResponse", "Bundle"]
FHIR_JSON = "application/fhir+json"


def stu3_model(resource_type):
    """Return the fhir.resources STU3 model class of a resource type."""
    module = importlib.import_module(f"fhir.resources.STU3.{resource_type.lower()}")
    return getattr(module, resource_type)


def operation_outcome(status, code, diagnostics, headers=None):
    """Return a JSON response holding an OperationOutcome with one error issue."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


class Store:
    """Received resources, the request log and OAuth state in one SQLite file."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS resources (
                resource_type TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL,
                created REAL NOT NULL, PRIMARY KEY (resource_type, id));
            CREATE TABLE IF NOT EXISTS requests (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT, path TEXT,
                if_none_exist TEXT, status INTEGER, at REAL);
            CREATE TABLE IF NOT EXISTS tokens (
                token TEXT PRIMARY KEY, kind TEXT NOT NULL, expires REAL NOT NULL,
                revoked INTEGER NOT NULL DEFAULT 0);
            """
        )

    def execute(self, sql, params=()):
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def add_resource(self, resource_type, resource):
        self.execute(
            "INSERT INTO resources VALUES (?, ?, ?, ?)",
            (resource_type, resource["id"], json.dumps(resource), time.time()),
        )

    def resources(self, resource_type=None):
        rows = self.execute(
            "SELECT json FROM resources WHERE ? IS NULL OR resource_type = ? ORDER BY created",
            (resource_type, resource_type),
        )
        return [json.loads(row[0]) for row in rows]

    def find(self, resource_type, resource_id):
        rows = self.execute(
            "SELECT json FROM resources WHERE resource_type = ? AND id = ?", (resource_type, resource_id)
        )
        return json.loads(rows[0][0]) if rows else None

    def search(self, resource_type, condition):
        """Return the resources of a type matching `identifier=` and `_tag=` token searches."""
        searches = parse_qsl(condition, keep_blank_values=True)
        for name, _ in searches:
            if name not in ("identifier", "_tag"):
                raise ValueError(f"unsupported search parameter {name!r}")
        return [r for r in self.resources(resource_type) if all(token_matches(r, n, v) for n, v in searches)]

    def issue_token(self, kind, ttl):
        token = secrets.token_urlsafe(24)
        self.execute("INSERT INTO tokens (token, kind, expires) VALUES (?, ?, ?)", (token, kind, time.time() + ttl))
        return token

    def token_valid(self, token, kind):
        rows = self.execute(
            "SELECT 1 FROM tokens WHERE token = ? AND kind = ? AND revoked = 0 AND expires > ?",
            (token, kind, time.time()),
        )
        return bool(rows)


def token_matches(resource, name, token):
    system, _, value = token.rpartition("|")
    if name == "identifier":
        candidates, field = resource.get("identifier", []), "value"
    else:
        candidates, field = resource.get("meta", {}).get("tag", []), "code"
    if isinstance(candidates, dict):
        candidates = [candidates]
    return any(
        (not system or item.get("system") == system) and item.get(field) == value for item in candidates
    )


class Behavior:
    """What the control endpoints have switched on."""

    def __init__(self):
        self.down = False
        self.rejections = []


def build_app(store, behavior, client_id, client_secret, token_ttl):
    app = FHIRStarter(title="Trove stand-in provider")
    codes = {}

    def create_resource(resource_type, resource, condition):
        """Store a resource unless `condition` matches one; return (status, resource)."""
        if condition:
            found = store.search(resource_type, condition)
            if len(found) > 1:
                raise ValueError(f"If-None-Exist matched {len(found)} resources")
            if found:
                return 200, found[0]
        resource = dict(resource)
        resource["id"] = secrets.token_hex(8)
        resource["meta"] = dict(resource.get("meta", {}), versionId="1")
        store.add_resource(resource_type, resource)
        return 201, resource

    def update_resource(resource_type, resource, url):
        """Apply a PUT entry (`Type/id` or a conditional `Type?search`); return (status, resource)."""
        if url.startswith(f"{resource_type}?"):
            found = store.search(resource_type, url.split("?", 1)[1])
            if len(found) > 1:
                raise ValueError(f"{url} matched {len(found)} resources")
            resource_id = found[0]["id"] if found else resource.get("id", secrets.token_hex(8))
        else:
            resource_id = url.partition("/")[2]
        existed = store.find(resource_type, resource_id) is not None
        resource = dict(resource, id=resource_id)
        store.execute("DELETE FROM resources WHERE resource_type = ? AND id = ?", (resource_type, resource_id))
        store.add_resource(resource_type, resource)
        return (200 if existed else 201), resource

    provider = FHIRProvider()
    for resource_type in RESOURCE_TYPES:
        model = stu3_model(resource_type)

        def make_create(resource_type=resource_type, model=model):
            async def create(context: InteractionContext, resource: model) -> str:
                raw = await context.request.json()
                condition = context.request.headers.get("if-none-exist")
                status, stored = create_resource(resource_type, raw, condition)
                context.response.status_code = status
                # Returning the id, not the resource, makes fhirstarter respond with an empty
                # body, the Location header and the status set above.
                return stored["id"]

            return create

        def make_read(resource_type=resource_type, model=model):
            async def read(context: InteractionContext, id_: str) -> model:
                stored = store.find(resource_type, id_)
                if stored is None:
                    raise FHIRResourceNotFoundError
                return model.model_validate(stored)

            return read

        provider.create(model)(make_create())
        provider.read(model)(make_read())
    app.add_providers(provider)

    @app.middleware("http")
    async def provider_behavior(request: Request, call_next):
        path = request.url.path
        if path.startswith("/control/") or path.startswith("/oauth/") or path == "/metadata":
            return await call_next(request)
        condition = request.headers.get("if-none-exist")

        def log(status):
            store.execute(
                "INSERT INTO requests (method, path, if_none_exist, status, at) VALUES (?, ?, ?, ?, ?)",
                (request.method, path, condition, status, time.time()),
            )

        if behavior.down:
            log(503)
            return operation_outcome(503, "transient", "the provider is down for maintenance")
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not store.token_valid(auth[len("Bearer "):], "access"):
            log(401)
            return operation_outcome(401, "login", "invalid or expired access token", {"WWW-Authenticate": "Bearer"})
        if request.method == "POST" and behavior.rejections:
            status, diagnostics = behavior.rejections.pop(0)
            log(status)
            return operation_outcome(status, "invalid", diagnostics)
        response = await call_next(request)
        log(response.status_code)
        return response

    @app.post("/", include_in_schema=False)
    async def transaction(request: Request):
        body = await request.json()
        if body.get("resourceType") != "Bundle" or body.get("type") not in ("transaction", "batch"):
            return operation_outcome(400, "invalid", "POST [base] takes a transaction or batch Bundle")
        try:
            stu3_model("Bundle").model_validate(body)
        except Exception as error:  # pydantic's ValidationError, reported as FHIR does
            return operation_outcome(400, "invalid", f"invalid Bundle: {error}")
        entries = []
        for index, entry in enumerate(body.get("entry", [])):
            request_part = entry.get("request", {})
            resource = entry["resource"]
            resource_type = resource["resourceType"]
            try:
                if request_part.get("method") == "POST":
                    status, stored = create_resource(resource_type, resource, request_part.get("ifNoneExist"))
                elif request_part.get("method") == "PUT":
                    status, stored = update_resource(resource_type, resource, request_part.get("url", ""))
                else:
                    return operation_outcome(400, "not-supported", f"entry {index}: only POST and PUT are supported")
            except ValueError as error:
                return operation_outcome(412, "duplicate", f"entry {index}: {error}")
            text = "201 Created" if status == 201 else "200 OK"
            location = f"{stored['resourceType']}/{stored['id']}/_history/1"
            entries.append({"response": {"status": text, "location": location}})
        answer = {"resourceType": "Bundle", "type": f"{body['type']}-response", "entry": entries}
        return JSONResponse(answer, media_type=FHIR_JSON)

    def client_authenticated(request, form):
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            decoded = base64.b64decode(header[len("Basic "):]).decode()
            given_id, _, given_secret = decoded.partition(":")
        else:
            given_id, given_secret = form.get("client_id"), form.get("client_secret")
        return given_id == client_id and given_secret == client_secret

    def token_error(error, description, status=400):
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    def issue_pair():
        return {
            "access_token": store.issue_token("access", token_ttl),
            "token_type": "Bearer",
            "expires_in": token_ttl,
            "refresh_token": store.issue_token("refresh", 30 * 86400),
        }

    @app.get("/oauth/authorize", include_in_schema=False)
    async def authorize(request: Request):
        params = dict(request.query_params)
        if params.get("client_id") != client_id or params.get("response_type") != "code":
            return token_error("invalid_request", "unknown client_id or response_type is not code")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return token_error("invalid_request", "PKCE with S256 is required")
        # A stand-in for the provider's own sign-in and consent: every request is approved.
        code = secrets.token_urlsafe(16)
        codes[code] = (params["redirect_uri"], params["code_challenge"], time.time() + 300)
        query = urlencode({"code": code, "state": params.get("state", "")})
        separator = "&" if "?" in params["redirect_uri"] else "?"
        return RedirectResponse(f"{params['redirect_uri']}{separator}{query}", status_code=302)

    @app.post("/oauth/token", include_in_schema=False)
    async def token(request: Request):
        form = dict(parse_qsl((await request.body()).decode()))
        if not client_authenticated(request, form):
            return token_error("invalid_client", "client authentication failed", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            redirect_uri, challenge, expires = codes.pop(form.get("code", ""), (None, None, 0))
            verifier = form.get("code_verifier", "")
            computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if expires < time.time() or redirect_uri != form.get("redirect_uri") or computed != challenge:
                return token_error("invalid_grant", "the code, redirect_uri or code_verifier is invalid")
            return JSONResponse(issue_pair())
        if grant_type == "refresh_token":
            presented = form.get("refresh_token", "")
            if not store.token_valid(presented, "refresh"):
                return token_error("invalid_grant", "the refresh token is invalid")
            store.execute("UPDATE tokens SET revoked = 1 WHERE token = ?", (presented,))
            return JSONResponse(issue_pair())
        return token_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    @app.post("/control/down", include_in_schema=False)
    async def go_down():
        behavior.down = True
        return {"down": True}

    @app.post("/control/up", include_in_schema=False)
    async def go_up():
        behavior.down = False
        return {"down": False}

    @app.post("/control/reject", include_in_schema=False)
    async def reject(request: Request):
        spec = await request.json()
        for _ in range(int(spec.get("count", 1))):
            behavior.rejections.append((int(spec.get("status", 422)), spec.get("diagnostics", "rejected")))
        return {"pending_rejections": len(behavior.rejections)}

    @app.post("/control/expire-tokens", include_in_schema=False)
    async def expire_tokens():
        store.execute("UPDATE tokens SET expires = ? WHERE kind = 'access'", (time.time() - 1,))
        return {"expired": True}

    @app.get("/control/resources", include_in_schema=False)
    async def list_resources(type: str | None = None):
        return store.resources(type)

    @app.get("/control/requests", include_in_schema=False)
    async def list_requests():
        rows = store.execute("SELECT method, path, if_none_exist, status FROM requests ORDER BY seq")
        return [{"method": m, "path": p, "ifNoneExist": c, "status": s} for m, p, c, s in rows]

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="directory for the SQLite file")
    parser.add_argument("--client-id", required=True, help="OAuth client id Trove authenticates with")
    parser.add_argument("--client-secret", required=True, help="OAuth client secret")
    parser.add_argument("--token-ttl", type=int, default=300, help="access token lifetime in seconds")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    args = parser.parse_args()

    os.makedirs(args.data, exist_ok=True)
    store = Store(os.path.join(args.data, "provider.db"))
    app = build_app(store, Behavior(), args.client_id, args.client_secret, args.token_ttl)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    # Listening before the line is printed means a client that reads it can connect at once.
    listener.listen(128)
    config = uvicorn.Config(app, log_level="warning")
    server = uvicorn.Server(config)
    print(f"listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    server.run(sockets=[listener])
    sys.exit(0)


if __name__ == "__main__":
    main()
