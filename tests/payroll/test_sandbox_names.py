from payroll.sandbox_names import business_name, town


def test_the_first_company_is_a_bakery_in_amsterdam() -> None:
    assert business_name(0) == "Bakkerij Jansen Amsterdam B.V."
    assert town(0) == "Amsterdam"


def test_twenty_thousand_companies_have_names_of_their_own() -> None:
    names = [business_name(n) for n in range(20_000)]

    assert len(set(names)) == 20_000
    assert names == [business_name(n) for n in range(20_000)]  # the same every time


def test_among_five_thousand_a_customer_typing_a_trade_and_a_town_finds_a_few() -> None:
    names = [business_name(n).casefold() for n in range(5000)]

    assert 100 < sum("bakkerij" in name for name in names) < 300
    assert 0 < sum("jansen zwolle" in name for name in names) < 10
