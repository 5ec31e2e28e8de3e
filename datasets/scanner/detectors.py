"""Value detectors: does a single value look like an email address, a card number, an IBAN...?

Where a checksum exists a maintained validator decides (python-stdnum, phonenumbers,
email-validator), so a 16-digit number that fails Luhn is not a card number. Detectors whose
format is too common to be told apart from an ordinary number (a 9-digit BSN, an 11-digit tax id,
an unformatted phone number, a postal code, a date of birth) only count when the column name
hints at them. Column-name rules live in ``column_names`` and are re-exported here."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.in_ import aadhaar
from stdnum.nl import bsn
from stdnum.us import ssn

from datasets.scanner import vocabulary
from datasets.scanner.column_names import (
    RULES,
    NameMatch,
    NameRule,
    match_column_name,
    tokenize,
    word_set,
)

__all__ = [
    "DETECTORS", "RULES", "Context", "NameMatch", "NameRule", "ValueDetector",
    "is_card_number", "is_email", "is_phone_number", "match_column_name", "parse_date", "tokenize",
]  # fmt: skip

PHONE_REGIONS = ("US", "GB", "DE", "FR")


@dataclass(frozen=True)
class Context:
    """What a detector may know besides the value: the words of its column's name, and how many
    of the sample's column names contain each word (a latitude needs a longitude beside it)."""

    tokens: frozenset[str]
    sample_tokens: Mapping[str, int] = field(default_factory=dict)

    def elsewhere(self, words: frozenset[str]) -> bool:
        """Whether another column's name contains one of ``words``."""
        return any(self.sample_tokens.get(w, 0) > (w in self.tokens) for w in words)


@dataclass(frozen=True)
class ValueDetector:
    key: str  # the signal is "value:<key>"
    category: str
    noun: str  # completes "N of M non-empty values ..."
    test: Callable[[str, bool], bool]  # (value, hinted) -> matched
    mask: str  # a key of masking.MASKERS
    hints: frozenset[str] = frozenset()  # column-name words that hint at this detector
    requires_hint: bool = False
    overrides_name: bool = True  # values outweigh a column name that says otherwise
    weight: float = 1.0  # the highest confidence values alone can give
    needs_sibling: frozenset[str] = frozenset()  # another column must have one of these words
    blocked_by: frozenset[str] = frozenset()  # column-name words that rule the detector out
    specific_header_wins: bool = False  # a specific column-name rule outweighs these values
    min_share: float = 0.3  # share of values that must match for the detector to decide
    min_distinct: int = 1  # distinct matching values needed (one repeated word proves little)

    def applies(self, context: Context) -> bool:
        if self.requires_hint and not self.hinted(context):
            return False
        if self.blocked_by & context.tokens:
            return False
        return not self.needs_sibling or context.elsewhere(self.needs_sibling)

    def hinted(self, context: Context) -> bool:
        return bool(self.hints & context.tokens)


# --- individual tests ---------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s\-.]")


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value)


def is_email(value: str, hinted: bool = False) -> bool:
    if "@" not in value or len(value) > 254 or any(char.isspace() for char in value):
        return False
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _known_issuer(digits: str) -> bool:
    """Issuer identification number ranges and lengths of the major card schemes."""
    length, p2, p3, p4, p6 = (
        len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6]),
    )  # fmt: skip
    if digits[0] == "4":  # Visa
        return length in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return length == 16
    if p2 in (34, 37):  # American Express
        return length == 15
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= length <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= length <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= length <= 19
    if p2 == 62:  # UnionPay
        return 16 <= length <= 19
    return p2 in (50, 56, 57, 58, 63, 67)  # Maestro, 12-19 digits (checked by the caller)


def is_card_number(value: str, hinted: bool = False) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    return (
        digits.isdigit()
        and 13 <= len(digits) <= 19
        and _known_issuer(digits)
        and luhn.is_valid(digits)
    )


_IBAN = re.compile(r"^[A-Za-z]{2}\d{2}[A-Za-z0-9 ]{10,40}$")


def is_iban(value: str, hinted: bool = False) -> bool:
    return bool(_IBAN.match(value)) and iban.is_valid(value)


_SSN_FORMATTED = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_SSN_PLAIN = re.compile(r"^\d{3} ?\d{2} ?\d{4}$")


def is_us_ssn(value: str, hinted: bool = False) -> bool:
    """Dashed numbers always; bare nine-digit numbers only in a column named like an SSN."""
    shaped = _SSN_FORMATTED.match(value) or (hinted and _SSN_PLAIN.match(value))
    return bool(shaped) and ssn.is_valid(value)


