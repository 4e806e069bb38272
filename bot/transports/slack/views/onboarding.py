"""The customer's modals: pure functions from a use case's Outcome to a Block Kit view.

Ids are module constants; listeners match on them. Input block ids carry the step counter, so a
redrawn form starts empty where it must (Slack keeps what was typed into an input whose
block_id and action_id stay the same across views.update).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    ExternalDataMultiSelectElement,
    InputBlock,
    LinkButtonElement,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.core.flow import MAX_FAILED_ATTEMPTS, PACKAGES
from bot.core.invite import StepIndicator
from bot.core.model import Company
from bot.core.screens import (
    Approval,
    BlockedScreen,
    CompanyChoiceScreen,
    CompletedScreen,
    ConsentScreen,
    CredentialsScreen,
    EndedScreen,
    ErrorScreen,
    ExactSettingsScreen,
    ForwardScreen,
    HandoffScreen,
    Instructions,
    NoCompaniesScreen,
    Outcome,
    OverAccessScreen,
    PermissionsScreen,
    PreparationScreen,
    RefusedScreen,
    SupportContact,
    TermsScreen,
    UnavailableScreen,
    shows_contact,
)
from bot.i18n import TIME_ZONE, Catalogue, catalogue
from bot.transports.slack.mrkdwn import (
    bold,
    button_label,
    channel,
    code,
    escape,
    is_person,
    italic,
    link,
    mention,
    verbatim,
    with_lead,
)
from bot.usecases.company_search import MIN_QUERY_LENGTH

NMBRS_TEMPLATE = "(Scenario 3) General Manager Payroll & HR (System)"
# Opens a conversation for whoever follows it (a forwarded colleague, once invited).
SLACK_REDIRECT_URL = "https://slack.com/app_redirect"

# Every onboarding modal's callback_id starts with this.
CALLBACK_PREFIX = "onboarding_"
CALLBACK_TERMS = "onboarding_terms"
CALLBACK_PREPARATION = "onboarding_preparation"
CALLBACK_CREDENTIALS = "onboarding_credentials"
CALLBACK_COMPANIES = "onboarding_companies"
CALLBACK_OVER_ACCESS = "onboarding_over_access"
CALLBACK_INFO = "onboarding_info"
# The forms whose content is kept as a draft when the modal is closed.
DRAFT_CALLBACKS = (CALLBACK_TERMS, CALLBACK_CREDENTIALS, CALLBACK_COMPANIES)

BLOCK_TERMS = "terms"
ACTION_TERMS = "accept_terms"
TERMS_ACCEPTED_VALUE = "accepted"
BLOCK_PACKAGE = "package"
ACTION_PACKAGE = "choose_package"
BLOCK_USERNAME = "username"
ACTION_USERNAME = "username"
BLOCK_TOKEN = "token"
ACTION_TOKEN = "token"
BLOCK_COMPANIES = "companies"
ACTION_COMPANIES = "choose_companies"
ACTION_COMPANY_SEARCH = "search_companies"
ACTION_CHECK_AGAIN = "check_again"
ACTION_NARROW_FILTER = "narrow_filter"
ACTION_OPEN_NMBRS = "open_nmbrs"
# Buttons that open a part of the preparation on top of the modal (views.push); the value is
# the part (bot.core.screens.Instructions).
ACTION_INSTRUCTIONS = "show_instructions"
# The consent screen's link button (Slack opens the page and tells us of the click too), and
# "approve again" after a consent that left data out.
ACTION_CONSENT_LOGIN = "consent_login"
ACTION_CONSENT_AGAIN = "consent_again"
# Back from a handoff to the terms and the package choice (the handoff modal and the invite).
ACTION_CHOOSE_AGAIN = "choose_package_again"

# Slack's limits that shape these views.
CHECKBOX_LIMIT = 10
STATIC_SELECT_LIMIT = 100
OPTION_TEXT_LIMIT = 75
LISTED_COMPANIES = 20
NAME_IN_LIST_LIMIT = 100
# How many companies another client linked already the choice names.
ALREADY_LINKED_NAMED = 5

WORKING_CHECKING = "checking"
WORKING_LINKING = "linking"
WORKING_MOMENT = "moment"


def input_block_id(block: str, step: int) -> str:
    return f"{block}-{step}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=verbatim(text))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[verbatim(text)])


def _modal(
    texts: Catalogue,
    *,
    title: str,
    blocks: Sequence[Block],
    callback_id: str = CALLBACK_INFO,
    submit: str | None = None,
    private_metadata: str | None = None,
    notify_on_close: bool = False,
) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        title=texts.text(f"customer.modal.title_{title}"),
        submit=texts.text(f"customer.modal.submit_{submit}") if submit else None,
        close=texts.text("customer.modal.close"),
        blocks=list(blocks),
        private_metadata=private_metadata,
        notify_on_close=notify_on_close or None,
    )


def company_option(texts: Catalogue, company: Company) -> Option:
    return Option(value=str(company.id), text=_company_label(texts, company))


def _company_label(texts: Catalogue, company: Company) -> str:
    # The company's number is an identifier, not an amount: as it is, without digit groups.
    number = str(company.number)
    label = texts.text("customer.companies.option", name=company.name, number=number)
    if len(label) > OPTION_TEXT_LIMIT:
        overflow = len(label) - OPTION_TEXT_LIMIT + 1
        name = company.name[: max(1, len(company.name) - overflow)] + "…"
        label = texts.text("customer.companies.option", name=name, number=number)
    return _shorten(label, OPTION_TEXT_LIMIT)


def company_options(language: str, companies: Sequence[Company]) -> list[dict]:
    """Options for a block_suggestion answer, in the ack: the JSON of `company_option`, written
    out (slack_sdk's Option.to_dict, with its validation, took 1.4 ms for 100 options, most of
    the served type-ahead's work)."""
    texts = catalogue(language)
    return [
        {
            "text": {"emoji": True, "text": _company_label(texts, company), "type": "plain_text"},
            "value": str(company.id),
        }
        for company in companies
    ]


def _company_lines(texts: Catalogue, companies: Sequence[Company], more_key: str) -> str:
    lines = [
        f"• {escape(_shorten(company.name, NAME_IN_LIST_LIMIT))} ({company.number})"
        for company in companies[:LISTED_COMPANIES]
    ]
    if len(companies) > LISTED_COMPANIES:
        lines.append(texts.plural(more_key, len(companies) - LISTED_COMPANIES))
    return "\n".join(lines)


def step_text(texts: Catalogue, step: StepIndicator) -> str:
    """ "Stap 3 van 5": the modal's and the invite's step indicator."""
    return texts.text("customer.progress.step", step=step.step, of=step.of)


def unchanged_text(texts: Catalogue, local: datetime) -> str:
    """A check again found nothing changed: when it ran, in the customer's own wall-clock
    time and language."""
    when = texts.time(local, local.tzinfo or TIME_ZONE)
    return texts.text("customer.progress.rechecked_unchanged", time=when)


def _already_linked_text(texts: Catalogue, companies: Sequence[Company]) -> str:
    names = ", ".join(escape(company.name) for company in companies[:ALREADY_LINKED_NAMED])
    if len(companies) > ALREADY_LINKED_NAMED:
        names += " …"
    return texts.plural("customer.already_linked.choice", len(companies), names=bold(names))


# --- the screens ----------------------------------------------------------------------------


def render(outcome: Outcome, *, private_metadata: str | None) -> View:
    """The modal for a use case's outcome."""
    texts = catalogue(outcome.language)
    screen = outcome.screen
    step = outcome.ref.step if outcome.ref else 0
    notice = [_context(texts.text("customer.modal.already_done"))] if outcome.notice else []
    if isinstance(screen, PermissionsScreen | NoCompaniesScreen) and screen.unchanged_at:
        notice.insert(0, _context(unchanged_text(texts, screen.unchanged_at)))
    if isinstance(screen, CompanyChoiceScreen) and screen.already_linked:
        notice.insert(0, _context(_already_linked_text(texts, screen.already_linked)))
    if outcome.step is not None:
        notice.insert(0, _context(step_text(texts, outcome.step)))
    builders = {
        TermsScreen: lambda: _terms(texts, screen, outcome.client_name, step),
        PreparationScreen: lambda: _preparation(texts, screen),
        ExactSettingsScreen: lambda: _exact_settings(texts, screen),
        ForwardScreen: lambda: _forward(texts, screen),
        CredentialsScreen: lambda: _credentials(texts, screen, step),
        ConsentScreen: lambda: _consent(texts, screen),
        BlockedScreen: lambda: _blocked(texts, screen),
        UnavailableScreen: lambda: _unavailable(texts),
        PermissionsScreen: lambda: _permissions(texts, screen),
        NoCompaniesScreen: lambda: _no_companies(texts, screen),
        CompanyChoiceScreen: lambda: _companies(texts, screen),
        OverAccessScreen: lambda: _over_access(texts, screen),
        CompletedScreen: lambda: _completed(texts, screen),
        HandoffScreen: lambda: _handoff(texts, screen),
        EndedScreen: lambda: _ended(texts, screen),
        RefusedScreen: lambda: _refused(texts, other_organisation=screen.other_organisation),
        ErrorScreen: lambda: _error(texts, screen.reason),
    }
    view = builders[type(screen)]()
    extra: list[Block] = []
    if isinstance(screen, CompletedScreen) and screen.already_linked:
        extra.append(
            _context(texts.plural("customer.already_linked.warning", screen.already_linked))
        )
    if outcome.instructions:
        extra.append(_instructions_again(texts))
    if outcome.contact is not None and shows_contact(screen):
        extra += _contact(texts, outcome.contact)
    view.blocks = notice + list(view.blocks) + extra
    view.private_metadata = private_metadata
    return view


def _instructions_button(texts: Catalogue, part: Instructions, key: str) -> ButtonElement:
    return ButtonElement(
        action_id=f"{ACTION_INSTRUCTIONS}_{part}", text=texts.text(key), value=str(part)
    )


def _instructions_again(texts: Catalogue) -> ActionsBlock:
    """The preparation's instructions, reachable again from every screen after it."""
    return ActionsBlock(
        elements=[
            _instructions_button(
                texts, Instructions.PREPARATION, "customer.preparation.again_button"
            )
        ]
    )


def _contact(texts: Catalogue, contact: SupportContact) -> list[Block]:
    """How to reach a person: the account manager by mention, our phone and e-mail (what is
    known of them)."""
    values = {
        "manager": mention(contact.account_manager) if is_person(contact.account_manager) else "",
        "phone": bold(escape(contact.phone)) if contact.phone else "",
        "email": escape(contact.email) if contact.email else "",
    }
    known = [name for name, value in values.items() if value]
    if not known:
        return []
    return [_context(texts.text("customer.contact." + "_".join(known), **values))]


def working_view(language: str, kind: str = WORKING_MOMENT) -> View:
    """Shown at once while slow work runs after the ack; replaced by views.update."""
    texts = catalogue(language)
    return _modal(texts, title="working", blocks=[_section(texts.text(f"customer.working.{kind}"))])


def refused_view(language: str) -> View:
    return _refused(catalogue(language))


def error_view(language: str, reason: str = "try_again") -> View:
    return _error(catalogue(language), reason)


def not_opened_text(language: str) -> str:
    texts = catalogue(language)
    return texts.text(
        "customer.error.not_opened", start=button_label(texts, "customer.invite.start")
    )


def _terms(texts: Catalogue, screen: TermsScreen, client_name: str, step: int) -> View:
    accept = Option(value=TERMS_ACCEPTED_VALUE, text=texts.text("customer.terms.option"))
    packages = {
        package: Option(value=package, text=texts.text(f"customer.terms.packages.{package}"))
        for package in PACKAGES
    }
    blocks: list[Block] = [
        _section(texts.text("customer.terms.intro", client=bold(escape(client_name)))),
        _section(
            texts.text(
                "customer.terms.link",
                link=link(screen.terms_url, texts.text("customer.terms.link_label")),
            )
        ),
        InputBlock(
            block_id=input_block_id(BLOCK_TERMS, step),
            label=texts.text("customer.terms.label"),
            element=CheckboxesElement(
                action_id=ACTION_TERMS,
                options=[accept],
                initial_options=[accept] if screen.terms_ticked else None,
            ),
        ),
        InputBlock(
            block_id=input_block_id(BLOCK_PACKAGE, step),
            label=texts.text("customer.terms.package_label"),
            element=StaticSelectElement(
                action_id=ACTION_PACKAGE,
                placeholder=texts.text("customer.terms.package_placeholder"),
                options=list(packages.values()),
                initial_option=packages.get(screen.package or ""),
            ),
        ),
    ]
    return _modal(
        texts,
        title="terms",
        blocks=blocks,
        callback_id=CALLBACK_TERMS,
        submit="terms",
        notify_on_close=True,
    )


def _permission_lines(texts: Catalogue, permissions: dict[str, list[str]]) -> list[Block]:
    return [
        _section(
            bold(texts.text(f"customer.preparation.services.{service}"))
            + "\n"
            + "\n".join(f"• {code(operation)}" for operation in operations)
        )
        for service, operations in permissions.items()
    ]


def _data_lines(texts: Catalogue, data: dict[str, list[str]]) -> str:
    """What a consent lets the link read, in the customer's words (one line per data kind)."""
    return _data_words(texts, [key for keys in data.values() for key in keys])


def _approval_block(texts: Catalogue, approval: Approval | None) -> list[Block]:
    if approval is None:
        return []
    debtors = bold(escape(", ".join(approval.debtors) or "-"))
    if not approval.approved_by:
        # The provider did not ask who approved (no user.info.read): the debtors alone.
        return [_context(texts.text("customer.consent.approved_for", debtors=debtors))]
    return [
        _context(
            texts.text(
                "customer.consent.approved_by",
                login=bold(escape(approval.approved_by)),
                debtors=debtors,
            )
        )
    ]


def _login_preparation(texts: Catalogue) -> list[Block]:
    """The klant login and the AVG, the same in both exact settings (token and consent)."""
    return [
        _section(
            with_lead(
                texts,
                "customer.preparation.login",
                customer_login=bold(texts.text("customer.nmbrs_ui.customer_login")),
                new_login_path=italic(texts.text("customer.nmbrs_ui.new_login_path")),
                filter=bold(texts.text("customer.nmbrs_ui.filter")),
            )
        ),
        _section(with_lead(texts, "customer.preparation.avg")),
    ]


def _data_words(texts: Catalogue, keys: Sequence[str]) -> str:
    """Data keys in the customer's words, one bullet each."""
    words = [texts.get(f"customer.consent.data.{key}", key) for key in keys]
    return "\n".join(f"• {escape(word)}" for word in dict.fromkeys(words))


def _preparation(texts: Catalogue, screen: PreparationScreen) -> View:
    """What to prepare in Nmbrs in business words; the exact settings and the route for
    someone who is not the Nmbrs administrator each one click away."""
    way = "consent" if screen.consent else "token"
    blocks: list[Block] = [
        _section(texts.text("customer.preparation.plain_intro")),
        _section(
            bold(texts.text("customer.preparation.data_intro"))
            + "\n"
            + _data_words(texts, screen.data)
        ),
        _section(
            "\n".join(
                texts.text(f"customer.preparation.step_{name}") for name in ("login", "access", way)
            )
        ),
        _section(with_lead(texts, "customer.preparation.avg")),
    ]
    buttons: list[ButtonElement | LinkButtonElement] = []
    if screen.login_url:
        buttons.append(
            LinkButtonElement(
                action_id=ACTION_OPEN_NMBRS,
                text=texts.text("customer.preparation.nmbrs_button"),
                url=screen.login_url,
            )
        )
    buttons.append(
        _instructions_button(
            texts, Instructions.EXACT_SETTINGS, "customer.preparation.exact_button"
        )
    )
    blocks += [
        ActionsBlock(elements=buttons),
        _context(
            texts.text(
                "customer.preparation.exact_hint",
                exact=button_label(texts, "customer.preparation.exact_button"),
            )
        ),
        DividerBlock(),
        SectionBlock(
            text=verbatim(
                with_lead(
                    texts,
                    "customer.preparation.not_admin",
                    forward=button_label(texts, "customer.preparation.forward_button"),
                )
            ),
            accessory=_instructions_button(
                texts, Instructions.FORWARD, "customer.preparation.forward_button"
            ),
        ),
    ]
    if screen.again:
        # Opened again on top of a later screen: it informs; closing it goes back.
        return _modal(texts, title="preparation", blocks=blocks)
    return _modal(
        texts,
        title="preparation",
        blocks=blocks,
        callback_id=CALLBACK_PREPARATION,
        submit="preparation",
    )


def _exact_settings(texts: Catalogue, screen: ExactSettingsScreen) -> View:
    """The exact names, for whoever configures Nmbrs: the klant login, the user template
    and its API permissions (token), or the template and the scopes asked (consent)."""
    blocks: list[Block] = [
        _section(texts.text("customer.exact.intro")),
        *_login_preparation(texts),
        DividerBlock(),
    ]
    if screen.consent:
        blocks.append(
            _section(
                with_lead(
                    texts, "customer.consent_preparation.template", template=bold(NMBRS_TEMPLATE)
                )
            )
        )
        lines = [
            f"• {code(scope)}: "
            + escape(", ".join(texts.get(f"customer.consent.data.{key}", key) for key in keys))
            for scope, keys in screen.permissions.items()
        ]
        blocks.append(_section(texts.text("customer.exact.scopes_intro") + "\n" + "\n".join(lines)))
    else:
        count = sum(len(operations) for operations in screen.permissions.values())
        blocks.append(
            _section(
                with_lead(
                    texts,
                    "customer.preparation.template",
                    template=bold(NMBRS_TEMPLATE),
                    permissions=texts.plural("customer.preparation.permissions", count),
                )
            )
        )
        blocks += _permission_lines(texts, screen.permissions)
        blocks += [
            DividerBlock(),
            _section(
                with_lead(
                    texts,
                    "customer.preparation.token",
                    add_token_path=italic(texts.text("customer.nmbrs_ui.add_token_path")),
                )
            ),
        ]
    return _modal(texts, title="exact", blocks=blocks)


def _invite_link(screen: ForwardScreen) -> str:
    """A link that opens the client's conversation, where the invite is."""
    return f"{SLACK_REDIRECT_URL}?channel={screen.conversation_id}&team={screen.workspace_id}"


def _forward(texts: Catalogue, screen: ForwardScreen) -> View:
    """For someone who is not the Nmbrs administrator: invite the one who is into the
    conversation, and send them a ready message (to copy) with the link to the invite."""
    message = texts.text(
        f"customer.forward.message_{'consent' if screen.consent else 'token'}",
        client=screen.client_name,
        link=_invite_link(screen),
        start=texts.text("customer.invite.continue"),
    )
    blocks: list[Block] = [
        _section(texts.text("customer.forward.intro")),
        _section(texts.text("customer.forward.invite", channel=channel(screen.conversation_id))),
        _section(texts.text("customer.forward.send")),
        # A code block: copied as it stands, and nothing in it becomes a link or a mention.
        _section("```" + escape(message.replace("`", "'")) + "```"),
        _context(texts.text("customer.forward.outro")),
    ]
    return _modal(texts, title="forward", blocks=blocks)


def _consent(texts: Catalogue, screen: ConsentScreen) -> View:
    blocks: list[Block] = []
    if screen.error:
        blocks.append(_section(texts.text(f"customer.consent.error_{screen.error}")))
    blocks += [
        _section(texts.text("customer.consent.intro")),
        _section(
            with_lead(
                texts,
                "customer.consent.login",
                customer_login=bold(texts.text("customer.nmbrs_ui.customer_login")),
                template=bold(NMBRS_TEMPLATE),
                filter=bold(texts.text("customer.nmbrs_ui.filter")),
            )
        ),
        _section(
            texts.text("customer.consent.data_intro") + "\n" + _data_lines(texts, screen.data)
        ),
    ]
    if screen.start_url:
        blocks.append(
            ActionsBlock(
                elements=[
                    LinkButtonElement(
                        action_id=ACTION_CONSENT_LOGIN,
                        text=texts.text("customer.consent.login_button"),
                        url=screen.start_url,
                        style="primary",
                    )
                ]
            )
        )
    blocks.append(_context(texts.text("customer.consent.outro")))
    view = _modal(texts, title="consent", blocks=blocks)
    # The callback redraws this window by its key (views.update with external_id).
    view.external_id = screen.view_key or None
    return view


def _credentials(texts: Catalogue, screen: CredentialsScreen, step: int) -> View:
    token_hint = "customer.credentials.token_hint"
    blocks: list[Block] = [
        _section(
            texts.text(
                "customer.credentials.intro",
                add_token=italic(texts.text("customer.nmbrs_ui.add_token")),
            )
        ),
        InputBlock(
            block_id=input_block_id(BLOCK_USERNAME, step),
            label=texts.text("customer.credentials.username_label"),
            hint=texts.text("customer.credentials.username_hint"),
            element=PlainTextInputElement(
                action_id=ACTION_USERNAME, initial_value=screen.username or None
            ),
        ),
    ]
    if screen.wrong_credentials:
        # Nmbrs' answer came after the ack, when Slack takes no field errors any more: the
        # error stands right above the token field, which is empty again (never redrawn with
        # the token), and says so; the username stays.
        warning = with_lead(texts, "customer.credentials.wrong")
        if screen.attempts_left < MAX_FAILED_ATTEMPTS:
            left = texts.plural("customer.credentials.attempts_left", screen.attempts_left)
            warning += " " + left
        blocks.append(_section(warning))
        token_hint = "customer.credentials.token_hint_again"
    blocks.append(
        InputBlock(
            block_id=input_block_id(BLOCK_TOKEN, step),
            label=texts.text("customer.credentials.token_label"),
            hint=texts.text(token_hint),
            # Never an initial value: the token is not shown anywhere, ever.
            element=PlainTextInputElement(action_id=ACTION_TOKEN),
        )
    )
    return _modal(
        texts,
        title="credentials",
        blocks=blocks,
        callback_id=CALLBACK_CREDENTIALS,
        submit="credentials",
        notify_on_close=True,
    )


def _blocked(texts: Catalogue, screen: BlockedScreen) -> View:
    # In the customer's time zone, as the App Home shows it (a Slack date would fall back to
    # UTC where it cannot be drawn).
    until = texts.text(
        "customer.blocked.moment",
        date=texts.date(screen.until, screen.until.tzinfo or TIME_ZONE),
        time=texts.time(screen.until, screen.until.tzinfo or TIME_ZONE),
    )
    text = texts.text("customer.blocked.text", until=bold(until))
    return _modal(texts, title="blocked", blocks=[_section(text)])


def _check_again_button(texts: Catalogue, key: str = "check_again") -> ButtonElement:
    return ButtonElement(
        action_id=ACTION_CHECK_AGAIN, text=texts.text(f"customer.modal.{key}"), style="primary"
    )


def _unavailable(texts: Catalogue) -> View:
    blocks = [
        _section(texts.text("customer.unavailable.text")),
        ActionsBlock(elements=[_check_again_button(texts, "retry")]),
    ]
    return _modal(texts, title="unavailable", blocks=blocks)


def _consent_permissions(texts: Catalogue, screen: PermissionsScreen) -> View:
    blocks: list[Block] = [
        _section(
            texts.text("customer.consent.missing") + "\n" + _data_lines(texts, screen.missing)
        ),
        _section(
            texts.text(
                "customer.consent.missing_fix",
                approve_again=button_label(texts, "customer.consent.approve_again"),
            )
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=ACTION_CONSENT_AGAIN,
                    text=texts.text("customer.consent.approve_again"),
                    style="primary",
                )
            ]
        ),
    ]
    return _modal(texts, title="permissions", blocks=blocks)


