"""People acting in the fake Slack: each act becomes the signed request Slack would send the bot.

`SlackUser` clicks, fills, submits and closes what the bot showed, keeps the client-side state
Slack's client keeps (entered values, the modal stack), and applies the bot's answers as Slack does.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from devslack import blockkit
from devslack.world import ClientRefused, IncompleteForm, Message, View, World

logger = logging.getLogger(__name__)

SURFACE = Message | View


class DeliveryFailed(Exception):
    """The bot did not acknowledge a request the way Slack requires (2xx within the time limit)."""

    def __init__(self, message: str, delivery: Delivery | None = None):
        super().__init__(message)
        self.delivery = delivery


class AckTimeout(DeliveryFailed):
    """The bot took longer than Slack waits (3 s); Slack shows the person an error."""


@dataclass
class Delivery:
    """One request to the bot's /slack/events and its acknowledgement."""

    kind: str
    body: bytes
    content_type: str
    status: int = 0
    seconds: float = 0.0
    response_text: str = ""
    retry_num: int | None = None

    @property
    def payload(self) -> dict:
        """The JSON the bot received (the `payload` form field for interactivity)."""
        if self.content_type == "application/json":
            return json.loads(self.body)
        fields = {k: v[0] for k, v in parse_qs(self.body.decode()).items()}
        return json.loads(fields["payload"]) if "payload" in fields else fields

    @property
    def response(self) -> Any:
        """The acknowledgement body as JSON (None when empty or not JSON)."""
        try:
            return json.loads(self.response_text) if self.response_text.strip() else None
        except json.JSONDecodeError:
            return None


@dataclass
class BotEndpoint:
    """Where Slack sends requests for the app: the bot's Request URL, with its signing secret."""

    url: str
    signing_secret: str
    ack_timeout: float = 3.0
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._signer = SignatureVerifier(self.signing_secret)
        self._http = httpx.Client(timeout=self.ack_timeout)

    def close(self) -> None:
        self._http.close()

    def send(
        self, kind: str, body: bytes, content_type: str, *, retry_num: int | None = None
    ) -> Delivery:
        delivery = Delivery(kind, body, content_type, retry_num=retry_num)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": self._signer.generate_signature(timestamp=timestamp, body=body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        started = time.perf_counter()
        try:
            answer = self._http.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            delivery.seconds = time.perf_counter() - started
            self.deliveries.append(delivery)
            raise AckTimeout(
                f"{kind}: the bot did not answer within {self.ack_timeout} s", delivery
            ) from None
        delivery.seconds = time.perf_counter() - started
        delivery.status = answer.status_code
        delivery.response_text = answer.text
        self.deliveries.append(delivery)
        if not 200 <= answer.status_code < 300:
            raise DeliveryFailed(f"{kind}: the bot answered HTTP {answer.status_code}", delivery)
        return delivery

    def send_payload(self, payload: dict, *, retry_num: int | None = None) -> Delivery:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.send(
            payload["type"], body, "application/x-www-form-urlencoded", retry_num=retry_num
        )

    def replay(self, delivery: Delivery, *, retry_num: int = 1) -> Delivery:
        """Send the same body again, freshly signed, marked as Slack's retry number `retry_num`."""
        return self.send(delivery.kind, delivery.body, delivery.content_type, retry_num=retry_num)


class RunningSlack(Protocol):
    """What a person's acts go through: the world they see and the bot's Request URL, with the
    token Slack sends along (`devslack.handle.DevSlack` is the one)."""

    world: World
    verification_token: str

    @property
    def endpoint(self) -> BotEndpoint: ...

    def send_event(self, event: dict, *, team_id: str | None = None) -> Delivery: ...


