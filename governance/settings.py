"""The one settings module. Every value comes from the environment (see governance/env.py and
.env.example); the defaults are the embedded setup `make run` uses: SQLite in WAL mode and a
Celery broker on the filesystem, both under VAR_DIR. Production behaviour is switched by DEBUG
and the variables below, never by a second settings file."""

from __future__ import annotations

import base64
import os
import re
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

from governance.env import (
    env_bool,
    env_choice,
    env_database,
    env_float,
    env_int,
    env_list,
    env_mapping,
    env_seconds_mapping,
    env_str,
    parse_cache_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(
    env_str(
        "VAR_DIR",
        str(BASE_DIR / "var"),
        "Folder for the embedded database, broker files, beat schedule and exports.",
    )
)
os.makedirs(VAR_DIR, exist_ok=True)

# --- Core -----------------------------------------------------------------------------------
DEBUG = env_bool(
    "DEBUG",
    False,
    "Development mode. Off in production: then SECRET_KEY is "
    "required and secure cookies, HSTS and the SSL redirect are on.",
)

_INSECURE_KEY = "django-insecure-local-development-key-never-use-in-production"
SECRET_KEY = env_str(
    "SECRET_KEY", "", "Django secret key; required (50+ random characters) when DEBUG is off."
)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Generate one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = _INSECURE_KEY
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for DEBUG off: use at least 50 random characters."
    )
SECRET_KEY_FALLBACKS = env_list(
    "SECRET_KEY_FALLBACKS",
    [],
    "Previous SECRET_KEYs, comma-separated, after a rotation: sessions, recovery codes, subject "
    "digests and SECRET_KEY-derived pseudonymization master keys made under them stay valid.",
)

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1"], "Host names this site answers to, comma-separated."
)
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", [], "Origins (https://host) allowed to POST forms, comma-separated."
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "guardian",
    "auditlog",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "governance.api",
    "governance.audit",
    "governance.accounts",
    "datasets",
    "consent",
    "governance.access",
    "governance.retention",
    "governance.registers",
    "governance.subject_access",
    "governance.compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "governance.audit.middleware.RequestIdMiddleware",
    "governance.inputs.InputGuardMiddleware",
    "governance.deadline.DeadlineMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "governance.accounts.second_factor.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "governance.headers.PermissionsPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "governance.audit.middleware.AuditContextMiddleware",
    # Last: turns a sign-in refused for too many failures into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"
ASGI_APPLICATION = "governance.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env_database(
        "DATABASE_URL",
        "sqlite:///var/governance.sqlite3",
        pool=env_bool("DATABASE_POOL", True, "Use Django's native psycopg pool on PostgreSQL."),
        pool_max_size=env_int(
            "DATABASE_POOL_MAX_SIZE",
            4,
            "Connections per process in the pool (gunicorn workers x this = connections used).",
            minimum=1,
        ),
        base_dir=str(BASE_DIR),
        connect_timeout=env_int(
            "DATABASE_CONNECT_TIMEOUT",
            2,
            "Seconds to establish a database connection before giving up (libpq minimum 2).",
            minimum=1,
        ),
        pool_timeout=env_float(
            "DATABASE_POOL_TIMEOUT",
            2.0,
            "Seconds a request waits for a pooled connection before it answers 503.",
            minimum=0.1,
        ),
        help="postgres://user:password@host:5432/name or sqlite:///path (relative to the project).",
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": parse_cache_url(
        env_str(
            "CACHE_URL",
            "locmem://default",
            "Cache for throttling and sessions-adjacent "
            "data: redis://host:6379/1 in production, locmem:// for a single process.",
        ),
        timeout=env_float(
            "CACHE_TIMEOUT_SECONDS",
            1.0,
            "Seconds a cache (Redis) call may take before it fails (the request answers 503).",
            minimum=0.05,
        ),
    )
}

