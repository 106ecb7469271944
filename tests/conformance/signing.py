"""Client-side JWTs as the Node SDK builds them: PS512 with a 64-byte PSS salt, no iat or exp.

Each request kind has its own claim set (APP, USER, AUTHZ, EXCHANGE, REFRESH, FILEDESC), built by
the Contract methods below exactly as Node 16.1.5 builds them.
"""

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALPHANUMERIC = string.ascii_letters + string.digits


def base64url(data):
    """Encode bytes as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def base64url_decode(text):
    """Decode base64url with or without padding."""
    if isinstance(text, str):
        text = text.encode("ascii")
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def random_alphanumeric(length=32):
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def node_nonce():
    """A nonce as Node makes it: 32 characters from [a-zA-Z0-9]."""
    return random_alphanumeric(32)


def mobile_nonce():
    """A nonce as iOS and Android make it: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def timestamp_ms():
    return int(time.time() * 1000)


def pkce_pair():
    """Return (verifier, S256 challenge) built the way the Node SDK builds them."""
    verifier = base64url(random_alphanumeric(32).encode("ascii"))
    challenge = base64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def generate_private_key_pem(bits=2048):
    """Generate an RSA key and return it as PKCS#1 PEM, the form contract keys are issued in."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_key_spki_pem(private_key_pem):
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_pkcs1_pem(private_key_pem):
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)


def sign_ps512(claims, private_key_pem):
    """Sign `claims` as a compact JWS with header {"alg":"PS512","typ":"JWT"}.

    PyJWT's PS512 uses a salt of the digest length, 64 bytes, as Node's jwa does.
    """
    return jwt.encode(claims, private_key_pem, algorithm="PS512")


def forge_hs512(claims, secret):
    """Build an HS512 token with `secret` as the HMAC key, such as the contract's public key PEM."""
    header = base64url(json.dumps({"alg": "HS512", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = base64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret, signing_input, hashlib.sha512).digest()
    return f"{header}.{payload}.{base64url(signature)}"


def forge_unsigned(claims):
    """Build an `alg: none` token with an empty signature."""
    header = base64url(json.dumps({"alg": "none", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = base64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}."


@dataclass
class Contract:
    """A registered contract and the private key this suite signs its requests with."""

    app_id: str
    contract_id: str
    kind: str
    private_key_pem: bytes
    callbacks: list = field(default_factory=list)

    @property
    def client_id(self):
        return f"{self.app_id}_{self.contract_id}"

    @property
    def private_key(self):
        return serialization.load_pem_private_key(self.private_key_pem, password=None)

    @property
    def public_key_pem(self):
        return public_key_spki_pem(self.private_key_pem)

    def base_claims(self, nonce=None, timestamp=None):
        return {
            "client_id": self.client_id,
            "nonce": nonce if nonce is not None else node_nonce(),
            "timestamp": timestamp if timestamp is not None else timestamp_ms(),
        }

    def sign(self, claims):
        return sign_ps512(claims, self.private_key_pem)

    def app_jwt(self):
        return self.sign(self.base_claims())

    def user_claims(self, access_token, **overrides):
        claims = {"access_token": access_token, **self.base_claims()}
        claims.update(overrides)
        return claims

    def user_jwt(self, access_token):
        return self.sign(self.user_claims(access_token))

    def authz_claims(self, challenge, redirect_uri, state, access_token=None):
        claims = {
            "client_id": self.client_id,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": node_nonce(),
            "redirect_uri": redirect_uri,
            "response_mode": "query",
            "response_type": "code",
            "state": state,
            "timestamp": timestamp_ms(),
        }
        # Node drops claims whose value is undefined, so no access_token unless linking.
        if access_token is not None:
            claims["access_token"] = access_token
        return claims

    def exchange_jwt(self, code, verifier):
        return self.sign({
            "client_id": self.client_id,
            "code": code,
            "code_verifier": verifier,
            "grant_type": "authorization_code",
            "nonce": node_nonce(),
            "timestamp": timestamp_ms(),
        })

    def refresh_jwt(self, refresh_token):
        return self.sign({
            "client_id": self.client_id,
            "grant_type": "refresh_token",
            "nonce": node_nonce(),
            "refresh_token": refresh_token,
            "timestamp": timestamp_ms(),
        })

    def file_descriptor_jwt(self, metadata):
        """The FileDescriptor header: payload {"metadata": ...} with no client_id, nonce or timestamp."""
        return self.sign({"metadata": metadata})
