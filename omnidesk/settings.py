"""One env-driven settings file.

Without DATABASE_URL / REDIS_URL omnidesk runs embedded: SQLite, the in-memory channel layer and Celery tasks run
in-process. With them: PostgreSQL, channels-redis (pubsub layer) and a Celery broker on Redis.

Fail closed: DEBUG is off unless set; outside the embedded default a SECRET_KEY must be given (the process refuses to
start otherwise) and HTTPS protections (secure cookies, HSTS, redirect to https) are on unless turned off.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str) -> list[str]:
    return [item for item in os.environ.get(name, default).replace(",", " ").split() if item]


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
# The embedded default (`make run` on a fresh machine): SQLite, in-process layer and tasks, loopback only.
EMBEDDED = not (DATABASE_URL and REDIS_URL)

# Never on by default: a debug page shows settings, request headers and local variables (channel secrets among them).
DEBUG = env_bool("DEBUG", False)
DEVELOPMENT_SECRET_KEY = "omnidesk-insecure-development-key-for-the-embedded-default-only"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Outside the embedded default (DATABASE_URL and REDIS_URL set) omnidesk refuses to "
            "start without its own key: set SECRET_KEY to a long random value, e.g. the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(50))"` (see README, Deployment).'
        )
    # Only so that `make run` works out of the box on one machine: sessions signed with a key everyone knows.
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
elif SECRET_KEY == DEVELOPMENT_SECRET_KEY and not EMBEDDED:
    raise ImproperlyConfigured("SECRET_KEY is the public development key: set a key of your own (README, Deployment).")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost 127.0.0.1 [::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# HTTPS: on by default outside the embedded default. Each protection can still be set on its own; OMNIDESK_HTTPS=false
# (tests on plain-http loopback servers, a trusted lab network) turns the defaults off.
HTTPS = env_bool("OMNIDESK_HTTPS", not EMBEDDED)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
# Load balancers probe /healthz over plain http on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
# Behind a TLS-terminating proxy, e.g. SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO=https". Only set it when the
# proxy always overwrites that header: otherwise a client could claim https itself. Unset: no proxy header trusted.
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header.split("=", 1)) if "=" in _proxy_header else None
# Error reports hide local variables named like secrets too (channel secrets travel in locals).
DEFAULT_EXCEPTION_REPORTER_FILTER = "omnidesk.errors.SecretsHidingFilter"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# Deliberate opt-outs of HSTS parts are decisions, not warnings for `check --deploy`.
SILENCED_SYSTEM_CHECKS = [
    check
    for check, on in (("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS), ("security.W021", SECURE_HSTS_PRELOAD))
    if HTTPS and SECURE_HSTS_SECONDS and not on
]
if not DATABASE_URL:
    # SQLite has no NULLS NOT DISTINCT, so Django skips two uniqueness rules there (a canned response's language
    # version, a contact-page funnel step per visit) and warns at every start of `make run`. There the services keep
    # them by looking the row up inside a transaction that holds SQLite's write lock from BEGIN (IMMEDIATE, below):
    # assist.canned_admin.save_canned and contact.visits.record_step. PostgreSQL enforces both itself.
    SILENCED_SYSTEM_CHECKS.append("models.W047")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "omnidesk",
    "customers",
    "interactions",
    "interactions.mail",
    "interactions.messaging",
    "interactions.phone",
    "routing",
    "assist",
    "reporting",  # supervisor analytics (issue 12)
    "contact",  # the intelligent contact page (issue 13)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "omnidesk.urls"
ASGI_APPLICATION = "omnidesk.asgi.application"
WSGI_APPLICATION = "omnidesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    if DATABASE_URL
    else {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SQLITE_PATH", BASE_DIR / "db.sqlite3"),
        # The embedded mode writes from several threads: take the write lock at BEGIN and wait for it, rather than
        # failing with "database is locked" when a reader upgrades; WAL lets readers go on meanwhile.
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    # The pubsub layer: ~9x the group_send throughput of RedisChannelLayer here, and the Event table makes up for it
    # keeping nothing for disconnected clients. The explicit pool size avoids redis-py's 100-connection cap.
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's pub/sub layer, its PUBLISHes pipelined (docs/typing.md).
            "BACKEND": "omnidesk.pubsub_layer.PipelinedPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": env_int("REDIS_MAX_CONNECTIONS", 1000)}],
                # Redis pubsub ignores the database number: without a distinct prefix, two deployments (or the
                # tests and a bench) sharing one Redis server would receive each other's frames.
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", f"omnidesk{urlsplit(REDIS_URL).path.strip('/') or 0}"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
# kombu's Redis transport with one client per channel instead of one per publish and per ack (omnidesk/broker.py).
CELERY_BROKER_TRANSPORT = "omnidesk.broker:Transport" if REDIS_URL else None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_PREFETCH", 4)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redelivery of a message whose worker died without acking; the inbound sweeper covers the gap much sooner.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600)}
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fix-up closes the DB connection around every task unless this is set (160 → 539 tasks/s here).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# No task may hold a worker forever (a hostile mail, a hung provider): SoftTimeLimitExceeded first, then the kill.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90)
# Ingest lanes (interactions/lanes.py): when set, email and phone channels' ingest tasks go to these queues, each
# consumed by a worker of its own (docs/deployment.md), so mail parsing and screen pops never wait behind the others.
OMNIDESK_MAIL_QUEUE = os.environ.get("OMNIDESK_MAIL_QUEUE", "")
OMNIDESK_CALL_QUEUE = os.environ.get("OMNIDESK_CALL_QUEUE", "")
CELERY_BEAT_SCHEDULE = {
    "sweep-inbound-events": {
        "task": "interactions.tasks.sweep_inbound_events",
        "schedule": float(env_int("OMNIDESK_SWEEP_INTERVAL", 10)),
    },
}
# Each area adds its periodic tasks in a `schedule.py` holding a BEAT dict (merged by omnidesk/celery.py).
OMNIDESK_BEAT_MODULES = [
    "routing.schedule",
    "routing.schedule_engine",
    "interactions.mail.schedule",
    "interactions.messaging.schedule",
    "interactions.phone.schedule",
]

# Ingest robustness
OMNIDESK_INBOUND_RETRY_AFTER = env_int("OMNIDESK_INBOUND_RETRY_AFTER", 30)  # seconds before the sweeper re-enqueues
OMNIDESK_INBOUND_MAX_ATTEMPTS = env_int("OMNIDESK_INBOUND_MAX_ATTEMPTS", 5)  # then dead-lettered
OMNIDESK_MESSAGE_MAX_LENGTH = 10_000
# Where national phone numbers ("06 12 34 56 78") are read when they carry no country code.
OMNIDESK_DEFAULT_REGION = os.environ.get("OMNIDESK_DEFAULT_REGION", "FR")
# Events one ingest task takes together under load: one commit and one push for all of them.
OMNIDESK_INGEST_BATCH_SIZE = env_int("OMNIDESK_INGEST_BATCH_SIZE", 20)
# Threads (so PostgreSQL connections, kept across calls) of a web process for its sockets' database calls
# (omnidesk/socket_db.py): HTTP requests there open a connection each (DB_CONN_MAX_AGE=0), socket calls share these.
# 6 is the width of the executor they ran on before (asyncio's default on 2 cores).
OMNIDESK_SOCKET_DB_THREADS = env_int("OMNIDESK_SOCKET_DB_THREADS", 6)
# Mail's batches (interactions/lanes.py): larger, since a mail's latency is not watched to the millisecond.
OMNIDESK_MAIL_BATCH_SIZE = env_int("OMNIDESK_MAIL_BATCH_SIZE", 50)
# A call's events one at a time: a screen pop is pushed when its batch commits (interactions/lanes.py).
OMNIDESK_CALL_BATCH_SIZE = env_int("OMNIDESK_CALL_BATCH_SIZE", 1)
# How much an SLA breach raises a conversation's priority (once per conversation).
OMNIDESK_SLA_ESCALATION_STEP = env_int("OMNIDESK_SLA_ESCALATION_STEP", 10)
OMNIDESK_REPLAY_LIMIT = env_int("OMNIDESK_REPLAY_LIMIT", 500)  # beyond this a reconnecting client must resync

# Email channel (interactions/mail, docs/email.md). Per-channel SMTP/IMAP settings live in Channel.config/secrets;
# these are the defaults. The channel sends through OMNIDESK_EMAIL_BACKEND (SMTP), independently of EMAIL_BACKEND.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
OMNIDESK_EMAIL_BACKEND = os.environ.get("OMNIDESK_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "support@omnidesk.invalid")
OMNIDESK_EMAIL_ATTACHMENT_MAX_BYTES = env_int("OMNIDESK_EMAIL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
OMNIDESK_EMAIL_ACK_WINDOW = env_int("OMNIDESK_EMAIL_ACK_WINDOW", 3600)  # seconds; acknowledgements per sender …
OMNIDESK_EMAIL_ACK_LIMIT = env_int("OMNIDESK_EMAIL_ACK_LIMIT", 1)  # … at most this many in that window
OMNIDESK_EMAIL_POLL_TICK = env_int("OMNIDESK_EMAIL_POLL_TICK", 10)  # beat checks which mailboxes are due this often
OMNIDESK_EMAIL_IMAP_TIMEOUT = env_int("OMNIDESK_EMAIL_IMAP_TIMEOUT", 30)
# Webhook credentials are per channel (Channel.secrets["webhook_signing_key"]); anymail needs no global ones.
ANYMAIL: dict[str, str] = {}

# Messaging providers (interactions/messaging): API base URLs, overridable so that tests and staging can point them at
# a local stand-in; a channel's config may also carry its own "api_base".
OMNIDESK_TWILIO_API_BASE = os.environ.get("OMNIDESK_TWILIO_API_BASE", "https://api.twilio.com")
OMNIDESK_META_GRAPH_BASE = os.environ.get("OMNIDESK_META_GRAPH_BASE", "https://graph.facebook.com/v21.0")
OMNIDESK_TELEGRAM_API_BASE = os.environ.get("OMNIDESK_TELEGRAM_API_BASE", "https://api.telegram.org")
OMNIDESK_PROVIDER_TIMEOUT = float(os.environ.get("OMNIDESK_PROVIDER_TIMEOUT", "10"))
# Media files are fetched only from these hosts ("*." matches subdomains), up to this size: no SSRF, no huge files.
OMNIDESK_MEDIA_ALLOWED_HOSTS = env_list(
    "OMNIDESK_MEDIA_ALLOWED_HOSTS",
    "api.twilio.com *.twiliocdn.com *.twilio.com graph.facebook.com lookaside.fbsbx.com *.fbsbx.com *.fbcdn.net"
    " *.cdninstagram.com api.telegram.org",
)
OMNIDESK_MEDIA_MAX_BYTES = env_int("OMNIDESK_MEDIA_MAX_BYTES", 16 * 1024 * 1024)
# The API channel's signed requests are refused when their timestamp is further than this from now (replays).
OMNIDESK_API_CHANNEL_REPLAY_WINDOW = env_int("OMNIDESK_API_CHANNEL_REPLAY_WINDOW", 300)
# Refused webhooks are counted per channel and provider; each web process writes a count at most this often a
# minute per channel and provider, the rest is added up in memory (interactions/messaging/webhooks.py).
OMNIDESK_REJECTION_WRITES_PER_MINUTE = env_int("OMNIDESK_REJECTION_WRITES_PER_MINUTE", 10)
OMNIDESK_REJECTION_WINDOW_SECONDS = float(os.environ.get("OMNIDESK_REJECTION_WINDOW_SECONDS", "60"))
# GET /healthz answers anonymous callers {"status": "ok"|"degraded"} only; the per-component details go to
# supervisors and to callers sending "Authorization: Bearer <OMNIDESK_HEALTH_TOKEN>" (unset: no token accepted).
OMNIDESK_HEALTH_TOKEN = os.environ.get("OMNIDESK_HEALTH_TOKEN", "")

# Limits other areas read (issue 11):
# the widget: messages one visitor may send a minute, and new visitors (customer + conversation) per IP a minute,
OMNIDESK_WIDGET_MESSAGES_PER_MINUTE = env_int("OMNIDESK_WIDGET_MESSAGES_PER_MINUTE", 20)
OMNIDESK_WIDGET_NEW_VISITORS_PER_IP_PER_MINUTE = env_int("OMNIDESK_WIDGET_NEW_VISITORS_PER_IP_PER_MINUTE", 10)
# and how long a visitor token stays valid (seconds);
OMNIDESK_WIDGET_TOKEN_MAX_AGE = env_int("OMNIDESK_WIDGET_TOKEN_MAX_AGE", 86_400)
# the largest mail fetched or accepted (bytes; larger ones are refused or dead-lettered unparsed);
OMNIDESK_EMAIL_MAX_MESSAGE_BYTES = env_int("OMNIDESK_EMAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024)
# how old a Mailgun inbound signature's timestamp may be (seconds); its token is accepted once.
OMNIDESK_MAILGUN_REPLAY_WINDOW = env_int("OMNIDESK_MAILGUN_REPLAY_WINDOW", 300)

# Tests only (`make test` sets it, for the test process and the servers it starts): a fast hasher, as Django's testing
# documentation advises, so that creating the suite's thousands of test users does not cost minutes of PBKDF2. Never
# set in production.
if env_bool("OMNIDESK_TEST_FAST_PASSWORD_HASHER", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failures for one username from one IP address, that
# pair is locked out for AXES_COOLOFF_MINUTES; a success resets the count. Every HTTP login (the login page, the
# admin) passes the request to authenticate(); omnidesk/auth.py explains the backend.
AUTHENTICATION_BACKENDS = [
    "omnidesk.auth.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_DISABLE_ACCESS_SUCCESS_LOG = True  # a row per successful login is not needed for throttling
AXES_VERBOSE = False
# Behind N reverse proxies that each append to X-Forwarded-For, the client's address is the Nth from the right.
OMNIDESK_TRUSTED_PROXIES = env_int("OMNIDESK_TRUSTED_PROXIES", 0)
AXES_CLIENT_IP_CALLABLE = "omnidesk.auth.client_ip"

# Content-Security-Policy (django-csp): no inline script or style, no eval, no framing of the desk, no plugins.
# Same-origin websockets are 'self' in CSP 3 browsers; the explicit ws(s) sources cover the others.
# CSP host sources cannot name IPv6 literals ("[::1]"): those clients rely on 'self'.
_socket_hosts = [host for host in ALLOWED_HOSTS if host != "*" and not host.startswith((".", "["))]
# An email's remote images load only when the agent asks ("Load remote images"); the email is an iframe `srcdoc`,
# which inherits this page's policy, so those images need remote sources here. False: 'self' and data: only (the
# button then shows nothing until the email is served from its own URL with its own policy).
OMNIDESK_CSP_REMOTE_IMAGES = env_bool("OMNIDESK_CSP_REMOTE_IMAGES", True)
_remote_images = (["https:"] + ([] if HTTPS else ["http:"])) if OMNIDESK_CSP_REMOTE_IMAGES else []
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *_remote_images],
        "connect-src": [SELF]
        + [f"wss://{host}:*" for host in _socket_hosts]
        + ([] if HTTPS else [f"ws://{host}:*" for host in _socket_hosts]),
        "font-src": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
    }
}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "desk:home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "omnidesk.errors.api_exception_handler",  # intake: one error body for the whole API
}
SPECTACULAR_SETTINGS = {
    "TITLE": "omnidesk API",
    "DESCRIPTION": "The agent desk's REST API: conversations, customers and organizations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Several serializers have a "status" choice field; the conversation's gets its own name (drf_spectacular.W001).
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "interactions.models.Conversation.Status",
        # Identities and case changes both have a "kind" choice field.
        "IdentityKindEnum": "customers.models.Identity.Kind",
    },
    # The schema and its docs describe every endpoint: for signed-in (hence active) users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # The UI assets come from drf-spectacular-sidecar through static files: no CDN, so the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Attachments (email files, provider media); served to agents through a permission-checked view, never publicly.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"

# agent (issue 15): files attached from the desk's composer. The type is read from the file name (never trusted from
# the browser) and must be listed; OMNIDESK_UPLOAD_SCANNER names a callable(name=, content_type=, data=) that raises
# ValidationError to refuse a file (a virus scanner hook); the default scans nothing (see assist/composer_files.py).
OMNIDESK_UPLOAD_MAX_BYTES = env_int("OMNIDESK_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
OMNIDESK_UPLOAD_ALLOWED_TYPES = env_list(
    "OMNIDESK_UPLOAD_ALLOWED_TYPES",
    "application/pdf,image/png,image/jpeg,image/gif,image/webp,text/plain,text/csv,"
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
OMNIDESK_UPLOAD_SCANNER = os.environ.get("OMNIDESK_UPLOAD_SCANNER", "assist.composer_files.scan_nothing")

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the finders when nothing was collected (make run), so a fresh checkout works; `make run` creates
# the empty STATIC_ROOT, which WhiteNoise otherwise warns about at every start.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # httpx logs every request's URL at INFO, and Telegram's Bot API URLs hold the bot token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # axes logs every successful login at INFO ("Deleted 0 failed login attempts"): noise, not news.
        "axes": {"level": "WARNING"},
        # Without a broker the periodic sweeps run in-process every few seconds; one INFO line per run buried the
        # desk's own output after `make run`. Failures still log (ERROR).
        **({"celery.app.trace": {"level": "WARNING"}} if EMBEDDED else {}),
    },
}

# --- rep (reporting): the absolute origin put in links sent to customers (survey links in email).
OMNIDESK_PUBLIC_URL = os.environ.get("OMNIDESK_PUBLIC_URL", "")
OMNIDESK_SURVEY_MAX_AGE_SECONDS = env_int("OMNIDESK_SURVEY_MAX_AGE_SECONDS", 14 * 86400)
# FCR's window: a resolution followed by a contact of the same customer, on any channel, within N days was not a
# first-contact resolution (docs/kpis.md). Applied when events are written, so a change counts from then on.
OMNIDESK_FCR_DAYS = env_int("OMNIDESK_FCR_DAYS", 7)
