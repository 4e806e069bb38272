"""Issue 6: resume, restarts, races, replays, strangers, big accounts, over-access."""

from __future__ import annotations

import threading

from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_COMPANIES,
    ACTION_COMPANY_SEARCH,
    ACTION_NARROW_FILTER,
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_OVER_ACCESS,
    CALLBACK_PREPARATION,
    CALLBACK_TERMS,
)
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    MANY_COMPANIES_USERNAME,
    PERMISSIONS_OFF_USERNAME,
    SandboxAccount,
    demo_companies,
)
from tests.e2e.journey import (
    STRANGER,
    accept_terms,
    enter_credentials,
    eventually,
    invite_message,
    invite_says,
    settled,
    start,
    submission_payload,
    to_credentials,
)

THREE_USERNAME = "drie@voorbeeld.nl"
THREE_TOKEN = "b3c1d2e4f5a6978812a3b4c5d6e7f809"
THREE_IDS = ["48201", "48202", "48203"]


def add_three_company_login(nmbrs) -> None:
    nmbrs.accounts.add(
        SandboxAccount(THREE_USERNAME, THREE_TOKEN, "voorbeeld", demo_companies()[:3])
    )


def to_companies(customer, username=DEMO_USERNAME, token=DEMO_TOKEN):
    to_credentials(customer)
    return enter_credentials(customer, username, token)


def draft_of(bot, onboarding_id: int) -> dict:
    """What the onboarding keeps of its closed modal."""
    return bot.onboarding(onboarding_id).step_data.get("draft") or {}


def test_closing_the_modal_and_starting_again_continues_with_what_was_entered(bot, customer):
    onboarding_id = bot.invite(language="en")
    terms = start(customer)
    customer.fill(terms, {"choose_package": "nmbrs", "accept_terms": ["accepted"]})
    customer.close(terms)
    # A pick is kept as it is made (the package); the close keeps the whole form.
    eventually(lambda: draft_of(bot, onboarding_id).get("terms_ticked"))
    terms = start(customer)
    assert terms.callback_id == CALLBACK_TERMS
    assert "Nmbrs" in str(terms.blocks)
    elements = [b["element"] for b in terms.blocks if b.get("type") == "input"]
    assert elements[0]["initial_options"][0]["value"] == "accepted"
    assert elements[1]["initial_option"]["value"] == "nmbrs"

    accept_terms(customer)
    customer.close(settled(customer, CALLBACK_PREPARATION))
    assert start(customer).callback_id == CALLBACK_PREPARATION

    credentials = customer.modal
    customer.submit(credentials)
    credentials = settled(customer, CALLBACK_CREDENTIALS)
    customer.fill(credentials, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: DEMO_TOKEN})
    customer.close(credentials)
    eventually(lambda: draft_of(bot, onboarding_id).get("username"))
    assert DEMO_TOKEN not in str(bot.onboarding(onboarding_id).step_data)
    credentials = start(customer)
    username = next(b for b in credentials.blocks if b.get("block_id", "").startswith("username"))
    assert username["element"]["initial_value"] == DEMO_USERNAME
    assert "initial_value" not in str(
        next(b for b in credentials.blocks if b.get("block_id", "").startswith("token"))
    )

    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: ["48202", "48204"]})
    customer.close(companies)
    # The draft with both picks (under load an earlier draft may be read first).
    eventually(lambda: "48204" in str(bot.onboarding(onboarding_id).step_data.get("draft")))
    companies = start(customer)
    element = next(b["element"] for b in companies.blocks if b.get("type") == "input")
    assert [option["value"] for option in element["initial_options"]] == ["48202", "48204"]


def test_a_restart_between_two_steps_loses_nothing(bot, customer):
    onboarding_id = bot.invite()
    companies = to_companies(customer)
    bot.restart()
    customer.fill(companies, {ACTION_COMPANIES: ["48201", "48202", "48203", "48204", "48205"]})
    customer.submit(companies)
    assert settled(customer).title == "Koppeling voltooid"
    assert bot.onboarding(onboarding_id).state == "completed"

    assert "start_onboarding" not in str(invite_says(customer, "Koppeling voltooid").blocks)


