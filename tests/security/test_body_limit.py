"""A body above the cap (1 MiB; Slack's payloads are a few KiB) is refused with 413 before any
signature or JSON work, whether its length is declared or streamed, and the rest of it is not
read: the bot answers and closes. Slack's own requests are untouched. Over real HTTP, against
the served bot."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from bot.transports.slack.http import MAX_BODY_BYTES
from devslack import DevSlack
from devslack.workspace import MANAGER
from tests.e2e.journey import CHANNEL, ServedBot
from tests.security.forge import FORM, post, signed_headers

ANSWER_TIMEOUT_SECONDS = 10.0
CHUNK = b"x" * 65536
# What a sender streams at most: far more than the bot and the kernel buffers between hold.
STREAMED_BYTES = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def module_database_url(sqlite_database_url: str) -> str:
    """The body is refused before the database plays any part: SQLite once is enough."""
    return sqlite_database_url


def connect(served: ServedBot) -> socket.socket:
    url = urlsplit(served.slack.endpoint.url)
    connection = socket.create_connection((url.hostname, url.port), timeout=ANSWER_TIMEOUT_SECONDS)
    return connection


def head(*lines: str) -> bytes:
    return ("\r\n".join(["POST /slack/events HTTP/1.1", "Host: bot", *lines]) + "\r\n\r\n").encode()


def read_answer(connection: socket.socket) -> bytes:
    """Everything the bot sends until it closes the connection."""
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@dataclass
class Sender:
    """Streams a chunked body of STREAMED_BYTES in a thread until done or the bot closes."""

    connection: socket.socket
    sent: int = 0
    stopped_by: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        try:
            while self.sent < STREAMED_BYTES:
                self.connection.sendall(frame)
                self.sent += len(CHUNK)
            self.connection.sendall(b"0\r\n\r\n")
        except OSError as error:  # the bot closed the connection: broken pipe or reset
            self.stopped_by = error
        finally:
            self.done.set()


def test_a_declared_length_above_the_cap_is_413_at_once_without_a_byte_of_body(
    served: ServedBot,
) -> None:
    with connect(served) as connection:
        connection.sendall(head("Content-Type: application/json", "Content-Length: 536870912"))
        answer = read_answer(connection)
    assert status_of(answer) == 413
    assert b"connection: close" in answer.lower()


def test_a_streamed_body_past_the_cap_is_413_and_the_rest_is_not_read(served: ServedBot) -> None:
    with connect(served) as connection:
        connection.sendall(head("Content-Type: application/json", "Transfer-Encoding: chunked"))
        sender = Sender(connection)
        thread = threading.Thread(target=sender.run, daemon=True)
        thread.start()
        answer = read_answer(connection)
        assert sender.done.wait(ANSWER_TIMEOUT_SECONDS)
    assert status_of(answer) == 413
    assert isinstance(sender.stopped_by, OSError)
    assert sender.sent < STREAMED_BYTES


def test_a_signed_body_above_the_cap_is_413_too_before_the_signature_is_checked(
    served: ServedBot, module_slack: DevSlack
) -> None:
    body = b"payload=" + b"x" * MAX_BODY_BYTES
    response = post(
        served.slack.endpoint.url, body, signed_headers(module_slack.signing_secret, body)
    )
    assert response.status_code == 413


def test_a_body_at_the_cap_is_read_and_checked_as_before(served: ServedBot) -> None:
    body = b"payload=" + b"x" * (MAX_BODY_BYTES - len(b"payload="))
    response = post(served.slack.endpoint.url, body, {"Content-Type": FORM})
    assert response.status_code == 401


def test_slack_requests_are_answered_as_before(served: ServedBot, module_slack: DevSlack) -> None:
    delivery = module_slack.user(MANAGER).command("/onboard", channel=CHANNEL)
    assert delivery.status == 200