def _permissions(texts: Catalogue, screen: PermissionsScreen) -> View:
    if screen.consent:
        return _consent_permissions(texts, screen)
    blocks: list[Block] = [
        _section(texts.text("customer.permissions.text")),
        *_permission_lines(texts, screen.missing),
        _section(
            texts.text(
                "customer.permissions.fix",
                template=bold(NMBRS_TEMPLATE),
                check_again=button_label(texts, "customer.modal.check_again"),
            )
        ),
        ActionsBlock(elements=[_check_again_button(texts)]),
    ]
    return _modal(texts, title="permissions", blocks=blocks)


def _no_companies(texts: Catalogue, screen: NoCompaniesScreen) -> View:
    key = "customer.consent.no_companies" if screen.approval else "customer.no_companies.text"
    blocks = [
        _section(texts.text(key, username=bold(escape(screen.username)))),
        *_approval_block(texts, screen.approval),
        _section(
            texts.text(
                "customer.no_companies.fix",
                check_again=button_label(texts, "customer.modal.check_again"),
            )
        ),
        ActionsBlock(elements=[_check_again_button(texts)]),
    ]
    return _modal(texts, title="no_companies", blocks=blocks)


def _company_element(
    texts: Catalogue, screen: CompanyChoiceScreen
) -> CheckboxesElement | StaticMultiSelectElement | ExternalDataMultiSelectElement:
    preselected = [company_option(texts, company) for company in screen.preselected]
    initial = preselected[:STATIC_SELECT_LIMIT] or None
    count = len(screen.companies)
    if count > STATIC_SELECT_LIMIT:
        return ExternalDataMultiSelectElement(
            action_id=ACTION_COMPANY_SEARCH,
            placeholder=texts.text("customer.companies.search_placeholder"),
            min_query_length=MIN_QUERY_LENGTH,
            initial_options=initial,
        )
    options = [company_option(texts, company) for company in screen.companies]
    if count > CHECKBOX_LIMIT:
        return StaticMultiSelectElement(
            action_id=ACTION_COMPANIES,
            placeholder=texts.text("customer.companies.placeholder"),
            options=options,
            initial_options=initial,
        )
    return CheckboxesElement(action_id=ACTION_COMPANIES, options=options, initial_options=initial)


