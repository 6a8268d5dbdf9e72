"""Personal identifiers encrypted at rest (AES-256-GCM) and found again through a blind index.

A stored CNIC, e-mail or phone is a token ``enc:v1:<kid>:<base64url(nonce | ciphertext | tag)>``:
the key id says which key decrypts it (so keys rotate value by value), the 96-bit nonce is
random per value, and the organization id is the associated data, so a value copied into
another organization's row does not decrypt. Equality lookups (the same CNIC resubmitting,
withdrawal, erasure) never decrypt: they compare blind indexes, an HMAC-SHA256 of the normalized
value under a separate key, scoped to the organization and the field.

Everyone reads and writes through the module functions :func:`encrypt`, :func:`decrypt` and
:func:`blind_index` (keys from the process settings), or through a :class:`PiiCipher` built from
explicit settings. Names and résumé text are not encrypted: full-text search needs them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.domain import ERASED, Candidate
from core.pii_keys import PiiKeys, load_keys
from core.settings import Settings, get_settings

TOKEN_PREFIX = "enc:v1:"  # noqa: S105 (a format marker, not a secret)
#: What an erased CNIC column holds (``erased:<row id>``, unique and not personal data).
ERASED_CNIC_PREFIX = "erased:"
_NONCE_BYTES = 12
_BLOB_MAGIC = b"PVARA-ENC1"
_BLOB_AAD = b"pvara-blob:v1"
_INDEX_BYTES = 16

Organization = uuid.UUID | str


class PiiDecryptError(ValueError):
    """A value is not a token, names an unknown key, or fails authentication."""


@dataclass(frozen=True)
class ProtectedContact:
    """A candidate's identifiers as stored: tokens and the blind indexes of CNIC and e-mail."""

    cnic: str
    email: str
    phone: str | None
    cnic_index: str
    email_index: str


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def key_id_of(token: str) -> str:
    """The id of the key that encrypted ``token``."""
    if not is_token(token):
        raise PiiDecryptError("not an encrypted value")
    return token[len(TOKEN_PREFIX) :].partition(":")[0]


def normalize(field: str, value: str) -> str:
    """The form a blind index is computed over: CNIC digits only, e-mail lower case."""
    if field == "cnic":
        return re.sub(r"\D", "", value)
    if field == "email":
        return value.strip().lower()
    return value.strip()


def _aad(organization_id: Organization) -> bytes:
    return f"pvara-pii:v1:{organization_id}".encode()


