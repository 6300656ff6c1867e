"""Closed lists of place names the reader can check a candidate against (common knowledge, not data)."""

COUNTRIES = frozenset(
    """Afghanistan Albania Algeria Andorra Angola Argentina Armenia Australia Austria Azerbaijan Bahamas Bahrain Bangladesh
    Barbados Belarus Belgium Belize Benin Bhutan Bolivia Botswana Brazil Brunei Bulgaria Burundi Cambodia Cameroon Canada Chad
    Chile China Colombia Comoros Congo Croatia Cuba Cyprus Czechia Denmark Djibouti Dominica Ecuador Egypt England Eritrea
    Estonia Eswatini Ethiopia Fiji Finland France Gabon Gambia Georgia Germany Ghana Greece Grenada Guatemala Guinea Guyana
    Haiti Honduras Hungary Iceland India Indonesia Iran Iraq Ireland Israel Italy Jamaica Japan Jordan Kazakhstan Kenya
    Kiribati Kosovo Kuwait Kyrgyzstan Laos Latvia Lebanon Lesotho Liberia Libya Liechtenstein Lithuania Luxembourg Madagascar
    Malawi Malaysia Maldives Mali Malta Mauritania Mauritius Mexico Micronesia Moldova Monaco Mongolia Montenegro Morocco
    Mozambique Myanmar Burma Namibia Nauru Nepal Netherlands Holland Nicaragua Niger Nigeria Norway Oman Pakistan Palau Panama
    Paraguay Peru Philippines Poland Portugal Qatar Romania Russia Rwanda Samoa Scotland Senegal Serbia Seychelles Singapore
    Slovakia Slovenia Somalia Spain Sudan Suriname Sweden Switzerland Syria Taiwan Tajikistan Tanzania Thailand Togo Tonga
    Tunisia Turkey Turkmenistan Tuvalu Uganda Ukraine Uruguay Uzbekistan Vanuatu Venezuela Vietnam Wales Yemen Zambia
    Zimbabwe Britain Prussia Yugoslavia Czechoslovakia""".split()
) | frozenset(
    [
        "United States",
        "United Kingdom",
        "Great Britain",
        "South Africa",
        "South Korea",
        "North Korea",
        "New Zealand",
        "Saudi Arabia",
        "Sri Lanka",
        "Costa Rica",
        "El Salvador",
        "Dominican Republic",
        "Czech Republic",
        "Ivory Coast",
        "Sierra Leone",
        "Papua New Guinea",
        "Trinidad and Tobago",
        "United Arab Emirates",
        "Hong Kong",
        "Soviet Union",
        "Bosnia and Herzegovina",
        "North Macedonia",
        "East Timor",
        "Puerto Rico",
        "Falkland Islands",
        "Cape Verde",
        "Central African Republic",
        "Equatorial Guinea",
        "Burkina Faso",
        "San Marino",
        "Vatican City",
        "West Germany",
        "East Germany",
        "Republic of Ireland",
        "Northern Ireland",
        "U.S.",
        "USA",
        "UK",
    ]
)
US_STATES = frozenset(
    """Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho Illinois Indiana
    Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi Missouri Montana Nebraska
    Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah Vermont Virginia Washington Wisconsin Wyoming""".split()
) | frozenset(
    [
        "New Hampshire",
        "New Jersey",
        "New Mexico",
        "New York",
        "North Carolina",
        "North Dakota",
        "Rhode Island",
        "South Carolina",
        "South Dakota",
        "West Virginia",
    ]
)
CONTINENTS = frozenset(["Africa", "Asia", "Europe", "North America", "South America", "Oceania", "Antarctica", "Australia"])

KNOWN_PLACES = {"country": COUNTRIES, "nation": COUNTRIES, "state": US_STATES | COUNTRIES, "continent": CONTINENTS}

# Nationality adjectives: never a person or a place themselves ("a South Korean singer"), but a
# passage that calls someone "Norwegian" says which country they are from.
DEMONYMS = {
    "American": "United States",
    "British": "United Kingdom",
    "English": "England",
    "Scottish": "Scotland",
    "Welsh": "Wales",
    "Irish": "Ireland",
    "French": "France",
    "German": "Germany",
    "Italian": "Italy",
    "Spanish": "Spain",
    "Portuguese": "Portugal",
    "Dutch": "Netherlands",
    "Belgian": "Belgium",
    "Swiss": "Switzerland",
    "Austrian": "Austria",
    "Swedish": "Sweden",
    "Norwegian": "Norway",
    "Danish": "Denmark",
    "Finnish": "Finland",
    "Icelandic": "Iceland",
    "Polish": "Poland",
    "Czech": "Czech Republic",
    "Slovak": "Slovakia",
    "Hungarian": "Hungary",
    "Romanian": "Romania",
    "Bulgarian": "Bulgaria",
    "Greek": "Greece",
    "Turkish": "Turkey",
    "Serbian": "Serbia",
    "Croatian": "Croatia",
    "Slovenian": "Slovenia",
    "Albanian": "Albania",
    "Ukrainian": "Ukraine",
    "Russian": "Russia",
    "Soviet": "Soviet Union",
    "Prussian": "Prussia",
    "Estonian": "Estonia",
    "Latvian": "Latvia",
    "Lithuanian": "Lithuania",
    "Armenian": "Armenia",
    "Canadian": "Canada",
    "Mexican": "Mexico",
    "Cuban": "Cuba",
    "Jamaican": "Jamaica",
    "Brazilian": "Brazil",
    "Argentine": "Argentina",
    "Argentinian": "Argentina",
    "Chilean": "Chile",
    "Colombian": "Colombia",
    "Peruvian": "Peru",
    "Venezuelan": "Venezuela",
    "Australian": "Australia",
    "Chinese": "China",
    "Japanese": "Japan",
    "Korean": "South Korea",
    "South Korean": "South Korea",
    "North Korean": "North Korea",
    "Taiwanese": "Taiwan",
    "Mongolian": "Mongolia",
    "Indian": "India",
    "Pakistani": "Pakistan",
    "Bangladeshi": "Bangladesh",
    "Nepalese": "Nepal",
    "Sri Lankan": "Sri Lanka",
    "Thai": "Thailand",
    "Vietnamese": "Vietnam",
    "Filipino": "Philippines",
    "Indonesian": "Indonesia",
    "Malaysian": "Malaysia",
    "Singaporean": "Singapore",
    "Iranian": "Iran",
    "Iraqi": "Iraq",
    "Israeli": "Israel",
    "Lebanese": "Lebanon",
    "Syrian": "Syria",
    "Saudi": "Saudi Arabia",
    "Egyptian": "Egypt",
    "Moroccan": "Morocco",
    "Algerian": "Algeria",
    "Tunisian": "Tunisia",
    "Nigerian": "Nigeria",
    "Ghanaian": "Ghana",
    "Kenyan": "Kenya",
    "Ethiopian": "Ethiopia",
    "South African": "South Africa",
}
