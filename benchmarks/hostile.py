"""What an unauthenticated caller can do to `onboard-bot serve`, measured on the served process.

Large bodies: one unsigned POST of 512 MiB, then four at once of 256 MiB each, to
/slack/events, each with its length declared (a fresh `serve` per case); the process's peak
resident memory (VmHWM) against its memory before, and what it still holds afterwards.

Slow headers (Slowloris): SLOW_CONNECTIONS connections that send half their headers and then
nothing, reopened when the bot closes them, for ATTACK_SECONDS; `serve` started with a soft
open-file limit of OPEN_FILES (below the connections) and a hard one of 16 x that, as systemd
gives 1024 of 524288. Measured: how long GET /healthz takes to answer during the attack (each
try waits 5 s), and how many lines and bytes the log grew by.

    .venv/bin/python -m benchmarks.hostile [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.harness import (
    DEFAULT_DATABASE_URL,
    VENV_BIN,
    ServedProcess,
    bot_environment,
    free_port,
    fresh_database,
    load_average,
    machine_summary,
    served,
)
from devslack import run_devslack

MIB = 2**20
CHUNK = b"\0" * (1 * MIB)
BODY_CASES = (("one unsigned POST of 512 MiB", 1, 512), ("four at once of 256 MiB", 4, 256))
SLOW_CONNECTIONS = 300
OPEN_FILES = 256
ATTACK_SECONDS = 60.0
HEALTH_TRY_SECONDS = 5.0
HALF_HEADERS = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: appli"


def memory_kib(process: subprocess.Popen, field: str) -> int:
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(status.split(f"{field}:", 1)[1].split()[0])


def post_unsigned(bot: ServedProcess, mebibytes: int) -> str:
    """One POST of `mebibytes` with a declared length; its status line, or how it ended."""
    host, port = "127.0.0.1", int(bot.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=120) as connection:
        head = (
            "POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
            f"Content-Length: {mebibytes * MIB}\r\n\r\n"
        )
        ending = "sent whole"
        try:
            connection.sendall(head.encode())
            for _ in range(mebibytes):
                connection.sendall(CHUNK)
        except OSError as error:
            ending = f"closed by the bot while sending ({type(error).__name__})"
        with suppress(OSError):
            status = connection.recv(200).split(b"\r\n", 1)[0].decode()
            return f"{status}, {ending}" if status else ending
        return ending


@dataclass
class BodyResult:
    case: str
    before_kib: int
    peak_kib: int
    after_kib: int
    answers: list[str]

    def line(self) -> str:
        return (
            f"  {self.case:<30} RSS before {self.before_kib / 1024:5.0f} MiB, "
            f"peak {self.peak_kib / 1024:5.0f} MiB, after {self.after_kib / 1024:5.0f} MiB; "
            f"answers: {', '.join(sorted(set(self.answers)))}"
        )


@dataclass
class SlowResult:
    health_seconds: list[float]
    health_failures: int
    log_lines: int
    log_bytes: int

    def line(self) -> str:
        answered = sorted(self.health_seconds)
        worst = f"{answered[-1]:.2f} s" if answered else "never"
        return (
            f"  {SLOW_CONNECTIONS} slow connections for {ATTACK_SECONDS:.0f} s, open files "
            f"{OPEN_FILES}: /healthz answered {len(answered)} times (slowest {worst}), "
            f"unanswered within {HEALTH_TRY_SECONDS:.0f} s {self.health_failures} times; "
            f"log grew by {self.log_lines} lines, {self.log_bytes / 1024:.0f} KiB"
        )


@contextmanager
def serve(environment: dict[str, str], soft_files: int | None = None) -> Iterator[ServedProcess]:
    port = free_port()
    command = [str(VENV_BIN / "onboard-bot"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if soft_files is not None:  # prlimit execs serve: the same process
        command = ["prlimit", f"--nofile={soft_files}:{16 * soft_files}", "--", *command]
    with served("onboard-bot", command, {**environment, "PORT": str(port)}) as bot:
        yield bot


def big_bodies(environment: dict[str, str], case: str, count: int, mebibytes: int) -> BodyResult:
    with serve(environment) as bot:
        before = memory_kib(bot.process, "VmRSS")
        with ThreadPoolExecutor(max_workers=count) as pool:
            answers = list(pool.map(lambda _: post_unsigned(bot, mebibytes), range(count)))
        time.sleep(2)
        peak, after = memory_kib(bot.process, "VmHWM"), memory_kib(bot.process, "VmRSS")
    return BodyResult(case, before, peak, after, answers)


def slow_headers(environment: dict[str, str]) -> SlowResult:
    with serve(environment, soft_files=OPEN_FILES) as bot:
        log_before = bot.log.read_bytes()
        stop = threading.Event()
        attacker = threading.Thread(target=keep_slow_connections, args=(bot, stop), daemon=True)
        attacker.start()
        time.sleep(2)  # let the connections pile up
        seconds, failures = [], 0
        deadline = time.monotonic() + ATTACK_SECONDS
        with httpx.Client(timeout=HEALTH_TRY_SECONDS) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    if client.get(f"{bot.url}/healthz", headers={"connection": "close"}).is_success:
                        seconds.append(time.perf_counter() - started)
                    else:
                        failures += 1
                except httpx.TransportError:
                    failures += 1
                time.sleep(0.5)
        stop.set()
        attacker.join(timeout=30)
        grown = bot.log.read_bytes()[len(log_before) :]
    return SlowResult(seconds, failures, grown.count(b"\n"), len(grown))


def keep_slow_connections(bot: ServedProcess, stop: threading.Event) -> None:
    """SLOW_CONNECTIONS half-sent requests, each reopened once the bot closes it."""
    host, port = "127.0.0.1", int(bot.url.rsplit(":", 1)[1])
    open_ones: list[socket.socket] = []
    try:
        while not stop.is_set():
            still_open = []
            for connection in open_ones:
                try:
                    connection.setblocking(False)
                    if connection.recv(1) == b"":  # closed by the bot
                        connection.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    connection.close()
                    continue
                still_open.append(connection)
            open_ones = still_open
            while len(open_ones) < SLOW_CONNECTIONS and not stop.is_set():
                try:
                    connection = socket.create_connection((host, port), timeout=1)
                    connection.sendall(HALF_HEADERS)
                    open_ones.append(connection)
                except OSError:
                    break
            stop.wait(0.5)
    finally:
        for connection in open_ones:
            connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    arguments = parser.parse_args()
    print(f"Machine: {machine_summary()}; {load_average()}")
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2 * SLOW_CONNECTIONS:
        raise SystemExit(f"this benchmark needs {2 * SLOW_CONNECTIONS} open files itself")
    database_url = fresh_database(arguments.database_url)
    with run_devslack() as slack:
        environment = bot_environment(
            slack, database_url=database_url, nmbrs_base_url="http://127.0.0.1:9/"
        )
        print("Large unsigned bodies to /slack/events (a fresh serve each)")
        for case, count, mebibytes in BODY_CASES:
            print(big_bodies(environment, case, count, mebibytes).line(), flush=True)
        print("Slow headers (Slowloris)")
        print(slow_headers(environment).line())
    print(f"Afterwards: {load_average()}")


if __name__ == "__main__":
    main()