# Requests on these paths answer within their deadline (seconds) even when the database stops
# answering (governance/deadline.py): a 503 instead of a hang.
REQUEST_DEADLINES = env_seconds_mapping(
    env_mapping(
        "REQUEST_DEADLINES",
        {
            "/api/v1/access/check": "3",
            "/o/token/": "3",
            "/o/introspect/": "3",
            "/api/v1/consent/filter": "5",
            "/api/v1/consent/export": "5",
            # A batch of up to 10,000 events is one transaction of honest work.
            "/api/v1/consent/events/batch": "30",
            # Every other API call and page: no request waits on the database for ever.
            "/api/": "10",
            "/": "30",
        },
        "path-prefix=seconds;... — the longest matching prefix applies.",
    ),
    name="REQUEST_DEADLINES",
)
REQUEST_STATEMENT_TIMEOUT_MS = env_int(
    "REQUEST_STATEMENT_TIMEOUT_MS",
    2500,
    "Milliseconds a statement of the check or the consent filter may run before the server "
    "cancels it (the answer is 503).",
    minimum=100,
)
REQUEST_LOCK_TIMEOUT_MS = env_int(
    "REQUEST_LOCK_TIMEOUT_MS",
    1000,
    "Milliseconds those statements may wait for a lock.",
    minimum=50,
)
RETRY_AFTER_SECONDS = env_int(
    "RETRY_AFTER_SECONDS",
    5,
    "Retry-After (seconds) sent with every 503 when a dependency is unavailable.",
    minimum=1,
)

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a sign-in while the username is locked out from this address.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Sign-in: lockout (django-axes) and a second factor (django-otp).
# Failures count per username *and* address, so nobody can lock a named person out from
# elsewhere; the lock lifts after the cool-off, and a success resets the count.
AXES_FAILURE_LIMIT = env_int(
    "LOGIN_FAILURE_LIMIT",
    5,
    "Failed sign-ins (per username and address) before a lockout.",
    minimum=1,
)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, "Minutes a sign-in lockout lasts.", minimum=1)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "governance.accounts.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "governance.audit.middleware.client_address"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
SECOND_FACTOR_REQUIRED = env_bool(
    "SECOND_FACTOR_REQUIRED",
    not DEBUG,
    "Administrators, privacy officers and stewards must use a TOTP second factor (on unless "
    "DEBUG: the local demo offers it without requiring it).",
)
SECOND_FACTOR_ISSUER = env_str(
    "SECOND_FACTOR_ISSUER", "Governance registry", "Name authenticator apps show for the site."
)
OTP_TOTP_THROTTLE_FACTOR = 1  # seconds of back-off, doubled after each wrong code

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int(
    "SESSION_COOKIE_AGE", 8 * 3600, "Portal session lifetime in seconds.", minimum=60
)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# django-guardian: no anonymous user row; anonymous visitors get no object permissions.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = True

# --- Security (production) ------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_FAILURE_VIEW = "governance.api.errors.csrf_failure"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool(
    "USE_X_FORWARDED_PROTO",
    False,
    "Trust X-Forwarded-Proto from the reverse proxy (only behind one that sets it).",
):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_FOR = env_bool(
    "USE_X_FORWARDED_FOR",
    False,
    "Take the client address for the audit log from X-Forwarded-For (only behind a trusted proxy).",
)
SECURE_SSL_REDIRECT = env_bool(
    "SECURE_SSL_REDIRECT", not DEBUG, "Redirect HTTP to HTTPS; defaults to on when DEBUG is off."
)
SECURE_HSTS_SECONDS = env_int(
    "SECURE_HSTS_SECONDS",
    0 if DEBUG else 31_536_000,
    "HSTS max-age; a year when DEBUG is off.",
    minimum=0,
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy (django-csp): no 'unsafe-inline' and no 'unsafe-eval' anywhere.
# Scripts and styles come from our own static files; an inline <script> needs the request's
# nonce ({{ request.csp_nonce }}). The browser tests fail on any violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}
# Powerful browser features the portal never uses, switched off (governance/headers.py).
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), browsing-topics=()"
)

