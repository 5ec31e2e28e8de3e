"""Columns judged together: what the other columns say a row describes (people, places or
things, a clinical trial) decides columns that say nothing themselves, and turns the look-alikes
of a place dataset (town names, coordinates) into what they are. The misses of issue 15, each
on a small sample built like the real data it came from."""

from __future__ import annotations

import pytest

from datasets.scanner import scan_sample
from datasets.taxonomy import Role, Special
from tests.datasets.scanner_samples import sample_of

D, Q, S, N = Role.DIRECT_IDENTIFIER, Role.QUASI_IDENTIFIER, Role.SENSITIVE, Role.NON_PERSONAL
RACES = ["White", "Black", "Latino", "Asian", "White", "Black"] * 5
PEOPLE = {
    "first_name": ["Cesar", "George", "Wilson", "Brian", "Anna", "Maria"] * 5,
    "age": ["18.0", "42.0", "40.0", "30.0", "25.0", "61.0"] * 5,
    "gender": ["Male", "Male", "Male", "Male", "Female", "Female"] * 5,
}


def _by_column(sample) -> dict:
    return {p.column: p for p in scan_sample(sample)}


def _proposed(proposal) -> tuple:
    return (proposal.category, proposal.role, proposal.special_category)


def test_race_values_under_a_neutral_header_are_racial_origin():
    proposals = _by_column(sample_of(**PEOPLE, group=RACES))

    assert _proposed(proposals["group"]) == (
        "user.demographic.race_ethnicity", S, Special.RACIAL_ETHNIC_ORIGIN,
    )  # fmt: skip
    assert proposals["group"].signals[0].name == "value:race_ethnicity_terms"
    assert proposals["group"].examples == ()


def test_skin_colours_are_racial_origin_only_in_a_sample_about_people():
    colours = ["White", "Black"] * 15

    people = _by_column(sample_of(**PEOPLE, colour=colours))
    cars = _by_column(sample_of(manufacturer=["audi", "ford"] * 15, model=["a4", "focus"] * 15,
                                colour=colours))  # fmt: skip

    assert _proposed(people["colour"]) == (
        "user.demographic.race_ethnicity", S, Special.RACIAL_ETHNIC_ORIGIN,
    )  # fmt: skip
    assert _proposed(cars["colour"]) == (None, N, "")


@pytest.mark.parametrize(
    ("header", "values"),
    [
        ("religiousness", ["1", "2", "3", "4", "5"] * 6),  # a derived English word
        ("Konfession", ["katholisch", "evangelisch", "konfessionslos"] * 10),  # German
        ("confession", ["catholique", "musulman", "sans religion"] * 10),  # French, ambiguous word
        ("belief", ["Christian (Catholic)", "Muslim", "Atheist", "Agnostic"] * 8),  # values only
    ],
)
def test_religion_is_found_by_derived_words_other_languages_and_values(header, values):
    proposals = _by_column(sample_of(**PEOPLE, **{header: values}))

    assert _proposed(proposals[header]) == (
        "user.demographic.religious_belief", S, Special.RELIGIOUS_BELIEFS,
    )  # fmt: skip


def test_full_names_under_a_generic_header_are_names():
    names = ["Allen, Miss. Elisabeth Walton", "Allison, Master. Hudson Trevor",
             "Andrews, Mr. Thomas Jr", "Appleton, Mrs. Edward Dale", "Artagaveytia, Mr. Ramon",
             "Astor, Col. John Jacob"] * 5  # fmt: skip

    proposals = _by_column(sample_of(rownames=names, survived=["yes", "no"] * 15))

    assert _proposed(proposals["rownames"]) == ("user.name", D, "")
    assert proposals["rownames"].examples == ("A*** M*** E*** W***", "A*** M*** H*** T***",
                                              "A*** M*** T*** J***")  # fmt: skip


@pytest.mark.parametrize(
    ("header", "category"),
    [
        ("Nachname", "user.name.last"),
        ("nom_de_famille", "user.name.last"),
        ("apellido", "user.name.last"),
        ("Alter", "user.demographic.age_range"),
        ("âge", "user.demographic.age_range"),
        ("edad", "user.demographic.age_range"),
        ("Geschlecht", "user.demographic.gender"),
        ("sexe", "user.demographic.gender"),
        ("sexo", "user.demographic.gender"),
        ("Stadt", "user.contact.address.city"),
        ("ville", "user.contact.address.city"),
        ("ciudad", "user.contact.address.city"),
        ("Stadtteil", "user.location.imprecise"),
        ("quartier", "user.location.imprecise"),
        ("barrio", "user.location.imprecise"),
    ],
)
def test_german_french_and_spanish_headers_name_their_category(header, category):
    values = {
        "user.name.last": ["Aguilar", "Alvarez", "Andrew", "Müller", "Dupont"] * 6,
        "user.demographic.age_range": ["18", "42", "40", "30", "25"] * 6,
        "user.demographic.gender": ["M", "F", "F", "M", "F"] * 6,
    }.get(category, ["Westlake", "Chinatown", "Hawthorne", "Compton", "Koreatown"] * 6)

    proposals = _by_column(sample_of(**PEOPLE, **{header: values}))

    assert proposals[header].category == category


def test_ages_written_as_decimals_and_a_date_of_death_are_about_the_person():
    proposals = _by_column(
        sample_of(**PEOPLE, death_date=["1992-04-30", "1992-05-01", "1992-05-23"] * 10)
    )

    assert _proposed(proposals["age"]) == ("user.demographic.age_range", Q, "")
    assert proposals["age"].confidence == 0.89
    assert _proposed(proposals["death_date"]) == ("user", Q, "")