def _stdnum_test(module, pattern: str, bare: str | None = None):
    """A checksum test for a national number: ``pattern`` always counts; ``bare`` (a plain digit
    run, too easily an ordinary number) only with a column-name hint."""
    shaped, plain = re.compile(pattern), re.compile(bare) if bare else None

    def matches(value: str, hinted: bool = False) -> bool:
        if not (shaped.match(value) or (hinted and plain and plain.match(value))):
            return False
        return module.is_valid(value)

    return matches


_NEVER = r"(?!)"
is_es_dni = _stdnum_test(dni, r"^\d{8}-?[A-Za-z]$")
is_es_nie = _stdnum_test(nie, r"^[XYZxyz]-?\d{7}-?[A-Za-z]$")
is_fr_nir = _stdnum_test(nir, r"^[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}$")
is_br_cpf = _stdnum_test(cpf, r"^\d{3}\.\d{3}\.\d{3}-\d{2}$", r"^\d{11}$")
is_de_idnr = _stdnum_test(idnr, _NEVER, r"^\d{2} ?\d{3} ?\d{3} ?\d{3}$")
is_nl_bsn = _stdnum_test(bsn, _NEVER, r"^\d{4}\.?\d{2}\.?\d{3}$|^\d{8,9}$")
is_gb_nhs = _stdnum_test(nhs, _NEVER, r"^\d{3}[ -]?\d{3}[ -]?\d{4}$")
is_in_aadhaar = _stdnum_test(aadhaar, _NEVER, r"^\d{4} ?\d{4} ?\d{4}$")


def is_ip_address(value: str, hinted: bool = False) -> bool:
    if len(value) > 45 or not ("." in value or ":" in value) or " " in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_PHONE_SHAPE = re.compile(r"^\+?[\d\s().\-/]{7,24}$")
_NOT_A_PHONE = re.compile(
    r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$"  # a date
    r"|^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}$"  # a date
    r"|^\d{1,3}(\.\d{1,3}){3}$"  # an IPv4 address
    r"|^-?\d+\.\d+$"  # a decimal number
    r"|^\d{3}-\d{2}-\d{4}$"  # a US SSN
    r"|^\d+(?:\.\d+){2,}$"  # a dotted version or build number (10.0.19041.1)
)


def is_phone_number(value: str, hinted: bool = False) -> bool:
    """Formatted numbers (``+``, brackets, dashes, spaces) always; a bare digit run only in a
    column named like a phone. The number must be valid for its region, not merely parse."""
    if not _PHONE_SHAPE.match(value) or _NOT_A_PHONE.match(value):
        return False
    digits = sum(char.isdigit() for char in value)
    if not 7 <= digits <= 15 or (value.isdigit() and not hinted):
        return False
    regions = (None,) if value.startswith("+") else PHONE_REGIONS
    for region in regions:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}.*)?$")
_YMD = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_DMY_OR_MDY = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")


def parse_date(value: str) -> date | None:
    """ISO dates and datetimes, ``YYYY/MM/DD``, and ``DD.MM.YYYY`` / ``MM/DD/YYYY`` (either
    reading, as long as one is a real date)."""
    if match := _ISO_DATE.match(value) or _YMD.match(value):
        candidates = [(int(match[1]), int(match[2]), int(match[3]))]
    elif match := _DMY_OR_MDY.match(value):
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        candidates = [(year, second, first), (year, first, second)]
    else:
        return None
    for year, month, day in candidates:
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return None


def is_date(value: str, hinted: bool = False) -> bool:
    return len(value) <= 40 and parse_date(value) is not None


def is_birth_date(value: str, hinted: bool = False) -> bool:
    """A date someone at least ten years old and born after 1900 could have been born on."""
    parsed = parse_date(value) if len(value) <= 40 else None
    if parsed is None:
        return False
    today = date.today()
    try:
        latest = today.replace(year=today.year - 10)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year - 10, day=28)
    return date(1900, 1, 1) <= parsed <= latest


_POSTAL = re.compile(
    r"^\d{5}(?:-\d{4})?$"  # US ZIP, ZIP+4; DE, FR, ES, IT
    r"|^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$"  # UK
    r"|^\d{4} ?[A-Z]{2}$"  # NL
    r"|^\d{4}$",  # AT, BE, CH, DK, AU and ZIP codes that lost a leading zero
    re.IGNORECASE,
)