class SlackUser:
    """One person in the fake Slack, acting on what the bot showed them."""

    def __init__(self, slack: RunningSlack, user_id: str):
        self.slack = slack
        self.world = slack.world
        self.id = user_id
        self.profile = self.world.user(user_id)
        self._suggested: dict[tuple[str, str], list[dict]] = {}

    def __repr__(self) -> str:
        return f"SlackUser({self.id})"

    # ---- what the person sees -----------------------------------------------------------

    @property
    def modal(self) -> View | None:
        """The view on top of this person's modal stack (None when no modal is open)."""
        return self.world.top_view(self.id)

    @property
    def modal_stack(self) -> list[View]:
        return self.world.stack(self.id)

    @property
    def home(self) -> View | None:
        return self.world.home(self.id)

    def messages(self, channel: str) -> list[Message]:
        return self.world.visible_messages(channel, self.id)

    def last_message(self, channel: str) -> Message:
        messages = self.messages(channel)
        if not messages:
            raise LookupError(f"no messages in {channel}")
        return messages[-1]

    def wait_for_modal(
        self, predicate: Callable[[View], bool] | None = None, timeout: float = 5.0
    ) -> View:
        """Wait until a modal is open (and `predicate(view)` holds). Bolt answers (acks) first and
        calls the Web API afterwards, so what a click causes shows up a moment later."""

        def ready() -> View | None:
            view = self.world.top_view(self.id)
            return view if view and (predicate is None or predicate(view)) else None

        return self.world.wait_until(ready, timeout)

    def wait_for_no_modal(self, timeout: float = 5.0) -> None:
        self.world.wait_until(lambda: self.world.top_view(self.id) is None, timeout)

    def wait_for_home(
        self, predicate: Callable[[View], bool] | None = None, timeout: float = 5.0
    ) -> View:
        def ready() -> View | None:
            view = self.world.home(self.id)
            return view if view and (predicate is None or predicate(view)) else None

        return self.world.wait_until(ready, timeout)

    def wait_for_message(
        self, channel: str, predicate: Callable[[Message], bool], timeout: float = 5.0
    ) -> Message:
        """Wait until this person sees a message in `channel` for which `predicate` holds."""

        def found() -> Message | None:
            matching = [m for m in self.messages(channel) if predicate(m)]
            return matching[-1] if matching else None

        return self.world.wait_until(found, timeout)

    # ---- slash commands and events ----------------------------------------------------------

    def command(self, command: str, text: str = "", *, channel: str) -> Delivery:
        """Type `/command text` in a channel; an answer in the ack appears only to this person."""
        place = self.world.channel(channel)
        fields = {
            "token": self.slack.verification_token,
            "team_id": self.profile.team_id,
            "team_domain": self._team()["domain"],
            "channel_id": place.id,
            "channel_name": place.name,
            "user_id": self.id,
            "user_name": self.profile.name,
            "command": command,
            "text": text,
            "api_app_id": self.world.workspace.app_id,
            "is_enterprise_install": "false",
            "response_url": self.world.response_url_for(self.id, place.id, None),
            "trigger_id": self.world.issue_trigger(self.id),
        }
        delivery = self.slack.endpoint.send(
            "slash_command", urlencode(fields).encode(), "application/x-www-form-urlencoded"
        )
        self._show_ack_message(delivery, place.id)
        return delivery

    def open_home(self) -> Delivery:
        """Open the App's Home tab: Slack sends an `app_home_opened` event."""
        home = self.world.home(self.id)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": self.id,
            "channel": self.world.dm_channel(self.id).id,
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        if home:
            event["view"] = home.as_slack()
        return self.slack.send_event(event)

    # ---- interactions with blocks -----------------------------------------------------------

    def click(self, surface: SURFACE, action: str, *, confirm: bool = True) -> Delivery | None:
        """Click a button (by action_id, block_id or its text). Confirm dialogs are accepted
        unless `confirm=False`, in which case nothing is sent, as in Slack."""
        live = self.world.live_copy(surface)
        block, element = _find_element(live.blocks, action)
        if element["type"] != "button":
            raise ClientRefused(f"{action!r} is a {element['type']}, not a button")
        if element.get("confirm") and not confirm:
            return None
        act = {
            "type": "button",
            "text": element["text"],
            "style": element.get("style"),
            "value": element.get("value"),
        }
        act = {k: v for k, v in act.items() if v is not None}
        return self._block_action(live, block, element, act)

    def choose(self, surface: SURFACE, action: str, value: Any) -> Delivery | None:
        """Pick in a select, checkbox group, radio group or overflow. Outside input blocks (or with
        dispatch_action) this sends block_actions, as Slack does; inside, it only fills."""
        live = self.world.live_copy(surface)
        block, element = _find_element(live.blocks, action)
        if element["type"] == "overflow":
            option = self._option(live, block, element, value)
            act = {"type": "overflow", "selected_option": option}
            return self._block_action(live, block, element, act)
        entry = self._entry(live, block, element, value)
        self.world.enter(live, block["block_id"], element["action_id"], entry)
        if block.get("type") == "input" and not block.get("dispatch_action"):
            return None
        return self._block_action(self.world.live_copy(surface), block, element, entry)

    def fill(self, view: View, values: dict[str, Any]) -> None:
        """Enter values into input blocks, keyed by block_id (or "block_id.action_id").

        Text inputs take a string; checkboxes and multi-selects a list of option values; single
        selects and radio buttons an option value; user/conversation selects ids."""
        for key, value in values.items():
            self.choose(view, key, value)

    def keep_drafts(self, surface: SURFACE, drafts: dict[str, dict[str, Any]]) -> None:
        """Store what was typed, {block_id: {action_id: value}}, without sending anything: what
        Slack's client holds until the next submit or click (the browser sends its drafts so)."""
        live = self.world.live_copy(surface)
        for block, element in blockkit.interactive_elements(live.blocks):
            typed = drafts.get(block["block_id"], {})
            if element.get("action_id") in typed and element["type"] in blockkit.VALUE_FIELD:
                value = typed[element["action_id"]]
                entry = self._entry(live, block, element, value)
                self.world.enter(live, block["block_id"], element["action_id"], entry)

    def submit(
        self, view: View | None = None, *, private_metadata: str | None = None
    ) -> Delivery | None:
        """Press the submit button of the top modal. Returns None when Slack's client itself refuses
        (an empty required field; the view then carries the inline error). The bot's
        response_action is applied to the stack. `private_metadata` simulates a tampered request."""
        view_id = view.id if view else self._top().id
        try:
            current = self.world.submittable(self.id, view_id)
        except IncompleteForm:
            return None
        body = current.as_slack()
        if private_metadata is not None:
            body["private_metadata"] = private_metadata
        payload = {
            **self._interaction("view_submission"),
            "trigger_id": self.world.issue_trigger(self.id),
            "view": body,
            "response_urls": [],
        }
        delivery = self.slack.endpoint.send_payload(payload)
        self.world.apply_submission(self.id, view_id, delivery.response or {})
        return delivery

    def close(self, view: View | None = None, *, everything: bool = False) -> Delivery | None:
        """Press Cancel/Back (or the X when `everything`); sends view_closed if the view asks."""
        view_id = view.id if view else self._top().id
        closed, cleared = self.world.close_view(self.id, view_id, everything=everything)
        if not closed.body.get("notify_on_close"):
            return None
        payload = {
            **self._interaction("view_closed"),
            "view": closed.as_slack(),
            "is_cleared": cleared,
        }
        return self.slack.endpoint.send_payload(payload)

    def suggest(self, surface: SURFACE, action: str, query: str) -> list[dict]:
        """Type into an external select: the options the bot offers for `query` (block_suggestion).
        Slack's client asks only once `min_query_length` (default 3) characters are typed."""
        live = self.world.live_copy(surface)
        block, element = _find_element(live.blocks, action)
        if element["type"] not in ("external_select", "multi_external_select"):
            raise ClientRefused(f"{action!r} is a {element['type']}, not an external select")
        if len(query) < element.get("min_query_length", 3):
            return []
        payload: dict[str, Any] = {
            **self._interaction("block_suggestion"),
            "action_id": element["action_id"],
            "block_id": block["block_id"],
            "value": query,
            "action_ts": f"{time.time():.6f}",
        }
        payload.update(self._container(live))
        delivery = self.slack.endpoint.send_payload(payload)
        answer = delivery.response or {}
        if "option_groups" in answer:
            options = [o for group in answer["option_groups"] for o in group.get("options", [])]
        else:
            options = answer.get("options", [])
        if len(options) > 100:
            raise ClientRefused(f"the bot offered {len(options)} options; Slack shows at most 100")
        known = self._suggested.setdefault((block["block_id"], element["action_id"]), [])
        values = {option.get("value") for option in known}
        known.extend(copy.deepcopy(o) for o in options if o.get("value") not in values)
        return options

    # ---- internals -----------------------------------------------------------------------

    def _top(self) -> View:
        top = self.world.top_view(self.id)
        if top is None:
            raise ClientRefused(f"{self.id} has no modal open")
        return top

    def _team(self) -> dict:
        team = self.world.workspace.teams[self.profile.team_id]
        return {"id": team.id, "domain": team.domain}

    def _interaction(self, kind: str) -> dict:
        return {
            "type": kind,
            "team": self._team(),
            "user": {
                "id": self.id,
                "username": self.profile.name,
                "name": self.profile.name,
                "team_id": self.profile.team_id,
            },
            "api_app_id": self.world.workspace.app_id,
            "token": self.slack.verification_token,
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def _container(self, live: SURFACE) -> dict:
        if isinstance(live, View):
            return {"container": {"type": "view", "view_id": live.id}, "view": live.as_slack()}
        channel = self.world.channel(live.channel)
        part: dict[str, Any] = {
            "container": {
                "type": "message",
                "message_ts": live.ts,
                "channel_id": channel.id,
                "is_ephemeral": live.is_ephemeral,
            },
            "channel": {"id": channel.id, "name": channel.name},
        }
        if not live.is_ephemeral:
            part["message"] = live.as_slack()
        return part

    def _block_action(self, live: SURFACE, block: dict, element: dict, act: dict) -> Delivery:
        action = {
            **act,
            "action_id": element["action_id"],
            "block_id": block["block_id"],
            "action_ts": f"{time.time():.6f}",
        }
        payload = {
            **self._interaction("block_actions"),
            "trigger_id": self.world.issue_trigger(self.id),
            **self._container(live),
            "actions": [action],
        }
        if isinstance(live, Message):
            payload["state"] = {"values": live_state(live)}
            payload["response_url"] = self.world.response_url_for(self.id, live.channel, live.ts)
        return self.slack.endpoint.send_payload(payload)

    def _option(self, live: SURFACE, block: dict, element: dict, value: Any) -> dict:
        if isinstance(value, dict):
            return value
        offered = blockkit.offered_options(element)
        offered += self._suggested.get((block["block_id"], element["action_id"]), [])
        for option in offered:
            if option.get("value") == value:
                return copy.deepcopy(option)
        values = [option.get("value") for option in offered]
        raise ClientRefused(f"no option {value!r} in {block['block_id']!r}; offered: {values}")

    def _entry(self, live: SURFACE, block: dict, element: dict, value: Any) -> dict:
        kind = element["type"]
        field_name = blockkit.VALUE_FIELD.get(kind)
        if field_name is None:
            raise ClientRefused(f"{kind} in {block['block_id']!r} holds no value")
        if value is None:
            chosen: Any = [] if field_name in blockkit.PLURAL_FIELDS else None
        elif kind in ("checkboxes", "multi_static_select", "multi_external_select"):
            items = value if isinstance(value, list | tuple) else [value]
            chosen = [self._option(live, block, element, item) for item in items]
        elif kind in ("radio_buttons", "static_select", "external_select"):
            chosen = self._option(live, block, element, value)
        elif field_name in blockkit.PLURAL_FIELDS:
            chosen = list(value) if isinstance(value, list | tuple) else [value]
        else:
            chosen = value
        return {"type": kind, field_name: chosen}

    def _show_ack_message(self, delivery: Delivery, channel: str) -> None:
        """A slash command's ack body (JSON with text or blocks, or plain text) is shown like a
        response_url reply: to this person only, unless `response_type` is in_channel."""
        answer = delivery.response
        if answer is None and delivery.response_text.strip():
            answer = {"text": delivery.response_text}
        if isinstance(answer, dict) and (answer.get("text") or answer.get("blocks")):
            token = self.world.response_url_for(self.id, channel, None).rsplit("/", 1)[1]
            self.world.respond(token, answer)


def live_state(surface: SURFACE) -> dict:
    return blockkit.state_of(surface.blocks, surface.entered)


def _find_element(blocks: list[dict], action: str) -> tuple[dict, dict]:
    """The interactive element named by action_id, "block_id.action_id", block_id or button text."""
    pairs = list(blockkit.interactive_elements(blocks))
    block_part, _, action_part = action.partition(".")
    matchers = [
        lambda b, e: e.get("action_id") == action,
        lambda b, e: action_part and b["block_id"] == block_part and e["action_id"] == action_part,
        lambda b, e: b["block_id"] == action,
        lambda b, e: e.get("type") == "button" and e["text"].get("text") == action,
    ]
    for matches in matchers:
        found = [(b, e) for b, e in pairs if matches(b, e)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ClientRefused(f"{action!r} is ambiguous; name it as block_id.action_id")
    offered = [f"{b['block_id']}.{e.get('action_id')}" for b, e in pairs]
    raise ClientRefused(f"nothing to act on named {action!r}; there is: {offered}")
