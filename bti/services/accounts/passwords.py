"""Password hashes, in the format werkzeug writes (``method$salt$hex``), without werkzeug: the
services stay below the web framework (architecture §4.4). Hashes stored before this module
(scrypt, or pbkdf2 in tests) check unchanged, and werkzeug checks the hashes written here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_SALT_CHARS = string.ascii_letters + string.digits
_SALT_LENGTH = 16
#: scrypt's cost as werkzeug's default: n=2**15, r=8, p=1.
_SCRYPT = (2**15, 8, 1)


def _derive(method: str, salt: str, password: str) -> str:
    """The hex digest of ``password`` under ``method`` (``scrypt:n:r:p`` or
    ``pbkdf2:hash:iterations``, the parameters of a stored hash). ``ValueError`` for another."""
    name, *args = method.split(":")
    if name == "scrypt" and len(args) == 3:
        n, r, p = map(int, args)
        return hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p,
                              maxmem=132 * n * r * p).hex()
    if name == "pbkdf2" and len(args) == 2:
        return hashlib.pbkdf2_hmac(args[0], password.encode(), salt.encode(),
                                   int(args[1])).hex()
    raise ValueError(f"unknown password hash method {name!r}")


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``, ``scrypt:32768:8:1$<salt>$<hex>``."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(_SALT_LENGTH))
    method = "scrypt:{}:{}:{}".format(*_SCRYPT)
    return f"{method}${salt}${_derive(method, salt, password)}"


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash, in constant time; ``False`` for a
    value that is no hash (``!``: a user who cannot log in). A hash of an unknown method or
    with broken parameters is a damaged row, not a wrong password: ``ValueError``, as
    werkzeug raises."""
    try:
        method, salt, digest = stored.split("$", 2)
    except ValueError:
        return False
    return hmac.compare_digest(_derive(method, salt, password), digest)
