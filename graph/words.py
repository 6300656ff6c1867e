"""Word lists the rule planner reads English questions with (data, kept together; no logic)."""

from __future__ import annotations

RELATION_NOUNS = frozenset(
    """executive officer secretary treasurer principal dean curator coordinator administrator supervisor rector
    author writer novelist poet director producer performer performers singer songwriter composer lyricist creator
    founder founders co-founder owner owners publisher editor narrator star stars host presenter coach captain
    president chairman chair chairwoman chairperson ceo leader head manager mayor governor king queen ruler spouse wife
    husband partner father
    mother son daughter parent child children sibling brother sister birthplace hometown headquarters
    capital inventor designer architect developer manufacturer successor predecessor operator sponsor label
    network employer maker distributor illustrator editor-in-chief commander member members""".split()
)
RELATION_PHRASES = (
    "place of birth",
    "birth place",
    "city of birth",
    "country of citizenship",
    "country of origin",
    "place of death",
    "record label",
    "home town",
    "home country",
    "main director",
    "lead singer",
)
PERSON_RELATIONS = frozenset(
    """executive officer secretary treasurer principal dean curator coordinator administrator supervisor rector
    author writer novelist poet director producer performer performers singer songwriter composer lyricist creator
    founder founders co-founder owner owners publisher editor narrator star stars host presenter coach captain president
    chairman chair chairwoman chairperson ceo leader head manager mayor governor king queen ruler spouse wife husband partner
    father mother son
    daughter parent child children sibling brother sister inventor designer architect illustrator commander member
    members successor predecessor person people man woman""".split()
)

# base-form verbs that start the verb phrase of a do-support question ("Who did X | have a child with?")
BASE_VERBS = frozenset(
    """have play marry win make write direct produce join attend found work live die star sign release become leave receive
    earn graduate study teach lead own sing perform serve represent move get give take hold start begin record compose design
    build create publish develop manage defeat replace succeed meet share form debut appear belong settle retire compete host
    invent sell buy name call beat originate""".split()
)
