"""The signed private_metadata of the modals: a round trip, and edits refused."""

from __future__ import annotations

import pytest

from bot.core.model import StepRef
from bot.transports.slack.metadata import LINK_MODALS, MetadataSigner


def test_signed_metadata_round_trips():
    signer = MetadataSigner("secret")
    metadata = signer.verify(signer.sign(StepRef(42, 7), "en"))
    assert metadata is not None
    assert (metadata.ref, metadata.language) == (StepRef(42, 7), "en")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda text: text.replace("42.", "43.", 1),
        lambda text: text.replace(".7.", ".8.", 1),
        lambda text: text[:-1] + ("0" if text[-1] != "0" else "1"),
        lambda text: "",
        lambda text: "42.7.en",
    ],
)
def test_edited_metadata_is_refused(tamper):
    signer = MetadataSigner("secret")
    assert signer.verify(tamper(signer.sign(StepRef(42, 7), "en"))) is None


def test_metadata_signed_with_another_secret_is_refused():
    assert (
        MetadataSigner("other").verify(MetadataSigner("secret").sign(StepRef(1, 0), "nl")) is None
    )


def test_a_link_modals_metadata_is_refused_by_the_onboardings_signer_and_back():
    onboarding = MetadataSigner("secret")
    links = MetadataSigner("secret", purpose=LINK_MODALS)
    assert onboarding.verify(links.sign(StepRef(1, 0), "nl")) is None
    assert links.verify(onboarding.sign(StepRef(1, 0), "nl")) is None
