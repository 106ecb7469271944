"""Verification of server-signed JWTs the way the Node SDK and the iOS SDK do it.

Node: read `jku` and `kid` from the JOSE header, GET the `jku` URL on every verification, take
`pem` from the first key whose `kid` matches and verify PS512. iOS: ignore `jku`, fetch
`<prefix>jwks/oauth`, require `kty`, `kid`, `n`, `e` and a PKCS#1 `pem` on every key, and
require `alg == "PS512"` and a `kid` in the header. Both expect a PSS salt of exactly 64 bytes.
"""

import json

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from report import CheckFailure, expect
from signing import base64url_decode

PKCS1_PUBLIC_HEADER = "-----BEGIN RSA PUBLIC KEY-----"
SALT_LENGTH_BYTES = 64


def split_compact(token):
    expect(isinstance(token, str), f"token is {type(token).__name__}, expected a string")
    parts = token.split(".")
    expect(len(parts) == 3, f"token has {len(parts)} dot-separated parts, expected 3")
    return parts


def unverified_header(token):
    header_part, _, _ = split_compact(token)
    return json.loads(base64url_decode(header_part))


def unverified_payload(token):
    _, payload_part, _ = split_compact(token)
    return json.loads(base64url_decode(payload_part))


def verify_pss_salt_64(token, public_key):
    """Verify the token's signature with RSASSA-PSS, SHA-512, MGF1-SHA-512 and salt exactly 64."""
    header_part, payload_part, signature_part = split_compact(token)
    signing_input = f"{header_part}.{payload_part}".encode("ascii")
    try:
        public_key.verify(
            base64url_decode(signature_part),
            signing_input,
            padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=SALT_LENGTH_BYTES),
            hashes.SHA512(),
        )
    except InvalidSignature:
        raise CheckFailure(
            "signature does not verify as PS512 with a 64-byte PSS salt (Node's jwa accepts only that)"
        ) from None


def check_jwks_document(document):
    """Check a JWKS document against what iOS decodes; return {kid: public key}."""
    expect(isinstance(document, dict), f"JWKS is {type(document).__name__}, expected an object")
    keys = document.get("keys")
    expect(isinstance(keys, list) and keys, f"JWKS `keys` is {keys!r}, expected a non-empty array")
    public_keys = {}
    for index, key in enumerate(keys):
        where = f"keys[{index}]"
        expect(isinstance(key, dict), f"{where} is not an object")
        for member in ("kty", "kid", "n", "e", "pem"):
            expect(isinstance(key.get(member), str), f"{where}.{member} is {key.get(member)!r}, expected a string")
        expect(key["kty"] == "RSA", f"{where}.kty is {key['kty']!r}, expected 'RSA'")
        if "alg" in key:
            expect(key["alg"] == "PS512", f"{where}.alg is {key['alg']!r}, expected 'PS512'")
        if "use" in key:
            expect(key["use"] == "sig", f"{where}.use is {key['use']!r}, expected 'sig'")
        expect(
            key["pem"].lstrip().startswith(PKCS1_PUBLIC_HEADER),
            f"{where}.pem does not start with {PKCS1_PUBLIC_HEADER} (iOS needs PKCS#1)",
        )
        public_key = serialization.load_pem_public_key(key["pem"].encode("ascii"))
        expect(isinstance(public_key, rsa.RSAPublicKey), f"{where}.pem is not an RSA key")
        numbers = public_key.public_numbers()
        for member, value in (("n", numbers.n), ("e", numbers.e)):
            encoded = key[member]
            expect("=" not in encoded, f"{where}.{member} has base64url padding")
            decoded = int.from_bytes(base64url_decode(encoded), "big")
            expect(decoded == value, f"{where}.{member} does not match the modulus or exponent in pem")
        expect(key["kid"] not in public_keys, f"kid {key['kid']!r} appears twice in the JWKS")
        public_keys[key["kid"]] = public_key
    return public_keys


def check_server_header(token, expected_jku=None):
    """Check the JOSE header of a server token; return it."""
    header = unverified_header(token)
    expect(header.get("alg") == "PS512", f"header alg is {header.get('alg')!r}, expected 'PS512'")
    expect(isinstance(header.get("jku"), str), f"header jku is {header.get('jku')!r}, expected a string")
    expect(isinstance(header.get("kid"), str), f"header kid is {header.get('kid')!r}, expected a string")
    if expected_jku is not None:
        expect(header["jku"] == expected_jku, f"header jku is {header['jku']!r}, expected {expected_jku!r}")
    return header


def verify_like_node(http, token, expected_jku=None):
    """Verify a server token as Node does, plus the exact salt; return its payload."""
    header = check_server_header(token, expected_jku)
    response = http.get(header["jku"], timeout=60)
    expect(response.status_code == 200, f"GET jku returned {response.status_code}")
    document = response.json()
    expect(isinstance(document, dict), "jku document is not an object")
    keys = document.get("keys")
    expect(isinstance(keys, list), "jku document has no `keys` array")
    matching = [key for key in keys if isinstance(key, dict) and key.get("kid") == header["kid"]]
    expect(matching, f"no key in the jku document has kid {header['kid']!r}")
    pem = matching[0].get("pem")
    expect(isinstance(pem, str), "the matching key has no string `pem`")
    try:
        payload = jwt.decode(token, pem, algorithms=["PS512"], options={"verify_iat": False})
    except jwt.PyJWTError as error:
        raise CheckFailure(f"PS512 verification with the jku key failed: {error}") from None
    verify_pss_salt_64(token, serialization.load_pem_public_key(pem.encode("ascii")))
    check_no_lifetime_claims(payload)
    return payload


def verify_like_ios(jwks_public_keys, token):
    """Verify a server token against an already fetched `<prefix>jwks/oauth`; return its payload."""
    header = unverified_header(token)
    expect(header.get("alg") == "PS512", f"header alg is {header.get('alg')!r}, expected 'PS512'")
    kid = header.get("kid")
    expect(isinstance(kid, str), "header has no string kid")
    expect(kid in jwks_public_keys, f"kid {kid!r} is not in {{prefix}}jwks/oauth")
    verify_pss_salt_64(token, jwks_public_keys[kid])
    return unverified_payload(token)


def check_each_recorded_token(api, verify):
    """Run `verify(token)` on every server token `api` has recorded; name the first that fails."""
    expect(api.server_tokens, "no server token was recorded")
    for index, (label, token) in enumerate(api.server_tokens):
        try:
            verify(token)
        except CheckFailure as failure:
            raise CheckFailure(f"{label} token (#{index + 1} of {len(api.server_tokens)}): {failure}") from None


def check_no_lifetime_claims(payload):
    # Node rejects server tokens on clock skew when exp or nbf is present, so Trove leaves both out.
    for claim in ("exp", "nbf"):
        expect(claim not in payload, f"server token carries `{claim}`, so Node rejects it whenever clocks differ")