def _companies(texts: Catalogue, screen: CompanyChoiceScreen) -> View:
    count = len(screen.companies)
    intro = texts.plural("customer.companies.intro", count)
    blocks: list[Block] = []
    if screen.narrowing:
        blocks.append(
            _section(
                texts.text(
                    "customer.companies.narrowing",
                    check_again=button_label(texts, "customer.modal.check_again"),
                )
            )
        )
    blocks.append(_section(intro))
    blocks += _approval_block(texts, screen.approval)
    blocks.append(
        InputBlock(
            block_id=BLOCK_COMPANIES,
            label=texts.text("customer.companies.label"),
            element=_company_element(texts, screen),
            hint=(
                texts.plural("customer.companies.search_hint", MIN_QUERY_LENGTH)
                if count > STATIC_SELECT_LIMIT
                else None
            ),
        )
    )
    blocks.append(DividerBlock())
    blocks.append(
        SectionBlock(
            text=verbatim(texts.text("customer.companies.filter_changed")),
            accessory=ButtonElement(
                action_id=ACTION_CHECK_AGAIN, text=texts.text("customer.modal.check_again")
            ),
        )
    )
    return _modal(
        texts,
        title="companies",
        blocks=blocks,
        callback_id=CALLBACK_COMPANIES,
        submit="companies",
        notify_on_close=True,
    )


