"""``private_key_jwt`` client authentication (RFC 7523, OpenID Connect Core 9): a short-lived JWT
signed with the client's private key, in place of a shared secret."""

from __future__ import annotations

import secrets
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LIFETIME = 60  # seconds: each token request signs a new one
_CURVES = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def algorithm(pem: str) -> str:
    """The JWS algorithm a key signs with; raises ``ValueError`` naming what is wrong with it."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not an unencrypted PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVES:
        return _CURVES[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return "EdDSA"
    raise ValueError("an RSA, EC (P-256, P-384, P-521) or Ed25519 key is needed")


def client_assertion(client_id: str, pem: str, audience: str, key_id: str | None = None) -> str:
    """A signed assertion that this client is asking, for the token endpoint ``audience``."""
    now = int(time.time())
    claims: dict[str, object] = {"iss": client_id, "sub": client_id, "aud": audience, "jti": secrets.token_hex(16)}
    claims.update({"iat": now, "exp": now + LIFETIME})
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, pem, algorithm=algorithm(pem), headers=headers)