# --- I18N / time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(
    env_str(
        "STATIC_ROOT",
        str(BASE_DIR / "staticfiles"),
        "Where collectstatic writes the hashed, compressed assets.",
    )
)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "media")},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Input (governance/inputs.py) ------------------------------------------------------------
INPUT_MAX_JSON_DEPTH = env_int(
    "INPUT_MAX_JSON_DEPTH", 32, "Deepest nesting of a JSON body (deeper: 400).", minimum=2
)
INPUT_MAX_STRING_CHARS = env_int(
    "INPUT_MAX_STRING_CHARS", 1_000_000, "Longest string in a JSON body.", minimum=1
)
INPUT_MAX_ITEMS = env_int(
    "INPUT_MAX_ITEMS", 1_000_000, "Most items in one JSON array or object.", minimum=1
)
INPUT_MAX_PARAMETER_CHARS = env_int(
    "INPUT_MAX_PARAMETER_CHARS", 4096, "Longest query parameter (name or value).", minimum=1
)
INPUT_MAX_HEADER_CHARS = env_int(
    "INPUT_MAX_HEADER_CHARS", 8192, "Longest request header value.", minimum=1
)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: a caller without credentials is throttled before anything can refuse it.
        "governance.api.throttling.ThrottleGate",
        "governance.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["governance.api.permissions.IsUsablePrincipal"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["governance.api.parsers.GuardedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["governance.api.throttling.PrincipalThrottle"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "governance.api.negotiation.PermissionFirstNegotiation",
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str(
            "API_THROTTLE_ANON",
            "60/min",
            "Request rate for unauthenticated API callers (DRF format: N/sec|min|hour|day).",
        ),
        "principal": env_str(
            "API_THROTTLE_PRINCIPAL", "6000/min", "Request rate per user or service account."
        ),
        "failed_authentication": env_str(
            "API_THROTTLE_FAILED_AUTH",
            "30/min",
            "Failed bearer tokens per client address before 429.",
        ),
        "login": env_str(
            "LOGIN_THROTTLE",
            "30/min",
            "Sign-in attempts per client address, whatever the username (429 beyond).",
        ),
        "token": env_str(
            "API_THROTTLE_TOKEN",
            "120/min",
            "Requests per client address to /o/token/, /o/introspect/ and /o/revoke_token/.",
        ),
    },
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Benchmark-only endpoints (bench/run.py): the floors the check API is measured against, served
# by the same process. Never on in production; the bench's gunicorn sets it.
BENCH_ENDPOINTS = env_bool(
    "BENCH_ENDPOINTS",
    False,
    "Serve the benchmark floors under /bench/ (make bench only; never in production).",
)

SPECTACULAR_SETTINGS = {
    "TITLE": "Data governance & consent registry API",
    "DESCRIPTION": "Check access before reading data; record consent; read the audit trail. "
    "Authenticate with an OAuth2 client-credentials token from /o/token/ or a portal session.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "AttributeRoleEnum": "datasets.taxonomy.Role.CHOICES",
        "SpecialCategoryEnum": "datasets.taxonomy.Special.CHOICES",
        "TreatmentEnum": "datasets.models.Field.Treatment",
        "StorageKindEnum": "datasets.models.Dataset.StorageKind",
        "RecipientRoleEnum": "governance.registers.models.Recipient.Role",
        "DpiaStatusEnum": "governance.registers.models.Dpia.Status",
        "BreachStatusEnum": "governance.registers.models.Breach.Status",
        "SubjectAccessStatusEnum": "governance.subject_access.models.SubjectAccessRequest.Status",
    },
    # The schemes callers use; the throttle gate authenticates nobody.
    "AUTHENTICATION_WHITELIST": [
        "governance.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every operation documents its error answers in the one error shape (governance/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "governance.api.schema.add_error_responses",
    ],
}
# Lists answer in pages (governance/api/pagination.py); the largest page is fixed so the
# schema can state it.
API_PAGE_SIZE = env_int(
    "API_PAGE_SIZE", 100, "Items per page of an API list unless ?page_size= asks.", minimum=1
)
API_MAX_PAGE_SIZE = 500
if API_PAGE_SIZE > API_MAX_PAGE_SIZE:
    raise ImproperlyConfigured(f"API_PAGE_SIZE must be at most {API_MAX_PAGE_SIZE}.")
