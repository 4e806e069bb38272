"""Moving the SOAP links to the Nmbrs REST API before the SOAP API ends (NMBRS_SOAP_END_DATE).

- `request_moves` (`onboard-bot links migrate`) asks the channel of every active SOAP link to
  reconnect: one message per link through the outbox, with the relink button, which opens the
  relink by consent. A link asked before is not asked again (the message's dedupe key), so
  running it twice posts once; `dry_run` says what it would ask and changes nothing.
- `status` counts the links on the REST API and the days left, for the App Home and the digest.
- `end_soap` (daily) marks every active SOAP link needs_relink once the end date has come (by
  the injected clock): reason "soap_ended", reported once, the relink being the consent.

Today is the local day of the working calendar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlmodel import select

from bot.clock import Clock, SystemClock, WorkingCalendar
from bot.core.events import LinkMoveRequested
from bot.core.link_flow import REASON_SOAP_ENDED, LinkStatus
from bot.core.migration import MigrationStatus, migration_status
from bot.core.payroll import NMBRS_SOAP
from bot.ports import LinkNotices
from bot.usecases.link_notices import link_event, publish_link_event
from bot.usecases.link_problems import Problem, mark_needs_relink
from bot.usecases.providers import Providers
from storage.links import LinkStanding, client_of, link_standings
from storage.models import OutboxMessage
from storage.repository import UnitOfWorkFactory

logger = logging.getLogger(__name__)

SYSTEM = "system"


def move_request_key(link_id: int) -> str:
    """The outbox key of the request to move a link: one per link."""
    return f"link_move_request:{link_id}"


@dataclass(frozen=True)
class MoveRequest:
    """What `request_moves` did (or, in a dry run, would do) for one SOAP link."""

    link_id: int
    client_name: str
    channel_id: str
    companies: int
    # Asked before (the request is in the outbox already): not asked again.
    asked_before: bool
    # Asked now (False in a dry run, or when asked before).
    asked: bool


class LinkMigration:
    """Blocking (database)."""

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        providers: Providers,
        notices: LinkNotices,
        calendar: WorkingCalendar,
        clock: Clock | None = None,
    ):
        self._unit_of_work = unit_of_work
        self._providers = providers
        self._notices = notices
        self._calendar = calendar
        self._clock = clock or SystemClock()

    def today(self) -> date:
        return self._calendar.local(self._clock.now()).date()

    def status(self) -> MigrationStatus:
        """x of y links (not unlinked) on the REST API, and the days the SOAP API has left."""
        today = self.today()
        with self._unit_of_work() as uow:
            standings = link_standings(uow)
        return migration_status(
            (row.provider for row in standings),
            days_left=self._providers.days_until_soap_ends(today),
            soap_ends_on=self._providers.soap_ends_on,
            ended=self._providers.soap_ended(today),
        )

    def request_moves(self, *, dry_run: bool = False, actor: str = "cli") -> list[MoveRequest]:
        """Ask the channel of every active SOAP link to move it to the REST API; one
        transaction per link."""
        with self._unit_of_work() as uow:
            link_ids = [row.link_id for row in link_standings(uow) if _is_active_soap(row)]
        return [self._request_move(link_id, dry_run=dry_run, actor=actor) for link_id in link_ids]

    def _request_move(self, link_id: int, *, dry_run: bool, actor: str) -> MoveRequest:
        now = self._clock.now()
        key = move_request_key(link_id)
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            client = client_of(uow, link)
            companies = len(uow.links.companies(link_id))
            asked = select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)
            asked_before = uow.session.exec(asked).first() is not None
            request = MoveRequest(
                link_id=link_id,
                client_name=client.name,
                channel_id=client.conversation_id,
                companies=companies,
                asked_before=asked_before,
                asked=not dry_run and not asked_before,
            )
            if not request.asked:
                return request
            event = link_event(
                LinkMoveRequested,
                link,
                client,
                actor=actor,
                at=now,
                notice_key=key,
                soap_ends_on=self._providers.soap_ends_on.isoformat(),
            )
            publish_link_event(uow, self._notices, event)
            uow.commit()
        return request

    def end_soap(self, *, actor: str = SYSTEM) -> list[int]:
        """From the SOAP API's end date on, every active SOAP link needs a relink (reason
        "soap_ended", reported once); the ids of the links this run marked. Nothing before the
        end date."""
        if not self._providers.soap_ended(self.today()):
            return []
        with self._unit_of_work() as uow:
            link_ids = [row.link_id for row in link_standings(uow) if _is_active_soap(row)]
        marked = []
        for link_id in link_ids:
            now = self._clock.now()
            with self._unit_of_work() as uow:
                link = uow.links.require(link_id)
                if link.revoked_at is not None or link.encrypted_secret is None:
                    continue
                reported = mark_needs_relink(
                    uow,
                    self._notices,
                    link,
                    Problem(REASON_SOAP_ENDED),
                    checked_token=link.encrypted_secret,
                    actor=actor,
                    now=now,
                )
                uow.commit()
            if reported:
                logger.info("link %s needs a relink: the SOAP API has ended", link_id)
                marked.append(link_id)
        return marked


def _is_active_soap(row: LinkStanding) -> bool:
    return (row.provider or NMBRS_SOAP) == NMBRS_SOAP and row.status == LinkStatus.ACTIVE
