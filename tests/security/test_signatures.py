"""Requests Slack did not sign, or signed too long ago, are refused with 401 and change nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bot.transports.slack.views.invite import ACTION_START
from bot.transports.slack.views.onboarding import (
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_CREDENTIALS,
)
from devslack import DevSlack
from devslack.workspace import MANAGER
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from tests.e2e.journey import (
    CHANNEL,
    CUSTOMER,
    ServedBot,
    logged_text,
    settled,
    submission_payload,
    to_credentials,
)
from tests.security.conftest import quiet, settled_effects
from tests.security.forge import FORM, JSON, form, post, signature, signed_headers


@dataclass(frozen=True)
class Genuine:
    """Bodies of requests that have an effect when Slack signs them."""

    bodies: dict[str, tuple[bytes, str]]
    credentials_view_id: str


@pytest.fixture(scope="module")
def genuine(served: ServedBot, module_slack: DevSlack) -> Genuine:
    served.invite(language="en")
    customer = module_slack.user(CUSTOMER)
    to_credentials(customer)
    view = settled(customer, CALLBACK_CREDENTIALS)
    customer.fill(view, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: DEMO_TOKEN})
    credentials = form(submission_payload(module_slack, CUSTOMER, customer.modal))
    manager = module_slack.user(MANAGER)
    command = manager.command("/onboard", channel=CHANNEL)
    home = manager.open_home()
    start = next(d for d in module_slack.deliveries if ACTION_START.encode() in d.body)
    quiet(module_slack)
    return Genuine(
        {
            "credentials submission": (credentials, FORM),
            "start click": (start.body, FORM),
            "slash command": (command.body, FORM),
            "app home event": (home.body, JSON),
        },
        credentials_view_id=view.id,
    )


def unsigned(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    return {"Content-Type": content_type}


def other_secret(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    return signed_headers("not-the-signing-secret", body, content_type=content_type)


def other_body(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    return signed_headers(secret, body + b"&extra=1", content_type=content_type)


def stale(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    return signed_headers(secret, body, content_type=content_type, timestamp=int(time.time()) - 301)


def from_the_future(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    return signed_headers(secret, body, content_type=content_type, timestamp=int(time.time()) + 305)


def timestamp_not_a_number(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": "soon",
        "X-Slack-Signature": signature(secret, "soon", body),
    }


def no_timestamp(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    headers = signed_headers(secret, body, content_type=content_type)
    del headers["X-Slack-Request-Timestamp"]
    return headers


def other_scheme(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    headers = signed_headers(secret, body, content_type=content_type)
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"].replace("v0=", "v1=")
    return headers


def signature_not_ascii(secret: str, body: bytes, content_type: str) -> dict[str, str]:
    headers = signed_headers(secret, body, content_type=content_type)
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-1] + "é"
    return headers


FORGERIES: list[Callable[[str, bytes, str], dict[str, str]]] = [
    unsigned,
    other_secret,
    other_body,
    stale,
    from_the_future,
    timestamp_not_a_number,
    no_timestamp,
    other_scheme,
    signature_not_ascii,
]


def send_forged(bot: ServedBot, body: bytes, headers: dict[str, str]):
    raw = {name: value.encode() for name, value in headers.items()}
    return post(bot.slack.endpoint.url, body, raw)


@pytest.mark.parametrize("forge", FORGERIES, ids=lambda forge: forge.__name__)
def test_a_request_slack_did_not_sign_now_is_refused_and_changes_nothing(
    served: ServedBot,
    genuine: Genuine,
    sandbox: SandboxHandle,
    caplog: pytest.LogCaptureFixture,
    forge,
) -> None:
    caplog.set_level(logging.DEBUG)
    before = settled_effects(served, sandbox)
    for name, (body, content_type) in genuine.bodies.items():
        answer = send_forged(served, body, forge(served.slack.signing_secret, body, content_type))
        assert (name, answer.status_code) == (name, 401)
        assert answer.json() == {"error": "invalid request"}
    assert settled_effects(served, sandbox) == before
    assert DEMO_TOKEN not in logged_text(caplog)


def test_the_same_requests_signed_by_slack_now_are_accepted(
    served: ServedBot, genuine: Genuine, sandbox: SandboxHandle
) -> None:
    """The control: the bodies are fine, only the signatures above were not."""
    before = settled_effects(served, sandbox)
    for name, (body, content_type) in genuine.bodies.items():
        headers = signed_headers(served.slack.signing_secret, body, content_type=content_type)
        answer = post(served.slack.endpoint.url, body, headers)
        assert (name, answer.status_code) == (name, 200)
        if name == "credentials submission":
            served.slack.world.apply_submission(
                CUSTOMER, genuine.credentials_view_id, answer.json()
            )
    after = settled_effects(served, sandbox)
    assert after.nmbrs_calls > before.nmbrs_calls
    assert after.slack_calls > before.slack_calls
    assert after.rows != before.rows
