"""How `serve` bounds itself: connections by its open files, memory handed back after a burst."""

from __future__ import annotations

from bot.serving import MAX_CONNECTIONS, MemoryTrimmer, connection_limit


def trimmer_starting_at(answered: int) -> MemoryTrimmer:
    return MemoryTrimmer(lambda: answered, release=lambda: None)


def test_memory_is_released_once_when_a_burst_of_requests_is_over() -> None:
    trimmer = trimmer_starting_at(0)
    looks = [0, 40, 90, 90, 90, 91, 95, 95, 95]
    assert [trimmer.due(answered) for answered in looks] == [
        False,  # nothing answered yet
        False,  # a burst
        False,  # still going
        True,  # quiet after it: release
        False,  # quiet still: released already
        False,  # the next burst
        False,
        True,
        False,
    ]


def test_serve_takes_at_most_its_connection_limit_and_fewer_when_open_files_run_out() -> None:
    assert connection_limit(1_048_576) == MAX_CONNECTIONS
    assert connection_limit(1024) < 1024
    assert connection_limit(256) < 256
