"""The payroll provider port: its errors and connections say no secret; names are one line."""

from __future__ import annotations

import pytest

from bot.core.payroll import Connection, PermissionsMissing, one_line


def test_missing_permissions_are_named_in_the_error():
    error = PermissionsMissing(["CompanyService.WageTax_GetXML"])

    assert error.missing == ["CompanyService.WageTax_GetXML"]
    assert "CompanyService.WageTax_GetXML" in str(error)


def test_a_connection_never_shows_its_secret():
    connection = Connection("demo@voorbeeld.nl", "geheim-token", environment="voorbeeld")

    assert "geheim-token" not in repr(connection)
    assert "geheim-token" not in str(connection)
    assert "demo@voorbeeld.nl" in str(connection) and "voorbeeld" in repr(connection)


@pytest.mark.parametrize(
    "separator",
    [
        "\n",
        "\r\n",
        "\t",
        "\v",
        "\f",
        "\x85",
        "\u00a0",
        "\u2028",
        "\u2029",
        "\u3000",
        "\x00",
        "\x1b",
    ],
)
def test_a_name_from_the_provider_is_one_line_whatever_separates_its_words(separator):
    raw = f"{separator} Bakkerij{separator}{separator}https://evil.example/login {separator}"
    assert one_line(raw) == "Bakkerij https://evil.example/login"