def is_postal_code(value: str, hinted: bool = False) -> bool:
    return bool(_POSTAL.match(value))


_PAIR = re.compile(r"^\(?\s*(-?\d{1,2}\.\d{2,})\s*[,; ]\s*(-?\d{1,3}\.\d{2,})\s*\)?$")
_DECIMAL = re.compile(r"^-?\d{1,3}\.\d{2,}$")


def is_coordinate_pair(value: str, hinted: bool = False) -> bool:
    match = _PAIR.match(value)
    return bool(match) and abs(float(match[1])) <= 90 and abs(float(match[2])) <= 180


def is_latitude(value: str, hinted: bool = False) -> bool:
    return bool(_DECIMAL.match(value)) and abs(float(value)) <= 90


def is_longitude(value: str, hinted: bool = False) -> bool:
    return bool(_DECIMAL.match(value)) and abs(float(value)) <= 180


_AGE = re.compile(r"^\d{1,3}(?:\.\d{1,4})?$")


def is_age(value: str, hinted: bool = False) -> bool:
    """Whole years (``34``) or years with decimals as data frames write them (``18.0``,
    ``58.77``, ``0.9167`` for an infant), from 0 to 120."""
    return bool(_AGE.match(value)) and float(value) <= 120


_TITLES = word_set(
    "mr mrs miss ms master dr prof sir lady rev herr frau fraulein m mme mlle sr sra srta don "
    "dona sig signor signora dhr mevr"
)
_APOSTROPHES = "'\u2019"  # O'Neil, O\u2019Neil
_NAME_WORD = re.compile(rf"^[^\W\d_][^\W\d_{_APOSTROPHES}\-.]*(?:[-{_APOSTROPHES}][^\W\d_]+)*\.?$")


_ASIDE = re.compile(r'\([^)]*\)?|"[^"]*"?')


def _name_words(value: str) -> list[str] | None:
    """The words of a value written like a person's name, or None: two to six words, each
    capitalised (or an initial), no digits; ``Allen, Miss. Elisabeth`` and ``(née Smith)``
    are allowed."""
    text = _ASIDE.sub(" ", value)  # nicknames and maiden names
    words = text.replace(",", " ").split()
    if not 1 <= len(words) <= 6:
        return None
    for word in words:
        letters = word.strip(".")
        if not _NAME_WORD.match(word) or not (word[0].isupper() or word.lower() in _TITLES):
            return None
        if len(letters) > 1 and letters.isupper():  # "ACME", "AIRBUS INDUSTRIE"
            return None
    return words


def _given(word: str) -> bool:
    """A known given name, or a hyphenated one whose first part is (``Jean-Luc``)."""
    folded = vocabulary.fold(word).strip(".")
    names = vocabulary.first_names()
    return folded in names or folded.split("-")[0] in names


def _placeish(words: list[str]) -> bool:
    return any(vocabulary.fold(w).strip(".") in vocabulary.PLACE_WORDS for w in words)


def is_full_name(value: str, hinted: bool = False) -> bool:
    """A person's full name: a title (``Mr.``, ``Frau``), or a known first name followed by
    further capitalised words, or a surname first (``Doe, Jane``); never a value with a word for
    a place or an organisation (``Lake``, ``County``, ``Inc``)."""
    words = _name_words(value)
    if words is None or len(words) < 2 or _placeish(words):
        return False
    folded = [vocabulary.fold(w).strip(".") for w in words]
    if any(w in _TITLES for w in folded):
        return True
    last = vocabulary.last_names()
    if "," in value:  # "Doe, Jane": the surname first
        return folded[0] in last and any(_given(w) for w in words[1:])
    return _given(words[0])


def is_first_name(value: str, hinted: bool = False) -> bool:
    """One capitalised word (an initial may follow) that is a known given name."""
    words = _name_words(value)
    if words is None or len(words) > 2 or (len(words) == 2 and len(words[1].strip(".")) > 1):
        return False
    return _given(words[0]) and not _placeish(words)


def is_person_name(value: str, hinted: bool = False) -> bool:
    """A full name, or a single known given name: a column of both is a column of names."""
    return is_full_name(value) or is_first_name(value)


def is_last_name(value: str, hinted: bool = False) -> bool:
    words = _name_words(value)
    if words is None or len(words) > 3 or _placeish(words):
        return False
    return vocabulary.fold(words[-1]) in vocabulary.last_names()


