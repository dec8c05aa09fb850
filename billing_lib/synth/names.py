"""Customer names: a few hostile showcase names and a pool for the rest.

Names are free text in the contract; these exercise CSV quoting, Unicode,
HTML escaping and spreadsheet formula injection in every report.
"""
from __future__ import annotations

import random

# (name, country, tax_exempt, role) of the hand-made customers that carry the hard cases;
# role says which legitimate edge case the customer shows (see customers.py)
SHOWCASE: tuple[tuple[str, str, bool, str], ...] = (
    ("Müller & Söhne GmbH", "DE", False, "leap_year"),
    ("株式会社テスト", "JP", False, "yen"),
    ("Al-Mutawa Trading, W.L.L.", "KW", False, "dinar"),
    ('The "Quoted" Company Ltd', "GB", False, "full_discount"),
    ("<script>alert(1)</script>", "US", True, "exempt"),
    ('=HYPERLINK("x")', "NL", False, "negotiated"),
    ("Société Générale d'Exemple, S.A.", "FR", False, "void_pair"),
)

_STEMS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Hooli", "Vandelay",
          "Nordwind", "Blauwal", "Kestrel", "Orion", "Zephyr", "Aurora", "Polaris", "Helix", "Quanta", "Vertex",
          "Łódź Logistics", "Ærø Shipping", "Øresund Data", "Café Olé", "Ünal Tekstil", "Zürich Analytics",
          "東京ソフト", "大阪データ", "الكويت للتقنية", "São Paulo Labs", "Crème Brûlée")
_SUFFIX = {"DE": ("GmbH", "AG", "KG", "GmbH & Co. KG"), "FR": ("SARL", "SAS", "S.A."), "NL": ("B.V.", "N.V."),
           "GB": ("Ltd", "PLC", "LLP"), "US": ("Inc.", "LLC", "Corp."), "JP": ("株式会社", "K.K."),
           "KW": ("W.L.L.", "K.S.C.")}


def company_name(rng: random.Random, country: str, number: int) -> str:
    """A plausible company name; some carry commas, quotes or an ampersand."""
    stem = rng.choice(_STEMS)
    suffix = rng.choice(_SUFFIX[country])
    style = rng.randrange(10)
    if style == 0:
        return f"{stem}, {suffix}"
    if style == 1:
        return f'{stem} "{number}" {suffix}'
    if style == 2:
        return f"{stem} & Partners {suffix}"
    return f"{stem} {number} {suffix}"


def email_for(customer_id: str) -> str:
    """A deterministic billing address."""
    return f"billing+{customer_id.lower()}@example.com"
