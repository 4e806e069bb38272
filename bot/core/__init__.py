"""The pure core: what happens next in an onboarding and a link, and what to show.

Standard library only: no chat tool, no payroll API, no database. The use cases
(`bot.usecases`) load and store; the core decides.
"""
