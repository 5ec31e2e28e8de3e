"""Proposals on samples with known answers: category, role, special category, treatment,
confidence, signals, masked examples, and evidence fingerprints."""

from __future__ import annotations

import json
import re

import pytest

from datasets.scanner import (
    ColumnProposal,
    Sample,
    SampleSource,
    Signal,
    read_sample,
    scan_sample,
)
from datasets.taxonomy import Role, Special
from tests.datasets.scanner_samples import (
    INVALID_SSNS,
    VALID_CARDS,
    emails,
    ibans,
    luhn_failing,
    luhn_passing,
    names,
    phones,
    sample_of,
    scan_one,
    ssns,
    wide_sample,
    write_csv,
    write_parquet,
)

D, Q, S, N = Role.DIRECT_IDENTIFIER, Role.QUASI_IDENTIFIER, Role.SENSITIVE, Role.NON_PERSONAL
U = ""  # unclassified: needs a person
UNCLASSIFIED_SUMMARY = (
    "Unclassified: needs a person, 10% confidence. Neither the column name nor {n} point to a "
    "category, and the other columns do not show whether a row describes a person."
)


def _signals(proposal: ColumnProposal) -> list[tuple[str, int, int]]:
    return [(s.name, s.matched, s.sampled) for s in proposal.signals]


def _classification(proposal: ColumnProposal) -> tuple:
    return (
        proposal.category,
        proposal.role,
        proposal.special_category,
        proposal.treatment,
        proposal.confidence,
    )


# --- direct identifiers -----------------------------------------------------------------------


def test_email_column_is_a_direct_identifier_to_pseudonymize():
    # when
    proposal = scan_one("email", emails(40))

    # then
    assert _classification(proposal) == ("user.contact.email", D, "", "pseudonymize", 0.98)
    assert proposal.signals == (
        Signal(
            "column_name:email",
            "column_name",
            0,
            0,
            'The column name "email" contains "email", which suggests: Email address.',
        ),
        Signal(
            "value:email_validator",
            "value_pattern",
            40,
            40,
            "40 of 40 non-empty values are valid email addresses (email-validator).",
        ),
    )
    assert proposal.examples == ("a***@e***.org", "b***@e***.org", "c***@e***.org")
    assert proposal.summary == (
        "Email address: direct identifier, 98% confidence. "
        'The column name "email" contains "email", which suggests: Email address. '
        "40 of 40 non-empty values are valid email addresses (email-validator). "
        "Suggested treatment: pseudonymize."
    )


def test_emails_are_found_by_their_values_whatever_the_column_is_called():
    proposal = scan_one("contact", emails(40))

    assert _classification(proposal) == ("user.contact.email", D, "", "pseudonymize", 0.95)
    assert _signals(proposal) == [("value:email_validator", 40, 40)]


def test_user_id_column_holding_emails_is_an_email_column():
    proposal = scan_one("user_id", emails(40))

    assert _classification(proposal) == ("user.contact.email", D, "", "pseudonymize", 0.95)
    assert _signals(proposal) == [
        ("column_name:pseudonymous_id", 0, 0),
        ("value:email_validator", 40, 40),
    ]
    assert proposal.signals[0].detail == (
        'The column name "user_id" contains "user id", which suggests: Pseudonymous identifier. '
        "The values outweigh the name."
    )


def test_phone_column_is_a_direct_identifier():
    proposal = scan_one("phone", phones(40))

    assert _classification(proposal) == ("user.contact.phone_number", D, "", "pseudonymize", 0.98)
    assert _signals(proposal) == [("column_name:phone", 0, 0), ("value:phonenumbers", 40, 40)]
    assert proposal.examples == ("+* ***-***-**00", "+** ** **** **01", "+** ** ******02")


def test_valid_card_numbers_are_flagged_as_cards_to_mask():
    proposal = scan_one("value", [VALID_CARDS[i % len(VALID_CARDS)] for i in range(40)])

    assert _classification(proposal) == ("user.financial.credit_card", D, "", "mask", 0.95)
    assert _signals(proposal) == [("value:luhn_card", 40, 40)]
    assert proposal.examples == (
        "4111 **** **** 1111",
        "4012 **** **** 1881",
        "5555 **** **** 4444",
    )


