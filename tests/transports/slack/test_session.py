"""One Web API session per process: bolt's client, the outbox worker's and the token check's share
it while anything holds it open, and it is closed when the last holder lets go."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import build_container, create_asgi_app_for, outbox_worker, slack_app
from bot.settings import Settings
from bot.transports.slack.session import SharedSession
from storage.crypto import generate_key


async def test_every_holder_shares_one_session_closed_when_the_last_lets_go() -> None:
    web_api = SharedSession(timeout=2.0)
    first = web_api.share_with(AsyncWebClient(token="xoxb-test"))
    second = web_api.share_with(AsyncWebClient(token="xoxb-test"))

    async with web_api.open() as session:
        async with web_api.open() as again:
            assert again is session
        assert (first.session, second.session) == (session, session)
        assert not session.closed

    assert session.closed
    assert (first.session, second.session, web_api.session) == (None, None, None)


async def test_the_served_app_and_the_background_work_use_the_process_session(tmp_path) -> None:
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-test",
        slack_signing_secret="secret",
        slack_api_url="http://127.0.0.1:9/api/",
        encryption_keys=generate_key(),
        database_url=f"sqlite:///{tmp_path / 'onboarding.db'}",
    )
    container = build_container(settings)
    asgi = create_asgi_app_for(container)
    worker = outbox_worker(container)
    try:
        async with asgi.router.lifespan_context(asgi):
            async with worker.deliverer.connected():
                session = container.web_api.session
                assert session is not None
                assert worker.deliverer.client.session is session  # type: ignore[attr-defined]
                assert slack_app(container).client.session is session
                assert container.async_slack_client().session is session
            assert not session.closed  # the served app still holds it
        assert session.closed
    finally:
        container.close()
