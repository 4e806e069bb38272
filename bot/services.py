"""What a transport is handed: the use cases its listeners call and the little configuration
they need. bot.bootstrap builds one `Services` per process; transports never see the container
(the engine, the cipher, the provider), only this.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, WorkingCalendar
from bot.usecases.delivery import DeliveryControl
from bot.usecases.link_service import LinkService
from bot.usecases.manager import ManagerTools
from bot.usecases.onboarding import OnboardingService


@dataclass(frozen=True)
class Services:
    # The customer's onboarding steps (bot.usecases.onboarding).
    onboarding: OnboardingService
    # The customer's use cases on a link after the onboarding (bot.usecases.link_service).
    links: LinkService
    # The account manager's use cases (bot.usecases.manager).
    manager: ManagerTools
    # Halting delivery when our access is taken away, and lifting the halt
    # (bot.usecases.delivery).
    delivery: DeliveryControl
    # The key private_metadata is signed with (derived per kind of modal by the transport).
    metadata_secret: str
    # DEFAULT_LANGUAGE: the account managers' language, and the customer's until they choose.
    language: str
    # ACCOUNT_MANAGER_GROUP: only the members of this user group are account managers, or every
    # full member of our workspace with "*" (bot.core.access.EVERY_FULL_MEMBER); empty: nobody.
    account_manager_group: str
    # Working days and local times for the overviews.
    calendar: WorkingCalendar
    clock: Clock
