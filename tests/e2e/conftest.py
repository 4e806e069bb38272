"""Fixtures of the end-to-end tests: the demo's browser journeys take `demo`, `page` and
`screenshots` (tests/e2e/browser_demo.py; a module says its API with `demo_nmbrs_api`)."""

from tests.e2e.browser_demo import demo, page, screenshots  # noqa: F401
