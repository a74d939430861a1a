"""The chain's MAC keys: HMAC-SHA256 secrets from the environment, never from the database.

A role that can write the database but cannot read the portal's environment cannot compute a
valid MAC, so an event it forges or rewrites (and re-hashes) is named by verify_audit. Each
event stores the id of the key that signed it, so keys rotate: new events take the signing
key, older ids stay in AUDIT_HMAC_KEYS to verify older events.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
MIN_SECRET_BYTES = 32
# The id of the development default in portal/settings.py; never valid with DEBUG off.
DEVELOPMENT_KEY_ID = "dev"
# HMAC's inner and outer pads (RFC 2104), as the hmac module builds them.
_SHA256_BLOCK = 64
_INNER_PAD = bytes(value ^ 0x36 for value in range(256))
_OUTER_PAD = bytes(value ^ 0x5C for value in range(256))


class KeyRing:
    """The configured MAC keys. Its repr names key ids only, so tracebacks never show a secret."""

    def __init__(self, secrets: dict[str, bytes], signing_id: str) -> None:
        self._secrets = secrets
        self.signing_id = signing_id

    def __repr__(self) -> str:
        return f"<KeyRing signing={self.signing_id!r} ids={sorted(self._secrets)!r}>"

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._secrets

    @sensitive_variables("secret")
    def mac(self, key_id: str, chain_hash: str) -> str:
        secret = self._secrets[key_id]
        return hmac.new(secret, f"{key_id}:{chain_hash}".encode(), hashlib.sha256).hexdigest()

    def verifies(self, key_id: str, chain_hash: str, mac: str) -> bool:
        return hmac.compare_digest(self.mac(key_id, chain_hash), mac)

    @sensitive_variables("secret", "padded", "inner", "outer")
    def mac_function(self, key_id: str) -> Callable[[bytes], bytes]:
        """mac(key_id, hash) for millions of events: takes the hash as bytes, gives the MAC
        as hex bytes. The key's pads and the "key_id:" prefix are hashed once; each event
        then only copies the two states, a third of what hmac.digest costs per call."""
        secret = self._secrets[key_id]
        if len(secret) > _SHA256_BLOCK:
            secret = hashlib.sha256(secret).digest()
        padded = secret.ljust(_SHA256_BLOCK, b"\0")
        inner = hashlib.sha256(padded.translate(_INNER_PAD) + f"{key_id}:".encode())
        outer = hashlib.sha256(padded.translate(_OUTER_PAD))

        def mac(chain_hash: bytes) -> bytes:
            inner_hash = inner.copy()
            inner_hash.update(chain_hash)
            outer_hash = outer.copy()
            outer_hash.update(inner_hash.digest())
            return outer_hash.hexdigest().encode()

        return mac

    def mac_functions(self) -> dict[bytes, Callable[[bytes], bytes]]:
        """mac_function for every key, by key id as the database's bytes give it."""
        return {key_id.encode(): self.mac_function(key_id) for key_id in self._secrets}


@sensitive_variables("text", "entry", "encoded", "secret", "secrets")
def parse_key_ring(text: str, signing_id: str = "") -> KeyRing:
    """Parse "id:base64secret,id:base64secret". Error messages never quote a secret."""
    secrets: dict[str, bytes] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        key_id, separator, encoded = entry.partition(":")
        if not separator or not KEY_ID.fullmatch(key_id):
            raise ImproperlyConfigured(
                "AUDIT_HMAC_KEYS holds comma-separated id:base64secret entries; "
                "an id is 1 to 32 letters, digits, '.', '_' or '-'."
            )
        if key_id in secrets:
            raise ImproperlyConfigured(f"AUDIT_HMAC_KEYS names key {key_id!r} twice.")
        secret = _decode(encoded.strip())
        if secret is None:
            raise ImproperlyConfigured(f"AUDIT_HMAC_KEYS: key {key_id!r} is not base64.")
        if len(secret) < MIN_SECRET_BYTES:
            raise ImproperlyConfigured(
                f"AUDIT_HMAC_KEYS: key {key_id!r} is shorter than {MIN_SECRET_BYTES} bytes."
            )
        secrets[key_id] = secret
    if not secrets:
        raise ImproperlyConfigured("AUDIT_HMAC_KEYS holds no key.")
    signing_id = signing_id or next(iter(secrets))
    if signing_id not in secrets:
        raise ImproperlyConfigured(
            f"AUDIT_HMAC_KEY_ID is {signing_id!r}, which AUDIT_HMAC_KEYS does not hold."
        )
    return KeyRing(secrets, signing_id)


@sensitive_variables("encoded")
def _decode(encoded: str) -> bytes | None:
    # Standard or URL-safe alphabet, padding optional: what `openssl rand -base64` and
    # Python's secrets.token_urlsafe print.
    standard = encoded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


@lru_cache(maxsize=4)
def _cached_ring(text: str, signing_id: str) -> KeyRing:
    return parse_key_ring(text, signing_id)


def key_ring() -> KeyRing:
    """The key ring of the current settings (cached per value, so tests may override them)."""
    return _cached_ring(settings.AUDIT_HMAC_KEYS, settings.AUDIT_HMAC_KEY_ID)


@checks.register()
def audit_keys_configured(app_configs, **kwargs) -> list[checks.CheckMessage]:
    try:
        ring = key_ring()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="aliases.E020")]
    if not settings.DEBUG and ring.signing_id == DEVELOPMENT_KEY_ID:
        return [
            checks.Error(
                "AUDIT_HMAC_KEYS signs with the development key 'dev' while DEBUG is off.",
                hint="Generate a key as docs/DEPLOY.md (Audit keys) says.",
                id="aliases.E021",
            )
        ]
    return []
