"""What `serve` loads at start-up: zeep (with lxml and the parsed WSDLs, ~20 MiB) only once a
SOAP call is made, not for the SOAP provider its old links keep (the REST API is the default);
alembic (with mako, ~11 MiB) not for the schema check, only for migrating."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BUILD_AS_SERVE_DOES = textwrap.dedent(
    """
    import sys
    import bot.cli
    from bot.bootstrap import build_container, create_asgi_app_for
    from bot.settings import Settings
    from storage.crypto import generate_key
    from storage.db import schema_status

    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-test",
        slack_signing_secret="secret",
        database_url="sqlite://",
        encryption_keys=generate_key(),
        nmbrs_client_id="client",
        nmbrs_client_secret="client-secret",
        nmbrs_subscription_key="key",
    )
    container = build_container(settings)
    schema_status(container.engine)
    create_asgi_app_for(container)
    loaded = {name.split(".")[0] for name in sys.modules}
    print(sorted(loaded & {"zeep", "lxml", "alembic", "mako"}))
    print(sorted(container.providers.available))
    """
)


def test_serve_checks_the_schema_and_builds_the_rest_bot_and_its_soap_provider_lightly():
    shown = subprocess.run(
        [sys.executable, "-c", BUILD_AS_SERVE_DOES],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()

    assert shown == ["[]", "['nmbrs', 'nmbrs-rest']"]
