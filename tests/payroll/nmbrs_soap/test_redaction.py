"""Tokens stay out of log lines: zeep's envelope dumps and any line during a call."""

from __future__ import annotations

import logging

from payroll.nmbrs_soap import redaction

TOKEN = "5f2b8c1e7a9d4036b1e8c2f47a6d9e03"


def test_token_elements_are_masked_whatever_their_prefix():
    envelope = (
        "<ns0:AuthHeaderWithDomain><ns0:Username>u</ns0:Username>"
        f"<ns0:Token>{TOKEN}</ns0:Token></ns0:AuthHeaderWithDomain><Token>other</Token>"
    )

    masked = redaction.redact(envelope)

    assert TOKEN not in masked and "other" not in masked
    assert "<ns0:Token>[redacted]</ns0:Token>" in masked
    assert "<ns0:Username>u</ns0:Username>" in masked


def test_token_pairs_in_dicts_are_masked():
    assert TOKEN not in redaction.redact(f"{{'Username': 'u', 'Token': '{TOKEN}'}}")


def test_a_token_in_flight_is_masked_anywhere_and_only_while_in_flight():
    with redaction.secret(TOKEN):
        assert redaction.redact(f"url?x={TOKEN}") == "url?x=[redacted]"
    assert redaction.redact(f"url?x={TOKEN}") == f"url?x={TOKEN}"


def test_an_empty_token_masks_nothing():
    with redaction.secret(""):
        assert redaction.redact("nothing to hide") == "nothing to hide"


def test_the_filter_masks_messages_arguments_and_tracebacks(caplog):
    redaction.install()
    logger = logging.getLogger("zeep.transports")
    caplog.set_level(logging.DEBUG, logger="zeep.transports")

    with redaction.secret(TOKEN):
        logger.debug("HTTP Post to %s:\n%s", "http://x", f"<Token>{TOKEN}</Token>")
        try:
            raise RuntimeError(f"echo {TOKEN}")
        except RuntimeError:
            logger.exception("failed")

    assert TOKEN not in caplog.text
    assert caplog.text.count("[redacted]") == 2


def test_installing_twice_adds_the_filter_once():
    redaction.install()
    redaction.install()

    filters = logging.getLogger("zeep.transports").filters
    assert sum(isinstance(f, redaction.RedactTokens) for f in filters) == 1