# Clients (resource servers) that may introspect tokens issued to other clients; every other
# client learns only about its own tokens.
OAUTH_INTROSPECTION_CLIENTS = env_list(
    "OAUTH_INTROSPECTION_CLIENTS",
    [],
    "client_ids of resource servers that may introspect any token (comma-separated).",
)

OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int(
        "OAUTH_ACCESS_TOKEN_SECONDS",
        3600,
        "Lifetime of a service-account access token.",
        minimum=60,
    ),
    "SCOPES": {"read": "Read governance data", "write": "Record events and decisions"},
    # Reads a token's service account with the token (one query per API call, not two).
    "OAUTH2_VALIDATOR_CLASS": "governance.accounts.oauth.ServiceAccountValidator",
    "DEFAULT_SCOPES": ["read", "write"],
    "PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    # RFC 9700 (OAuth 2.0 Security BCP): tokens stored only as checksums, no implicit or
    # password grants, bearer tokens only in the Authorization header.
    **{
        f"COMPLIANT_BCP_RFC9700_{name}": True
        for name in (
            "IMPLICIT_GRANT",
            "PASSWORD_GRANT",
            "PKCE_METHOD",
            "ACCESS_TOKEN_TRANSPORT",
            "AUTHZ_RESPONSE_ISS",
            "TOKEN_STORAGE",
            "REFRESH_TOKEN",
            "REDIRECT_URI_SCHEME",
            "REDIRECT_URI_MATCHING",
            "PKCE_REQUIRED",
        )
    },
}

# --- Catalog scanner ------------------------------------------------------------------------
SCANNER_MAX_ROWS = env_int(
    "SCANNER_MAX_ROWS", 1000, "Most rows a scan reads from a sample.", minimum=1
)
SCANNER_MAX_UPLOAD_BYTES = env_int(
    "SCANNER_MAX_UPLOAD_BYTES",
    50 * 1024 * 1024,
    "Largest sample file a scan accepts, in bytes.",
    minimum=1024,
)
SCANNER_FILE_ROOTS = [
    Path(p).resolve()
    for p in env_list(
        "SCANNER_FILE_ROOTS",
        [str(VAR_DIR / "samples")],
        "Folders whose files a scan may reference by path (nothing outside).",
    )
]
SCANNER_CONNECTIONS = env_mapping(
    "SCANNER_CONNECTIONS",
    {},
    "PostgreSQL connections a scan may read tables from: "
    "name=postgres://user:pass@host/db;other=... (use a read-only role).",
)
SCANNER_UPLOAD_DIR = VAR_DIR / "scans"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Access governance --------------------------------------------------------------------
ACCESS_MAX_GRANT_DAYS = {
    level: int(days)
    for level, days in env_mapping(
        "ACCESS_MAX_GRANT_DAYS",
        {"public": "365", "internal": "90", "confidential": "60", "restricted": "30"},
        "Longest grant per dataset sensitivity, in days: public=365;internal=90;...",
    ).items()
}
if set(ACCESS_MAX_GRANT_DAYS) != {"public", "internal", "confidential", "restricted"} or any(
    days < 1 for days in ACCESS_MAX_GRANT_DAYS.values()
):
    raise ImproperlyConfigured(
        "ACCESS_MAX_GRANT_DAYS must give a positive number of days for public, internal, "
        "confidential and restricted."
    )
