"""Dutch business names for the sandboxes' long company lists (the 5,000-company logins), so
the demo's type-ahead finds something when a person types what a customer would ("bakkerij",
"jansen", "zwolle").

Deterministic: company `n` (from 0) is a trade, a family name and a town chosen by `n` modulo
three pairwise coprime lengths, so neighbours differ in all three and every `n` below their
product (19,475) gets a name of its own; past that a branch number keeps them apart.
"""

from __future__ import annotations

TRADES = (
    "Bakkerij", "Slagerij", "Fietsenmakerij", "Kapsalon", "Bloemisterij", "Installatiebedrijf",
    "Schildersbedrijf", "Autobedrijf", "Tandartspraktijk", "Hoveniersbedrijf",
    "Transportbedrijf", "Drukkerij", "Timmerbedrijf", "Loodgietersbedrijf", "Kaashandel",
    "Viswinkel", "Groothandel", "Schoonmaakbedrijf", "Fysiotherapie", "Dierenkliniek",
    "Brasserie", "Boekhandel", "Opticien", "Aannemersbedrijf", "Koffiebranderij",
)  # fmt: skip
FAMILY_NAMES = (
    "Jansen", "de Vries", "van den Berg", "Bakker", "van Dijk", "Visser", "Smit", "Meijer",
    "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
    "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "van der Linden",
    "Kok", "Jacobs", "de Haan", "Vermeulen", "van den Heuvel", "van der Veen", "van den Broek",
    "de Bruijn", "de Jong", "Schouten", "van Beek", "Willems", "van Vliet", "Hoekstra", "Maas",
    "Verhoeven", "Koster",
)  # fmt: skip
TOWNS = (
    "Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "Tilburg",
    "Almere", "Breda", "Nijmegen", "Apeldoorn", "Haarlem", "Arnhem", "Enschede", "Amersfoort",
    "Zwolle", "Leiden", "Maastricht", "Dordrecht",
)  # fmt: skip
LEGAL_FORMS = (" B.V.", "", " V.O.F.")
DISTINCT = len(TRADES) * len(FAMILY_NAMES) * len(TOWNS)


def town(n: int) -> str:
    """Where company `n` is."""
    return TOWNS[n % len(TOWNS)]


def business_name(n: int) -> str:
    """Company `n`'s name, e.g. "Bakkerij Jansen Amsterdam B.V."."""
    trade = TRADES[n % len(TRADES)]
    family = FAMILY_NAMES[n % len(FAMILY_NAMES)]
    branch = f" {n // DISTINCT + 1}" if n >= DISTINCT else ""
    return f"{trade} {family} {town(n)}{branch}{LEGAL_FORMS[n % len(LEGAL_FORMS)]}"