def test_dates_in_a_sample_about_people_are_personal_unless_named_as_system_times():
    dates = ["2002-04-30", "2003-05-01", "2004-05-23"] * 10

    proposals = _by_column(sample_of(**PEOPLE, visited=dates, created_at=dates))

    assert _proposed(proposals["visited"]) == ("user", Q, "")
    assert _proposed(proposals["created_at"]) == ("system.timestamp", N, "")


def test_unnamed_measurements_of_a_clinical_trial_are_health_data():
    proposals = _by_column(
        sample_of(
            **PEOPLE,
            chol=["261", "302", "176", "244", "279"] * 6,
            albumin=["2.60", "4.14", "3.48", "2.54", "3.53"] * 6,
            bili=["14.5", "1.1", "1.4", "1.8", "3.4"] * 6,
            copper=["156", "54", "210", "64", "143"] * 6,
        )
    )

    assert [_proposed(proposals[c]) for c in ("chol", "albumin", "bili", "copper")] == [
        ("user.health_and_medical", S, Special.HEALTH)
    ] * 4
    assert [s.name for s in proposals["copper"].signals] == ["context:health_and_medical"]
    assert proposals["copper"].confidence == 0.55


def test_an_airport_sample_has_no_person_in_it():
    # given airports: codes, place names (some towns are named like people), coordinates
    columns = {
        "iata": ["00M", "00R", "00V", "01G", "01J", "01M"],
        "name": ["Thigpen", "Livingston Municipal", "Meadow Lake", "Perry-Warsaw",
                 "Hilliard Airpark", "Tishomingo County"],
        "city": ["Bay Springs", "Livingston", "Colorado Springs", "Perry", "Hilliard", "Belmont"],
        "latitude": ["31.95376472", "30.68586111", "38.94574889", "42.74134667", "30.6880125",
                     "34.49166667"],
        "longitude": ["-89.23450472", "-95.01792778", "-104.5698933", "-78.05208056",
                      "-81.90594389", "-88.20111111"],
    }  # fmt: skip

    proposals = _by_column(sample_of(**{c: values * 5 for c, values in columns.items()}))

    assert {c: _proposed(p) for c, p in proposals.items()} == {
        c: (None, N, "") for c in ("iata", "name", "city", "latitude", "longitude")
    }
    assert proposals["latitude"].signals[-1].name == "context:things"


def test_towns_named_like_people_next_to_machine_columns_are_not_people():
    proposals = _by_column(
        sample_of(
            name=["Charlotte", "Warren", "Jordan", "Florence", "Victoria", "Austin"] * 5,
            manufacturer=["EMBRAER", "AIRBUS INDUSTRIE", "BOEING"] * 10,
            seats=["55", "182", "149"] * 10,
        )
    )

    assert _proposed(proposals["name"]) == (None, N, "")


def test_a_version_column_is_not_an_ip_address():
    versions = ["10.0.19041.1", "6.1.7601.1", "8.0.1.12", "5.1.2600.2", "4.0.3.4"] * 6

    proposals = _by_column(sample_of(version=versions, release_notes=["fixes"] * 30))

    assert _proposed(proposals["version"]) == (None, N, "")
    assert [s.name for s in proposals["version"].signals] == ["context:things"]


def test_nothing_fired_anywhere_means_a_person_decides_at_low_confidence():
    proposals = scan_sample(sample_of(a=["1", "2", "3"] * 10, b=["x", "y", "z"] * 10))

    assert [(p.category, p.role, p.treatment, p.confidence) for p in proposals] == [
        (None, "", "", 0.1),
        (None, "", "", 0.1),
    ]


def test_columns_of_a_sample_about_people_that_say_nothing_are_attributes_of_the_person():
    proposals = _by_column(sample_of(**PEOPLE, passengerClass=["1st", "2nd", "3rd"] * 10))

    proposal = proposals["passengerClass"]
    assert (proposal.category, proposal.role, proposal.confidence) == ("user", Q, 0.55)
    assert proposal.signals[-1].detail == (
        'Other columns describe people ("first_name", "age", "gender"): this column is '
        "probably an attribute of the person."
    )


def test_progress_is_reported_after_every_column():
    calls = []

    scan_sample(sample_of(**PEOPLE), progress=lambda done, total: calls.append((done, total)))

    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_the_sex_of_an_animal_is_not_a_persons_gender():
    proposals = _by_column(
        sample_of(
            species=["Adelie", "Gentoo", "Chinstrap"] * 10,
            island=["Torgersen", "Biscoe", "Dream"] * 10,
            sex=["male", "female", "female"] * 10,
        )
    )

    assert _proposed(proposals["sex"]) == (None, N, "")


def test_one_named_column_alone_does_not_make_a_table_of_statistics_about_people():
    # given yearly wheat prices and wages: "wages" is the only personal-looking word
    proposals = _by_column(
        sample_of(
            year=[str(1565 + 5 * i) for i in range(30)],
            wheat=[str(41 + i) for i in range(30)],
            wages=[str(5 + i / 10) for i in range(30)],
        )
    )

    assert _proposed(proposals["wages"]) == ("user.financial.income", S, "")
    assert [(p.category, p.role) for c, p in proposals.items() if c != "wages"] == [
        (None, ""),
        (None, ""),
    ]
