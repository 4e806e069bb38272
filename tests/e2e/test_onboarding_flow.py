"""Issue 5: the customer's onboarding, end to end through the served bot."""

from __future__ import annotations

from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_COMPANIES,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_TERMS,
)
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    HTTP_500,
    NO_COMPANIES_USERNAME,
    NO_SUBSCRIPTION_USERNAME,
    PERMISSIONS_OFF_USERNAME,
)
from tests.e2e.journey import (
    SUPPORT_PHONE,
    TERMS_URL,
    accept_terms,
    enter_credentials,
    invite_says,
    logged_text,
    prepare,
    settled,
    slack_traffic,
    start,
    to_credentials,
)

DEMO_COMPANY_IDS = ["48201", "48202", "48203", "48204", "48205"]


def test_happy_path_in_dutch(bot, slack, customer, nmbrs):
    onboarding_id = bot.invite(language="nl")
    invite_says(customer, "Nog niet begonnen")

    terms = start(customer)
    assert terms.callback_id == CALLBACK_TERMS
    assert terms.title == "Salarispakket koppelen"
    assert TERMS_URL in str(terms.blocks)
    assert "Mijn pakket staat er niet bij" in terms.text()

    preparation = accept_terms(customer)
    assert "de medewerkers" in preparation.text() and "de loonaangiftes" in preparation.text()
    assert "WageTax_GetXML" not in preparation.text()
    assert "AVG" in preparation.text()
    invite_says(customer, "Stap 2 van 5")

    credentials = prepare(customer)
    assert credentials.callback_id == CALLBACK_CREDENTIALS

    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    assert companies.callback_id == CALLBACK_COMPANIES
    assert "Bakkerij De Gouden Korst B.V." in companies.text()
    element = next(b["element"] for b in companies.blocks if b.get("type") == "input")
    assert element["type"] == "checkboxes" and len(element["options"]) == 5
    invite_says(customer, "Stap 3 van 5")

    customer.fill(companies, {ACTION_COMPANIES: DEMO_COMPANY_IDS})
    customer.submit(companies)
    done = settled(customer)
    assert done.title == "Koppeling voltooid"
    assert "Bakkerij De Gouden Korst B.V." in done.text()

    invite = invite_says(customer, "Koppeling voltooid")
    assert "<@U0CUSTOMER>" in str(invite.blocks) and "5 bedrijven" in str(invite.blocks)
    assert "start_onboarding" not in str(invite.blocks)

    onboarding = bot.onboarding(onboarding_id)
    assert onboarding.state == "completed"
    assert onboarding.pending_token is None
    with bot.container.unit_of_work() as uow:
        link = uow.links.for_onboarding(onboarding_id)
        assert DEMO_TOKEN.encode() not in link.encrypted_secret
        assert uow.links.token(link) == DEMO_TOKEN
        assert link.environment["domain"] == "voorbeeld"
        linked = uow.links.companies(link.id)
        [acceptance] = uow.terms.for_onboarding(onboarding_id)
    # The external Slack Connect user accepted, from their own workspace.
    assert (acceptance.person_id, acceptance.workspace_id) == ("U0CUSTOMER", "T0CUSTOMER")
    assert [int(company.provider_company_ref) for company in linked] == [
        int(i) for i in DEMO_COMPANY_IDS
    ]
    assert all(company.guid for company in linked)
    assert bot.kinds() == [
        "invite_created",
        "onboarding_started",
        "terms_accepted",
        "credentials_verified",
        "onboarding_completed",
    ]


def test_happy_path_in_english(bot, customer):
    bot.invite(language="en")
    terms = start(customer)
    assert terms.title == "Connect your payroll"
    assert "My package is not listed" in terms.text()
    preparation = accept_terms(customer)
    assert preparation.title == "Prepare Nmbrs"
    assert "GDPR" in preparation.text()
    prepare(customer)
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    assert "The login has access to 5 companies" in companies.text()
    customer.fill(companies, {ACTION_COMPANIES: DEMO_COMPANY_IDS[:1] + DEMO_COMPANY_IDS[1:]})
    customer.submit(companies)
    assert settled(customer).title == "Connected"
    invite_says(customer, "Connected by")


def test_terms_not_ticked_are_a_required_field_slack_refuses_and_nothing_changes(bot, customer):
    onboarding_id = bot.invite()
    terms = start(customer)
    customer.fill(terms, {"choose_package": "nmbrs"})
    assert customer.submit(terms) is None  # Slack's client refuses: the input is required
    view = settled(customer)
    assert view.callback_id == CALLBACK_TERMS
    [block_id] = view.errors
    assert block_id.startswith("terms")
    assert bot.onboarding(onboarding_id).state == "invited"