def test_sixteen_digit_numbers_failing_luhn_are_not_flagged_as_cards():
    proposal = scan_one("reference", luhn_failing(40))

    assert _classification(proposal) == (None, U, "", "", 0.1)
    assert proposal.signals == ()


def test_card_named_column_whose_numbers_fail_luhn_is_not_a_card_column():
    # given a column called card_number whose 16-digit values all fail the Luhn check
    # when
    proposal = scan_one("card_number", luhn_failing(40))

    # then the name is not enough: the broader financial category, at low confidence
    assert _classification(proposal) == ("user.financial", S, "", "generalize", 0.28)
    assert _signals(proposal) == [("column_name:card_number", 0, 0), ("value:luhn_card", 0, 40)]
    assert proposal.signals[0].detail.endswith(
        "The values do not confirm it, so the broader category is proposed."
    )


def test_a_few_luhn_valid_strays_do_not_make_a_card_named_column_a_card_column():
    # given 2 of 40 numbers that happen to pass Luhn (5%)
    values = [*luhn_failing(38), *luhn_passing(2)]

    proposal = scan_one("card_number", values)

    assert _classification(proposal) == ("user.financial", S, "", "generalize", 0.28)
    assert _signals(proposal) == [("column_name:card_number", 0, 0), ("value:luhn_card", 2, 40)]


@pytest.mark.parametrize(
    "years", [list(range(1990, 2025)), [str(y) for y in range(1990, 2025)]], ids=["int", "str"]
)
def test_a_year_column_is_neither_a_card_nor_a_date_of_birth(years):
    proposal = scan_one("year", years)

    assert _classification(proposal) == (None, U, "", "", 0.1)
    assert proposal.signals == ()
    assert proposal.summary == UNCLASSIFIED_SUMMARY.format(n="35 sampled values")


def test_iban_column_is_a_bank_account_to_mask():
    proposal = scan_one("payout_account", ibans(40))

    assert _classification(proposal) == ("user.financial.bank_account", D, "", "mask", 0.95)
    assert _signals(proposal) == [("value:iban", 40, 40)]


def test_valid_ssns_are_national_ids_to_drop():
    proposal = scan_one("ssn", ssns(40))

    assert _classification(proposal) == (
        "user.government_id.national_identification_number", D, "", "drop", 0.98,
    )  # fmt: skip
    assert _signals(proposal) == [("column_name:ssn", 0, 0), ("value:us_ssn", 40, 40)]
    assert proposal.examples == ("***-**-1000", "***-**-1037", "***-**-1074")


def test_ssn_shaped_numbers_with_impossible_areas_are_not_ssns():
    proposal = scan_one("reference", list(INVALID_SSNS) * 8)

    assert proposal.category is None
    assert proposal.signals == ()


def test_ip_addresses_of_both_versions_are_device_data():
    values = [f"203.0.113.{i}" for i in range(20)] + [f"2001:db8::{i:x}" for i in range(20)]

    proposal = scan_one("client", values)

    assert _classification(proposal) == ("user.device.ip_address", D, "", "pseudonymize", 0.95)
    assert proposal.examples == ("203.0.*.*",)


def test_spanish_dni_values_are_national_ids():
    proposal = scan_one("documento", ["54362315K", "X2482300W"] * 10)

    assert proposal.category == "user.government_id.national_identification_number"
    assert _signals(proposal) == [("value:es_dni", 10, 20), ("value:es_nie", 10, 20)]


def test_password_column_is_credentials_to_drop_without_examples():
    proposal = scan_one("password", ["hunter2-secret", "correct horse battery"] * 5)

    assert _classification(proposal) == ("user.authorization.credentials", S, "", "drop", 0.7)
    assert proposal.examples == ()
    assert proposal.summary.endswith("Examples are withheld for this kind of data.")


# --- quasi-identifiers ------------------------------------------------------------------------


def test_separate_latitude_and_longitude_columns_are_a_precise_location():
    sample = sample_of(
        latitude=[f"{52 + i / 97:.5f}" for i in range(30)],
        longitude=[f"{13 + i / 89:.5f}" for i in range(30)],
    )

    latitude, longitude = scan_sample(sample)

    assert _classification(latitude) == ("user.location.precise", Q, "", "generalize", 0.98)
    assert _signals(latitude) == [
        ("column_name:precise_location", 0, 0),
        ("value:latitude", 30, 30),
    ]
    assert latitude.examples == ("52.0", "52.1", "52.2")
    assert _signals(longitude) == [
        ("column_name:precise_location", 0, 0),
        ("value:longitude", 30, 30),
    ]


