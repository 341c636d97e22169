"""The fødselsnummer detector and the full-name warning (pure)."""

from __future__ import annotations

import pytest

from bti.domain.identity import looks_like_full_name
from bti.engine.inputs import check_text
from bti.engine.inputs import contains_national_id
from bti.engine.inputs import is_national_id

# Synthetic test numbers (month + 80, as Skatteetaten's Tenor makes them: they belong to
# nobody), with valid check digits: a fødselsnummer (1 Jan 1990) and a D-number (day + 40).
FNR = "01819010001"
DNR = "41819010186"

_W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _check(digits: str, weights: tuple[int, ...]) -> str:
    rest = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11
    return "0" if rest == 11 else str(rest)  # the callers pick digits where rest != 10


def with_check_digits(nine: str) -> str:
    """``nine`` (date + individual number) with both check digits: the shape of an ordinary
    fødselsnummer, made here rather than written into a fixture."""
    ten = nine + _check(nine, _W1)
    return ten + _check(ten, _W2)


def test_the_generator_makes_what_the_detector_checks():
    assert with_check_digits("018190100") == FNR


@pytest.mark.parametrize("number", [
    FNR, DNR, "15811510189", "23858910021",
    with_check_digits("150615401"),  # an ordinary date (15 Jun 2015), month not shifted
    with_check_digits("410190123"),  # an ordinary D-number
    with_check_digits("014590123"),  # an H-number (month + 40)
])
def test_valid_numbers_are_national_ids(number):
    assert is_national_id(number)


@pytest.mark.parametrize("number", [
    FNR[:-1] + str((int(FNR[-1]) + 1) % 10),  # second check digit wrong
    FNR[:-2] + str((int(FNR[-2]) + 1) % 10) + FNR[-1],  # first check digit wrong
    "12345678901", "00000000000", FNR[:-1], FNR + "0",
    "32" + FNR[2:],  # no day 32 (and not a D-number)
    "0193" + FNR[4:],  # no month 13 (93 - 80)
    "０１０１９０１２４８０",  # full-width digits are not the number as typed here
])
def test_other_numbers_are_not(number):
    assert not is_national_id(number)


@pytest.mark.parametrize("text", [
    FNR, f"Mor sa at fnr er {FNR}.", "018190 10001", "018190-10001", "01.81.90.10001",
    f"D-nummer {DNR}", f"({FNR})",
])
def test_found_anywhere_in_a_text_grouped_or_not(text):
    assert contains_national_id(text)


@pytest.mark.parametrize("text", [
    "", "Ring 22 33 44 55 etter kl. 12", "Saksnummer 2026/12345", f"{FNR}9",
    f"9{FNR}", "Født 01.01.2016, klasse 4B", FNR[:-1] + str((int(FNR[-1]) + 1) % 10),
])
def test_not_found_in_ordinary_text(text):
    assert not contains_national_id(text)


def test_every_text_input_refuses_it():
    assert check_text(f"Mor sa {FNR}", max_length=200, required=False) == "contains_id_number"
    assert check_text("Ring 22 33 44 55", max_length=200, required=False) is None


@pytest.mark.parametrize("pseudonym", ["Kari Nordmann", "Anne-Lise Berg", "Ola Nils Hansen",
                                       "Åse Ørnes"])
def test_two_capitalised_words_look_like_a_full_name(pseudonym):
    assert looks_like_full_name(pseudonym)


@pytest.mark.parametrize("pseudonym", ["KN", "K. N.", "Kari", "kari nordmann", "Test B.",
                                       "Elev 7", "Ola N", "KARI NORDMANN"])
def test_initials_and_single_words_do_not(pseudonym):
    assert not looks_like_full_name(pseudonym)
