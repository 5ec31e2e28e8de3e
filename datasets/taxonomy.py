"""The seed data-category taxonomy: fideslang-compatible dot paths.

Loaded into ``datasets.DataCategory`` by a data migration; administrators can add categories
later. The scanner proposes keys from this list. Each entry: key, name, the attribute role a
field of this category usually plays, and the GDPR special category it implies (if any)."""

from __future__ import annotations

from typing import NamedTuple


class Role:
    DIRECT_IDENTIFIER = "direct_identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    NON_PERSONAL = "non_personal"
    CHOICES = (
        (DIRECT_IDENTIFIER, "Direct identifier"),
        (QUASI_IDENTIFIER, "Quasi-identifier"),
        (SENSITIVE, "Sensitive attribute"),
        (NON_PERSONAL, "Not personal data"),
    )


class Special:
    """GDPR Art. 9(1) special categories, plus criminal-offence data under Art. 10."""

    NONE = ""
    RACIAL_ETHNIC_ORIGIN = "racial_ethnic_origin"
    POLITICAL_OPINIONS = "political_opinions"
    RELIGIOUS_BELIEFS = "religious_philosophical_beliefs"
    TRADE_UNION = "trade_union_membership"
    GENETIC = "genetic_data"
    BIOMETRIC = "biometric_data"
    HEALTH = "health"
    SEX_LIFE = "sex_life_sexual_orientation"
    CRIMINAL = "criminal_offences"
    CHOICES = (
        (NONE, "None"),
        (RACIAL_ETHNIC_ORIGIN, "Racial or ethnic origin (Art. 9)"),
        (POLITICAL_OPINIONS, "Political opinions (Art. 9)"),
        (RELIGIOUS_BELIEFS, "Religious or philosophical beliefs (Art. 9)"),
        (TRADE_UNION, "Trade union membership (Art. 9)"),
        (GENETIC, "Genetic data (Art. 9)"),
        (BIOMETRIC, "Biometric data for identification (Art. 9)"),
        (HEALTH, "Data concerning health (Art. 9)"),
        (SEX_LIFE, "Sex life or sexual orientation (Art. 9)"),
        (CRIMINAL, "Criminal convictions and offences (Art. 10)"),
    )


class Category(NamedTuple):
    key: str
    name: str
    role: str
    special: str = Special.NONE


D, Q, S, N = Role.DIRECT_IDENTIFIER, Role.QUASI_IDENTIFIER, Role.SENSITIVE, Role.NON_PERSONAL

CATEGORIES: tuple[Category, ...] = (
    Category("user", "User data", Q),
    Category("user.name", "Name", D),
    Category("user.name.first", "First name", D),
    Category("user.name.last", "Last name", D),
    Category("user.contact", "Contact data", D),
    Category("user.contact.email", "Email address", D),
    Category("user.contact.phone_number", "Phone number", D),
    Category("user.contact.address", "Postal address", D),
    Category("user.contact.address.street", "Street address", D),
    Category("user.contact.address.city", "City", Q),
    Category("user.contact.address.postal_code", "Postal code", Q),
    Category("user.contact.address.state", "State or region", Q),
    Category("user.contact.address.country", "Country", Q),
    Category("user.unique_id", "Unique identifier", D),
    Category("user.unique_id.pseudonymous", "Pseudonymous identifier", Q),
    Category("user.account", "Account data", D),
    Category("user.account.username", "Username", D),
    Category("user.authorization.credentials", "Credentials (passwords, tokens)", S),
    Category("user.government_id", "Government identifier", D),
    Category("user.government_id.national_identification_number", "National id number", D),
    Category("user.government_id.passport_number", "Passport number", D),
    Category("user.government_id.drivers_license_number", "Driver's licence number", D),
    Category("user.government_id.tax_id", "Tax identifier", D),
    Category("user.financial", "Financial data", S),
    Category("user.financial.bank_account", "Bank account (IBAN)", D),
    Category("user.financial.credit_card", "Payment card number", D),
    Category("user.financial.income", "Income", S),
    Category("user.device", "Device data", Q),
    Category("user.device.ip_address", "IP address", D),
    Category("user.device.device_id", "Device identifier", D),
    Category("user.device.cookie_id", "Cookie identifier", D),
    Category("user.location", "Location", Q),
    Category("user.location.precise", "Precise location (coordinates)", Q),
    Category("user.location.imprecise", "Imprecise location", Q),
    Category("user.demographic", "Demographic data", Q),
    Category("user.demographic.date_of_birth", "Date of birth", Q),
    Category("user.demographic.age_range", "Age or age range", Q),
    Category("user.demographic.gender", "Gender", Q),
    Category("user.demographic.language", "Language", Q),
    Category("user.demographic.marital_status", "Marital status", Q),
    Category(
        "user.demographic.race_ethnicity", "Race or ethnicity", S, Special.RACIAL_ETHNIC_ORIGIN
    ),
    Category(
        "user.demographic.political_opinion", "Political opinion", S, Special.POLITICAL_OPINIONS
    ),
    Category("user.demographic.religious_belief", "Religious belief", S, Special.RELIGIOUS_BELIEFS),
    Category(
        "user.demographic.trade_union_membership", "Trade union membership", S, Special.TRADE_UNION
    ),
    Category("user.demographic.sexual_orientation", "Sexual orientation", S, Special.SEX_LIFE),
    Category("user.health_and_medical", "Health and medical data", S, Special.HEALTH),
    Category("user.health_and_medical.diagnosis", "Diagnosis", S, Special.HEALTH),
    Category("user.health_and_medical.medication", "Medication", S, Special.HEALTH),
    Category("user.health_and_medical.genetic", "Genetic data", S, Special.GENETIC),
    Category("user.biometric", "Biometric data", S, Special.BIOMETRIC),
    Category("user.biometric.fingerprint", "Fingerprint", S, Special.BIOMETRIC),
    Category("user.biometric.face", "Face geometry", S, Special.BIOMETRIC),
    Category("user.criminal_history", "Criminal history", S, Special.CRIMINAL),
    Category("user.behavior", "Behavioural data", Q),
    Category("user.behavior.browsing_history", "Browsing history", Q),
    Category("user.behavior.purchase_history", "Purchase history", Q),
    Category("user.content", "User-generated content", Q),
    Category("user.content.private", "Private messages and free text", S),
    Category("user.content.public", "Public content", Q),
    Category("user.workplace", "Workplace and job title", Q),
    Category("system", "System data", N),
    Category("system.operations", "Operational data", N),
    Category("system.authentication", "Authentication data", N),
    Category("system.timestamp", "Timestamp", N),
)

CATEGORY_KEYS = frozenset(c.key for c in CATEGORIES)
BY_KEY = {c.key: c for c in CATEGORIES}