ACCESS_REMINDER_DAYS = env_int(
    "ACCESS_REMINDER_DAYS",
    7,
    "Days before a grant expires when its owner is reminded to renew it.",
    minimum=1,
)
TRAINING_VALIDITY_DAYS = env_int(
    "TRAINING_VALIDITY_DAYS",
    365,
    "How long a privacy-training attestation stays current.",
    minimum=1,
)
ACCESS_LEASE_KEY_FILE = Path(
    env_str(
        "ACCESS_LEASE_KEY_FILE",
        str(VAR_DIR / "keys" / "lease-signing.jwks.json"),
        "JWK Set of private Ed25519 keys that sign access leases (created if missing; the first "
        "key signs). Share it between web processes.",
    )
)
ACCESS_LEASE_ISSUER = env_str(
    "ACCESS_LEASE_ISSUER", "governance-registry", "The iss claim of access leases."
)
ACCESS_LEASE_ALGORITHM = env_choice(
    "ACCESS_LEASE_ALGORITHM",
    "Ed25519",
    ("Ed25519", "EdDSA"),
    "JWS algorithm name of new leases: Ed25519 (RFC 9864) or the deprecated EdDSA (same "
    "signature) for gateways not yet updated.",
)
ACCESS_LEASE_ACCEPT_EDDSA = env_bool(
    "ACCESS_LEASE_ACCEPT_EDDSA",
    True,
    "Verify leases that name the deprecated EdDSA algorithm (the transition); turn off once no "
    "such lease is valid.",
)
ACCESS_LEASE_AUDIENCE = env_str(
    "ACCESS_LEASE_AUDIENCE",
    "governance-data-gateway",
    "The aud claim of leases for datasets ACCESS_LEASE_AUDIENCES does not name.",
)
ACCESS_LEASE_AUDIENCES = env_mapping(
    "ACCESS_LEASE_AUDIENCES",
    {},
    "aud per dataset connection name or storage kind: warehouse=pg-gateway;parquet=lake-gateway.",
)

# --- Training jobs: pseudonymization keys and privacy budgets (docs/training-jobs.md) ---------
PSEUDONYM_MASTER_KEYS = env_mapping(
    "PSEUDONYM_MASTER_KEYS",
    {},
    "Master keys encrypting the per-purpose pseudonymization secrets (AES-256-GCM): "
    "kid=base64url-32-bytes;older=...; the first encrypts, every one decrypts. Empty: one key "
    "derived from SECRET_KEY (embedded setup only).",
)
for _kid, _text in PSEUDONYM_MASTER_KEYS.items():
    try:
        _raw_key = base64.urlsafe_b64decode(_text + "=" * (-len(_text) % 4))
    except ValueError:
        _raw_key = b""
    if len(_raw_key) != 32:
        raise ImproperlyConfigured(
            f"PSEUDONYM_MASTER_KEYS: key {_kid!r} must be the base64url of 32 random bytes."
        )
PSEUDONYM_KEY_GRACE_DAYS = env_int(
    "PSEUDONYM_KEY_GRACE_DAYS",
    90,
    "Days a purpose's previous pseudonymization secret is still handed out after a rotation, "
    "so tokens made with it stay verifiable.",
    minimum=0,
)
BUDGET_CLAIM_LOCK_SECONDS = env_int(
    "BUDGET_CLAIM_LOCK_SECONDS",
    3600,
    "How long an acquired privacy-budget claim stays locked before it returns to the budget "
    "(a crashed job's claim).",
    minimum=10,
)
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000", "Public base URL, used in emails.")

AUDIT_CHECKPOINT_KEY_FILE = Path(
    env_str(
        "AUDIT_CHECKPOINT_KEY_FILE",
        str(VAR_DIR / "keys" / "audit-checkpoint.jwks.json"),
        "JWK Set of private Ed25519 keys that sign audit ledger checkpoints (first key signs; "
        "created if missing; never retire a key while its checkpoints matter).",
    )
)

