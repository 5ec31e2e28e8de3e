"""Column-name rules: which category a column's name suggests, matched on whole words.

A name is split into lower-case tokens (snake_case, camelCase, kebab-case, spaces, letter/digit
boundaries), and a rule fires when one of its phrases occurs as consecutive tokens — so
``cardinality`` is not ``card`` and ``diagnostics_enabled`` is not ``diagnosis``. When several
rules fire, the longest phrase wins (``ip_address`` over ``address``), then a special category
(``health_notes`` is health data, not just notes), then the earlier rule.

Words that describe *something about* an attribute (``email_verified``, ``ssn_count``,
``phone_type``) switch identifier rules off: a count of social security numbers is not a social
security number. They do not switch off special-category rules (``has_diagnosis`` and
``diagnosis_count`` still reveal health data); only system words do (``health_check_url``).

Each rule's English phrases are written here; ``data/headers.toml`` adds phrases in German,
French, Spanish, Italian, Dutch and Portuguese (and more English ones), matched the same way
after accents are folded (``Längengrad`` → ``langengrad``, ``date_de_décès`` → ``date de
deces``)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from datasets.scanner.vocabulary import header_phrases
from datasets.taxonomy import BY_KEY

SPECIFIC, GENERIC, AMBIGUOUS = 0.7, 0.55, 0.4


# Words that make a column metadata about an attribute rather than the attribute itself
# ("email_verified", "ssn_count", "address_id": a flag, a count, a foreign key).
def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


META_WORDS = word_set(
    "count counts cnt total totals type types kind status verified verification valid "
    "validated confirmed confirmation opt optin optout opted consent consented length len "
    "format domain provider preference preferences subscribed subscription unsubscribed "
    "notification notifications campaign template sent opened clicked bounced delivered "
    "is has changed updated enabled disabled flag seconds secs ms millis minutes hours "
    "id ids uuid guid key pk fk"
)
# Words that make a column system configuration; these switch off every rule.
SYSTEM_WORDS = word_set(
    "enabled disabled endpoint url uri config configuration setting settings version "
    "api monitor monitoring probe interval timeout port host"
)


@dataclass(frozen=True)
class NameRule:
    key: str  # the signal is "column_name:<key>"
    category: str | None  # None: the phrase is known not to be personal ("company_name")
    phrases: tuple[tuple[str, ...], ...]
    confidence: float = SPECIFIC
    expects: tuple[str, ...] = ()  # value detectors that should confirm the rule
    label: str = ""

    @property
    def special(self) -> bool:
        return bool(self.category and BY_KEY[self.category].special)


def _rule(key, category, phrases, confidence=SPECIFIC, expects="", label=""):
    words = tuple(tuple(phrase.split()) for phrase in phrases.split(","))
    label = label or (BY_KEY[category].name.lower() if category else "")
    return NameRule(key, category, words, confidence, tuple(expects.split()), label)


# fmt: off
RULES: tuple[NameRule, ...] = (
    # Phrases known not to name a person or to be system data.
    _rule("not_personal", None,
          "company name,business name,org name,organization name,organisation name,"
          "product name,file name,host name,table name,dataset name,schema name,column name,"
          "field name,brand name,category name,event name,app name,application name,"
          "device name,domain name,project name,team name,item name,model name,server name,"
          "bucket name,key name,tag name,type name,bank name,merchant name,vendor name,"
          "store name,shop name,campaign name,feature name,metric name,job name,course name,"
          "queue name,task name,index name,zip file,zip archive,health check,"
          "healthcheck,file fingerprint,key fingerprint,cert fingerprint,card last 4,"
          "card last4,last4"),
    _rule("email_hash", "user.unique_id.pseudonymous",
          "email hash,hashed email,email sha256,email md5,phone hash,hashed phone"),
    _rule("email", "user.contact.email", "email,e mail,emailaddress,emails,mail address",
          expects="email_validator"),
    _rule("phone", "user.contact.phone_number",
          "phone,telephone,tel,mobile,cellphone,cell phone,phonenumber,msisdn,fax,telefon,"
          "telefono,whatsapp,mobile number,phones", GENERIC, "phonenumbers"),
    _rule("ip_address", "user.device.ip_address",
          "ip,ip address,ipaddress,ipv,ip addr,remote addr,client ip", expects="ip_address"),
    _rule("device_id", "user.device.device_id",
          "device id,deviceid,idfa,gaid,imei,udid,mac address,advertising id,device fingerprint,"
          "browser fingerprint"),
    _rule("user_agent", "user.device", "user agent,useragent"),
    _rule("cookie_id", "user.device.cookie_id",
          "cookie,cookie id,anonymous id,visitor id,ga client id"),
    _rule("card_number", "user.financial.credit_card",
          "card number,card no,card num,cc number,credit card,creditcard,debit card,pan number,"
          "cardnumber,card", GENERIC, "luhn_card"),
    _rule("iban", "user.financial.bank_account",
          "iban,bank account,account number,bank account number", expects="iban"),
    _rule("income", "user.financial.income",
          "income,salary,salaries,wage,wages,annual income,net worth"),
    _rule("ssn", "user.government_id.national_identification_number",
          "ssn,social security,social security number,socialsecuritynumber", expects="us_ssn"),
    _rule("national_id", "user.government_id.national_identification_number",
          "national id,national identification number,nin,nino,national insurance,bsn,"
          "burgerservicenummer,dni,nie,nir,insee,nhs number,nhs,aadhaar,aadhar,citizen id,"
          "personal id number,id card number"),
    _rule("tax_id", "user.government_id.tax_id",
          "tax id,taxid,tin,idnr,steuer id,steuerid,steueridentifikationsnummer,cpf,"
          "taxpayer id"),
    _rule("passport", "user.government_id.passport_number",
          "passport,passport number,passport no,passport id"),
    _rule("drivers_license", "user.government_id.drivers_license_number",
          "drivers license,driver license,driving licence,driving license,drivers licence,"
          "license number,licence number,dl number,license id,licence id,drivers license id,"
          "driver license id,driving licence id"),
    _rule("credentials", "user.authorization.credentials",
          "password,passwd,pwd,password hash,secret,client secret,api key,apikey,access token,"
          "refresh token,auth token,token,private key,otp,salt,passphrase,security answer"),
    _rule("username", "user.account.username",
          "username,user name,login name,login id,screen name,screenname,nickname,handle"),
    _rule("pseudonymous_id", "user.unique_id.pseudonymous",
          "user id,userid,customer id,customerid,member id,memberid,account id,client id,"
          "patient id,person id,subject id,employee id,guest id,participant id,respondent id,"
          "student id,uid,user uuid,customer uuid,external id"),
    _rule("first_name", "user.name.first",
          "first name,firstname,given name,givenname,fname,forename,vorname,prenom"),
    _rule("last_name", "user.name.last",
          "last name,lastname,surname,family name,familyname,lname,maiden name,nachname"),
    _rule("name", "user.name",
          "name,full name,fullname,display name,contact name,middle name,names,person name"),
    _rule("date_of_birth", "user.demographic.date_of_birth",
          "dob,birth,birthdate,birthday,date of birth,dateofbirth,born,geburtsdatum,geburtstag,"
          "birth year", expects="date_of_birth"),
    _rule("birthplace", "user.location.imprecise", "place of birth,birthplace,birth place"),
    _rule("age", "user.demographic.age_range", "age,age group,age range,age bracket,ages",
          GENERIC, "age_years"),
    _rule("gender", "user.demographic.gender", "gender,sex"),
    _rule("postal_code", "user.contact.address.postal_code",
          "zip,zipcode,zip code,postcode,post code,postal,postal code,postalcode,plz,"
          "postleitzahl", expects="postal_code"),
    _rule("precise_location", "user.location.precise",
          "lat,latitude,lon,lng,longitude,geo,geolocation,coordinates,coords,latlon,latlng,gps,"
          "geo point,geopoint", expects="coordinates latitude longitude"),
    _rule("street", "user.contact.address.street",
          "street,street address,address line,street name,house number,strasse"),
    _rule("city", "user.contact.address.city", "city,town,city name"),
    _rule("country", "user.contact.address.country", "country,country code,country name"),
    _rule("address", "user.contact.address", "address,addr,home address,mailing address,"
          "billing address,shipping address,adresse,addresses"),
    _rule("language", "user.demographic.language",
          "language,preferred language,locale,mother tongue"),
    _rule("marital_status", "user.demographic.marital_status",
          "marital,marital status,civil status,spouse"),
    _rule("workplace", "user.workplace",
          "employer,occupation,job title,profession,jobtitle"),
    _rule("purchase_history", "user.behavior.purchase_history",
          "purchase history,order history"),
    _rule("browsing_history", "user.behavior.browsing_history",
          "browsing history,search history,visited urls,page history"),
    _rule("private_text", "user.content.private",
          "message,messages,comment,comments,note,notes,free text,freetext,feedback,"
          "transcript,chat,chat log,ticket body,message body,email body", GENERIC, "free_text"),
    _rule("death_date", "user",
          "date of death,death date,dod,died,deceased", label="a date in the person's life"),
    _rule("imprecise_location", "user.location.imprecise",
          "neighborhood,neighbourhood,district,borough,suburb", GENERIC),
    _rule("nationality", "user.demographic", "nationality,citizenship,citizen"),
    _rule("education", "user.demographic", "education,educ,education level,schooling", GENERIC,
          label="education"),
    _rule("household", "user.demographic", "children,kids,family size,household size", GENERIC,
          label="household"),
    _rule("financial", "user.financial", "debt,assets,expenses,loan,loan amount,savings,mortgage",
          GENERIC),
    # A column named only "id": the key of whatever a row describes (a person, or not).
    _rule("bare_id", "user.unique_id.pseudonymous",
          "id,idno,idnum,identifier,record id,subject,case id", GENERIC),
    # R and pandas write their row numbers as a column: a row label, not an attribute.
    _rule("row_label", "system.operations", "rownames,row names,row number,rownum,index"),
    # Special categories (GDPR Art. 9, Art. 10). Value vocabularies confirm some of them.
    _rule("race_ethnicity", "user.demographic.race_ethnicity",
          "race,ethnicity,ethnic,ethnic origin,ethnic group,racial"),
    _rule("religion", "user.demographic.religious_belief",
          "religion,religious,faith,denomination,religious belief"),
    _rule("political", "user.demographic.political_opinion",
          "political,politics,party affiliation,political party,voting intention"),
    _rule("trade_union", "user.demographic.trade_union_membership",
          "trade union,union member,union membership,unionized,labor union,labour union"),
    _rule("sexual_orientation", "user.demographic.sexual_orientation",
          "sexual,sexuality,sexual orientation,sex life"),
    _rule("genetic", "user.health_and_medical.genetic",
          "genetic,genome,genomic,genotype,dna,dna sequence,snp,gene variant"),
    _rule("fingerprint", "user.biometric.fingerprint", "fingerprint,fingerprints"),
    _rule("face", "user.biometric.face",
          "face embedding,face encoding,faceprint,face template,face vector,facial geometry"),
    _rule("biometric", "user.biometric",
          "biometric,biometrics,iris,iris scan,retina,voiceprint,voice print"),
    _rule("diagnosis", "user.health_and_medical.diagnosis",
          "diagnosis,diagnoses,icd,icd 10,icd10,diagnosis code,condition,medical condition,"
          "health condition,illness,disease,disorder"),
    _rule("medication", "user.health_and_medical.medication",
          "medication,medications,medicine,prescription,prescriptions,drug,dosage"),
    _rule("health", "user.health_and_medical",
          "health,medical,allergy,allergies,disability,disabilities,symptom,symptoms,"
          "pregnancy,pregnant,blood type,mental health,hiv,vaccination,vaccine,bmi,"
          "medical history,health status"),
    _rule("criminal", "user.criminal_history",
          "criminal,conviction,convictions,offence,offences,offense,offenses,arrest,arrests,"
          "criminal record,felony,felonies"),
)
# fmt: on


def _with_dictionary(rules: tuple[NameRule, ...]) -> tuple[tuple[NameRule, ...], set]:
    """The rules with the phrases of data/headers.toml added, and the ambiguous phrases."""
    extra = header_phrases()
    ambiguous = {("condition",), ("drug",), ("handle",), ("token",), ("geo",)}
    keys = {rule.key for rule in rules}
    unknown = set(extra) - keys
    if unknown:
        raise ValueError(f"headers.toml names unknown rules: {sorted(unknown)}")
    result = []
    for rule in rules:
        phrases, vague = extra.get(rule.key, ([], frozenset()))
        known = set(rule.phrases)
        added = tuple(p for p in phrases if p not in known and not known.add(p))
        ambiguous |= vague
        result.append(replace(rule, phrases=rule.phrases + added) if added else rule)
    return tuple(result), ambiguous


RULES, _AMBIGUOUS_PHRASES = _with_dictionary(RULES)


@dataclass(frozen=True)
class NameMatch:
    rule: NameRule
    phrase: tuple[str, ...]

    @property
    def confidence(self) -> float:
        return AMBIGUOUS if self.phrase in _AMBIGUOUS_PHRASES else self.rule.confidence


_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def tokenize(name: str) -> tuple[str, ...]:
    """``customerEmail`` → ``(customer, email)``; ``ICD10Code`` → ``(icd, 10, code)``."""
    tokens: list[str] = []
    name = name.replace("ß", "ss")
    name = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    for chunk in re.split(r"[\W_]+", name):
        if not chunk:
            continue
        if not chunk.isascii():
            tokens.append(chunk.lower())
            continue
        chunk = re.sub(r"IPv(?=[46])", "ipv", chunk)
        tokens.extend(token.lower() for token in _CAMEL.findall(chunk))
    return tuple(tokens)


def _index(rules: tuple[NameRule, ...]) -> dict[tuple[str, ...], list[tuple[int, int, NameRule]]]:
    """Phrase → (rule order, phrase order, rule): a column name is looked up word run by word
    run instead of trying some 1,500 phrases on every column."""
    index: dict[tuple[str, ...], list[tuple[int, int, NameRule]]] = {}
    for order, rule in enumerate(rules):
        for position, phrase in enumerate(rule.phrases):
            index.setdefault(phrase, []).append((order, position, rule))
    return index


_PHRASES = _index(RULES)
_LONGEST = max(len(phrase) for phrase in _PHRASES)


def phrase_rules(tokens: tuple[str, ...]):
    """Every (rule order, phrase order, rule, phrase, start) whose phrase occurs in tokens."""
    for start in range(len(tokens)):
        for width in range(1, min(_LONGEST, len(tokens) - start) + 1):
            phrase = tokens[start : start + width]
            for order, position, rule in _PHRASES.get(phrase, ()):
                yield order, position, rule, phrase, start


def match_column_name(name: str) -> NameMatch | None:
    """The rule the column name suggests, or None when no rule fires, when the name is known
    not to be personal, or when metadata/system words switch the rule off."""
    tokens = tokenize(name)
    best = None
    # The longest phrase wins, then a special category, then the earlier rule; within a rule
    # the earlier phrase, then its first occurrence.
    for order, position, rule, phrase, start in phrase_rules(tokens):
        rank = (len(phrase), rule.special, -order, -position, -start)
        if best is None or rank > best[0]:
            best = (rank, rule, phrase, start)
    if best is None or best[1].category is None:
        return None
    _, rule, phrase, start = best
    if rule.key == "bare_id" and len(phrase) != len(tokens):
        return None  # "message_id" is a key to a message; only a bare "id" keys the row
    outside = set(tokens[:start] + tokens[start + len(phrase) :])
    stop_words = SYSTEM_WORDS if rule.special else META_WORDS | SYSTEM_WORDS
    if outside & stop_words:
        return None
    return NameMatch(rule, phrase)