def test_coordinate_pairs_in_one_column_are_a_precise_location_generalised_in_examples():
    values = [f"{52.52 + i / 1000:.5f}, {13.40 + i / 1000:.5f}" for i in range(30)]

    proposal = scan_one("checkin", values)

    assert _classification(proposal) == ("user.location.precise", Q, "", "generalize", 0.95)
    assert proposal.examples == ("52.5, 13.4",)


def test_date_of_birth_column_is_generalised():
    values = [f"{1950 + i}-0{1 + i % 9}-1{i % 9}" for i in range(40)]

    proposal = scan_one("date_of_birth", values)

    assert _classification(proposal) == (
        "user.demographic.date_of_birth", Q, "", "generalize", 0.98,
    )  # fmt: skip
    assert _signals(proposal) == [
        ("column_name:date_of_birth", 0, 0),
        ("value:date_of_birth", 40, 40),
        ("value:date", 40, 40),
    ]
    assert proposal.examples == ("1950-**-**", "1951-**-**", "1952-**-**")


def test_dates_without_a_birth_hint_are_timestamps_not_personal_data():
    proposal = scan_one("created_at", [f"2024-01-{1 + i % 28:02d}T10:00:00Z" for i in range(40)])

    assert _classification(proposal) == ("system.timestamp", N, "", "keep", 0.95)
    assert _signals(proposal) == [("value:date", 40, 40)]


def test_postal_codes_count_only_in_a_postal_code_column():
    codes = [f"{10115 + i:05d}" for i in range(40)]

    zip_code, quantity = scan_sample(sample_of(zip=codes, quantity=codes))

    assert _classification(zip_code) == (
        "user.contact.address.postal_code", Q, "", "generalize", 0.98,
    )  # fmt: skip
    assert zip_code.examples == ("10***",)
    assert quantity.category is None


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("gender", ["female", "male"] * 20, ("user.demographic.gender", Q, "", "keep", 0.93)),
        ("sexe", ["F", "M", "F"] * 10, ("user.demographic.gender", Q, "", "keep", 0.93)),
        ("age", [str(20 + i) for i in range(40)],
         ("user.demographic.age_range", Q, "", "generalize", 0.89)),
        ("customer_id", [f"c-{i:05d}" for i in range(40)],
         ("user.unique_id.pseudonymous", Q, "", "pseudonymize", 0.7)),
        ("device_id", [f"{i:016x}" for i in range(40)],
         ("user.device.device_id", D, "", "pseudonymize", 0.7)),
    ],
)  # fmt: skip
def test_quasi_identifiers_and_ids_named_by_their_column(column, values, expected):
    assert _classification(scan_one(column, values)) == expected


# --- names and text ---------------------------------------------------------------------------


def test_names_are_found_by_their_values_and_dropped():
    proposal = scan_one("customer", names(40))

    assert _classification(proposal) == ("user.name", D, "", "drop", 0.85)
    assert _signals(proposal) == [
        ("value:full_name", 40, 40),
        ("value:last_name", 40, 40),
        ("value:person_name", 40, 40),
    ]
    assert proposal.examples == ("A*** S***", "B*** O***", "C*** G***")


def test_first_name_column_with_first_names_is_confident():
    proposal = scan_one("first_name", [name.split()[0] for name in names(40)])

    assert _classification(proposal) == ("user.name.first", D, "", "drop", 0.93)
    assert _signals(proposal) == [
        ("column_name:first_name", 0, 0),
        ("value:first_name", 40, 40),
        ("value:last_name", 40, 40),
        ("value:person_name", 40, 40),
    ]


def test_free_text_column_is_private_content_with_low_confidence_from_values_alone():
    text = "I waited two weeks for the parcel and nobody answered my emails."

    proposal = scan_one("body", [text] * 10)

    assert _classification(proposal) == ("user.content.private", S, "", "drop", 0.36)
    assert proposal.examples == ("[text, 12 words]",)


