"""`python -m bot` is `onboard-bot`."""

from bot.cli import app

app(prog_name="onboard-bot")