def _vocabulary_test(name: str, partial: bool = False):
    """A value matches when its words are terms of the vocabulary, apart from neutral words
    (``Christian (Catholic)``, ``Indig-White``); ``partial``: one term among other words is
    enough (``acute myeloid leukemia``)."""

    def matches(value: str, hinted: bool = False) -> bool:
        if len(value) > 60 or not value[0].isalpha():
            return False
        words = vocabulary.fold_words(value)
        if not words:
            return False
        covered, explained = vocabulary.vocabulary(name).hits(words)
        return covered > 0 and (partial or explained == len(words))

    return matches


_ICD10 = re.compile(r"^[A-TV-Z][0-9]{2}(?:\.[0-9A-Z]{1,4})?$")
_health_words = _vocabulary_test("health", partial=True)


def is_health_term(value: str, hinted: bool = False) -> bool:
    """A disease or condition by name (in seven languages) or an ICD-10 code (with a hint)."""
    return _health_words(value) or (hinted and bool(_ICD10.match(value.upper())))


def is_free_text(value: str, hinted: bool = False) -> bool:
    if len(value) < 40 or value[0] in "{[<":
        return False
    words = value.split()
    letters = sum(char.isalpha() for char in value)
    return len(words) >= 6 and letters >= len(value) / 2


# --- the registry -------------------------------------------------------------------------

_NATIONAL_ID = "user.government_id.national_identification_number"
_TAX_ID = "user.government_id.tax_id"
_LAT = word_set("lat latitude breitengrad latitud latitudine breedtegraad")
_LON = word_set("lon lng long longitude langengrad longitud longitudine lengtegraad")


