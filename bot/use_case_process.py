"""`serve` runs the use cases in a process of its own, so that their work cannot hold back an ack.

Profiled under load (py-spy, 50 requests in flight), the served process held the GIL most of the
time with work that no ack waits for: SQLAlchemy's transactions, zeep's and JSON's parsing of
Nmbrs' answers, the type-ahead's searches. An ack waited behind them for the GIL, and the
event loop with it. Now the served process keeps bolt, the acks and the Slack Web API calls,
and every use case runs in the use-case process: a call from one of the served process's
threads (`run_blocking`, `asyncio.to_thread`) goes through a pipe, and the thread waits for the
answer without holding the GIL. The outbox worker, the scheduler and the token check run there
too, and the process runs at a lower priority (USE_CASE_NICENESS), so that on a busy machine
the acks get the CPU first.

- `UseCaseProcess`: the served process's side. `start()` spawns the process, `component(name,
  here)` is a stand-in for one of its use-case objects (`Services.onboarding`, ...) whose
  method calls run there, with the context variables that travel (the request id of the log
  lines, the membership cache's "cache only"), or on `here`, the served process's own, within
  `urgent()` (the type-ahead's read, whose answer is the ack). A process that ends is started
  again; the calls it had not answered fail with `UseCaseProcessLost` (the person sees "try
  again"), as would a thread's.
- `UseCaseServer`: the use-case process's side, started by `UseCaseProcess`.

What travels is pickled: arguments, answers and exceptions. An exception that cannot travel
becomes a `UseCaseFailed` naming its type only (its text may hold what was typed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol, cast

logger = logging.getLogger(__name__)

# Below the served process (0): the kernel gives the acks the CPU first.
USE_CASE_NICENESS = 5
# Use cases mostly wait (on Nmbrs or the database), so many may run at once.
USE_CASE_WORKERS = 32
# A process that ended is started again after this (doubled while it keeps ending at once).
RESTART_SECONDS = 0.5
MAX_RESTART_SECONDS = 30.0
STARTED_SECONDS = 60.0  # a process that lived this long ended for a reason of its own
# How long a call waits for a process being started (again) before it fails.
START_WAIT_SECONDS = 30.0
# How long the process may finish what it runs when `serve` stops.
STOP_SECONDS = 20.0

STOP = b""  # the message that stops the process
Call = tuple[int, str, str, tuple[Any, ...], dict[str, Any], tuple[Any, ...]]
Components = Mapping[str, object]


class UseCases(Protocol):
    """Where the transports' use cases run (`Container.use_cases`): UseCaseProcess, or a
    test's stand-in."""

    def component(self, name: str, here: object) -> Any: ...


_urgent: contextvars.ContextVar[bool] = contextvars.ContextVar("urgent", default=False)


@contextlib.contextmanager
def urgent() -> Iterator[None]:
    """Use-case calls in this context (and in the tasks and threads it starts with its context)
    are answers Slack waits for in the ack, which are quick reads (the type-ahead's options):
    they run in the served process, next to the request, instead of queueing behind the
    use-case process's work. Not for steps that write: 200 at once in the served process held
    its GIL and delayed every ack."""
    token = _urgent.set(True)
    try:
        yield
    finally:
        _urgent.reset(token)


class UseCaseProcessLost(RuntimeError):
    """The use-case process ended before it answered the call."""


class UseCaseFailed(RuntimeError):
    """A use case raised an exception that could not travel back; only its type is told."""


