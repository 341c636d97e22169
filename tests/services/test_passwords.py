"""Password hashes without werkzeug in the services, in werkzeug's format both ways."""

import pytest
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from bti.services.accounts.passwords import check_password
from bti.services.accounts.passwords import hash_password


def test_a_new_hash_is_salted_scrypt_and_checks():
    first, second = hash_password("Riktig hest 9"), hash_password("Riktig hest 9")
    assert first.startswith("scrypt:32768:8:1$")
    assert first != second
    assert check_password(first, "Riktig hest 9")
    assert not check_password(first, "Riktig hest 8")


def test_hashes_werkzeug_wrote_still_check_and_werkzeug_checks_ours():
    for method in ("scrypt", "pbkdf2:sha256:1000"):
        stored = generate_password_hash("gammelt passord", method=method)
        assert check_password(stored, "gammelt passord")
        assert not check_password(stored, "nytt passord")
    assert check_password_hash(hash_password("begge veier"), "begge veier")


def test_a_value_that_is_no_hash_never_matches():
    for stored in ("!", "", "scrypt$x"):
        assert not check_password(stored, "")
        assert not check_password(stored, "noe")


@pytest.mark.parametrize("stored", ["md5$salt$abc", "scrypt:ødelagt$salt$hash",
                                    "scrypt:a:b:c$salt$00", "pbkdf2:sha256$salt$00"])
def test_a_damaged_hash_is_an_error_not_a_wrong_password(stored):
    with pytest.raises(ValueError):  # noqa: PT011 - werkzeug's error, as before
        check_password(stored, "noe")


def test_the_dummy_hash_is_made_on_the_first_attempt_whoever_it_names(world, session):
    """AUTHN-03 with the dummy scrypt hash made on first use, not at import (issue 17): the
    attempt that makes it is the first of any kind, a known user's as much as an unknown name's,
    so making it never tells the two apart; it is a real scrypt hash, made once."""
    from bti.services.accounts import auth
    from tests.factories import FIXED_NOW

    auth._dummy_hash.cache_clear()
    assert auth.authenticate(session, world.teacher.username, "feil passord 123",
                             now=FIXED_NOW) is None
    assert auth._dummy_hash.cache_info().currsize == 1  # made for a known user's attempt too
    dummy = auth._dummy_hash()
    assert dummy.startswith("scrypt:32768:8:1$")
    assert auth.authenticate(session, "ingen.slik.brukar", "feil", now=FIXED_NOW) is None
    assert auth._dummy_hash() is dummy  # made once per process
