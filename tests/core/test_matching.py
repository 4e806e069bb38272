import uuid

from hypothesis import given
from hypothesis import strategies as st

from bot.core.matching import MatchedBy, match_companies, same_guid, same_name
from bot.core.model import Company


def soap(ref: int, guid: str | None, number: int, name: str) -> Company:
    return Company(id=str(ref), number=number, name=name, guid=guid)


def rest(company_id: str, number: int, name: str) -> Company:
    return Company(id=company_id, number=number, name=name)


GUID_A = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
GUID_B = "8c1d7f30-2b4e-4d8a-9f11-6a0b2c3d4e5f"


def test_a_company_is_matched_by_its_guid_even_when_its_number_and_name_changed():
    [match] = match_companies([soap(1, GUID_A, 1, "Bakkerij")], [rest(GUID_A, 7, "Andere naam")])
    assert match.how is MatchedBy.GUID
    assert match.rest == rest(GUID_A, 7, "Andere naam")


def test_guids_compare_without_case_or_braces():
    [match] = match_companies([soap(1, "{" + GUID_A.upper() + "}", 1, "B")], [rest(GUID_A, 1, "X")])
    assert match.how is MatchedBy.GUID


def test_without_a_matching_guid_the_number_and_the_name_together_match():
    linked = [soap(1, GUID_B, 12, "Bakkerij  De Vries\tB.V."), soap(2, None, 13, "Smit")]
    companies = [rest(GUID_A, 12, "bakkerij de vries b.v."), rest("other", 13, "SMIT")]
    matches = match_companies(linked, companies)
    assert [m.how for m in matches] == [MatchedBy.NUMBER_AND_NAME, MatchedBy.NUMBER_AND_NAME]
    assert [m.rest.id for m in matches if m.rest] == [GUID_A, "other"]


def test_a_number_alone_or_a_name_alone_is_not_enough():
    linked = [soap(1, None, 12, "Bakkerij"), soap(2, None, 13, "Smit")]
    companies = [rest("x", 12, "Slagerij"), rest("y", 14, "Smit")]
    assert [m.how for m in match_companies(linked, companies)] == [MatchedBy.NOT_FOUND] * 2


def test_a_number_and_name_that_two_rest_companies_share_matches_neither():
    [match] = match_companies(
        [soap(1, None, 1, "Bakkerij")], [rest("x", 1, "Bakkerij"), rest("y", 1, "bakkerij")]
    )
    assert match.how is MatchedBy.NOT_FOUND and match.rest is None


def test_a_company_the_consent_does_not_see_is_not_found():
    [match] = match_companies([soap(1, GUID_A, 1, "Bakkerij")], [rest(GUID_B, 2, "Slagerij")])
    assert match.how is MatchedBy.NOT_FOUND


def test_a_rest_company_taken_by_a_guid_is_not_matched_again_by_number_and_name():
    linked = [soap(1, None, 1, "Bakkerij"), soap(2, GUID_A, 5, "Nieuw")]
    matches = match_companies(linked, [rest(GUID_A, 1, "Bakkerij")])
    assert [m.how for m in matches] == [MatchedBy.NOT_FOUND, MatchedBy.GUID]


names = st.text(alphabet=st.sampled_from("abcAB \t\n-"), min_size=1, max_size=6)
guids = st.uuids().map(str)
linked_companies = st.lists(
    st.tuples(st.one_of(st.none(), guids), st.integers(1, 4), names), max_size=8
).map(lambda rows: [soap(i + 1, g, n, name) for i, (g, n, name) in enumerate(rows)])
rest_companies = st.lists(
    st.tuples(guids, st.integers(1, 4), names), max_size=8, unique_by=lambda row: row[0]
).map(lambda rows: [rest(g, n, name) for g, n, name in rows])


@given(linked_companies, rest_companies)
def test_every_linked_company_is_answered_once_in_order(linked, companies):
    matches = match_companies(linked, companies)
    assert [m.linked for m in matches] == linked
    assert all((m.rest is None) == (m.how is MatchedBy.NOT_FOUND) for m in matches)


@given(linked_companies, rest_companies)
def test_no_rest_company_is_matched_twice(linked, companies):
    ids = [m.rest.id for m in match_companies(linked, companies) if m.rest]
    assert len(ids) == len(set(ids))
    assert set(ids) <= {company.id for company in companies}


@given(linked_companies, rest_companies)
def test_a_match_says_truly_how_it_matched(linked, companies):
    for match in match_companies(linked, companies):
        if match.how is MatchedBy.GUID:
            assert match.linked.guid and same_guid(match.linked.guid) == same_guid(match.rest.id)
        elif match.how is MatchedBy.NUMBER_AND_NAME:
            assert match.rest.number == match.linked.number
            assert same_name(match.rest.name) == same_name(match.linked.name)


@given(linked_companies, rest_companies)
def test_a_guid_the_consent_sees_always_matches_by_guid(linked, companies):
    rest_ids = {same_guid(company.id) for company in companies}
    guids_seen = [c.guid for c in linked if c.guid]
    for match in match_companies(linked, companies):
        guid = match.linked.guid
        if guid and same_guid(guid) in rest_ids and guids_seen.count(guid) == 1:
            assert match.how is MatchedBy.GUID


@given(linked_companies, rest_companies, st.randoms(use_true_random=False))
def test_the_order_of_the_rest_companies_does_not_matter(linked, companies, random):
    shuffled = list(companies)
    random.shuffle(shuffled)
    assert match_companies(linked, companies) == match_companies(linked, shuffled)


@given(st.lists(st.tuples(st.integers(1, 10**6), names), max_size=10, unique_by=lambda r: r[0]))
def test_a_link_whose_guids_are_the_rest_company_ids_matches_wholly_by_guid(rows):
    linked = [soap(i, str(uuid.UUID(int=i)), number, name) for i, (number, name) in enumerate(rows)]
    companies = [rest(str(uuid.UUID(int=i)), number, name) for i, (number, name) in enumerate(rows)]
    assert {m.how for m in match_companies(linked, companies)} <= {MatchedBy.GUID}
