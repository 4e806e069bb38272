"""Block Kit view builders: pure functions from domain results to views and messages."""
