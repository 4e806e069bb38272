"""The outbox poll benchmark still claims what it sets up (its times are for `make bench`; none
is checked here)."""

from __future__ import annotations

from benchmarks import outbox_poll


def test_the_outbox_poll_benchmark_claims_the_due_rows_of_each_case() -> None:
    lines = outbox_poll.run(None, polls=2)  # SQLite only; it asserts every due row is claimed

    assert [line.split("wall")[0].split(maxsplit=1)[1].strip() for line in lines[1:]] == [
        "empty outbox (baseline)",
        "300 paced rows, none due",
        "20 due rows claimed",
    ]
