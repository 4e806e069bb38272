"""Where the served bot's time goes under load: py-spy samples `onboard-bot serve` and its
use-case process while the ack benchmark's requests arrive, one kind of request after another,
and prints for each kind and process the functions most often on the stack.

    .venv/bin/python -m benchmarks.profile [--requests 500] [--concurrency 50] [--gil]

`--gil` counts only the threads that hold the GIL (what an ack waits for); without it every
thread that is not idle. py-spy needs ptrace (root, or kernel.yama.ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import collections
import re
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.acks import (
    CONCURRENCY,
    DRIVER_ACK_TIMEOUT,
    GROUPS,
    LATENCY,
    ack_accounts,
    measure,
    prepare,
    wait_until_idle,
)
from benchmarks.harness import (
    DEFAULT_DATABASE_URL,
    VENV_BIN,
    bot_environment,
    fresh_database,
    load_average,
    machine_summary,
    onboard_bot_serve,
    sandbox_process,
)
from benchmarks.load import load_workspace
from devslack import run_devslack

REQUESTS = 500
SAMPLES_PER_SECOND = 200
SHOWN = 25


@dataclass
class Profile:
    kind: str
    # (process, frame) -> samples with the frame on the stack; process -> samples.
    frames: collections.Counter[tuple[str, str]]
    samples: collections.Counter[str]

    def lines(self) -> list[str]:
        total = sum(self.samples.values()) or 1
        lines = [f"{self.kind}: {total} samples"]
        for process, count in self.samples.most_common():
            lines.append(f"  {process}: {count * 100 / total:.0f}% of the samples")
            top = [
                (frame, n) for (owner, frame), n in self.frames.most_common() if owner == process
            ]
            for frame, n in top[:SHOWN]:
                lines.append(f"    {n * 100 / total:5.1f}%  {frame}")
        return lines


# Frames every sample of a process has (the interpreter's and the event loop's own), left out.
PLUMBING = (
    *("threading.py", "thread.py", "base_events.py", "events.py", "runners.py"),
    *("main.py", "core.py", "cli.py", "spawn.py", "process.py", "onboard-bot"),
)


def read_raw(path: Path) -> tuple[collections.Counter, collections.Counter]:
    """py-spy's raw output: `frame;frame;... count`, with a frame `process PID:"command"` that
    says which process (with --subprocesses; the command may hold ";" itself)."""
    frames: collections.Counter[tuple[str, str]] = collections.Counter()
    samples: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        owners = PROCESS_FRAME.findall(stack)
        process = "use-case process" if any("multiprocessing" in o for o in owners) else "serve"
        samples[process] += int(count)
        shown = (_short(part) for part in PROCESS_FRAME.sub("", stack).split(";") if part)
        for frame in dict.fromkeys(f for f in shown if not f.endswith(PLUMBING_SUFFIXES)):
            frames[process, frame] += int(count)
    return frames, samples


PROCESS_FRAME = re.compile(r'process \d+:"[^"]*"')
PLUMBING_SUFFIXES = tuple(f"({module})" for module in PLUMBING)


def _short(frame: str) -> str:
    """`function (path/to/module.py:12)` as `function (module.py)`."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else name


def run(requests: int, concurrency: int, database_url: str, gil: bool) -> list[Profile]:
    database_url = fresh_database(database_url)
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    profiles = []
    with (
        sandbox_process(partial(ack_accounts, concurrency), latency=LATENCY) as nmbrs_url,
        run_devslack(load_workspace(GROUPS * concurrency), ack_timeout=DRIVER_ACK_TIMEOUT) as slack,
    ):
        environment = bot_environment(slack, database_url=database_url, nmbrs_base_url=nmbrs_url)
        with onboard_bot_serve(environment) as ours:
            slack.connect(ours.events_url)
            for kind in prepare(slack, concurrency):
                wait_until_idle(ours.process.pid)
                output = workdir / f"{len(profiles)}.txt"
                command = [str(VENV_BIN / "py-spy"), "record", "--pid", str(ours.process.pid)]
                command += ["--subprocesses", "--format", "raw", "-o", str(output)]
                command += ["--rate", str(SAMPLES_PER_SECOND), *(["--gil"] if gil else [])]
                spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                try:
                    measure(slack, ours.events_url, kind, requests, apply=True)
                    wait_until_idle(ours.process.pid)  # and what the acks left behind
                finally:
                    spy.send_signal(signal.SIGINT)
                    _, errors = spy.communicate(timeout=60)
                if not output.exists():
                    raise RuntimeError(f"py-spy wrote no profile: {errors.decode()[-500:]}")
                profiles.append(Profile(kind.name, *read_raw(output)))
    return profiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=REQUESTS, help="per kind")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--gil", action="store_true", help="only threads holding the GIL")
    arguments = parser.parse_args()
    print(f"Machine: {machine_summary()}; {load_average()}")
    for profile in run(
        arguments.requests, arguments.concurrency, arguments.database_url, arguments.gil
    ):
        print("\n".join(profile.lines()))
    print(f"Afterwards: {load_average()}")


if __name__ == "__main__":
    main()