# --- Compliance exports (governance/compliance, docs/compliance-exports.md) -------------------
GOVERNANCE_CONTROLLER = env_str(
    "GOVERNANCE_CONTROLLER",
    "",
    "Controller name for the Records of Processing Activities when a purpose names none.",
)
GOVERNANCE_DPO_CONTACT = env_str(
    "GOVERNANCE_DPO_CONTACT",
    "",
    "Data protection officer's contact for the RoPA (Art. 30(1)(a)); empty: the RoPA says "
    "'Not recorded' and warns.",
)
GOVERNANCE_SECURITY_MEASURES = env_str(
    "GOVERNANCE_SECURITY_MEASURES",
    "",
    "Security measures that apply to all processing (Art. 30(1)(g)), shown before each "
    "purpose's own (registers); empty: only what is recorded per purpose and recipient.",
)
COMPLIANCE_EXPORT_DIR = Path(
    env_str(
        "COMPLIANCE_EXPORT_DIR",
        str(VAR_DIR / "exports"),
        "Where compliance export files are written.",
    )
)

# --- Subject access (governance/subject_access, docs/subject-access.md) -------------------------
SUBJECT_ACCESS_DIR = Path(
    env_str(
        "SUBJECT_ACCESS_DIR",
        str(VAR_DIR / "subject-access"),
        "Where subject-access packages are written until their request is closed.",
    )
)
SUBJECT_ACCESS_MAX_ROWS = env_int(
    "SUBJECT_ACCESS_MAX_ROWS",
    10_000,
    "Most rows about one subject a package holds per dataset (more are flagged as truncated).",
    minimum=1,
)

# --- Retention and erasure (governance/retention, docs/retention.md) ---------------------------
RETENTION_CONNECTIONS = env_mapping(
    "RETENTION_CONNECTIONS",
    {},
    "PostgreSQL connections retention may delete from: name=postgres://user:pass@host/db;... "
    "(a role with SELECT, DELETE and UPDATE on the governed tables only).",
)
RETENTION_FILE_ROOTS = [
    Path(p).resolve()
    for p in env_list(
        "RETENTION_FILE_ROOTS",
        [str(VAR_DIR / "data")],
        "Folders whose files retention may rewrite and delete (nothing outside).",
    )
]
CONSENT_WATERMARK_MAX_LAG_SECONDS = env_int(
    "CONSENT_WATERMARK_MAX_LAG_SECONDS",
    60,
    "A consent filter/export answers 503 rather than from a snapshot older than this, when a "
    "consent write has been in flight that long (a stuck writer must not hide withdrawals).",
    minimum=1,
)
CONSENT_FILTER_MAX_IDS = env_int(
    "CONSENT_FILTER_MAX_IDS",
    100_000,
    "Most subject ids one POST /api/v1/consent/filter takes (more: 413); the export has no limit.",
    minimum=1,
)
RETENTION_BATCH_SIZE = env_int(
    "RETENTION_BATCH_SIZE",
    10_000,
    "Rows per delete/update statement on PostgreSQL tables (keeps locks short: 10,000 rows "
    "by primary key take tens of milliseconds).",
    minimum=1,
)
RETENTION_BATCH_PAUSE_MS = env_int(
    "RETENTION_BATCH_PAUSE_MS",
    0,
    "Pause between batches, in milliseconds, to spare a busy store and its replicas.",
    minimum=0,
)
RETENTION_ERASURE_DEADLINE_DAYS = env_int(
    "RETENTION_ERASURE_DEADLINE_DAYS",
    30,
    "Days within which a subject's rows must be erased once consent is no longer valid.",
    minimum=1,
)
RETENTION_STALE_SECONDS = env_int(
    "RETENTION_STALE_SECONDS",
    900,
    "A running run without a heartbeat for this long is resumed by the next dispatch.",
    minimum=1,
)

