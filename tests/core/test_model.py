"""The values the use cases and transports pass each other: what counts as a token typed into
the username field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.model import looks_like_token
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN


@pytest.mark.parametrize(
    "typed",
    [
        DEMO_TOKEN,
        DEMO_TOKEN.upper(),
        f"  {DEMO_TOKEN[:16]}\n{DEMO_TOKEN[16:]} ",
        "5f2b8c1e-7a9d-4036-b1e8-c2f47a6d9e03",
        f"token {DEMO_TOKEN}",
        "eyJhbGciOiJIUzI1NiJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0aBcD",
        "dGhpcyBpcyBhIHNlY3JldCBhcGkga2V5IG9mIDQwKyBjaGFycw==",
        "q8Zr2VhN0xLw7TbY3kPm9sJd4GfA6uEc1oWi5nRt",
    ],
)
def test_a_pasted_token_or_secret_looks_like_a_token(typed):
    assert looks_like_token(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "loon@acme.nl",
        f"{DEMO_TOKEN}@acme.nl",
        "Jan de Vries",
        "salarisadministratie.bakkerij.de.vries",
        "Stichting Administratiekantoor Van Den Berghe Holding 2",
        "administratiekantoorvandenberghebv2024",
        "Api-Koppeling-Bakkerij-De-Vries-Noord-Holland-2024",
        "AdministratiekantoorVanDenBergheHolding2024",
        "Bakkerij2DeVries4Noord-Holland2024",
        "0612345678",
    ],
)
def test_a_username_never_looks_like_a_token(typed):
    assert not looks_like_token(typed)


@given(st.emails())
def test_no_e_mail_address_looks_like_a_token(address):
    assert not looks_like_token(address)