def test_resume_after_a_restart_opens_the_step_reached(bot, customer):
    bot.invite()
    to_credentials(customer)
    customer.close(settled(customer, CALLBACK_CREDENTIALS))
    bot.restart()
    assert start(customer).callback_id == CALLBACK_CREDENTIALS


def test_two_concurrent_submits_of_the_company_step_leave_one_link(bot, slack, customer):
    """A double click: Slack delivers the same submission twice, at the same moment."""
    onboarding_id = bot.invite()
    companies = to_companies(customer)
    customer.fill(companies, {ACTION_COMPANIES: ["48201", "48202", "48203", "48204", "48205"]})
    view = customer.modal
    payload = submission_payload(slack, "U0CUSTOMER", view)
    answers = []

    def submit() -> None:
        answers.append(slack.endpoint.send_payload(payload))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    for answer in answers:
        slack.world.apply_submission("U0CUSTOMER", view.id, answer.response or {})

    assert settled(customer).title == "Koppeling voltooid"
    eventually(lambda: bot.kinds()[-1] == "onboarding_completed")
    assert bot.onboarding(onboarding_id).state == "completed"
    assert bot.link_count() == 1
    assert bot.kinds().count("onboarding_completed") == 1
    with bot.container.unit_of_work() as uow:
        audit = [event.kind for event in uow.audit.for_onboarding(onboarding_id)]
    assert audit.count("onboarding_completed") == 1


def test_a_replayed_request_has_no_second_effect(bot, slack, customer):
    onboarding_id = bot.invite()
    companies = to_companies(customer)
    customer.fill(companies, {ACTION_COMPANIES: ["48201", "48202", "48203", "48204", "48205"]})
    delivery = customer.submit(companies)
    assert settled(customer).title == "Koppeling voltooid"
    events_before = list(bot.kinds())
    version = bot.onboarding(onboarding_id).version

    replayed = slack.replay(delivery, retry_num=1)
    assert replayed.status == 200
    assert bot.link_count() == 1
    assert bot.kinds() == events_before
    assert bot.onboarding(onboarding_id).version == version

    start_click = next(d for d in slack.deliveries if "start_onboarding" in d.body.decode())
    slack.replay(start_click, retry_num=1)
    assert bot.kinds() == events_before
    assert not [c for c in slack.calls("chat.postEphemeral")]


def test_someone_outside_the_channel_is_refused_and_nothing_changes(bot, slack, customer):
    onboarding_id = bot.invite(language="en")
    stranger = slack.user(STRANGER)
    version = bot.onboarding(onboarding_id).version
    stranger.click(invite_message(customer), "start_onboarding")
    refused = settled(stranger)
    assert "belongs to another channel" in refused.text()
    assert bot.onboarding(onboarding_id).state == "invited"
    assert bot.onboarding(onboarding_id).version == version
    assert bot.kinds()[-1] == "access_refused"

    # A copy of the customer's own form, submitted by the stranger: signed, but not theirs.
    companies = to_companies(customer)
    customer.fill(companies, {ACTION_COMPANIES: THREE_IDS})
    version = bot.onboarding(onboarding_id).version
    answer = slack.endpoint.send_payload(submission_payload(slack, STRANGER, customer.modal))
    assert answer.status == 200
    eventually(lambda: bot.kinds()[-1] == "access_refused")
    assert bot.onboarding(onboarding_id).state == "credentials_verified"
    assert bot.onboarding(onboarding_id).version == version


