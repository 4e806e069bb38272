"""The transports: one folder per chat tool, each a translator between its payloads and the
use cases in bot.services."""