def test_a_package_not_listed_hands_off_with_the_support_phone(bot, customer):
    onboarding_id = bot.invite()
    start(customer)
    screen = accept_terms(customer, package="not_listed")
    assert SUPPORT_PHONE in screen.text()
    assert bot.onboarding(onboarding_id).state == "handoff"
    invite_says(customer, "We bellen u")
    assert bot.kinds()[-1] == "handed_off"


def test_a_wrong_token_then_the_right_one(bot, customer):
    bot.invite(language="en")
    to_credentials(customer)
    again = enter_credentials(customer, DEMO_USERNAME, "not-the-token")
    assert again.callback_id == CALLBACK_CREDENTIALS
    blocks = again.blocks
    token_at = next(i for i, b in enumerate(blocks) if b.get("block_id", "").startswith("token"))
    assert "username or the API token is incorrect" in str(blocks[token_at - 1])
    assert "4 attempts left" in str(blocks[token_at - 1])
    assert "Paste the token again" in str(blocks[token_at]["hint"])
    companies = enter_credentials(customer, f" {DEMO_USERNAME}\n", f"{DEMO_TOKEN}\n")
    assert companies.callback_id == CALLBACK_COMPANIES


def test_permissions_off_are_named_by_service_with_check_again(bot, customer, nmbrs):
    onboarding_id = bot.invite(language="en")
    to_credentials(customer)
    token = nmbrs.accounts[PERMISSIONS_OFF_USERNAME].token
    screen = enter_credentials(customer, PERMISSIONS_OFF_USERNAME, token)
    assert screen.title == "Permissions missing"
    text = screen.text()
    assert "Company Services" in text and "WageTax_GetXML" in text
    assert "Employee Services" in text and "Salary_GetAll_AllEmployeesByCompany" in text
    assert "Report Services" in text
    assert "Debtor Services" not in text
    assert ACTION_CHECK_AGAIN in str(screen.blocks)
    assert bot.onboarding(onboarding_id).state == "credentials_verified"
    assert bot.kinds()[-1] == "permissions_missing"


def test_a_login_that_sees_no_companies_is_told_about_the_klant_login_filter(bot, customer, nmbrs):
    bot.invite(language="en")
    to_credentials(customer)
    token = nmbrs.accounts[NO_COMPANIES_USERNAME].token
    screen = enter_credentials(customer, NO_COMPANIES_USERNAME, token)
    assert screen.title == "No companies"
    assert "filter" in screen.text()
    assert ACTION_CHECK_AGAIN in str(screen.blocks)


def test_no_api_subscription_hands_off_to_the_account_manager(bot, customer, nmbrs):
    onboarding_id = bot.invite(language="en")
    to_credentials(customer)
    token = nmbrs.accounts[NO_SUBSCRIPTION_USERNAME].token
    screen = enter_credentials(customer, NO_SUBSCRIPTION_USERNAME, token)
    assert "(the API)" in screen.text() and "account manager" in screen.text()
    assert "1004" not in screen.text()  # no error code to a customer
    onboarding = bot.onboarding(onboarding_id)
    assert onboarding.state == "handoff" and onboarding.pending_token is None


def test_nmbrs_failing_then_recovering_via_retry(bot, customer, nmbrs):
    bot.invite(language="en")
    to_credentials(customer)
    nmbrs.accounts[DEMO_USERNAME].fail(HTTP_500)
    screen = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    assert screen.title == "Nmbrs unavailable"
    assert bot.kinds()[-1] == "provider_failed"

    nmbrs.accounts[DEMO_USERNAME].heal()
    customer.click(screen, ACTION_CHECK_AGAIN)
    companies = settled(customer, CALLBACK_COMPANIES)
    assert "The login has access to 5 companies" in companies.text()


def test_the_token_appears_in_no_slack_call_and_no_log_line(bot, slack, customer, all_logs):
    bot.invite()
    to_credentials(customer)
    wrong_token = DEMO_TOKEN[::-1]
    enter_credentials(customer, DEMO_USERNAME, wrong_token)
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: DEMO_COMPANY_IDS})
    customer.submit(companies)
    settled(customer)
    invite_says(customer, "Koppeling voltooid")

    traffic = slack_traffic(slack)
    assert "views.update" in traffic and "chat.update" in traffic
    assert DEMO_TOKEN not in traffic and wrong_token not in traffic
    logs = logged_text(all_logs)
    assert "zeep" in logs or "nmbrs" in logs  # DEBUG logging was really on
    assert DEMO_TOKEN not in logs and wrong_token not in logs
