"""The use-case process: a stand-in's method calls run in another process, with the context
that travels, and its answers and exceptions come back; a call Slack waits on runs here; a
process that ends is started again, and the calls it had not answered fail instead of waiting
for good."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection

import pytest

from bot.use_case_process import (
    UseCaseFailed,
    UseCaseProcess,
    UseCaseProcessLost,
    UseCaseServer,
    urgent,
)

greeting: contextvars.ContextVar[str] = contextvars.ContextVar("greeting", default="hello")
# A slow machine may take seconds to spawn an interpreter.
PATIENCE_SECONDS = 60.0


class Refused(Exception):
    pass


class Unpicklable(Exception):
    def __init__(self, reason: str, *, lock: object):
        super().__init__(reason)
        self.lock = lock


class Greeter:
    def greet(self, name: str, *, punctuation: str = "!") -> str:
        return f"{greeting.get()} {name}{punctuation}"

    def where(self) -> int:
        return os.getpid()

    def refuse(self) -> None:
        raise Refused("not today")

    def refuse_strangely(self) -> None:
        raise Unpicklable("a secret typed in", lock=threading.Lock())

    def echo(self, data: bytes) -> bytes:
        return data

    def wait(self, seconds: float) -> str:
        time.sleep(seconds)
        return "waited"


def serve_greeter(connection: Connection) -> None:
    UseCaseServer(connection, {"greeter": Greeter()}, (greeting,)).run()


@pytest.fixture
def process() -> Iterator[UseCaseProcess]:
    use_cases = UseCaseProcess(functools.partial(serve_greeter), (greeting,))
    use_cases.start()
    yield use_cases
    use_cases.stop()


def test_a_call_runs_in_the_other_process_with_the_context_that_travels(
    process: UseCaseProcess,
) -> None:
    greeter = process.component("greeter", Greeter())

    def in_dutch() -> str:
        greeting.set("dag")
        return greeter.greet("Anna", punctuation=".")

    assert contextvars.copy_context().run(in_dutch) == "dag Anna."
    assert greeter.where() == process.pid != os.getpid()


def test_a_call_slack_waits_on_runs_here(process: UseCaseProcess) -> None:
    greeter = process.component("greeter", Greeter())

    with urgent():
        assert greeter.where() == os.getpid()
    assert greeter.where() == process.pid


def test_an_exception_comes_back_as_itself_or_by_its_type_only(process: UseCaseProcess) -> None:
    greeter = process.component("greeter", Greeter())

    with pytest.raises(Refused, match="not today"):
        greeter.refuse()
    with pytest.raises(UseCaseFailed) as failed:
        greeter.refuse_strangely()
    assert str(failed.value) == "Unpicklable"  # not its text: it may hold what was typed


def test_many_calls_from_many_threads_each_get_their_own_answer(process: UseCaseProcess) -> None:
    greeter = process.component("greeter", Greeter())
    names = [f"klant {number}" for number in range(200)]

    async def all_at_once() -> list[str]:
        return await asyncio.gather(*(asyncio.to_thread(greeter.greet, n) for n in names))

    assert asyncio.run(all_at_once()) == [f"hello {name}!" for name in names]


def test_calls_and_answers_that_fill_the_pipe_both_ways_all_come_back(
    process: UseCaseProcess,
) -> None:
    greeter = process.component("greeter", Greeter())
    answers: list[bytes] = []

    def call(number: int) -> None:
        answers.append(greeter.echo(bytes([number]) * 2**20))  # far more than a pipe holds

    callers = [threading.Thread(target=call, args=(number,)) for number in range(40)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(PATIENCE_SECONDS)

    assert not any(caller.is_alive() for caller in callers)
    assert sorted(answer[0] for answer in answers) == list(range(40))


def test_a_call_on_the_event_loop_is_refused(process: UseCaseProcess) -> None:
    async def on_the_loop() -> None:
        process.component("greeter", Greeter()).greet("Anna")

    with pytest.raises(RuntimeError, match="event loop"):
        asyncio.run(on_the_loop())


def test_a_process_that_ends_fails_its_calls_and_is_started_again(process: UseCaseProcess) -> None:
    greeter = process.component("greeter", Greeter())
    first = greeter.where()
    waiting: list[BaseException | str] = []

    def call() -> None:
        try:
            waiting.append(greeter.wait(PATIENCE_SECONDS))
        except UseCaseProcessLost as lost:
            waiting.append(lost)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.2)  # the call is on its way (if not, it goes to the next process: also fine)
    os.kill(first, signal.SIGKILL)
    caller.join(PATIENCE_SECONDS)

    assert not caller.is_alive()
    assert isinstance(waiting[0], UseCaseProcessLost) or waiting[0] == "waited"
    assert greeter.where() not in (first, os.getpid())