# Order matters only to break ties between detectors that match the same share of values.
# fmt: off
DETECTORS: tuple[ValueDetector, ...] = (
    ValueDetector("email_validator", "user.contact.email",
                  "are valid email addresses (email-validator)", is_email, "email"),
    ValueDetector("luhn_card", "user.financial.credit_card",
                  "are payment card numbers (known issuer prefix and length, Luhn checksum)",
                  is_card_number, "card"),
    ValueDetector("iban", "user.financial.bank_account",
                  "are valid IBANs (mod-97 checksum, python-stdnum)", is_iban, "iban"),
    ValueDetector("us_ssn", _NATIONAL_ID,
                  "are valid US Social Security numbers (python-stdnum us.ssn)", is_us_ssn,
                  "ssn", word_set("ssn social socialsecuritynumber taxpayer")),
    ValueDetector("es_dni", _NATIONAL_ID,
                  "are valid Spanish DNI numbers (check letter, python-stdnum es.dni)",
                  is_es_dni, "identifier"),
    ValueDetector("es_nie", _NATIONAL_ID,
                  "are valid Spanish NIE numbers (check letter, python-stdnum es.nie)",
                  is_es_nie, "identifier"),
    ValueDetector("fr_nir", _NATIONAL_ID,
                  "are valid French social security numbers (NIR, python-stdnum fr.nir)",
                  is_fr_nir, "identifier"),
    ValueDetector("br_cpf", _TAX_ID,
                  "are valid Brazilian CPF numbers (python-stdnum br.cpf)", is_br_cpf,
                  "identifier", word_set("cpf")),
    ValueDetector("de_idnr", _TAX_ID,
                  "are valid German tax identification numbers (IdNr, python-stdnum de.idnr)",
                  is_de_idnr, "identifier",
                  word_set("idnr steuerid steuer steueridentifikationsnummer tin tax taxid"), True),
    ValueDetector("nl_bsn", _NATIONAL_ID,
                  "are valid Dutch citizen service numbers (BSN, python-stdnum nl.bsn)",
                  is_nl_bsn, "identifier", word_set("bsn burgerservicenummer sofi"), True),
    ValueDetector("gb_nhs", _NATIONAL_ID,
                  "are valid NHS numbers (python-stdnum gb.nhs)", is_gb_nhs, "identifier",
                  word_set("nhs"), True),
    ValueDetector("in_aadhaar", _NATIONAL_ID,
                  "are valid Aadhaar numbers (Verhoeff checksum, python-stdnum in_.aadhaar)",
                  is_in_aadhaar, "identifier", word_set("aadhaar aadhar uidai"), True),
    ValueDetector("ip_address", "user.device.ip_address",
                  "are IPv4 or IPv6 addresses", is_ip_address, "ip",
                  blocked_by=word_set("version versions ver build release firmware revision "
                                      "rev software sw os patch")),
    ValueDetector("coordinates", "user.location.precise",
                  "are latitude/longitude pairs with at least two decimals",
                  is_coordinate_pair, "coordinates"),
    ValueDetector("latitude", "user.location.precise",
                  "are latitudes with at least two decimals, next to a longitude column",
                  is_latitude, "number", _LAT, True, needs_sibling=_LON),
    ValueDetector("longitude", "user.location.precise",
                  "are longitudes with at least two decimals, next to a latitude column",
                  is_longitude, "number", _LON, True, needs_sibling=_LAT),
    ValueDetector("phonenumbers", "user.contact.phone_number",
                  "are valid phone numbers (phonenumbers)", is_phone_number, "phone",
                  word_set("phone telephone tel mobile cell cellphone msisdn fax phonenumber "
                         "telefon telefono whatsapp")),
    ValueDetector("date_of_birth", "user.demographic.date_of_birth",
                  "are dates between 1900 and ten years ago", is_birth_date, "date",
                  word_set("dob birth birthdate birthday dateofbirth born geburtsdatum "
                         "geburtstag"), True),
    ValueDetector("postal_code", "user.contact.address.postal_code",
                  "are postal codes (US, UK, German, Dutch or four-digit formats)",
                  is_postal_code, "postal_code",
                  word_set("zip zipcode postcode postal postalcode plz postleitzahl"), True),
    ValueDetector("age_years", "user.demographic.age_range",
                  "are ages from 0 to 120", is_age, "age",
                  word_set("age ages agea alter edad eta idade leeftijd lebensalter"), True,
                  weight=0.8),
    ValueDetector("full_name", "user.name",
                  "are people's full names (a title or a known first and last name, "
                  "names-dataset)", is_full_name, "name", weight=0.9,
                  specific_header_wins=True, min_share=0.5, min_distinct=3),
    ValueDetector("first_name", "user.name.first",
                  "are known given names (names-dataset)", is_first_name, "name", weight=0.8,
                  specific_header_wins=True, min_share=0.6, min_distinct=3),
    ValueDetector("last_name", "user.name.last",
                  "are known family names (names-dataset)", is_last_name, "name", weight=0.7,
                  specific_header_wins=True, min_share=0.6, min_distinct=3),
    ValueDetector("person_name", "user.name",
                  "are people's names (full names or known given names, names-dataset)",
                  is_person_name, "name", weight=0.8, specific_header_wins=True,
                  min_share=0.5, min_distinct=3),
    ValueDetector("race_ethnicity_terms", "user.demographic.race_ethnicity",
                  "are words for race or ethnicity", _vocabulary_test("race_ethnicity"),
                  "withheld", weight=0.85, min_share=0.6, min_distinct=2),
    ValueDetector("religion_terms", "user.demographic.religious_belief",
                  "are religions or beliefs", _vocabulary_test("religion"), "withheld",
                  weight=0.9, min_share=0.6, min_distinct=2),
    ValueDetector("sexual_orientation_terms", "user.demographic.sexual_orientation",
                  "are sexual orientations", _vocabulary_test("sexual_orientation"), "withheld",
                  weight=0.9, min_share=0.6, min_distinct=2),
    ValueDetector("political_terms", "user.demographic.political_opinion",
                  "are political parties or leanings", _vocabulary_test("political"),
                  "withheld", weight=0.8, min_share=0.6, min_distinct=2),
    ValueDetector("health_terms", "user.health_and_medical.diagnosis",
                  "name diseases or conditions (or are ICD-10 codes)", is_health_term,
                  "withheld", word_set("diagnosis icd icd10 code codes dx condition"),
                  weight=0.8, min_share=0.5, min_distinct=2),
    ValueDetector("gender_terms", "user.demographic.gender",
                  "are words or letters for gender", _vocabulary_test("gender"), "shape",
                  weight=0.8, min_share=0.9, min_distinct=2),
    ValueDetector("marital_terms", "user.demographic.marital_status",
                  "are marital statuses", _vocabulary_test("marital_status"), "shape",
                  weight=0.85, min_share=0.6, min_distinct=2),
    ValueDetector("date", "system.timestamp", "are dates", is_date, "date",
                  overrides_name=False),
    ValueDetector("free_text", "user.content.private",
                  "are free text of six words or more", is_free_text, "text",
                  overrides_name=False, weight=0.5),
)
# fmt: on

BY_KEY = {detector.key: detector for detector in DETECTORS}
