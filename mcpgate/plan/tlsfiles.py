"""The target's TLS files, checked once before any traffic: each problem one line naming its field.

The wire client, the smoke check's certificate read and aiohttp all build their context from
these (``support.tls``); a bad file found there would fail every connection the same way, so
it is found here instead.
"""

from __future__ import annotations

import ssl

from mcpgate.config.models import TargetConfig
from mcpgate.support.errors import UsageError
from mcpgate.support.tls import TlsSettings

PEM_CERT = b"-----BEGIN CERTIFICATE-----"
PEM_KEY_END = b"PRIVATE KEY-----"


def tls_settings(target: TargetConfig) -> TlsSettings:
    settings = TlsSettings(
        verify=not target.insecure,
        ca_file=target.ca_file,
        client_cert=target.client_cert,
        client_key=target.client_key,
    )
    if settings.ca_file is not None:
        _check_ca(settings.ca_file)
    if settings.client_key is not None and settings.client_cert is None:
        raise UsageError("target.client_key", "is set without target.client_cert")
    if settings.client_cert is not None:
        _check_client(settings.client_cert, settings.client_key)
    return settings


def _read(path: str, field: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise UsageError(field, f"{path}: {(getattr(exc, 'strerror', None) or str(exc)).lower()}") from None


def _check_ca(path: str) -> None:
    if PEM_CERT not in _read(path, "target.ca_file"):
        raise UsageError("target.ca_file", f"{path}: not a PEM certificate bundle")
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError) as exc:
        raise UsageError("target.ca_file", f"{path}: {_ssl_reason(exc)}") from None


def _check_client(cert: str, key: str | None) -> None:
    text = _read(cert, "target.client_cert")
    if PEM_CERT not in text:
        raise UsageError("target.client_cert", f"{cert}: not a PEM certificate")
    if key is None:
        if PEM_KEY_END not in text:
            raise UsageError("target.client_cert", f"{cert}: holds no private key; give target.client_key")
        field, where = "target.client_cert", cert
    else:
        if PEM_KEY_END not in _read(key, "target.client_key"):
            raise UsageError("target.client_key", f"{key}: not a PEM private key")
        field, where = "target.client_key", key
    try:
        # A password-protected key would make OpenSSL ask on the terminal: say so instead.
        ssl.create_default_context().load_cert_chain(cert, key, password=_no_password)
    except _Encrypted:
        raise UsageError(field, f"{where}: the private key is encrypted; give it unencrypted") from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise UsageError(field, f"{where}: the key does not match the certificate in {cert}") from None
        raise UsageError(field, f"{where}: {_ssl_reason(exc)}") from None


class _Encrypted(Exception):
    pass


def _no_password() -> str:
    raise _Encrypted


def _ssl_reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", None) or exc).lower().replace("_", " ")