def test_a_tampered_private_metadata_is_refused_and_nothing_changes(bot, customer):
    onboarding_id = bot.invite(language="en")
    companies = to_companies(customer)
    customer.fill(companies, {ACTION_COMPANIES: THREE_IDS})
    version = bot.onboarding(onboarding_id).version
    signed = companies.private_metadata
    other_id = signed.replace(f"{onboarding_id}.", "999.", 1)
    customer.submit(companies, private_metadata=other_id)
    # The language of unverified metadata is not trusted either: Dutch, the default.
    assert "hoort bij een ander kanaal" in settled(customer).text()
    assert bot.onboarding(onboarding_id).version == version
    assert bot.link_count() == 0


def test_five_wrong_tokens_block_further_attempts_for_an_hour(bot, customer, nmbrs):
    onboarding_id = bot.invite(language="en")
    to_credentials(customer)
    for attempt in range(4):
        screen = enter_credentials(customer, DEMO_USERNAME, f"wrong-{attempt}")
        assert screen.callback_id == CALLBACK_CREDENTIALS
    assert "one attempt left" in screen.text()
    blocked = enter_credentials(customer, DEMO_USERNAME, "wrong-4")
    assert blocked.title == "Temporarily blocked"
    assert "account manager" in blocked.text()
    assert bot.onboarding(onboarding_id).blocked_until is not None
    assert bot.kinds()[-1] == "credential_attempts_blocked"

    checks = len(nmbrs.calls_to("DebtorService.Environment_Get"))
    assert start(customer).title == "Temporarily blocked"
    assert len(nmbrs.calls_to("DebtorService.Environment_Get")) == checks


def test_five_thousand_companies_through_type_ahead(bot, customer, nmbrs):
    onboarding_id = bot.invite(language="en")
    token = nmbrs.accounts[MANY_COMPANIES_USERNAME].token
    companies = to_companies(customer, MANY_COMPANIES_USERNAME, token)
    assert "The login has access to 5,000 companies" in companies.text()
    element = next(b["element"] for b in companies.blocks if b.get("type") == "input")
    assert element["type"] == "multi_external_select"

    bot.restart()  # the list is kept with the onboarding, not in this process
    found = customer.suggest(companies, ACTION_COMPANY_SEARCH, "bakkerij jansen")
    assert [option["text"]["text"] for option in found][:2] == [
        "Bakkerij Jansen Amsterdam B.V. (1)",
        "Bakkerij Jansen Dordrecht V.O.F. (1026)",
    ]
    assert len(found) == 5
    assert len(customer.suggest(companies, ACTION_COMPANY_SEARCH, "bakkerij")) == 100
    by_number = customer.suggest(companies, ACTION_COMPANY_SEARCH, "4999")
    assert [option["text"]["text"] for option in by_number] == [
        "Aannemersbedrijf Hoekstra Rotterdam B.V. (4999)"
    ]

    customer.fill(companies, {ACTION_COMPANY_SEARCH: [found[0]["value"], by_number[0]["value"]]})
    customer.submit(companies)
    over_access = settled(customer, CALLBACK_OVER_ACCESS)
    assert "Access to 5,000 companies; you connect 2." in over_access.text()
    assert "…and 4,978 other companies." in over_access.text()
    customer.submit(over_access)
    done = settled(customer)
    assert "Bakkerij Jansen Amsterdam B.V." in done.text()
    assert "Aannemersbedrijf Hoekstra Rotterdam B.V." in done.text()
    with bot.container.unit_of_work() as uow:
        link = uow.links.for_onboarding(onboarding_id)
        linked = uow.links.companies(link.id)
    assert [(company.number, bool(company.guid)) for company in linked] == [
        (1, True),
        (4999, True),
    ]


