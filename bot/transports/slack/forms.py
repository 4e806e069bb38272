"""Reading what the person entered in a modal: its state as a `Form`, the company choice, the
inline errors a submission is answered with, and the draft a closed form leaves for the next
Start (never the token). Views draw the forms (bot.transports.slack.views); this reads them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.core.flow import PACKAGES
from bot.core.model import looks_like_token
from bot.i18n import catalogue
from bot.transports.slack.views.links import ACTION_LINK_COMPANY_SEARCH
from bot.transports.slack.views.onboarding import (
    ACTION_COMPANIES,
    ACTION_COMPANY_SEARCH,
    ACTION_PACKAGE,
    ACTION_TERMS,
    ACTION_TOKEN,
    ACTION_USERNAME,
    BLOCK_COMPANIES,
    BLOCK_PACKAGE,
    BLOCK_TERMS,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_TERMS,
    TERMS_ACCEPTED_VALUE,
)

# A company's ref as an option value: SOAP's int id, REST's companyId (a UUID).
_COMPANY_REF = re.compile(r"[0-9A-Za-z-]{1,64}")

MULTI_VALUE_TYPES = ("checkboxes", "multi_static_select", "multi_external_select")
SINGLE_OPTION_TYPES = ("static_select", "external_select", "radio_buttons")


@dataclass(frozen=True)
class Form:
    """A view's state: values and block ids by action id."""

    values: dict[str, Any]
    block_ids: dict[str, str]

    def value(self, action_id: str, default: Any = None) -> Any:
        value = self.values.get(action_id)
        return default if value is None else value


def read_form(view: dict[str, Any]) -> Form:
    values: dict[str, Any] = {}
    block_ids: dict[str, str] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        for action_id, entry in actions.items():
            kind = entry.get("type")
            if kind in MULTI_VALUE_TYPES:
                value: Any = [option["value"] for option in entry.get("selected_options") or []]
            elif kind in SINGLE_OPTION_TYPES:
                value = (entry.get("selected_option") or {}).get("value")
            else:
                value = entry.get("value")
            values[action_id] = value
            block_ids[action_id] = block_id
    return Form(values=values, block_ids=block_ids)


def chosen_company_ids(form: Form) -> list[str]:
    """The companies ticked or picked in the onboarding's company choice."""
    return _company_ids(form.value(ACTION_COMPANIES) or form.value(ACTION_COMPANY_SEARCH))


def chosen_link_company_ids(form: Form) -> list[str]:
    """The companies ticked or picked in a link's company choice (relink, change companies)."""
    return _company_ids(form.value(ACTION_COMPANIES) or form.value(ACTION_LINK_COMPANY_SEARCH))


def _company_ids(chosen: list[Any] | None) -> list[str]:
    return [
        value for value in chosen or [] if isinstance(value, str) and _COMPANY_REF.fullmatch(value)
    ]


def terms_errors(form: Form, language: str) -> dict[str, str]:
    """Inline errors of the terms form, keyed by block id (empty when it may be submitted)."""
    texts = catalogue(language)
    errors = {}
    if TERMS_ACCEPTED_VALUE not in form.value(ACTION_TERMS, []):
        errors[form.block_ids.get(ACTION_TERMS, BLOCK_TERMS)] = texts.text(
            "customer.terms.required"
        )
    if form.value(ACTION_PACKAGE) not in PACKAGES:
        errors[form.block_ids.get(ACTION_PACKAGE, BLOCK_PACKAGE)] = texts.text(
            "customer.terms.package_required"
        )
    return errors


def credentials_errors(form: Form, language: str) -> dict[str, str]:
    """Inline errors of a credentials form: a field left empty, or a token typed as the
    username (refused here, before Nmbrs is asked, so it is never stored or shown again)."""
    texts = catalogue(language)
    errors = {
        form.block_ids.get(action_id, action_id): texts.text("customer.credentials.required")
        for action_id in (ACTION_USERNAME, ACTION_TOKEN)
        if not (form.value(action_id) or "").strip()
    }
    if looks_like_token(form.value(ACTION_USERNAME) or ""):
        errors[form.block_ids.get(ACTION_USERNAME, ACTION_USERNAME)] = texts.text(
            "customer.credentials.username_is_token"
        )
    return errors


def companies_errors(form: Form, language: str) -> dict[str, str]:
    return _at_least_one_company(chosen_company_ids(form), language)


def link_companies_errors(form: Form, language: str) -> dict[str, str]:
    """companies_errors for the company choice of a link (its own type-ahead's action id)."""
    return _at_least_one_company(chosen_link_company_ids(form), language)


def _at_least_one_company(chosen: list[str], language: str) -> dict[str, str]:
    if chosen:
        return {}
    return {BLOCK_COMPANIES: catalogue(language).text("customer.companies.required")}


def draft_of(callback_id: str, form: Form) -> dict[str, Any]:
    """What a closed form held, to resume with. Never the token."""
    if callback_id == CALLBACK_TERMS:
        return {
            "package": form.value(ACTION_PACKAGE),
            "terms_ticked": TERMS_ACCEPTED_VALUE in form.value(ACTION_TERMS, []),
        }
    if callback_id == CALLBACK_CREDENTIALS:
        username = (form.value(ACTION_USERNAME) or "").strip()
        return {"username": username} if username else {}
    if callback_id == CALLBACK_COMPANIES:
        return {"chosen_ids": chosen_company_ids(form)}
    return {}
