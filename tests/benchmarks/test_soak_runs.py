"""The soak still drives both apps and samples their memory (a few seconds of it; the figures
are for `make bench`, and no timing or size is checked here)."""

from __future__ import annotations

import os

from benchmarks import soak
from benchmarks.memory import tree_memory
from tests.benchmarks.test_load_runs import bench_database_url  # noqa: F401 (a fixture)


def test_a_short_soak_samples_both_apps_and_acks_every_request(bench_database_url):  # noqa: F811
    result = soak.run(6, rate=2, people=1, database_url=bench_database_url)

    for series in (result.ours, result.bare):
        assert len(series.samples) >= 2
        assert series.acks and series.failed == 0
        assert series.samples[-1].memory.rss > 0
    assert "ours / bare" in "\n".join(result.lines())


def test_the_soak_length_comes_from_soak_seconds(monkeypatch):
    monkeypatch.setenv("SOAK_SECONDS", "42")
    assert soak.soak_seconds() == 42.0
    monkeypatch.delenv("SOAK_SECONDS")
    assert soak.soak_seconds() == soak.SOAK_SECONDS


def test_a_process_tree_counts_this_process_and_its_threads():
    memory = tree_memory(os.getpid())
    assert memory.processes >= 1 and memory.threads >= 1
    assert memory.rss >= memory.pss > 0
