"""Signed digests of the chain, in the manner of AWS CloudTrail's digest files.

Each digest names the chain's newest event (sequence and hash), the time, and the digest before
it (its SHA-256 and signature), and is signed with an Ed25519 key kept outside the database.
Whoever holds only the public key can then check, offline, that the series is whole and that
the chain still holds every event each digest saw: a cut tail, a rewrite (re-hashed or not)
and a deleted digest are each named.
"""

import base64
import binascii
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from ..models import AuditDigest, AuditEvent
from .chain import hashed_time

DIGEST_VERSION = 1
FILE_GLOB = "audit-digest-*.json"
PAYLOAD_KEYS = {"version", "sequence", "head_hash", "created_at", "previous", "signing_key"}
PREVIOUS_KEYS = {"sha256", "signature", "sequence", "created_at"}


class DigestError(Exception):
    """A digest that cannot be read or written; the message says which and why."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Digest:
    payload: dict[str, Any]
    signature: str
    name: str = field(default="", compare=False)

    @property
    def signed_bytes(self) -> bytes:
        return canonical_json(self.payload)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.signed_bytes).hexdigest()

    @property
    def sequence(self) -> int:
        return self.payload["sequence"]

    @property
    def head_hash(self) -> str:
        return self.payload["head_hash"]

    @property
    def created_at(self) -> str:
        return self.payload["created_at"]

    @property
    def previous(self) -> dict[str, Any] | None:
        return self.payload["previous"]

    @property
    def previous_sha256(self) -> str:
        return self.previous["sha256"] if self.previous else ""

    @property
    def file_name(self) -> str:
        # Sorts by signing time, then sequence: the order the series was written in.
        stamp = self.created_at.replace("-", "").replace(":", "").replace(".", "")
        return f"audit-digest-{stamp}-{self.sequence:012d}.json"

    def describe(self) -> str:
        return f"digest {self.name or self.file_name} (#{self.sequence}, {self.created_at})"

    def as_text(self) -> str:
        return json.dumps({"digest": self.payload, "signature": self.signature}) + "\n"


def sign_digest(
    *,
    sequence: int,
    head_hash: str,
    previous: Digest | AuditDigest | None,
    key: Ed25519PrivateKey,
    now: datetime,
) -> Digest:
    payload = {
        "version": DIGEST_VERSION,
        "sequence": sequence,
        "head_hash": head_hash,
        "created_at": hashed_time(now),
        "previous": None
        if previous is None
        else {
            "sha256": previous.sha256,
            "signature": previous.signature,
            "sequence": previous.sequence,
            "created_at": previous.created_at
            if isinstance(previous, Digest)
            else hashed_time(previous.created_at),
        },
        "signing_key": key_fingerprint(key.public_key()),
    }
    signature = base64.b64encode(key.sign(canonical_json(payload))).decode()
    digest = Digest(payload, signature)
    return Digest(payload, signature, name=digest.file_name)


@sensitive_variables("pem")
def load_signing_key() -> Ed25519PrivateKey:
    """The private key from AUDIT_SIGNING_KEY_FILE or AUDIT_SIGNING_KEY (PEM, unencrypted)."""
    if settings.AUDIT_SIGNING_KEY_FILE:
        try:
            pem = Path(settings.AUDIT_SIGNING_KEY_FILE).read_bytes()
        except OSError as error:
            raise ImproperlyConfigured(
                f"AUDIT_SIGNING_KEY_FILE cannot be read: {error.strerror}"
            ) from None
    elif settings.AUDIT_SIGNING_KEY:
        # An environment variable may carry the PEM's line breaks as literal "\n".
        pem = settings.AUDIT_SIGNING_KEY.replace("\\n", "\n").encode()
    else:
        raise ImproperlyConfigured(
            "Set AUDIT_SIGNING_KEY_FILE (or AUDIT_SIGNING_KEY) to the Ed25519 private key "
            "that signs audit digests."
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "The audit signing key is not an unencrypted PEM private key."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("The audit signing key must be an Ed25519 key.")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise DigestError(f"Cannot read public key {path}: {error.strerror}") from None
    except ValueError:
        raise DigestError(f"{path} is not a PEM public key.") from None
    if not isinstance(key, Ed25519PublicKey):
        raise DigestError(f"{path} is not an Ed25519 public key.")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def parse_digest(text: str, name: str) -> Digest:
    try:
        data = json.loads(text)
        payload, signature = data["digest"], data["signature"]
        if set(data) != {"digest", "signature"} or set(payload) != PAYLOAD_KEYS:
            raise ValueError("unexpected fields")
        previous = payload["previous"]
        if previous is not None and set(previous) != PREVIOUS_KEYS:
            raise ValueError("unexpected fields in previous")
        if payload["version"] != DIGEST_VERSION:
            raise ValueError(f"version {payload['version']!r}")
        if not isinstance(payload["sequence"], int) or not isinstance(signature, str):
            raise ValueError("bad field types")
    except (ValueError, KeyError, TypeError) as error:
        raise DigestError(f"{name}: not an audit digest ({error})") from None
    return Digest(payload, signature, name=name)


def read_digest_dir(folder: Path) -> list[Digest]:
    if not folder.is_dir():
        raise DigestError(f"{folder} is not a folder of digests.")
    digests = []
    for path in sorted(folder.glob(FILE_GLOB)):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DigestError(f"Cannot read {path}: {error}") from None
        digests.append(parse_digest(text, path.name))
    return digests


def _signature_problem(digest: Digest, public_keys: dict[str, Ed25519PublicKey]) -> str:
    key = public_keys.get(digest.payload["signing_key"])
    if key is None:
        return (
            f"{digest.describe()} was signed by key {digest.payload['signing_key']}, "
            "which is not among the public keys given"
        )
    try:
        key.verify(base64.b64decode(digest.signature, validate=True), digest.signed_bytes)
    except (InvalidSignature, binascii.Error, ValueError):
        return f"{digest.describe()}: its signature does not verify: the digest was altered"
    return ""


@dataclass(frozen=True)
class SeriesReport:
    digests: list[Digest]
    problem: str = ""
    # The oldest digest follows one that is not in the folder (archived or deleted); the
    # chain's hashes still tie every earlier event to it, so this is reported, not refused.
    follows_earlier: bool = False


def verify_series(digests: list[Digest], public_keys: dict[str, Ed25519PublicKey]) -> SeriesReport:
    """Check each signature and each link; returns the digests in series order."""
    for digest in digests:
        problem = _signature_problem(digest, public_keys)
        if problem:
            return SeriesReport(digests, problem)
    by_sha = {digest.sha256: digest for digest in digests}
    followers: dict[str, list[Digest]] = defaultdict(list)
    for digest in digests:
        followers[digest.previous_sha256].append(digest)
    for group in followers.values():
        if len(group) > 1:
            names = " and ".join(digest.describe() for digest in group)
            return SeriesReport(digests, f"{names} follow the same digest: the series forked")
    starts = sorted(
        (digest for digest in digests if digest.previous_sha256 not in by_sha),
        key=lambda digest: (digest.created_at, digest.sequence),
    )
    if len(starts) > 1:
        # Only the oldest digest may follow none in the folder: a later one that does marks
        # a hole in the series, and its own link says what was there.
        after_gap = starts[1]
        gone = after_gap.previous
        if gone is None:
            return SeriesReport(
                digests,
                f"{after_gap.describe()} starts a new series: its link to the digests "
                "before it was removed",
            )
        return SeriesReport(
            digests,
            f"the digest of #{gone['sequence']} signed at {gone['created_at']}, which "
            f"{after_gap.describe()} follows, is missing: it was deleted",
        )
    ordered: list[Digest] = []
    current = starts[0] if starts else None
    while current is not None:
        ordered.append(current)
        following = followers.get(current.sha256)
        if not following:
            break
        link = following[0].previous
        if (link["signature"], link["sequence"], link["created_at"]) != (
            current.signature,
            current.sequence,
            current.created_at,
        ):
            return SeriesReport(
                ordered, f"{following[0].describe()} describes {current.describe()} wrongly"
            )
        current = following[0]
    if len(ordered) != len(digests):
        # Every digest was someone's follower and none started: the links form a loop.
        return SeriesReport(digests, "the digests' links form a loop: they were altered")
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later.sequence < earlier.sequence:
            return SeriesReport(
                ordered,
                f"{later.describe()} saw fewer events than {earlier.describe()}: "
                "events were cut off the end of the chain between them",
            )
    return SeriesReport(ordered, follows_earlier=bool(ordered and ordered[0].previous))


def record_digest(digest: Digest) -> AuditDigest:
    """Keep a signed digest in the database, so the next one can name it as its previous."""
    return AuditDigest.objects.create(
        sequence=digest.sequence,
        head_hash=digest.head_hash,
        created_at=datetime.strptime(digest.created_at, "%Y-%m-%dT%H:%M:%S.%f%z"),
        sha256=digest.sha256,
        previous_sha256=digest.previous_sha256,
        signature=digest.signature,
        signing_key=digest.payload["signing_key"],
        file_name=digest.file_name,
    )


def digest_create(*, key: Ed25519PrivateKey) -> Digest:
    """Sign a digest of the chain as it is now, linked to the last one this portal signed."""
    with transaction.atomic():
        newest = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
        sequence, head_hash = newest or (0, "")
        previous = AuditDigest.objects.order_by("-pk").first()
        digest = sign_digest(
            sequence=sequence,
            head_hash=head_hash,
            previous=previous,
            key=key,
            now=timezone.now(),
        )
        try:
            with transaction.atomic():
                record_digest(digest)
        except IntegrityError:
            raise DigestError(
                "Another audit_checkpoint signed a digest at the same moment; run it again."
            ) from None
    return digest