# --- special categories -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "category", "special"),
    [
        ("ethnicity", "user.demographic.race_ethnicity", Special.RACIAL_ETHNIC_ORIGIN),
        ("race", "user.demographic.race_ethnicity", Special.RACIAL_ETHNIC_ORIGIN),
        ("religion", "user.demographic.religious_belief", Special.RELIGIOUS_BELIEFS),
        ("political_party", "user.demographic.political_opinion", Special.POLITICAL_OPINIONS),
        ("trade_union_member", "user.demographic.trade_union_membership", Special.TRADE_UNION),
        ("sexual_orientation", "user.demographic.sexual_orientation", Special.SEX_LIFE),
        ("diagnosis", "user.health_and_medical.diagnosis", Special.HEALTH),
        ("icd10_code", "user.health_and_medical.diagnosis", Special.HEALTH),
        ("medication", "user.health_and_medical.medication", Special.HEALTH),
        ("health_notes", "user.health_and_medical", Special.HEALTH),
        ("genome_sequence", "user.health_and_medical.genetic", Special.GENETIC),
        ("fingerprint", "user.biometric.fingerprint", Special.BIOMETRIC),
        ("face_embedding", "user.biometric.face", Special.BIOMETRIC),
        ("biometric_template", "user.biometric", Special.BIOMETRIC),
        ("criminal_record", "user.criminal_history", Special.CRIMINAL),
        ("conviction", "user.criminal_history", Special.CRIMINAL),
    ],
)
def test_special_category_columns_are_sensitive_and_dropped_without_examples(
    column, category, special
):
    proposal = scan_one(column, ["value one", "value two"] * 10)

    assert _classification(proposal) == (category, S, special, "drop", 0.7)
    assert proposal.examples == ()
    assert proposal.summary.endswith("Examples are withheld for this kind of data.")


# --- nothing personal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("cardinality", [str(i) for i in range(40)]),
        ("diagnostics_enabled", ["true", "false"] * 20),
        ("ssn_count", [str(i % 3) for i in range(40)]),
        ("email_verified", ["true", "false"] * 20),
        ("page_views", [str(i * 13) for i in range(40)]),
    ],
)
def test_names_that_only_look_personal_give_no_signal_and_are_left_to_a_person(column, values):
    proposal = scan_one(column, values)

    assert _classification(proposal) == (None, U, "", "", 0.1)
    assert proposal.summary == UNCLASSIFIED_SUMMARY.format(n="40 sampled values")


def test_a_phrase_known_not_to_name_a_person_is_not_personal_data():
    proposal = scan_one("company_name", ["Acme Ltd", "Globex Inc"] * 20)

    assert _classification(proposal) == (None, N, "", "keep", 0.6)
    assert _signals(proposal) == [("column_name:not_personal", 0, 0)]


def test_a_column_nothing_fires_on_needs_a_person_however_large_the_sample():
    # given a column with two values and one with two hundred, and no other column
    few, many = scan_one("status", ["open", "closed"]), scan_one("status", ["open"] * 200)

    # then neither is a confident "not personal": both are left to a person
    assert _classification(few) == (None, U, "", "", 0.1)
    assert _classification(many) == (None, U, "", "", 0.1)
    assert few.examples == ("xxxx", "xxxxxx")
    assert few.explanation() == {
        "signals": [],
        "examples": ["xxxx", "xxxxxx"],
        "summary": UNCLASSIFIED_SUMMARY.format(n="2 sampled values"),
    }


def test_empty_values_are_not_examined():
    proposal = scan_one("status", [None, "", "  ", "NULL", "n/a", float("nan")])

    assert _classification(proposal) == (None, U, "", "", 0.1)
    assert proposal.summary == UNCLASSIFIED_SUMMARY.format(n="0 sampled values")


def test_name_alone_decides_when_every_value_is_empty():
    proposal = scan_one("email", [None, ""])

    assert _classification(proposal) == ("user.contact.email", D, "", "pseudonymize", 0.7)
    assert _signals(proposal) == [("column_name:email", 0, 0)]


# --- sample handling --------------------------------------------------------------------------