class UseCaseProcess:
    """The served process's side; see the module docstring.

    `entry(connection)` builds what the process serves and calls `serve_use_cases`; it runs in
    a spawned interpreter, so it and what it is bound to must pickle (a functools.partial of a
    module's function with the settings)."""

    def __init__(
        self,
        entry: Callable[[Connection], None],
        travelling: Sequence[contextvars.ContextVar[Any]] = (),
    ):
        self._entry = entry
        self._travelling = tuple(travelling)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()  # the connection, the waiting calls, the process
        self._sending = threading.Lock()  # one message at a time through the pipe
        self._ready = threading.Event()
        self._waiting: dict[int, concurrent.futures.Future[Any]] = {}
        self._numbers = itertools.count(1)
        self._connection: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stopping = False
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        self._launch()
        self._reader = threading.Thread(target=self._read, name="use-case-answers", daemon=True)
        self._reader.start()

    def component(self, name: str, here: object) -> Any:
        """A stand-in for the use-case object `name` of the process: its methods run there,
        or on `here`, this process's own, for a call Slack waits on (`urgent()`)."""
        return RemoteComponent(self, name, here)

    def call(
        self, component: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run `component.method(*args, **kwargs)` in the process and wait for its answer (from
        a thread: never on an event loop, which would stop while it waits)."""
        refuse_on_event_loop(component, method)
        if not self._ready.wait(START_WAIT_SECONDS):
            raise UseCaseProcessLost("the use-case process is not running")
        answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        context = tuple(variable.get() for variable in self._travelling)
        with self._lock:
            number = next(self._numbers)
            connection = self._connection
            if connection is None:
                raise UseCaseProcessLost("the use-case process is not running")
            self._waiting[number] = answer
        message = pickle.dumps(
            (number, component, method, args, kwargs, context), pickle.HIGHEST_PROTOCOL
        )
        try:
            # Not under `_lock`: while a full pipe holds this send, the answers must still be
            # read (else the process, blocked sending them, stops reading: a deadlock).
            with self._sending:
                connection.send_bytes(message)
        except OSError as error:
            with self._lock:
                self._waiting.pop(number, None)
            raise UseCaseProcessLost("the use-case process is not running") from error
        return answer.result()

    def stop(self) -> None:
        """Let the process finish what it runs (STOP_SECONDS at most), then end it."""
        with self._lock:
            self._stopping = True
            process, connection = self._process, self._connection
        if connection is not None:
            with self._sending, contextlib.suppress(OSError):
                connection.send_bytes(STOP)  # it finishes what it runs and exits
        if process is not None:
            process.join(STOP_SECONDS)
            if process.exitcode is None:
                process.terminate()
                process.join(STOP_SECONDS)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _launch(self) -> None:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=self._entry, args=(theirs,), name="use-cases", daemon=False
        )
        process.start()
        theirs.close()
        with self._lock:
            self._connection, self._process = ours, process
        self._ready.set()

    def _read(self) -> None:
        pause = RESTART_SECONDS
        while True:
            connection = self._connection
            assert connection is not None
            started = time.monotonic()
            self._answer_all(connection)
            with self._lock:
                if self._stopping:
                    return
                self._ready.clear()
                lost, self._waiting = self._waiting, {}
                self._connection = None
                process = self._process
            for answer in lost.values():
                answer.set_exception(UseCaseProcessLost("the use-case process ended"))
            if process is not None:
                process.join(1.0)
            logger.error(
                "the use-case process ended (exit code %s); starting it again",
                process.exitcode if process is not None else None,
            )
            lived = time.monotonic() - started
            pause = (
                RESTART_SECONDS if lived > STARTED_SECONDS else min(pause * 2, MAX_RESTART_SECONDS)
            )
            time.sleep(pause)
            with self._lock:
                if self._stopping:
                    return
            try:
                self._launch()
            except Exception:
                logger.exception("the use-case process could not be started; serve stops")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def _answer_all(self, connection: Connection) -> None:
        """Hand each answer to the call that waits for it, until the process ends."""
        while True:
            try:
                number, failed, value = pickle.loads(connection.recv_bytes())
            except (EOFError, OSError):
                return
            except Exception:
                logger.exception("an answer of the use-case process could not be read")
                continue
            with self._lock:
                answer = self._waiting.pop(number, None)
            if answer is None:
                continue
            if failed:
                answer.set_exception(value)
            else:
                answer.set_result(value)


class RemoteComponent:
    """`process.component("onboarding", here).open(...)` runs `onboarding.open(...)` there, or
    `here.open(...)` in this thread when urgent."""

    def __init__(self, process: UseCaseProcess, name: str, here: object):
        self._process = process
        self._name = name
        self._here = here

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def remote(*args: Any, **kwargs: Any) -> Any:
            if _urgent.get():
                refuse_on_event_loop(self._name, method)
                return getattr(self._here, method)(*args, **kwargs)
            return self._process.call(self._name, method, args, kwargs)

        remote.__name__ = f"{self._name}.{method}"
        return remote

    def __repr__(self) -> str:
        return f"<{self._name} in the use-case process>"


class UseCaseServer:
    """The use-case process's side: runs the calls that come through `connection` until it
    ends (`serve` stops, or ended), USE_CASE_WORKERS at a time; then lets the running ones
    finish. `answered`: how many calls it answered (for bot.serving.MemoryTrimmer)."""

    def __init__(
        self,
        connection: Connection,
        components: Components,
        travelling: Sequence[contextvars.ContextVar[Any]] = (),
    ):
        self._connection = connection
        self._components = components
        self._travelling = tuple(travelling)
        self._sending = threading.Lock()
        self.answered = 0

    def run(self) -> None:
        # Ctrl-C and a process manager's SIGTERM reach the served process, which stops us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=USE_CASE_WORKERS, thread_name_prefix="use-case"
        ) as pool:
            while True:
                try:
                    message = self._connection.recv_bytes()
                except (EOFError, OSError):
                    break
                if message == STOP:
                    break
                pool.submit(self._answer, message)
        self._connection.close()

    def _answer(self, message: bytes) -> None:
        data = _run(message, self._components, self._travelling)
        # When the served process is gone, its call is lost with it.
        with self._sending, contextlib.suppress(OSError):
            self._connection.send_bytes(data)
            self.answered += 1


def _run(
    message: bytes, components: Components, travelling: Sequence[contextvars.ContextVar[Any]]
) -> bytes:
    """The pickled answer to a pickled call."""
    number, component, method, args, kwargs, context = cast(Call, pickle.loads(message))
    for variable, value in zip(travelling, context, strict=True):
        variable.set(value)
    try:
        answer = (number, False, getattr(components[component], method)(*args, **kwargs))
    except Exception as error:
        where = "".join(traceback.format_tb(error.__traceback__))
        error.add_note(f"raised in the use-case process:\n{where}")
        answer = (number, True, error)
    try:
        return pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
    except Exception:
        logger.error("%s.%s: its %s cannot travel", component, method, type(answer[2]).__name__)
        return pickle.dumps((number, True, UseCaseFailed(type(answer[2]).__name__)))


def lower_priority() -> None:
    """The use-case process's priority below the served process's."""
    os.nice(USE_CASE_NICENESS)


def refuse_on_event_loop(component: str, method: str) -> None:
    """A use case waits (on the pipe, the database, Nmbrs): on an event loop it would stop
    every other request with it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{component}.{method} called on the event loop: use a thread")
