"""The customer's modals and the invite message, checked against Slack's Block Kit limits."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.core.flow import State
from bot.core.model import Company as CompanyRow
from bot.core.model import InviteStatus, StartRequest, StepRef
from bot.core.screens import (
    CONSENT_ERRORS,
    Approval,
    BlockedScreen,
    CompanyChoiceScreen,
    CompletedScreen,
    ConsentScreen,
    CredentialsScreen,
    EndedScreen,
    EnvironmentConfirmationScreen,
    ErrorScreen,
    ExactSettingsScreen,
    ForwardScreen,
    HandoffScreen,
    NoCompaniesScreen,
    Outcome,
    OverAccessScreen,
    PermissionsScreen,
    PreparationScreen,
    RefusedScreen,
    SupportContact,
    TermsScreen,
    UnavailableScreen,
)
from bot.transports.slack.views import onboarding as views
from bot.transports.slack.views.invite import ACTION_START, invite_message, parse_start_value
from bot.transports.slack.views.links import link_view
from bot.transports.slack.views.manager import start_result_modal
from bot.usecases.invites import SOAP_ENDED, StartResult
from devslack.blockkit import message_problems, view_problems
from payroll.nmbrs_rest.model import DATA_READ as REST_DATA
from payroll.nmbrs_rest.model import REQUIRED_SCOPES, describe
from payroll.nmbrs_soap.model import DATA_READ as SOAP_DATA
from payroll.nmbrs_soap.model import REQUIRED_PERMISSIONS, group_by_service
from tests.slack_drawn import not_verbatim

TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
METADATA = "7.3.nl." + "a" * 16


APPROVAL = Approval(approved_by="loon@acme.nl", debtors=("1001 Acme Holding", "1002 Acme BV"))


def companies(count: int, *, name_length: int = 12) -> tuple[CompanyRow, ...]:
    return tuple(
        CompanyRow(id=1000 + n, number=n, name=f"{n:0{name_length}d}") for n in range(1, count + 1)
    )


LOGIN_URL = "https://login.nmbrs.com/"
SOAP_PREPARATION = PreparationScreen(
    permissions=group_by_service(REQUIRED_PERMISSIONS), data=SOAP_DATA, login_url=LOGIN_URL
)
REST_PREPARATION = PreparationScreen(
    permissions=describe(REQUIRED_SCOPES), consent=True, data=REST_DATA, login_url=LOGIN_URL
)
FORWARD = ForwardScreen(
    client_name="Bakkerij & Zn <B.V.>", conversation_id="C0SHARED", workspace_id="T0CLIENT"
)

SCREENS = [
    TermsScreen(terms_url="https://example.com/terms", package="nmbrs", terms_ticked=True),
    SOAP_PREPARATION,
    PreparationScreen(
        permissions=group_by_service(REQUIRED_PERMISSIONS), data=SOAP_DATA, again=True
    ),
    ExactSettingsScreen(permissions=group_by_service(REQUIRED_PERMISSIONS)),
    ExactSettingsScreen(permissions=describe(REQUIRED_SCOPES), consent=True),
    FORWARD,
    ForwardScreen(client_name="Acme", conversation_id="C1", workspace_id="T1", consent=True),
    CredentialsScreen(username="loon@acme.nl", wrong_credentials=True, attempts_left=1),
    BlockedScreen(until=datetime(2025, 3, 3, 11, 0, tzinfo=UTC)),
    UnavailableScreen(),
    PermissionsScreen(missing=group_by_service(REQUIRED_PERMISSIONS)),
    NoCompaniesScreen(username="loon@acme.nl"),
    CompanyChoiceScreen(companies=companies(3), preselected=companies(1), narrowing=True),
    CompanyChoiceScreen(companies=companies(60)),
    CompanyChoiceScreen(companies=companies(5000), preselected=companies(150)),
    OverAccessScreen(seen=5000, chosen=companies(2), not_chosen=companies(4998, name_length=300)),
    CompletedScreen(companies=companies(300, name_length=300), domain="acme"),
    HandoffScreen(reason="package_not_listed", support_phone="020 123 45 67"),
    HandoffScreen(reason="other_package", support_phone="020 123 45 67"),
    HandoffScreen(reason="no_subscription", support_phone="020 123 45 67"),
    EndedScreen(State.CANCELLED),
    EndedScreen(State.EXPIRED),
    EndedScreen(State.UNLINKED),
    RefusedScreen(),
    RefusedScreen(other_organisation=True),
    ErrorScreen("not_found"),
    ErrorScreen("illegal_step"),
    ErrorScreen("invalid_choice"),
    ErrorScreen("try_again"),
    REST_PREPARATION,
    *(
        ConsentScreen(
            data=describe(REQUIRED_SCOPES),
            error=error,
            start_url="https://onboarding.example.nl/nmbrs/start?t=gAAAAAB",
            view_key="consent-0123456789abcdef01234567",
        )
        for error in (None, *CONSENT_ERRORS)
    ),
    PermissionsScreen(missing=describe(["employee.employment.read"]), consent=True),
    NoCompaniesScreen(username="Acme", approval=APPROVAL),
    CompanyChoiceScreen(companies=companies(3), approval=APPROVAL),
    CompletedScreen(companies=companies(3), domain="d-1", approval=APPROVAL),
]


CONTACT = SupportContact(account_manager="U0ANNA", phone="020 123 45 67", email="hulp@example.nl")


def rendered(screen, language="nl", *, notice=None, contact=None, instructions=False) -> dict:
    outcome = Outcome(
        screen=screen,
        language=language,
        client_name="Acme",
        ref=StepRef(7, 3),
        notice=notice,
        contact=contact,
        instructions=instructions,
    )
    return views.render(outcome, private_metadata=METADATA).to_dict()


def element_of(view: dict, block_id: str) -> dict:
    return next(block["element"] for block in view["blocks"] if block.get("block_id") == block_id)


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("screen", SCREENS, ids=lambda screen: type(screen).__name__)
def test_every_screen_is_a_modal_slack_accepts(screen, language):
    view = rendered(screen, language, notice="already_done", contact=CONTACT, instructions=True)
    assert view_problems(view) == []
    assert len(view["title"]["text"]) <= 24
    assert view["private_metadata"] == METADATA


@pytest.mark.parametrize(
    "screen",
    [
        *SCREENS,
        CompletedScreen(
            companies=(CompanyRow(1, 1, "Acme https://evil.example/login"),), domain="acme"
        ),
    ],
    ids=lambda screen: type(screen).__name__,
)
def test_every_screen_shows_its_mrkdwn_verbatim_so_no_name_becomes_a_link(screen):
    view = rendered(screen, "en", notice="already_done", contact=CONTACT, instructions=True)
    assert not_verbatim(view) == []


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("kind", ["checking", "linking", "moment"])
def test_the_working_views_are_modals_slack_accepts(language, kind):
    assert view_problems(views.working_view(language, kind).to_dict()) == []
    assert view_problems(views.refused_view(language).to_dict()) == []
    assert view_problems(views.error_view(language).to_dict()) == []


def test_the_language_picks_the_texts():
    assert rendered(UnavailableScreen(), "nl")["title"]["text"] == "Nmbrs niet bereikbaar"
    assert rendered(UnavailableScreen(), "en")["title"]["text"] == "Nmbrs unavailable"


def test_the_terms_form_offers_nmbrs_other_packages_and_not_listed():
    view = rendered(TermsScreen(terms_url="https://example.com/terms"), "en")
    assert view["callback_id"] == views.CALLBACK_TERMS and view["notify_on_close"]
    packages = element_of(view, "package-3")["options"]
    assert packages[0]["text"]["text"] == "Nmbrs"
    assert packages[-1]["text"]["text"] == "My package is not listed"
    assert "https://example.com/terms" in str(view["blocks"])
    assert "initial_options" not in element_of(view, "terms-3")


def test_a_resumed_terms_form_keeps_the_tick_and_the_package():
    view = rendered(TermsScreen(terms_url="u", package="afas", terms_ticked=True))
    assert element_of(view, "terms-3")["initial_options"][0]["value"] == "accepted"
    assert element_of(view, "package-3")["initial_option"]["value"] == "afas"


def buttons_of(view: dict) -> list[dict]:
    return [
        element
        for block in view["blocks"]
        for element in [*block.get("elements", []), block.get("accessory") or {}]
        if element.get("type") == "button"
    ]


def test_the_terms_and_the_company_choice_are_required_inputs_so_slack_marks_no_optional():
    terms = rendered(TermsScreen(terms_url="u"))
    choice = rendered(CompanyChoiceScreen(companies=companies(3)))
    inputs = [b for b in terms["blocks"] + choice["blocks"] if b["type"] == "input"]
    assert len(inputs) == 3
    assert all(not block.get("optional") for block in inputs)


@pytest.mark.parametrize("screen", [SOAP_PREPARATION, REST_PREPARATION])
def test_the_preparation_speaks_of_the_data_in_business_words_not_of_api_names(screen):
    text = str(rendered(screen, "en")["blocks"])
    for words in ("the employees", "the contracts", "the salaries", "the wage tax returns"):
        assert words in text
    assert "WageTax_GetXML" not in text and "employee.info.read" not in text
    assert views.NMBRS_TEMPLATE not in text


@pytest.mark.parametrize("screen", [SOAP_PREPARATION, REST_PREPARATION])
def test_the_preparation_links_to_the_nmbrs_login_and_opens_the_exact_settings_or_a_forward(
    screen,
):
    buttons = buttons_of(rendered(screen, "en"))
    assert [button.get("url") for button in buttons if "url" in button] == [LOGIN_URL]
    assert {button.get("value") for button in buttons} >= {"exact_settings", "forward"}


def test_the_preparation_is_a_step_and_opened_again_only_informs():
    assert rendered(SOAP_PREPARATION)["submit"]["text"] == "Ik ben klaar"
    again = rendered(PreparationScreen(permissions={}, again=True))
    assert "submit" not in again and again["callback_id"] == views.CALLBACK_INFO


def test_the_exact_settings_name_the_template_all_22_permissions_the_avg_and_the_token():
    view = rendered(ExactSettingsScreen(permissions=group_by_service(REQUIRED_PERMISSIONS)), "en")
    text = str(view["blocks"])
    assert views.NMBRS_TEMPLATE in text
    for permission in REQUIRED_PERMISSIONS:
        assert permission.split(".")[1] in text
    assert "Company Services" in text and "Report Services" in text
    assert "GDPR" in text and "client login" in text and "API token toevoegen" in text


def test_the_exact_settings_of_a_consent_name_every_scope_with_its_data():
    view = rendered(ExactSettingsScreen(permissions=describe(REQUIRED_SCOPES), consent=True), "en")
    text = str(view["blocks"])
    assert views.NMBRS_TEMPLATE in text
    assert all(f"`{scope}`" in text for scope in REQUIRED_SCOPES)
    assert "the salaries" in text


def test_the_forward_gives_a_message_to_copy_with_the_link_to_the_invite_and_the_channel():
    text = str(rendered(FORWARD)["blocks"])
    assert "<#C0SHARED>" in text
    assert "https://slack.com/app_redirect?channel=C0SHARED&amp;team=T0CLIENT" in text
    assert "```Hallo," in text and "Bakkerij &amp; Zn &lt;B.V.&gt;" in text
    assert "medewerkers, contracten, salarissen en loonaangiftes" in text


def test_a_later_screen_offers_the_instructions_again():
    view = rendered(CredentialsScreen(), "en", instructions=True)
    assert [button["value"] for button in buttons_of(view)] == ["preparation"]
    assert "View instructions" in str(view["blocks"][-1])
    assert buttons_of(rendered(CredentialsScreen(), "en")) == []


@pytest.mark.parametrize(
    "screen",
    [
        BlockedScreen(until=datetime(2025, 3, 3, 11, 0, tzinfo=UTC)),
        UnavailableScreen(),
        PermissionsScreen(missing={"CompanyService": ["WageTax_GetXML"]}),
        NoCompaniesScreen(username="loon@acme.nl"),
        RefusedScreen(),
        ErrorScreen("try_again"),
        ConsentScreen(data={}, error="refused"),
    ],
    ids=lambda screen: type(screen).__name__,
)
def test_every_error_screen_names_the_account_manager_the_phone_and_the_email(screen):
    last = str(rendered(screen, "en", contact=CONTACT)["blocks"][-1])
    assert "<@U0ANNA>" in last and "*020 123 45 67*" in last and "hulp@example.nl" in last


def test_without_a_phone_or_email_only_the_account_manager_is_named():
    last = str(rendered(ErrorScreen("try_again"), contact=SupportContact("U0ANNA"))["blocks"][-1])
    assert "Hulp nodig? Uw accountmanager is <@U0ANNA>." in last


def test_screens_that_went_well_name_nobody():
    for screen in (CredentialsScreen(), ConsentScreen(data={}), SOAP_PREPARATION):
        assert "<@U0ANNA>" not in str(rendered(screen, contact=CONTACT))


def test_a_wrong_token_is_said_right_above_the_emptied_token_field_which_asks_for_it_again():
    view = rendered(CredentialsScreen(username="loon@acme.nl", wrong_credentials=True), "en")
    block_ids = [block.get("block_id") for block in view["blocks"]]
    token_at = block_ids.index("token-3")
    above = view["blocks"][token_at - 1]
    assert above["type"] == "section" and "❌ *The username or the API token is incorrect.*" in str(
        above
    )
    token = view["blocks"][token_at]
    assert "Paste the token again" in token["hint"]["text"]
    assert "initial_value" not in token["element"]
    assert element_of(view, "username-3")["initial_value"] == "loon@acme.nl"


def test_the_last_attempt_is_announced():
    view = rendered(CredentialsScreen(wrong_credentials=True, attempts_left=1), "en")
    assert "one attempt left" in str(view["blocks"])


def test_the_block_ends_in_the_customers_time_in_their_language():
    until = datetime(2026, 12, 1, 9, 8, tzinfo=UTC).astimezone(ZoneInfo("Europe/Amsterdam"))
    assert "tot *1 december 2026 om 10:08*" in str(rendered(BlockedScreen(until=until)))
    english = rendered(BlockedScreen(until=until), "en")["blocks"][0]["text"]["text"]
    assert "until *1 December 2026 at 10:08*" in english


def test_missing_permissions_are_listed_by_service_with_check_again():
    screen = PermissionsScreen(
        missing={"CompanyService": ["WageTax_GetXML"], "EmployeeService": ["Schedule_Get"]}
    )
    view = rendered(screen, "en")
    text = str(view["blocks"])
    assert "*Company Services*" in text and "WageTax_GetXML" in text
    assert "*Employee Services*" in text and "Schedule_Get" in text
    assert views.ACTION_CHECK_AGAIN in text


@pytest.mark.parametrize(
    ("count", "element_type"),
    [
        (1, "checkboxes"),
        (10, "checkboxes"),
        (11, "multi_static_select"),
        (100, "multi_static_select"),
        (101, "multi_external_select"),
    ],
)
def test_the_company_choice_grows_from_checkboxes_to_a_multi_select_to_type_ahead(
    count, element_type
):
    view = rendered(CompanyChoiceScreen(companies=companies(count)))
    element = element_of(view, views.BLOCK_COMPANIES)
    assert element["type"] == element_type
    assert view_problems(view) == []


def test_type_ahead_asks_for_a_minimum_query_and_keeps_earlier_choices():
    view = rendered(CompanyChoiceScreen(companies=companies(5000), preselected=companies(2)))
    element = element_of(view, views.BLOCK_COMPANIES)
    assert element["action_id"] == views.ACTION_COMPANY_SEARCH
    assert element["min_query_length"] == 2
    assert [option["value"] for option in element["initial_options"]] == ["1001", "1002"]
    assert len(str(view)) < 10_000


def test_long_company_names_are_shortened_to_fit_an_option_keeping_the_number():
    row = CompanyRow(id=1, number=4242, name="N" * 300)
    option = views.company_option(views.catalogue("nl"), row).to_dict()
    assert len(option["text"]["text"]) <= 75
    assert option["text"]["text"].endswith("(4242)")


def test_the_type_ahead_answers_the_json_of_the_options_the_modal_shows():
    rows = [
        CompanyRow(id=1, number=4242, name="N" * 300),
        CompanyRow(id="a-b", number=7, name="Bé"),
    ]
    for language in ("nl", "en"):
        texts = views.catalogue(language)
        assert views.company_options(language, rows) == [
            views.company_option(texts, row).to_dict() for row in rows
        ]


def test_company_names_are_escaped_in_mrkdwn():
    screen = CompletedScreen(companies=(CompanyRow(1, 1, "A&B <Holding>"),), domain="acme")
    assert "A&amp;B &lt;Holding&gt;" in str(rendered(screen))


def test_over_access_names_twenty_not_chosen_companies_and_counts_the_rest():
    screen = OverAccessScreen(seen=25, chosen=companies(2), not_chosen=companies(23))
    view = rendered(screen, "en")
    text = str(view["blocks"])
    assert "Access to 25 companies; you connect 2." in text
    assert "…and 3 other companies." in text
    assert view["callback_id"] == views.CALLBACK_OVER_ACCESS
    assert views.ACTION_NARROW_FILTER in text
    assert view["submit"]["text"] == "Understood, connect"


def test_a_replayed_step_is_told_what_happened():
    view = rendered(UnavailableScreen(), "en", notice="already_done")
    assert "already done" in str(view["blocks"][0])


def test_the_handoff_gives_the_support_phone():
    screen = HandoffScreen(reason="package_not_listed", support_phone="020 123 45 67")
    assert "020 123 45 67" in str(rendered(screen))


def invite_status(state: State, **fields) -> InviteStatus:
    return InviteStatus(
        onboarding_id=7,
        client_name="Acme",
        language="nl",
        channel_id="C0SHARED",
        message_ts="1.2",
        state=state,
        step_reached=None,
        support_phone="020 123 45 67",
        **fields,
    )


@pytest.mark.parametrize("state", list(State))
def test_the_invite_message_fits_slack_in_every_state(state):
    message = invite_message(invite_status(state, companies_linked=2, completed_by="U0CUSTOMER"))
    assert message_problems(message.blocks) == []
    assert "Acme" in message.text


@pytest.mark.parametrize("state", list(State))
def test_the_invite_message_shows_its_mrkdwn_verbatim_in_every_state(state):
    status = invite_status(state, companies_linked=2, completed_by="U0CUSTOMER")
    assert not_verbatim(invite_message(status).blocks) == []


def test_the_invite_has_a_start_button_carrying_the_onboarding():
    blocks = invite_message(invite_status(State.INVITED)).blocks
    button = blocks[-1]["elements"][0]
    assert button["action_id"] == ACTION_START
    assert parse_start_value(button["value"]) == (7, "nl")


def test_the_invite_says_who_completed_and_drops_the_button():
    blocks = invite_message(
        invite_status(State.COMPLETED, companies_linked=1, completed_by="U0CUSTOMER")
    ).blocks
    assert "<@U0CUSTOMER>" in str(blocks) and "één bedrijf" in str(blocks)
    assert ACTION_START not in str(blocks)


def test_the_invite_after_a_handoff_says_someone_will_call():
    assert "We bellen u" in str(invite_message(invite_status(State.HANDOFF)).blocks)


@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_relink_waiting_for_the_account_manager_says_so_in_a_modal_slack_accepts(language):
    screen = EnvironmentConfirmationScreen(link_domain="voorbeeld", new_domain="elders")
    view = link_view(Outcome(screen=screen, language=language), private_metadata=None)
    assert view_problems(view) == []
    text = str(view["blocks"])
    assert "`elders`" in text and "`voorbeeld`" in text


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_consent_screen_links_to_its_start_and_is_known_by_its_key(language):
    screen = ConsentScreen(
        data=describe(REQUIRED_SCOPES),
        start_url="https://onboarding.example.nl/nmbrs/start?t=abc",
        view_key="consent-key",
    )
    view = rendered(screen, language)
    assert view["external_id"] == "consent-key"
    buttons = [e for b in view["blocks"] for e in b.get("elements", []) if e.get("url")]
    assert [(b["action_id"], b["url"]) for b in buttons] == [
        (views.ACTION_CONSENT_LOGIN, "https://onboarding.example.nl/nmbrs/start?t=abc")
    ]
    assert "submit" not in view
    text = str(view["blocks"])
    assert "company.info.read" not in text  # the data in the customer's words, not scopes


def test_the_choice_says_who_approved_for_which_debtors():
    text = str(rendered(CompanyChoiceScreen(companies=companies(3), approval=APPROVAL))["blocks"])
    assert "Goedgekeurd door *loon@acme.nl* voor *1001 Acme Holding, 1002 Acme BV*." in text


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("nl", "Goedgekeurd voor *1001 Acme Holding, 1002 Acme BV*."),
        ("en", "Approved for *1001 Acme Holding, 1002 Acme BV*."),
    ],
)
def test_without_the_approving_login_the_choice_names_the_debtors_once(language, said):
    approval = Approval(approved_by="", debtors=APPROVAL.debtors)
    for screen in (
        CompanyChoiceScreen(companies=companies(3), approval=approval),
        NoCompaniesScreen(username="1001 Acme Holding", approval=approval),
        CompletedScreen(companies=companies(3), domain="d-1", approval=approval),
    ):
        text = str(rendered(screen, language)["blocks"])
        assert said in text
        assert "Goedgekeurd door" not in text and "Approved by" not in text


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("nl", "Goedgekeurd door *loon@acme.nl* voor"),
        ("en", "Approved by *loon@acme.nl* for"),
    ],
)
def test_with_the_approving_login_the_screens_name_it(language, said):
    assert said in str(
        rendered(CompanyChoiceScreen(companies=companies(3), approval=APPROVAL), language)["blocks"]
    )


@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_login_that_sees_no_data_is_told_what_to_fix_at_nmbrs(language):
    text = str(
        rendered(
            ConsentScreen(
                data={}, error="no_access", start_url="https://x/nmbrs/start?t=a", view_key="k"
            ),
            language,
        )["blocks"]
    )
    words = {
        "nl": ("sjabloon", "filter", "beheerder", "opnieuw toestemming"),
        "en": ("template", "filter", "administrator", "consent again"),
    }
    for word in words[language]:
        assert word in text


@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_start_refused_after_the_soap_end_date_tells_the_account_manager_why(language):
    request = StartRequest(client_name="Acme", channel_id="C0SHARED", language="nl")
    result = StartResult(SOAP_ENDED, request, error="2027-03-01")
    view = start_result_modal(
        result, language, bot_name="onboard", now=datetime(2027, 3, 2, tzinfo=UTC)
    ).to_dict()
    assert view_problems(view) == []
    ended_on = {"nl": "1 maart 2027", "en": "1 March 2027"}[language]
    assert ended_on in str(view["blocks"]) and "NMBRS_API=rest" in str(view["blocks"])