def test_one_proposal_per_column_in_column_order():
    sample = wide_sample(rows=50)

    proposals = scan_sample(sample)

    assert [p.column for p in proposals] == sample.columns


def test_at_most_500_values_per_column_are_examined():
    proposal = scan_one("email", emails(1000))

    assert _signals(proposal) == [("column_name:email", 0, 0), ("value:email_validator", 500, 500)]


def test_binary_and_nested_values_are_not_examined():
    proposal = scan_one("payload", [b"\x00\x01", {"email": "a@example.org"}, ["x"]])

    assert proposal.summary == UNCLASSIFIED_SUMMARY.format(n="0 sampled values")


def test_files_read_from_disk_scan_like_in_memory_samples(tmp_path):
    # given the same emails and years in a CSV file (strings) and a Parquet file (ints)
    rows = [["email", "year"], *[[e, str(1990 + i)] for i, e in enumerate(emails(30))]]
    csv_path = write_csv(tmp_path / "s.csv", rows)
    parquet_path = write_parquet(
        tmp_path / "s.parquet", {"email": emails(30), "year": [1990 + i for i in range(30)]}
    )

    # when
    from_csv = scan_sample(read_sample(SampleSource(kind="csv", path=csv_path)))
    from_parquet = scan_sample(read_sample(SampleSource(kind="parquet", path=parquet_path)))

    # then
    assert from_csv == from_parquet
    assert [p.category for p in from_csv] == ["user.contact.email", "user"]


# --- explanations and evidence ----------------------------------------------------------------


def test_no_raw_sample_value_appears_anywhere_in_the_explanations():
    # given a sample with every kind of personal data the scanner knows
    sample = wide_sample(rows=60)
    raw = {str(value) for row in sample.rows for value in row.values() if value is not None}

    # when
    proposals = scan_sample(sample)
    dumped = json.dumps([p.explanation() for p in proposals] + [p.examples for p in proposals])

    # then (short values such as "F" or "34" would match ordinary words and counts)
    leaked = sorted(value for value in raw if len(value) >= 5 and value in dumped)
    assert leaked == []
    assert not re.search(r"\d{5,}", dumped)


def test_explanation_is_json_with_signals_examples_and_a_summary():
    proposal = scan_one("iban", ibans(10))

    explanation = json.loads(json.dumps(proposal.explanation()))

    assert explanation == {
        "signals": [
            {
                "name": "column_name:iban",
                "kind": "column_name",
                "matched": 0,
                "sampled": 0,
                "detail": 'The column name "iban" contains "iban", which suggests: '
                "Bank account (IBAN).",
            },
            {
                "name": "value:iban",
                "kind": "value_pattern",
                "matched": 10,
                "sampled": 10,
                "detail": "10 of 10 non-empty values are valid IBANs "
                "(mod-97 checksum, python-stdnum).",
            },
        ],
        "examples": [
            "DE** **** **** **** **30 00",
            "DE** **** **** **** **31 01",
            "DE** **** **** **** **32 02",
        ],
        "summary": proposal.summary,
    }


def test_evidence_is_stable_when_a_rescan_sees_about_the_same_share():
    # given
    all_match = scan_one("contact", emails(40))
    one_less = scan_one("contact", [*emails(39), "not an email"])
    half = scan_one("contact", [*emails(20), *["not an email"] * 20])

    # then
    assert re.fullmatch(r"[0-9a-f]{64}", all_match.evidence)
    assert scan_one("contact", emails(40)).evidence == all_match.evidence
    assert one_less.evidence == all_match.evidence
    assert half.evidence != all_match.evidence


def test_evidence_changes_when_the_category_or_signals_change():
    by_value = scan_one("contact", emails(40))
    by_value_and_name = scan_one("email", emails(40))
    nothing = scan_one("contact", ["x"] * 40)

    assert len({by_value.evidence, by_value_and_name.evidence, nothing.evidence}) == 3


def test_confidence_is_lower_for_a_handful_of_values():
    assert scan_one("contact", emails(2)).confidence == 0.52
    assert scan_one("contact", emails(10)).confidence == 0.71
    assert scan_one("contact", emails(40)).confidence == 0.95


def test_scan_of_an_empty_sample_is_an_empty_list():
    assert scan_sample(Sample(columns=[], rows=[], truncated=False)) == []
