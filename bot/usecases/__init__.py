"""The use cases: each loads what it needs, lets `bot.core` decide, stores the result and
publishes its events, in one transaction (`bot.usecases.steps` is the runner they share)."""
