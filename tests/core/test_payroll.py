"""The payroll provider port: its errors and connections say no secret."""

from __future__ import annotations

from bot.core.payroll import Connection, PermissionsMissing


def test_missing_permissions_are_named_in_the_error():
    error = PermissionsMissing(["CompanyService.WageTax_GetXML"])

    assert error.missing == ["CompanyService.WageTax_GetXML"]
    assert "CompanyService.WageTax_GetXML" in str(error)


def test_a_connection_never_shows_its_secret():
    connection = Connection("demo@voorbeeld.nl", "geheim-token", environment="voorbeeld")

    assert "geheim-token" not in repr(connection)
    assert "geheim-token" not in str(connection)
    assert "demo@voorbeeld.nl" in str(connection) and "voorbeeld" in repr(connection)
