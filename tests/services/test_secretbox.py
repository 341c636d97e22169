"""Secrets at rest (the TOTP seeds): sealed under the current key, opened by any configured key,
re-encrypted on rotation, legacy plaintext accepted; a seed no key opens is an error, never a
silent empty value."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bti.services.accounts.secretbox import PREFIX
from bti.services.accounts.secretbox import SecretBox
from bti.services.accounts.secretbox import SecretUnavailable
from bti.services.accounts.secretbox import derive_key

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_seal_and_open():
    box = SecretBox([Fernet.generate_key()])
    stored = box.seal(SEED)
    assert stored.startswith(PREFIX)
    assert SEED not in stored
    assert box.seal(SEED) != stored  # a fresh IV each time
    assert box.open(stored) == SEED
    assert box.is_current(stored)
    assert len(stored) <= 255  # fits the column


def test_rotation_opens_old_seals_and_rewraps_under_the_new_key():
    old, new = Fernet.generate_key(), Fernet.generate_key()
    sealed_old = SecretBox([old]).seal(SEED)
    rotated = SecretBox([new, old])
    assert rotated.open(sealed_old) == SEED
    assert not rotated.is_current(sealed_old)
    rewrapped = rotated.rewrap(sealed_old)
    assert rotated.is_current(rewrapped)
    assert SecretBox([new]).open(rewrapped) == SEED
    with pytest.raises(SecretUnavailable):
        SecretBox([old]).open(rewrapped)


def test_legacy_plaintext_is_accepted_and_never_current():
    box = SecretBox([Fernet.generate_key()])
    assert box.open(SEED) == SEED
    assert not box.is_current(SEED)
    assert box.open(box.rewrap(SEED)) == SEED


@pytest.mark.parametrize("stored", [PREFIX + "not-a-token", PREFIX])
def test_garbage_is_unavailable(stored):
    with pytest.raises(SecretUnavailable):
        SecretBox([Fernet.generate_key()]).open(stored)


def test_config_derives_a_key_per_secret_or_takes_the_given_keys():
    a = SecretBox.from_config("a" * 48, None)
    assert SecretBox.from_config("a" * 48, None).open(a.seal(SEED)) == SEED
    with pytest.raises(SecretUnavailable):
        SecretBox.from_config("b" * 48, None).open(a.seal(SEED))
    assert derive_key("a" * 48) != derive_key("b" * 48)
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    box = SecretBox.from_config("ignored", f"{k1}, {k2}")
    assert SecretBox([k1.encode()]).open(box.seal(SEED)) == SEED
    with pytest.raises(ValueError, match="BTI_DATA_KEYS"):
        SecretBox.from_config("x", "not-a-fernet-key")
