"""Property-based: whatever arrives at /slack/events, the answer is a 4xx or a success in time,
never a 5xx or a traceback; and without a valid signature nothing changes at all."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    settled,
    submission_payload,
    to_credentials,
)
from tests.security.conftest import quiet, settled_effects
from tests.security.forge import FORM, JSON, form, post, shows_no_internals, signed_headers

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SLACK_KEYS = [
    "type", "user", "team", "channel", "view", "actions", "trigger_id", "container", "message",
    "state", "values", "private_metadata", "callback_id", "id", "hash", "event", "command",
    "user_id", "channel_id", "team_id", "text", "value", "action_id", "response_url",
    "response_urls", "authorizations", "enterprise", "is_enterprise_install", "api_app_id",
]  # fmt: skip
KINDS = [
    "block_actions", "view_submission", "view_closed", "block_suggestion", "event_callback",
    "shortcut", "message_action", "url_verification", "app_rate_limited",
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(SLACK_KEYS) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
# What may stand in an HTTP header value: visible ASCII, spaces and Latin-1.
# HTTP clients refuse header values with white space at either end, so none is generated.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=70
).map(str.strip)
slack_like = st.fixed_dictionaries(
    {"type": st.sampled_from(KINDS) | st.text(max_size=8)},
    optional={key: json_values for key in SLACK_KEYS if key != "type"},
)


@pytest.fixture(scope="module")
def module_database_url(sqlite_database_url: str) -> str:
    """Requests are refused or answered before the database matters: SQLite only."""
    return sqlite_database_url


@pytest.fixture(scope="module")
def genuine(served: ServedBot, module_slack: DevSlack) -> list[tuple[str, dict]]:
    """Real payloads (encoding, payload) to mutate: a click, a submission, a command, an event."""
    served.invite(language="en")
    customer = module_slack.user(CUSTOMER)
    to_credentials(customer)
    view = settled(customer, CALLBACK_CREDENTIALS)
    customer.fill(view, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: DEMO_TOKEN})
    start = next(d for d in module_slack.deliveries if ACTION_START.encode() in d.body)
    manager = module_slack.user(MANAGER)
    payloads = [
        ("interactive", start.payload),
        ("interactive", submission_payload(module_slack, CUSTOMER, customer.modal)),
        ("command", manager.command("/onboard", "status", channel=CHANNEL).payload),
        ("event", json.loads(manager.open_home().body)),
    ]
    quiet(module_slack)
    return payloads


def encode(encoding: str, payload: Any) -> tuple[bytes, str]:
    if encoding == "interactive":
        return form(payload), FORM
    if encoding == "command" and isinstance(payload, dict):
        return urlencode({k: str(v) for k, v in payload.items()}).encode(), FORM
    return json.dumps(payload).encode(), JSON


@st.composite
def mutated(draw: st.DrawFn, payloads: list[tuple[str, dict]]) -> tuple[bytes, str]:
    """A genuine payload with one to three places replaced by anything, or removed."""
    encoding, payload = draw(st.sampled_from(payloads))
    payload = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        place = payload
        while True:
            keys = list(place) if isinstance(place, dict) else list(range(len(place)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = place[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                place = child
                continue
            if isinstance(place, dict) and draw(st.booleans()):
                del place[key]
            else:
                place[key] = draw(json_values)
            break
    return encode(encoding, payload)


def answered_properly(bot: ServedBot, body: bytes, headers: dict) -> int:
    answer = post(bot.slack.endpoint.url, body, headers)  # raises after Slack's 3 s
    assert answer.status_code < 500, (answer.status_code, body[:300])
    assert shows_no_internals(answer), answer.text[:300]
    return answer.status_code


def test_unsigned_or_badly_signed_anything_is_a_401_and_changes_nothing(
    served: ServedBot, genuine: list[tuple[str, dict]], sandbox: SandboxHandle
) -> None:
    before = settled_effects(served, sandbox)
    secret = served.slack.signing_secret

    @FUZZ
    @given(
        body=st.binary(max_size=300) | mutated(genuine).map(lambda encoded: encoded[0]),
        content_type=st.sampled_from([FORM, JSON, "text/plain", ""]) | header_text,
        timestamp=st.none() | header_text | st.integers(0, 2**40).map(str),
        signature=st.none() | header_text | st.binary(max_size=40).map(lambda b: "v0=" + b.hex()),
        signed_but_altered=st.booleans(),
    )
    def attempt(body, content_type, timestamp, signature, signed_but_altered) -> None:
        headers: dict[str, bytes] = {"Content-Type": content_type.encode("latin-1")}
        if signed_but_altered:  # a real signature of this body, then one byte more
            real = signed_headers(secret, body, content_type=content_type)
            headers = {name: value.encode() for name, value in real.items()}
            body += b" "
        if timestamp is not None:
            headers["X-Slack-Request-Timestamp"] = timestamp.encode("latin-1")
        if signature is not None:
            headers["X-Slack-Signature"] = signature.encode("latin-1")
        assert answered_properly(served, body, headers) == 401

    attempt()
    assert settled_effects(served, sandbox) == before


def test_signed_slack_like_payloads_never_get_a_5xx(
    served: ServedBot, genuine: list[tuple[str, dict]]
) -> None:
    secret = served.slack.signing_secret

    @FUZZ
    @given(
        encoded=mutated(genuine)
        | st.tuples(st.sampled_from(["interactive", "event", "command"]), slack_like).map(
            lambda pair: encode(*pair)
        )
    )
    def attempt(encoded: tuple[bytes, str]) -> None:
        body, content_type = encoded
        answered_properly(served, body, signed_headers(secret, body, content_type=content_type))

    attempt()


def test_signed_bytes_that_are_no_payload_at_all_get_a_4xx(served: ServedBot) -> None:
    secret = served.slack.signing_secret

    @FUZZ
    @given(
        body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
        content_type=st.sampled_from([FORM, JSON]),
    )
    def attempt(body: bytes, content_type: str) -> None:
        answered_properly(served, body, signed_headers(secret, body, content_type=content_type))

    attempt()