# --- Alerts on unusual access (governance/access/alerts.py, docs/alerts.md) --------------------
ALERT_WINDOW_MINUTES = env_int(
    "ALERT_WINDOW_MINUTES",
    60,
    "Length of an alert window, in minutes (aligned to the clock).",
    minimum=1,
)
ALERT_RATE_FACTOR = env_int(
    "ALERT_RATE_FACTOR",
    5,
    "A decision-rate spike is more than this many times the principal's mean per window.",
    minimum=1,
)
ALERT_RATE_MIN_COUNT = env_int(
    "ALERT_RATE_MIN_COUNT", 50, "...and more than this many decisions in the window.", minimum=1
)
ALERT_BASELINE_WINDOWS = env_int(
    "ALERT_BASELINE_WINDOWS",
    24,
    "Windows before the current one that make a principal's baseline.",
    minimum=1,
)
ALERT_DENIALS_THRESHOLD = env_int(
    "ALERT_DENIALS_THRESHOLD",
    10,
    "Denials for one principal in a window that raise an alert.",
    minimum=1,
)
ALERT_RESTRICTED_HOURS = env_str(
    "ALERT_RESTRICTED_HOURS",
    "07-20",
    "Working hours (UTC, start-end) for restricted datasets; allows outside alert.",
)
ALERT_RESTRICTED_WEEKDAYS = env_str(
    "ALERT_RESTRICTED_WEEKDAYS",
    "0-4",
    "Working weekdays for restricted datasets, 0=Monday: ranges or lists (0,2,5-6).",
)
ALERT_EXPORTS_THRESHOLD = env_int(
    "ALERT_EXPORTS_THRESHOLD",
    3,
    "Exports of subjects' personal data (consent exports, subject-access packages) started by "
    "one person in a window that raise an alert.",
    minimum=1,
)
ALERT_COMPLIANCE_EXPORTS_THRESHOLD = env_int(
    "ALERT_COMPLIANCE_EXPORTS_THRESHOLD",
    20,
    "Compliance exports (audit log, RoPA, access report, evidence packs, registers) requested "
    "by one person in a window that raise an alert.",
    minimum=1,
)
ALERT_EXPORT_ROWS_THRESHOLD = env_int(
    "ALERT_EXPORT_ROWS_THRESHOLD",
    100_000,
    "Subjects in one export that raise an alert of its own.",
    minimum=1,
)
ALERT_AUTH_FAILURES_THRESHOLD = env_int(
    "ALERT_AUTH_FAILURES_THRESHOLD",
    10,
    "Failed sign-ins or token requests in a window, for one account or client (or from one "
    "address across several), that raise an alert.",
    minimum=1,
)
ALERT_NEW_DATASETS_THRESHOLD = env_int(
    "ALERT_NEW_DATASETS_THRESHOLD",
    5,
    "Datasets a principal is allowed in a window without having used them in the lookback "
    "period that raise an alert.",
    minimum=1,
)
ALERT_NEW_DATASETS_LOOKBACK_DAYS = env_int(
    "ALERT_NEW_DATASETS_LOOKBACK_DAYS",
    30,
    "How far back a dataset counts as one the principal has used before.",
    minimum=1,
)
if not re.fullmatch(r"([01]?\d|2[0-4])-([01]?\d|2[0-4])", ALERT_RESTRICTED_HOURS):
    raise ImproperlyConfigured("ALERT_RESTRICTED_HOURS must look like 07-20 (UTC hours).")
if not re.fullmatch(r"[0-6](-[0-6])?(,[0-6](-[0-6])?)*", ALERT_RESTRICTED_WEEKDAYS):
    raise ImproperlyConfigured("ALERT_RESTRICTED_WEEKDAYS must look like 0-4 or 0,2,5-6.")

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env_choice(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend",
    (
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.smtp.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
    ),
    "How notifications are sent: console (default), smtp or locmem.",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost", "SMTP host.")
EMAIL_PORT = env_int("EMAIL_PORT", 587, "SMTP port.", minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "", "SMTP user.")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "", "SMTP password.")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True, "STARTTLS to the SMTP host.")
DEFAULT_FROM_EMAIL = env_str(
    "DEFAULT_FROM_EMAIL", "governance@localhost", "Sender of notifications."
)

