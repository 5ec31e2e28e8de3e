"""Every value detector on three kinds of value: one it must find, a look-alike it must not,
and one written in another language or national format it must still find.

The table is checked against the registry, so a new detector without cases fails the suite."""

from __future__ import annotations

import pytest

from datasets.scanner.detectors import BY_KEY, DETECTORS

# key: (positives, look-alikes, other languages or national formats). Detectors that only
# count in a hinted column (see ValueDetector.requires_hint) are called with hinted=True.
CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "email_validator": (
        ("jane.doe@example.com", "j+tag@sub.example.co.uk"),
        ("jane.doe@example", "@handle", "jane doe@example.com"),
        ("jürgen.müller@beispiel.de", "josé@correo.es"),
    ),
    "luhn_card": (
        ("4111111111111111", "378282246310005"),
        ("4111111111111112", "1234567812345670"),
        ("5555 5555 5555 4444", "4111-1111-1111-1111"),
    ),
    "iban": (
        ("DE89370400440532013000", "GB82WEST12345698765432"),
        ("DE89370400440532013001", "DE00"),
        (
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "ES9121000418450200051332",
            "IT60X0542811101000000123456",
            "PT50000201231234567890154",
        ),
    ),
    "us_ssn": (("536-22-8726",), ("000-12-3456", "666-12-3456", "536-22-872"), ("536228726",)),
    "es_dni": (("12345678Z",), ("12345678A",), ("12345678-Z",)),
    "es_nie": (("X1234567L",), ("X1234567A",), ("X-1234567-L",)),
    "fr_nir": (("295109912611193",), ("295109912611194",), ("2 95 10 99 126 111 93",)),
    "br_cpf": (("390.533.447-05",), ("390.533.447-06",), ("39053344705",)),
    "de_idnr": (("36574261809",), ("36574261808",), ("36 574 261 809",)),
    "nl_bsn": (("111222333",), ("111222334",), ("1112.22.333",)),
    "gb_nhs": (("9434765919",), ("9434765910",), ("943 476 5919",)),
    "in_aadhaar": (("234123412346",), ("234123412347",), ("2341 2341 2346",)),
    "ip_address": (
        ("203.0.113.7", "2001:db8::1"),
        ("10.0.19041.1", "1.2.3", "256.1.1.1", "6.1.7601.17514"),
        ("::ffff:192.0.2.128", "fe80::1"),
    ),
    "coordinates": (
        ("52.52008, 13.40495",),
        ("1.5, 2.5", "95.12, 10.12"),
        ("(48.8566; 2.3522)", "-33.8688 151.2093"),
    ),
    "latitude": (("52.5200",), ("95.12", "52"), ("-33.8688",)),
    "longitude": (("13.4050",), ("181.25", "13"), ("-151.2093",)),
    "phonenumbers": (
        ("+1 415 555 2671", "(415) 555-2671"),
        ("2024-01-05", "10.0.19041.1", "123-45-6789", "3.14159"),
        ("+49 30 901820", "01 42 68 53 00", "030 901820", "+33 1 42 68 53 00"),
    ),
    "date_of_birth": (("1985-03-02",), ("1850-01-01", "2099-01-01"), ("02.03.1985", "02/03/1985")),
    "postal_code": (("94107", "SW1A 1AA"), ("ABCDE", "123"), ("1012 AB", "75008", "10115")),
    "age_years": (("34", "18.0"), ("121", "-1", "34."), ("0.9167", "58.7652")),
    "full_name": (
        ("Jane Doe", "Allen, Miss. Elisabeth Walton"),
        ("Columbiana County", "Acme Corp", "Hawley Municipal", "AIRBUS INDUSTRIE", "jane doe"),
        ("José García", "Jürgen Müller", "Françoise Dupont", "Giulia Rossi", "Herr Schmidt"),
    ),
    "first_name": (
        ("Alice", "Cesar A."),
        ("Lake", "Airport", "ALICE"),
        ("Jürgen", "Giulia", "João"),
    ),
    "last_name": (("Aguilar", "Garcia"), ("Municipal", "Lake"), ("Müller", "Dupont", "Jansen")),
    "person_name": (("Alice", "Jane Doe"), ("Meadow Lake", "Hawley"), ("João Silva", "Søren")),
    "race_ethnicity_terms": (
        ("White", "Latino", "Indig-White", "African American"),
        ("Red", "Silver", "Too Little"),
        ("Blanco", "Noir", "Pardo", "Aziatisch", "weiß"),
    ),
    "religion_terms": (
        ("Christian (Catholic)", "Muslim", "Atheist"),
        ("Christmas", "yes", "Other"),
        ("katholisch", "musulman", "católico", "ebreo", "joods", "ateu"),
    ),
    "sexual_orientation_terms": (
        ("Heterosexual", "Bisexual"),
        ("Portrait", "Landscape", "Other"),
        ("schwul", "hétérosexuel", "omosessuale", "biseksueel", "heterossexual"),
    ),
    "political_terms": (
        ("Labour", "Republican"),
        ("Party", "Union", "Independent"),
        ("SPD", "Partido Popular", "PvdA", "Fratelli d'Italia"),
    ),
    "health_terms": (
        ("Diabetes", "acute myeloid leukemia", "E11.9"),
        ("healthy", "Stage 2", "Z"),
        ("Bluthochdruck", "diabète", "cáncer", "tumore", "kanker", "hipertensão"),
    ),
    "gender_terms": (
        ("Male", "F"),
        ("L", "XL", "unknown"),
        ("männlich", "weiblich", "femme", "mujer", "maschio", "vrouw", "mulher"),
    ),
    "marital_terms": (
        ("Married", "Never married"),
        ("Open", "Active"),
        ("verheiratet", "célibataire", "soltero", "vedova", "gescheiden", "solteiro"),
    ),
    "date": (("2024-01-05", "2024-01-05T10:00:00Z"), ("2024-13-45", "2024"), ("05.01.2024",)),
    "free_text": (
        ("The parcel arrived late and the box was damaged on one side.",),
        ("late delivery", '{"a": "json objects are not free text at all, even long ones"}'),
        ("Das Paket kam zu spät an und der Karton war auf einer Seite beschädigt.",),
    ),
}


def test_every_detector_has_positive_look_alike_and_other_language_cases():
    assert set(CASES) == {detector.key for detector in DETECTORS}
    assert all(all(kind for kind in cases) for cases in CASES.values())


def _cases(kind: int):
    return [(key, value) for key, cases in CASES.items() for value in cases[kind]]


def _found(key: str, value: str) -> bool:
    # Hinted, as in a column named for the detector: ICD codes, bare national numbers.
    return BY_KEY[key].test(value, True)


@pytest.mark.parametrize(("key", "value"), _cases(0))
def test_detectors_find_their_kind_of_value(key, value):
    assert _found(key, value) is True


@pytest.mark.parametrize(("key", "value"), _cases(1))
def test_detectors_are_not_fooled_by_look_alikes(key, value):
    assert _found(key, value) is False


@pytest.mark.parametrize(("key", "value"), _cases(2))
def test_detectors_find_values_in_other_languages_and_national_formats(key, value):
    assert _found(key, value) is True


def test_icd_codes_count_only_in_a_column_named_for_diagnoses():
    assert BY_KEY["health_terms"].test("E11.9", False) is False
    assert BY_KEY["health_terms"].test("E11.9", True) is True
