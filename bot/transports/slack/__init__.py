"""The Slack transport: Slack payloads in, use cases (bot.services) called, Block Kit out.

- app.py: the bolt AsyncApp, built from the settings and the services; http.py: the ASGI app
  around it (`POST /slack/events`, `GET /healthz`) and the process's logging.
- listeners/: one module per surface, each with `register(app, ...)`; views/: pure Block Kit
  builders.
- answers.py: running a use case for a request and answering with its screen;
  modal_routines.py: the submit/open/press/suggest routines the onboarding and link modals share.
- payload_shape.py: what a signed payload must hold; retries.py: what the Web API clients retry;
  errors.py: the app's error handler.
- identity.py: who is an account manager; managers.py: the Slack side the account manager's
  surfaces share; invites.py: posting and redrawing the invite message.
- membership.py: who is in a client's channel; metadata.py: signed private_metadata.
"""
