"""Secrets stored in the database, encrypted with a key that is not in the database (the TOTP
seeds of the second factor): a copy of the database or a backup alone does not give anyone's
second factor away (ASVS 5.0 11.x / 13.3: secrets at rest; reliability.md AUTHN-04).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) through ``MultiFernet``, so keys can be
rotated: ``BTI_DATA_KEYS`` is a comma-separated list of Fernet keys, the first one encrypts, all of
them decrypt. Without it, one key is derived from ``BTI_SECRET_KEY`` with HKDF-SHA256 (so a
rotation of the secret key needs the old one in ``BTI_DATA_KEYS`` until ``bti security
rewrap-secrets`` has run). Stored values carry a version prefix; a value without it is a legacy
plaintext seed from before encryption, accepted and re-encrypted at its next use.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "f1:"


class SecretUnavailable(Exception):
    """A stored secret that none of the configured keys opens (the key was lost or rotated
    away without re-encrypting). Whatever depends on it must fail closed."""


def derive_key(secret_key: str) -> bytes:
    """A Fernet key derived from the app's secret key (HKDF-SHA256, fixed context)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"bti secretbox",
               info=b"bti: secrets stored in the database, v1").derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self._current = Fernet(keys[0])
        self._all = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_config(cls, secret_key: str, data_keys: str | None) -> SecretBox:
        if data_keys:
            keys = [k.strip().encode() for k in data_keys.split(",") if k.strip()]
        else:
            keys = [derive_key(secret_key)]
        try:
            return cls(keys)
        except ValueError as err:
            raise ValueError("BTI_DATA_KEYS must be Fernet keys (32 url-safe base64-encoded "
                             "bytes), comma-separated") from err

    def seal(self, plain: str) -> str:
        return PREFIX + self._current.encrypt(plain.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # a legacy plaintext value
        try:
            return self._all.decrypt(stored[len(PREFIX):].encode("ascii")).decode()
        except (InvalidToken, ValueError) as err:
            raise SecretUnavailable("no configured key opens this secret") from err

    def is_current(self, stored: str) -> bool:
        """Encrypted under the key that encrypts now (nothing to re-encrypt)."""
        if not stored.startswith(PREFIX):
            return False
        try:
            self._current.decrypt(stored[len(PREFIX):].encode("ascii"))
        except (InvalidToken, ValueError):
            return False
        return True

    def rewrap(self, stored: str) -> str:
        """The same secret, encrypted under the current key."""
        return stored if self.is_current(stored) else self.seal(self.open(stored))