# --- Audit ----------------------------------------------------------------------------------
AUDITLOG_LOGENTRY_MODEL = "audit.LedgerEntry"
# auditlog's own migrations create its default log table even when the model is swapped; that
# orphan table would hold foreign keys to users (and block flushes). Our ledger replaces it.
MIGRATION_MODULES = {"auditlog": None}
AUDITLOG_CID_GETTER = "governance.audit.context.get_request_id"
AUDITLOG_DISABLE_REMOTE_ADDR = False
AUDITLOG_STORE_JSON_CHANGES = True

# --- Celery ---------------------------------------------------------------------------------
_visibility_timeout = env_int(
    "CELERY_VISIBILITY_TIMEOUT",
    6 * 3600,
    "Seconds before an unacknowledged task is redelivered (Redis); longer than the longest task.",
    minimum=60,
)
CELERY_BROKER_URL = env_str(
    "CELERY_BROKER_URL",
    "filesystem://",
    "redis://host:6379/0 in production; filesystem:// keeps the queue under VAR_DIR.",
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder both ways: the web process writes, the worker reads the same files.
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # Created here, not lazily: the web process may publish before any worker has started.
    for _folder in ("queue", "processed", "control"):
        os.makedirs(_broker_dir / _folder, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest task, or a late-acked task is redelivered while it runs.
        "visibility_timeout": _visibility_timeout,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
_retention_hour = env_int(
    "RETENTION_RUN_HOUR", 2, "Hour (UTC) of the daily retention run.", minimum=0
)
_retention_minute = env_int(
    "RETENTION_RUN_MINUTE", 30, "Minute of the daily retention run.", minimum=0
)
if _retention_hour > 23 or _retention_minute > 59:
    raise ImproperlyConfigured("RETENTION_RUN_HOUR must be 0-23 and RETENTION_RUN_MINUTE 0-59.")
CELERY_BEAT_SCHEDULE: dict = {
    "access-alerts-scan": {
        "task": "governance.access.tasks.alerts_scan_task",
        "schedule": env_int(
            "ALERTS_SCAN_INTERVAL_SECONDS",
            300,
            "How often the beat job scans the ledger for unusual access.",
            minimum=10,
        ),
    },
    "audit-seal": {
        "task": "governance.audit.tasks.seal_task",
        "schedule": env_int(
            "AUDIT_SEAL_INTERVAL_SECONDS",
            60,
            "How often the beat job seals new ledger entries and signs a checkpoint.",
            minimum=10,
        ),
    },
    "retention-run": {
        "task": "governance.retention.tasks.retention_dispatch_task",
        "schedule": crontab(minute=_retention_minute, hour=_retention_hour),
    },
    "erasure-run": {
        "task": "governance.retention.tasks.erasure_dispatch_task",
        "schedule": env_int(
            "ERASURE_RUN_INTERVAL_SECONDS",
            3600,
            "How often the beat job erases withdrawn and requested subjects (and resumes "
            "stale runs).",
            minimum=10,
        ),
    },
    "access-budget-claims-expire": {
        "task": "governance.access.tasks.budget_claims_expire_task",
        "schedule": env_int(
            "BUDGET_EXPIRY_INTERVAL_SECONDS",
            60,
            "How often the beat job returns expired privacy-budget locks to their budget.",
            minimum=10,
        ),
    },
    "access-grants-expire": {
        "task": "governance.access.tasks.grants_expire_task",
        "schedule": env_int(
            "ACCESS_EXPIRY_INTERVAL_SECONDS",
            300,
            "How often the beat job expires grants and sends renewal reminders.",
            minimum=10,
        ),
    },
}
CELERY_TIMEZONE = "UTC"

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_choice(
    "LOG_LEVEL",
    "INFO",
    ("DEBUG", "INFO", "WARNING", "ERROR"),
    "Level of the application's logs on stderr.",
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "governance.audit.context.RequestIdLogFilter"},
        "client_errors": {"()": "governance.logfilters.ClientErrorsWithoutTraceback"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "client_errors"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per refused request, logged once: Django's own "django" handlers would
        # print it a second time (with DEBUG) and the traceback of a 403 says nothing.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