class PiiCipher:
    """Encrypts, decrypts and blind-indexes with one set of :class:`~core.pii_keys.PiiKeys`."""

    def __init__(self, keys: PiiKeys) -> None:
        self.keys = keys
        self._aead = {kid: AESGCM(key) for kid, key in keys.encryption.items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> PiiCipher:
        return cls(load_keys(settings))

    @property
    def active_kid(self) -> str:
        return self.keys.active_kid

    # --- values ---------------------------------------------------------------------------

    def encrypt(self, value: str, organization_id: Organization) -> str:
        """A token for ``value`` under the active key, bound to the organization."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[self.active_kid].encrypt(nonce, value.encode(), _aad(organization_id))
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{TOKEN_PREFIX}{self.active_kid}:{body}"

    def decrypt(self, token: str, organization_id: Organization) -> str:
        """The plaintext of ``token``.

        Raises:
            PiiDecryptError: not a token, an unknown key id, or it does not authenticate
                (tampered, or another organization's value).
        """
        kid = key_id_of(token)
        aead = self._aead.get(kid)
        if aead is None:
            raise PiiDecryptError(f"no key {kid!r} to decrypt with (PVARA_PII_KEYS)")
        body = token[len(TOKEN_PREFIX) + len(kid) + 1 :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(organization_id))
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise PiiDecryptError("the value does not decrypt (tampered or misplaced)") from exc
        return plain.decode()

    def reveal(self, value: str | None, organization_id: Organization) -> str | None:
        """A stored identifier as people read it: None stays None, an erased value reads as
        ``[erased]``, a token is decrypted.

        Raises:
            PiiDecryptError: anything else (a plaintext value where a token belongs included).
        """
        if value is None:
            return None
        if value == ERASED or value.startswith(ERASED_CNIC_PREFIX):
            return ERASED
        return self.decrypt(value, organization_id)

    def needs_rotation(self, value: str | None) -> bool:
        """Whether ``value`` is a token of a key other than the active one."""
        return is_token(value) and key_id_of(value) != self.active_kid  # type: ignore[arg-type]

    def rotate(self, token: str, organization_id: Organization) -> str:
        """``token`` re-encrypted under the active key."""
        return self.encrypt(self.decrypt(token, organization_id), organization_id)

    def blind_index(self, organization_id: Organization, field: str, value: str) -> str:
        """The HMAC of the normalized ``value`` (hex, 128 bits), per organization and field."""
        message = f"{organization_id}:{field}:{normalize(field, value)}".encode()
        digest = hmac.new(self.keys.blind_index, message, hashlib.sha256).digest()
        return digest[:_INDEX_BYTES].hex()

    def protect_contact(
        self, organization_id: Organization, cnic: str, email: str, phone: str | None
    ) -> ProtectedContact:
        """A candidate's identifiers as they are stored and sent through Kafka."""
        return ProtectedContact(
            cnic=self.encrypt(cnic, organization_id),
            email=self.encrypt(email, organization_id),
            phone=self.encrypt(phone, organization_id) if phone else None,
            cnic_index=self.blind_index(organization_id, "cnic", cnic),
            email_index=self.blind_index(organization_id, "email", email),
        )

    # --- files ----------------------------------------------------------------------------

    def seal(self, data: bytes) -> bytes:
        """``data`` as an encrypted envelope: magic, key id, nonce, ciphertext and tag."""
        kid = self.active_kid.encode()
        header = _BLOB_MAGIC + bytes([len(kid)]) + kid
        nonce = os.urandom(_NONCE_BYTES)
        return header + nonce + self._aead[self.active_kid].encrypt(nonce, data, _BLOB_AAD + header)

    def open(self, envelope: bytes) -> bytes:
        """The bytes sealed in ``envelope``; raises :class:`PiiDecryptError` otherwise."""
        kid = self.envelope_key_id(envelope)
        aead = self._aead.get(kid)
        if aead is None:
            raise PiiDecryptError(f"no key {kid!r} to decrypt the file with (PVARA_PII_KEYS)")
        start = len(_BLOB_MAGIC) + 1 + len(kid)
        header, nonce = envelope[:start], envelope[start : start + _NONCE_BYTES]
        try:
            return aead.decrypt(nonce, envelope[start + _NONCE_BYTES :], _BLOB_AAD + header)
        except InvalidTag as exc:
            raise PiiDecryptError("the file does not decrypt (tampered)") from exc

    @staticmethod
    def is_envelope(data: bytes) -> bool:
        return data.startswith(_BLOB_MAGIC)

    @staticmethod
    def envelope_key_id(envelope: bytes) -> str:
        if not envelope.startswith(_BLOB_MAGIC) or len(envelope) <= len(_BLOB_MAGIC):
            raise PiiDecryptError("not an encrypted file")
        size = envelope[len(_BLOB_MAGIC)]
        start = len(_BLOB_MAGIC) + 1
        return envelope[start : start + size].decode("ascii", errors="replace")


# --- the process-wide cipher ------------------------------------------------------------------


@lru_cache(maxsize=1)
def default_cipher() -> PiiCipher:
    """The cipher of this process's settings (read once)."""
    return PiiCipher.from_settings(get_settings())


def encrypt(value: str | None, organization_id: Organization) -> str | None:
    """A token for ``value`` (None stays None)."""
    return None if value is None else default_cipher().encrypt(value, organization_id)


def decrypt(value: str | None, organization_id: Organization) -> str | None:
    """The plaintext of a stored identifier: None stays None, an erased value reads as
    ``[erased]``, a token is decrypted.

    Raises:
        PiiDecryptError: anything else (a plaintext value where a token belongs included).
    """
    return default_cipher().reveal(value, organization_id)


def blind_index(organization_id: Organization, field: str, value: str) -> str:
    """The blind index of ``value`` (``field`` is ``cnic`` or ``email``) in the organization."""
    return default_cipher().blind_index(organization_id, field, value)


def protected_contact(organization_id: Organization, candidate: Candidate) -> ProtectedContact:
    """The stored form of a Kafka record's candidate. Records the ingress wrote carry tokens and
    indexes already; older ones (plaintext) are encrypted here, so they are never stored as is.
    """
    cipher = default_cipher()
    if is_token(candidate.cnic) and candidate.cnic_index and candidate.email_index:
        return ProtectedContact(
            cnic=candidate.cnic,
            email=candidate.email,
            phone=candidate.phone,
            cnic_index=candidate.cnic_index,
            email_index=candidate.email_index,
        )

    def plain(value: str | None) -> str | None:
        if value is not None and is_token(value):
            return cipher.decrypt(value, organization_id)
        return value

    cnic, email = plain(candidate.cnic), plain(candidate.email)
    assert cnic is not None and email is not None
    return cipher.protect_contact(organization_id, cnic, email, plain(candidate.phone))
