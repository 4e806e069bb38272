"""Requests to /slack/events as anyone may send them: signed or not, well-formed or not."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import httpx

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Slack gives up on an answer after 3 s; so do these requests.
SLACK_PATIENCE_SECONDS = 3.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, content_type: str = FORM, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack sends: a timestamp (now unless given) and the v0 signature."""
    moment = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": moment,
        "X-Slack-Signature": signature(secret, moment, body),
    }


def form(payload: object) -> bytes:
    """An interactivity payload as Slack posts it: `payload=<json>`, form-encoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def post(url: str, body: bytes, headers: dict[str, str] | dict[str, bytes]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=SLACK_PATIENCE_SECONDS)


def shows_no_internals(response: httpx.Response) -> bool:
    """No traceback, file path or exception name in the answer."""
    text = response.text
    return not any(sign in text for sign in ("Traceback", 'File "', ".py", "Error:", "Exception"))