def _over_access(texts: Catalogue, screen: OverAccessScreen) -> View:
    blocks: list[Block] = [
        _section(
            with_lead(
                texts,
                "customer.over_access.intro",
                seen=texts.plural(
                    "customer.over_access.seen", screen.seen, chosen=len(screen.chosen)
                ),
            )
        ),
        _section(
            bold(texts.text("customer.over_access.not_chosen"))
            + "\n"
            + _company_lines(texts, screen.not_chosen, "customer.over_access.more")
        ),
        _section(texts.text("customer.over_access.explain")),
        _section(texts.text("customer.over_access.choice")),
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=ACTION_NARROW_FILTER, text=texts.text("customer.over_access.back")
                )
            ]
        ),
    ]
    return _modal(
        texts,
        title="over_access",
        blocks=blocks,
        callback_id=CALLBACK_OVER_ACCESS,
        submit="over_access",
    )


def _completed(texts: Catalogue, screen: CompletedScreen) -> View:
    blocks = [
        _section(
            with_lead(texts, "customer.completed.text", domain=bold(escape(screen.domain)))
            + "\n"
            + _company_lines(texts, screen.companies, "customer.completed.more")
        ),
        *_approval_block(texts, screen.approval),
        _context(texts.text("customer.completed.outro")),
    ]
    return _modal(texts, title="completed", blocks=blocks)


