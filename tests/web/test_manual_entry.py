"""The officer's hand-entry forms (agent/screen/views.py) as the MRZ they become (agent/screen/__init__.py)."""

from __future__ import annotations

import pytest

from agent.mrz import parse_mrz
from agent.screen import _mrz_lines
from agent.screen.views import FormError, document_form

PASSPORT = {"document_code": "P", "issuing_state": "CHE", "document_number": "X1234567", "nationality": "CHE",
            "surname": "Muster", "given_names": "Hans", "sex": "M", "expiry_date": "311231"}


@pytest.mark.parametrize("birth_date", ["680412", "680000", "6804<<", "68<<<<"])
def test_a_birth_date_typed_as_the_document_prints_it_becomes_that_mrz(birth_date: str):
    """A passport whose holder's birth day or month is not known prints ``<<`` (Doc 9303) or ``00`` there: the
    officer types it as printed, and the document is screened with it (it was refused as not YYMMDD)."""
    result = parse_mrz(_mrz_lines(document_form({**PASSPORT, "birth_date": birth_date})))
    assert result.birth_date == birth_date and result.valid


@pytest.mark.parametrize("birth_date", ["68041", "68AB12", "6804<", "<<0412X"])
def test_a_birth_date_not_in_that_form_is_refused(birth_date: str):
    with pytest.raises(FormError):
        document_form({**PASSPORT, "birth_date": birth_date})
