"""How `serve` bounds itself: connections by its open files."""

from __future__ import annotations

from bot.serving import MAX_CONNECTIONS, connection_limit


def test_serve_takes_at_most_its_connection_limit_and_fewer_when_open_files_run_out() -> None:
    assert connection_limit(1_048_576) == MAX_CONNECTIONS
    assert connection_limit(1024) < 1024
    assert connection_limit(256) < 256