def _handoff(texts: Catalogue, screen: HandoffScreen) -> View:
    text = texts.text(f"customer.handoff.{screen.reason}", phone=bold(escape(screen.support_phone)))
    blocks: list[Block] = [_section(text)]
    if screen.can_choose_again:
        blocks += [
            _context(
                texts.text(
                    "customer.choose_again.hint",
                    button=button_label(texts, "customer.choose_again.button"),
                )
            ),
            ActionsBlock(elements=[choose_again_button(texts)]),
        ]
    return _modal(texts, title="handoff", blocks=blocks)


def choose_again_button(texts: Catalogue, *, value: str | None = None) -> ButtonElement:
    """Back to the terms and the package choice (in the handoff modal, and on the invite with
    the onboarding in `value`)."""
    return ButtonElement(
        action_id=ACTION_CHOOSE_AGAIN, text=texts.text("customer.choose_again.button"), value=value
    )


def _ended(texts: Catalogue, screen: EndedScreen) -> View:
    return _modal(
        texts, title="ended", blocks=[_section(texts.text(f"customer.ended.{screen.state}"))]
    )


def _refused(texts: Catalogue, *, other_organisation: bool = False) -> View:
    key = "customer.refused.other_organisation" if other_organisation else "customer.refused.text"
    return _modal(texts, title="refused", blocks=[_section(texts.text(key))])


def _error(texts: Catalogue, reason: str) -> View:
    text = texts.text(
        f"customer.error.{reason}", start=button_label(texts, "customer.invite.start")
    )
    return _modal(texts, title="error", blocks=[_section(text)])
