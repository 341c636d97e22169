"""The fødselsnummer detector and the full-name warning (pure)."""

from __future__ import annotations

import pytest

from bti.domain.identity import contains_national_id
from bti.domain.identity import is_national_id
from bti.domain.identity import looks_like_full_name

# made up, with valid check digits: a fødselsnummer (1 Jan 1990) and a D-number (day + 40)
FNR = "01019012480"
DNR = "41019012393"


@pytest.mark.parametrize("number", [FNR, DNR, "15061540161", "23058900427"])
def test_valid_numbers_are_national_ids(number):
    assert is_national_id(number)


@pytest.mark.parametrize("number", [
    "01019012481",  # second check digit wrong
    "01019012380",  # first check digit wrong
    "12345678901", "00000000000", "0101901248", "010190124800",
    "32019012480",  # no day 32 (and not a D-number)
    "01139012480",  # no month 13
    "０１０１９０１２４８０",  # full-width digits are not the number as typed here
])
def test_other_numbers_are_not(number):
    assert not is_national_id(number)


@pytest.mark.parametrize("text", [
    FNR, f"Mor sa at fnr er {FNR}.", "010190 12480", "010190-12480", "01.01.90.12480",
    f"D-nummer {DNR}", f"({FNR})",
])
def test_found_anywhere_in_a_text_grouped_or_not(text):
    assert contains_national_id(text)


@pytest.mark.parametrize("text", [
    "", "Ring 22 33 44 55 etter kl. 12", "Saksnummer 2026/12345", f"{FNR}9",
    f"9{FNR}", "Født 01.01.2016, klasse 4B", "01019012481",
])
def test_not_found_in_ordinary_text(text):
    assert not contains_national_id(text)


@pytest.mark.parametrize("pseudonym", ["Kari Nordmann", "Anne-Lise Berg", "Ola Nils Hansen",
                                       "Åse Ørnes"])
def test_two_capitalised_words_look_like_a_full_name(pseudonym):
    assert looks_like_full_name(pseudonym)


@pytest.mark.parametrize("pseudonym", ["KN", "K. N.", "Kari", "kari nordmann", "Test B.",
                                       "Elev 7", "Ola N", "KARI NORDMANN"])
def test_initials_and_single_words_do_not(pseudonym):
    assert not looks_like_full_name(pseudonym)