def test_over_access_is_shown_when_two_of_three_companies_are_chosen(bot, customer, nmbrs):
    add_three_company_login(nmbrs)
    onboarding_id = bot.invite(language="en")
    companies = to_companies(customer, THREE_USERNAME, THREE_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: THREE_IDS[:2]})
    customer.submit(companies)
    over_access = settled(customer, CALLBACK_OVER_ACCESS)
    text = over_access.text()
    assert "Access to 3 companies; you connect 2." in text
    assert "Tuincentrum Het Groene Hart B.V." in text
    assert "GDPR" in text and "client login" in text
    assert bot.kinds()[-1] == "over_access_warned"

    customer.submit(over_access)
    assert settled(customer).title == "Connected"
    assert bot.onboarding(onboarding_id).state == "completed"
    assert bot.kinds()[-2:] == ["over_access_confirmed", "onboarding_completed"]


def test_no_over_access_screen_when_every_company_is_chosen(bot, customer, nmbrs):
    add_three_company_login(nmbrs)
    bot.invite(language="en")
    companies = to_companies(customer, THREE_USERNAME, THREE_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: THREE_IDS})
    customer.submit(companies)
    assert settled(customer).title == "Connected"
    assert not [kind for kind in bot.kinds() if kind.startswith("over_access")]


def test_going_back_to_narrow_the_filter_then_checking_again(bot, customer, nmbrs):
    add_three_company_login(nmbrs)
    bot.invite(language="en")
    companies = to_companies(customer, THREE_USERNAME, THREE_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: THREE_IDS[:2]})
    customer.submit(companies)
    customer.click(settled(customer, CALLBACK_OVER_ACCESS), ACTION_NARROW_FILTER)
    companies = settled(customer, CALLBACK_COMPANIES)
    assert "narrow the client login's filter" in companies.text()
    assert bot.kinds()[-1] == "over_access_narrowing"

    nmbrs.accounts[THREE_USERNAME].companies = demo_companies()[:2]
    customer.click(companies, ACTION_CHECK_AGAIN)
    companies = settled(customer, CALLBACK_COMPANIES, after=companies)
    assert "The login has access to 2 companies" in companies.text()
    element = next(b["element"] for b in companies.blocks if b.get("type") == "input")
    assert [option["value"] for option in element["initial_options"]] == THREE_IDS[:2]
    customer.submit(companies)
    assert settled(customer).title == "Connected"


def test_two_permissions_switched_on_then_check_again_continues(bot, customer, nmbrs):
    account = nmbrs.accounts[PERMISSIONS_OFF_USERNAME]
    account.switch_on("EmployeeService.Salary_GetAll_AllEmployeesByCompany")
    off = sorted(account.permissions_off)
    assert len(off) == 2
    bot.invite(language="en")
    screen = to_companies(customer, PERMISSIONS_OFF_USERNAME, account.token)
    assert screen.title == "Permissions missing"
    assert all(name.split(".")[1] in screen.text() for name in off)

    account.switch_on(*off)
    customer.click(screen, ACTION_CHECK_AGAIN)
    companies = settled(customer, CALLBACK_COMPANIES)
    assert "The login has access to 3 companies" in companies.text()


def test_the_ack_never_waits_for_nmbrs(bot, slack, customer, nmbrs):
    """Slack waits 3 s for an ack; here the fake waits 0.5 s while each Nmbrs call takes 0.3 s."""
    bot.invite(language="en")
    to_credentials(customer)
    slack.ack_timeout = 0.5
    slack.connect(slack.endpoint.url)
    nmbrs.latency = 0.3
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    assert companies.callback_id == CALLBACK_COMPANIES
    customer.fill(companies, {ACTION_COMPANIES: THREE_IDS})
    customer.submit(companies)
    assert settled(customer, CALLBACK_OVER_ACCESS).title == "Check the access"


def test_check_again_on_the_company_choice_keeps_what_was_picked(bot, customer):
    bot.invite(language="en")
    companies = to_companies(customer)
    customer.fill(companies, {ACTION_COMPANIES: ["48203"]})
    customer.click(companies, ACTION_CHECK_AGAIN)
    companies = settled(customer, CALLBACK_COMPANIES, after=companies)
    element = next(b["element"] for b in companies.blocks if b.get("type") == "input")
    assert [option["value"] for option in element["initial_options"]] == ["48203"]
