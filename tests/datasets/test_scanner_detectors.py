"""Value detectors, column-name rules and masking, each on values with known answers."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datasets.scanner import masking, vocabulary
from datasets.scanner.detectors import (
    BY_KEY,
    DETECTORS,
    RULES,
    is_age,
    is_birth_date,
    is_br_cpf,
    is_card_number,
    is_coordinate_pair,
    is_date,
    is_de_idnr,
    is_email,
    is_es_dni,
    is_es_nie,
    is_fr_nir,
    is_free_text,
    is_gb_nhs,
    is_iban,
    is_in_aadhaar,
    is_ip_address,
    is_latitude,
    is_nl_bsn,
    is_person_name,
    is_phone_number,
    is_postal_code,
    is_us_ssn,
    match_column_name,
    parse_date,
    tokenize,
)
from datasets.taxonomy import CATEGORY_KEYS
from tests.datasets.scanner_samples import (
    INVALID_SSNS,
    VALID_CARDS,
    ibans,
    luhn_failing,
    luhn_passing,
    ssns,
)

# --- registry ---------------------------------------------------------------------------------


def test_every_detector_and_rule_proposes_a_taxonomy_key():
    categories = {d.category for d in DETECTORS} | {r.category for r in RULES if r.category}

    assert categories <= CATEGORY_KEYS


def test_detector_keys_are_unique_and_have_maskers():
    assert len(BY_KEY) == len(DETECTORS)
    assert all(detector.mask in masking.MASKERS for detector in DETECTORS)


def test_name_lists_are_large_folded_and_free_of_place_words_and_titles():
    first, last = vocabulary.first_names(), vocabulary.last_names()

    assert len(first) > 50_000
    assert len(last) > 30_000
    assert all(name == vocabulary.fold(name) for name in first | last)
    assert not (first | last) & (vocabulary.PLACE_WORDS | {"mr", "mrs", "the"})
    assert {"jane", "jurgen", "giulia", "joao"} <= first
    assert {"garcia", "muller", "rossi", "jansen"} <= last


# --- payment cards ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", VALID_CARDS)
def test_published_test_card_numbers_are_cards(number):
    assert is_card_number(number) is True


def test_card_numbers_with_spaces_or_dashes_are_cards():
    assert is_card_number("4111 1111 1111 1111") is True
    assert is_card_number("4111-1111-1111-1111") is True


def test_sixteen_digit_numbers_that_fail_luhn_are_not_cards():
    assert [n for n in luhn_failing(200) if is_card_number(n)] == []
    assert all(is_card_number(n) for n in luhn_passing(200))


@pytest.mark.parametrize(
    "number",
    [
        "1234567812345670",  # passes Luhn, but no card scheme issues numbers starting with 1
        "9999999999999995",  # passes Luhn, unknown issuer
        "411111111111",  # 12 digits: too short
        "41111111111111111111",  # 20 digits: too long
        "5555555555554444000",  # Mastercard prefix, wrong length
    ],
)
def test_luhn_valid_numbers_without_a_card_issuer_or_length_are_not_cards(number):
    assert is_card_number(number) is False


@pytest.mark.parametrize("year", [str(y) for y in range(1990, 2025)])
def test_a_year_is_not_a_card_a_date_or_a_birth_date(year):
    assert is_card_number(year) is False
    assert is_date(year) is False
    assert is_birth_date(year) is False


# --- email, phone, IBAN -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane.doe@example.com", True),
        ("j+tag@sub.example.co.uk", True),
        ("jane.doe@example", False),  # no dot in the domain
        ("jane doe@example.com", False),
        ("@example.com", False),
        ("jane.doe.example.com", False),
    ],
)
def test_email_addresses_are_validated_by_email_validator(value, expected):
    assert is_email(value) is expected


@pytest.mark.parametrize(
    "value",
    ["+1 415-555-2671", "(415) 555-2671", "+44 20 7946 0958", "020 7946 0958", "+49 30 12345678"],
)
def test_formatted_phone_numbers_valid_in_a_region_are_phones(value):
    assert is_phone_number(value) is True


def test_bare_digit_runs_are_phones_only_in_a_column_named_like_a_phone():
    assert is_phone_number("4155552671") is False
    assert is_phone_number("4155552671", hinted=True) is True


@pytest.mark.parametrize(
    "value",
    ["2024-01-15", "15.01.2024", "192.168.1.10", "1234.5678", "536-22-8726", "+1 555", "12-34"],
)
def test_dates_addresses_decimals_and_short_numbers_are_not_phones(value):
    assert is_phone_number(value, hinted=True) is False


def test_ibans_are_validated_by_their_checksum():
    assert all(is_iban(value) for value in ibans(50))
    assert is_iban("DE89 3704 0044 0532 0130 00") is True
    assert is_iban("GB82WEST12345698765432") is True
    assert is_iban("DE88 3704 0044 0532 0130 00") is False  # check digits off by one
    assert is_iban("DE89") is False


# --- national ids -----------------------------------------------------------------------------


def test_valid_us_social_security_numbers_are_ssns():
    assert all(is_us_ssn(value) for value in ssns(200))


@pytest.mark.parametrize("value", INVALID_SSNS)
def test_ssns_with_an_impossible_area_group_or_serial_are_not_ssns(value):
    assert is_us_ssn(value) is False


def test_bare_nine_digit_numbers_are_ssns_only_in_a_column_named_like_one():
    assert is_us_ssn("536228726") is False
    assert is_us_ssn("536228726", hinted=True) is True


@pytest.mark.parametrize(
    ("test", "valid", "invalid", "hinted"),
    [
        (is_es_dni, "54362315K", "54362315Z", False),
        (is_es_nie, "X2482300W", "X2482300A", False),
        (is_fr_nir, "2 95 10 99 126 111 93", "295109912611192", False),
        (is_br_cpf, "390.533.447-05", "231.002.999-00", False),
        (is_nl_bsn, "111222333", "111252333", True),
        (is_de_idnr, "36 574 261 809", "36574261890", True),
        (is_gb_nhs, "943 476 5919", "943 476 5918", True),
        (is_in_aadhaar, "2341 2341 2346", "234123412347", True),
    ],
)
def test_national_ids_are_valid_only_with_a_correct_check_digit(test, valid, invalid, hinted):
    assert test(valid, hinted) is True
    assert test(invalid, hinted) is False


@pytest.mark.parametrize(
    ("test", "value"),
    [(is_nl_bsn, "111222333"), (is_de_idnr, "36574261809"), (is_gb_nhs, "9434765919"),
     (is_in_aadhaar, "234123412346"), (is_br_cpf, "39053344705")],
)  # fmt: skip
def test_national_ids_that_look_like_plain_numbers_need_a_column_name_hint(test, value):
    assert test(value, False) is False
    assert test(value, True) is True


# --- addresses, dates, places, names, text ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("203.0.113.7", True), ("2001:db8::1", True), ("::1", True), ("1.2.3", False),
     ("256.1.1.1", False), ("10:30", False), ("1.2.3.4 ", False)],
)  # fmt: skip
def test_ip_addresses_are_parsed_by_the_ipaddress_module(value, expected):
    assert is_ip_address(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1985-03-02", date(1985, 3, 2)),
        ("1985-03-02T10:15:00+00:00", date(1985, 3, 2)),
        ("1985/3/2", date(1985, 3, 2)),
        ("02.03.1985", date(1985, 3, 2)),
        ("31/12/1985", date(1985, 12, 31)),
        ("12/31/1985", date(1985, 12, 31)),
        ("1985-02-30", None),
        ("1985", None),
        ("March 2, 1985", None),
    ],
)
def test_dates_are_parsed_in_iso_and_day_month_orders(value, expected):
    assert parse_date(value) == expected


def test_birth_dates_lie_between_1900_and_ten_years_ago():
    assert is_birth_date("1985-03-02") is True
    assert is_birth_date("1899-12-31") is False
    assert is_birth_date(date.today().replace(day=1).isoformat()) is False


@pytest.mark.parametrize("value", ["94107", "94107-1234", "SW1A 1AA", "m1 1ae", "1012 AB", "8001"])
def test_postal_codes_in_us_uk_german_dutch_and_four_digit_formats(value):
    assert is_postal_code(value) is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [("52.52008, 13.40495", True), ("(52.52,13.40)", True), ("-33.87; 151.21", True),
     ("52.5, 13.4", False), ("95.00, 13.40", False), ("52, 13", False)],
)  # fmt: skip
def test_coordinate_pairs_need_two_decimals_and_ranges(value, expected):
    assert is_coordinate_pair(value) is expected


def test_latitudes_are_decimals_within_ninety_degrees():
    assert is_latitude("52.52") is True
    assert is_latitude("-90.00") is True
    assert is_latitude("91.00") is False
    assert is_latitude("52") is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Alice", True), ("Alice Smith", True), ("Jean-Luc Picard", True), ("Hannah O'Neil", True),
     ("Mary-Jane Watson", True), ("alice smith", False), ("ALICE SMITH", False),
     ("Acme Corp", False), ("Alice2", False)],
)  # fmt: skip
def test_person_names_are_capitalised_words_starting_with_a_common_first_name(value, expected):
    assert is_person_name(value) is expected


def test_free_text_is_six_words_and_forty_characters_or_more():
    assert is_free_text("The parcel arrived late and the box was damaged.") is True
    assert is_free_text("late delivery") is False
    assert is_free_text('{"a": "json objects are not free text at all, even long ones"}') is False


def test_ages_are_numbers_up_to_120_whole_or_as_data_frames_write_them():
    values = ("0", "34", "120", "18.0", "58.7652", "0.9167", "121", "120.5", "-1", "34.", "1e2")

    assert [is_age(v) for v in values] == [
        True, True, True, True, True, True, False, False, False, False, False,
    ]  # fmt: skip


# --- column names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("customer_email", ("customer", "email")),
        ("customerEmail", ("customer", "email")),
        ("CustomerEmail", ("customer", "email")),
        ("e-mail", ("e", "mail")),
        ("Date of Birth", ("date", "of", "birth")),
        ("userIPAddress", ("user", "ip", "address")),
        ("ICD10Code", ("icd", "10", "code")),
        ("client_IPv4", ("client", "ipv", "4")),
        ("cardinality", ("cardinality",)),
    ],
)
def test_column_names_are_split_into_lower_case_words(name, tokens):
    assert tokenize(name) == tokens


@pytest.mark.parametrize(
    ("name", "rule", "category"),
    [
        ("email", "email", "user.contact.email"),
        ("E-Mail", "email", "user.contact.email"),
        ("email_address", "email", "user.contact.email"),
        ("ip_address", "ip_address", "user.device.ip_address"),
        ("home_address", "address", "user.contact.address"),
        ("firstName", "first_name", "user.name.first"),
        ("surname", "last_name", "user.name.last"),
        ("customer_name", "name", "user.name"),
        ("username", "username", "user.account.username"),
        ("birthday", "date_of_birth", "user.demographic.date_of_birth"),
        ("dateOfBirth", "date_of_birth", "user.demographic.date_of_birth"),
        ("zip_code", "postal_code", "user.contact.address.postal_code"),
        ("sex", "gender", "user.demographic.gender"),
        ("sex_life", "sexual_orientation", "user.demographic.sexual_orientation"),
        ("marital_status", "marital_status", "user.demographic.marital_status"),
        ("customer_id", "pseudonymous_id", "user.unique_id.pseudonymous"),
        ("api_key", "credentials", "user.authorization.credentials"),
        ("icd10", "diagnosis", "user.health_and_medical.diagnosis"),
        ("has_diagnosis", "diagnosis", "user.health_and_medical.diagnosis"),
        ("diagnosis_count", "diagnosis", "user.health_and_medical.diagnosis"),
        ("device_fingerprint", "device_id", "user.device.device_id"),
        ("fingerprint_template", "fingerprint", "user.biometric.fingerprint"),
    ],
)
def test_column_name_rules_match_whole_words_longest_phrase_first(name, rule, category):
    match = match_column_name(name)

    assert (match.rule.key, match.rule.category) == (rule, category)


@pytest.mark.parametrize(
    "name",
    [
        "cardinality",  # one word; "card" is not in it
        "diagnostics_enabled",  # "diagnostics" is not "diagnosis"
        "page_views",  # "page" is not "age"
        "usage",
        "email_verified",  # about the email, not the email
        "is_email_verified",
        "phone_type",
        "ssn_count",  # a count of SSNs is not an SSN
        "card_type",
        "company_name",
        "fileName",
        "zip_file",
        "health_check_url",
        "healthcheck",
        "cookie_consent",
        "tokens",
        "primary_key",
        "country_id",
    ],
)
def test_words_that_contain_or_qualify_a_rule_word_do_not_fire_it(name):
    assert match_column_name(name) is None


@pytest.mark.parametrize(
    ("name", "rule"),
    [("message_id", None), ("address_id", None), ("email_id", None), ("user_id", "pseudonymous_id"),
     ("passport_id", "passport"), ("drivers_license_id", "drivers_license")],
)  # fmt: skip
def test_an_id_after_a_rule_word_is_a_key_to_something_else_unless_the_phrase_says_so(name, rule):
    match = match_column_name(name)

    assert (match.rule.key if match else None) == rule


def test_ambiguous_words_give_less_confidence_than_specific_ones():
    assert match_column_name("condition").confidence == 0.4
    assert match_column_name("medical_condition").confidence == 0.7
    assert match_column_name("phone").confidence == 0.55


# --- masking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "value", "masked"),
    [
        (masking.mask_email, "jane.doe@example.com", "j***@e***.com"),
        (masking.mask_card, "4111111111111111", "4111 **** **** 1111"),
        (masking.mask_card, "378282246310005", "3782 **** *** 0005"),
        (masking.mask_ssn, "536-22-8726", "***-**-8726"),
        (masking.mask_iban, "DE89 3704 0044 0532 0130 00", "DE** **** **** **** **30 00"),
        (masking.mask_phone, "+1 (415) 555-2671", "+* (***) ***-**71"),
        (masking.mask_identifier, "X2482300W", "*******0W"),
        (masking.mask_identifier, "12345", "*****"),
        (masking.mask_ip, "203.0.113.7", "203.0.*.*"),
        (masking.mask_ip, "2001:db8::1", "2001:db8:*:*"),
        (masking.mask_date, "1985-03-02", "1985-**-**"),
        (masking.mask_postal_code, "SW1A 1AA", "SW** ***"),
        (masking.mask_postal_code, "94107", "94***"),
        (masking.mask_postal_code, "00/", "**/"),  # too short to keep an area (Hypothesis)
        (masking.generalize_coordinates, "52.52008, 13.40495", "52.5, 13.4"),
        (masking.generalize_number, "52.52008", "52.5"),
        (masking.generalize_age, "34", "30-39"),
        (masking.mask_name, "Jane Doe", "J*** D***"),
        (masking.describe_text, "The parcel arrived late.", "[text, 4 words]"),
        (masking.shape, "SKU-12345", "XXX-#####"),
        (masking.shape, "x" * 30, "x" * 24 + "…"),
    ],
)
def test_masks_keep_the_shape_and_hide_the_value(mask, value, masked):
    assert mask(value) == masked


IDENTIFIER_MASKS = ("email", "card", "ssn", "iban", "phone", "identifier", "ip", "date",
                    "postal_code", "name", "text", "shape")  # fmt: skip
raw_values = st.text(
    alphabet=st.sampled_from("0123456789abcXYZ -.@+()/"), min_size=3, max_size=40
).filter(lambda value: any(char.isdigit() for char in value))


@given(value=raw_values, mask=st.sampled_from(IDENTIFIER_MASKS))
def test_masking_never_reveals_the_value_or_more_than_four_digits_in_a_row(value, mask):
    masked = masking.MASKERS[mask](value)

    assert value.strip() not in masked or len(value.strip()) < 3
    assert all(len(run) <= 4 for run in re.findall(r"\d+", masked))
