"""phonebridge settings: read once from the environment (and an optional .env file).

Every variable is documented in .env.example. Secrets have no defaults outside DEBUG;
`telephony/checks.py` reports misconfiguration at start-up with a clear message.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from telephony.telnyx.signing import public_key_for_seed

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Tests set PHONEBRIDGE_READ_DOT_ENV=0 so a developer's real credentials never leak into them.
if env.bool("PHONEBRIDGE_READ_DOT_ENV", default=True) and (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

# DEBUG is off unless asked for, except for manage.py in a checkout that has no SECRET_KEY at
# all (a local development copy; see manage.py).
_LOCAL_COMMAND_LINE = env.bool("PHONEBRIDGE_COMMAND_LINE", default=False)
DEBUG = env.bool("DEBUG", default=_LOCAL_COMMAND_LINE and not env.str("SECRET_KEY", default=""))

# Django core

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    SECRET_KEY = "django-insecure-phonebridge-local-development-only"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    # Our apps come first: telephony's `runserver` extends daphne's, which replaces Django's.
    "calls",
    "telephony",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # Project-wide system checks (hosts, services, the local login) and the login guard.
    "phonebridge",
]

# The local admin login `runserver` creates in DEBUG never works anywhere else.
AUTHENTICATION_BACKENDS = ["phonebridge.dev_login.LocalLoginGuardBackend"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "phonebridge.urls"
ASGI_APPLICATION = "phonebridge.asgi.application"

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
                "telephony.context_processors.telephony_mode",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the admin read while a webhook writes; IMMEDIATE avoids "database is locked"
    # upgrades when two requests write at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# Reuse connections across requests (opening one costs more than a webhook's queries), and
# check them before reuse so a restarted database costs one error, not one per thread.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

# Behind ngrok or a TLS-terminating proxy the request arrives as plain HTTP; trusting the
# proxy's X-Forwarded-Proto makes request.is_secure() and built URLs say https.
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Channels

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "telephony.channel_layer.ResilientRedisChannelLayer",
            "CONFIG": {
                # redis-py 8 gives up reading after 5 s by default, exactly as long as the
                # channel layer's blocking pop waits: the two raced, and under uvloop the
                # timeout often won, every 5 s on every stream. Read for longer than the pop.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": 1500,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Telnyx

TELNYX_API_KEY = env.str("TELNYX_API_KEY", default="")
TELNYX_PUBLIC_KEY = env.str("TELNYX_PUBLIC_KEY", default="")
TELNYX_PHONE_NUMBER = env.str("TELNYX_PHONE_NUMBER", default="")
TELNYX_CALL_CONTROL_APP_ID = env.str("TELNYX_CALL_CONTROL_APP_ID", default="")
TELNYX_PHONE_NUMBER_ID = env.str("TELNYX_PHONE_NUMBER_ID", default="")
TELNYX_API_BASE_URL = env.str("TELNYX_API_BASE_URL", default="https://api.telnyx.com/v2")
TELNYX_API_TIMEOUT = env.float("TELNYX_API_TIMEOUT", default=5.0)
TELNYX_API_MAX_ATTEMPTS = env.int("TELNYX_API_MAX_ATTEMPTS", default=4)
# Seconds either side of now that a webhook's telnyx-timestamp may be (Telnyx's SDKs use 300).
TELNYX_WEBHOOK_TOLERANCE = env.int("TELNYX_WEBHOOK_TOLERANCE", default=300)
# The only way to accept unsigned webhooks. Honoured with DEBUG on only, and every admin page
# shows a warning while it is active.
TELNYX_SKIP_SIGNATURE_VERIFICATION = env.bool("TELNYX_SKIP_SIGNATURE_VERIFICATION", default=False)

# Telnyx media streaming. Uncertain points of the protocol are settings (telnyx-protocol.md §5).
MEDIA_TOKEN_TTL = env.int("MEDIA_TOKEN_TTL", default=120)
STREAM_BIDIRECTIONAL_CODEC = env.str("STREAM_BIDIRECTIONAL_CODEC", default="PCMU")
STREAM_BIDIRECTIONAL_TARGET_LEGS = env.str("STREAM_BIDIRECTIONAL_TARGET_LEGS", default="self")
STREAM_CODEC = env.str("STREAM_CODEC", default="")
L16_BIG_ENDIAN = env.bool("L16_BIG_ENDIAN", default=True)
MEDIA_AUTH_HEADER_REQUIRED = env.bool("MEDIA_AUTH_HEADER_REQUIRED", default=False)
MEDIA_MAX_LEAD_MS = env.int("MEDIA_MAX_LEAD_MS", default=100)
# The most the agent's audio may fall behind (ms, lead included) before the oldest queued audio
# is shed; past half of it silence is shed first (telephony.media.pacing).
MAX_AGENT_AUDIO_LAG_MS = env.int("MAX_AGENT_AUDIO_LAG_MS", default=200)
MEDIA_REORDER_WINDOW = env.int("MEDIA_REORDER_WINDOW", default=3)
# How fast a worker answers a burst of new calls (telephony.admission): at most this many a
# second, ANSWER_BURST at once, none waiting more than ANSWER_MAX_WAIT seconds. 0: no pace.
ANSWERS_PER_SECOND = env.float("ANSWERS_PER_SECOND", default=40.0)
ANSWER_BURST = env.int("ANSWER_BURST", default=10)
ANSWER_MAX_WAIT = env.float("ANSWER_MAX_WAIT", default=5.0)
MEDIA_MAX_FRAME_BYTES = env.int("MEDIA_MAX_FRAME_BYTES", default=64 * 1024)
MEDIA_MAX_BAD_FRAMES = env.int("MEDIA_MAX_BAD_FRAMES", default=50)
# What one media peer can make us keep (telephony.media.limits): stored events per call, by
# kind (DTMF; carrier errors; bad frames, unknown events included); the rest is only counted.
MEDIA_MAX_STORED_DTMF = env.int("MEDIA_MAX_STORED_DTMF", default=200)
MEDIA_MAX_STORED_WARNINGS = env.int("MEDIA_MAX_STORED_WARNINGS", default=20)
# Caller audio may run this far ahead of the call's clock (a burst after a stall); beyond it,
# frames are dropped and counted (Call.frames_early), so a flood cannot fill the recording.
MEDIA_EARLY_ALLOWANCE_MS = env.int("MEDIA_EARLY_ALLOWANCE_MS", default=1000)
# Every this many seconds a streaming call's counters and live figures reach the database
# (Call.live_media), so a killed worker loses at most that much. One UPDATE per call.
MEDIA_SNAPSHOT_SECONDS = env.float("MEDIA_SNAPSHOT_SECONDS", default=2.0)
RECORD_CALLS = env.bool("RECORD_CALLS", default=DEBUG)
# A recording stops here (4 hours: 0.9 GB at 16 kHz, under the WAV format's 4 GiB at any rate
# we record); the call says so, and the file stays valid.
RECORDING_MAX_SECONDS = env.int("RECORDING_MAX_SECONDS", default=4 * 3600)
# Ask Telnyx to transcribe both sides once a call is answered (a billed Telnyx feature; the
# admin shows the result as a conversation). On by default only with the simulator.
TRANSCRIBE_CALLS = env.bool("TRANSCRIBE_CALLS", default=False)
TRANSCRIPTION_ENGINE = env.str("TRANSCRIPTION_ENGINE", default="Telnyx")

# Public host name used in webhook and media URLs (NGROK_URL is accepted as an alias; a running
# local ngrok tunnel is detected lazily by telephony.public_host when neither is set).
PUBLIC_HOST = env.str("PUBLIC_HOST", default="") or env.str("NGROK_URL", default="")

# The embedded Telnyx simulator stands in for Telnyx when there is no API key in DEBUG.
# It can never be on in production settings: without DEBUG it is off whatever the environment.
TELNYX_SIMULATOR = DEBUG and env.bool("TELNYX_SIMULATOR", default=not TELNYX_API_KEY)
# Where the embedded simulator reaches this server. Unset, it follows the server: the address
# and port `runserver` (or any ASGI server) actually serves (telephony.telnyx.embedded), and
# every value below derived from it follows too; these names say which ones were derived.
SIMULATOR_HOST = env.str("SIMULATOR_HOST", default="")
SIMULATOR_FOLLOWS_SERVER: list[str] = [] if SIMULATOR_HOST else ["SIMULATOR_HOST"]
SIMULATOR_HOST = SIMULATOR_HOST or "127.0.0.1:8000"
if TELNYX_SIMULATOR:
    TELNYX_API_KEY = TELNYX_API_KEY or "KEYSIMULATOR"
    if not env.str("TELNYX_API_BASE_URL", default=""):
        SIMULATOR_FOLLOWS_SERVER.append("TELNYX_API_BASE_URL")
    TELNYX_API_BASE_URL = env.str(
        "TELNYX_API_BASE_URL", default=f"http://{SIMULATOR_HOST}/_simulator/telnyx/v2"
    )
    TELNYX_CALL_CONTROL_APP_ID = TELNYX_CALL_CONTROL_APP_ID or "1000000000000000001"
    TELNYX_PHONE_NUMBER = TELNYX_PHONE_NUMBER or "+15550100000"
    if not PUBLIC_HOST:
        SIMULATOR_FOLLOWS_SERVER.append("PUBLIC_HOST")
    PUBLIC_HOST = PUBLIC_HOST or SIMULATOR_HOST
    TRANSCRIBE_CALLS = env.bool("TRANSCRIBE_CALLS", default=True)
    # The simulator signs webhooks with a key derived from SECRET_KEY, so the server, the
    # autoreloader's child and `manage.py simulate_call` all agree on it.
    SIMULATOR_SIGNING_SEED = hashlib.sha256(f"telnyx-simulator:{SECRET_KEY}".encode()).digest()
    TELNYX_PUBLIC_KEY = TELNYX_PUBLIC_KEY or public_key_for_seed(SIMULATOR_SIGNING_SEED)

# The numbers the Dial page offers as "From" (E.164, comma-separated). Unset: with a real API
# key, the account's numbers as Telnyx lists them; otherwise TELNYX_PHONE_NUMBER alone.
TELNYX_FROM_NUMBERS = env.list("TELNYX_FROM_NUMBERS", default=[])
# Numbers typed without a '+' are read in this country's national format (ISO 3166 code such
# as US or GB, or a calling code such as +44); empty: only E.164 is accepted.
DEFAULT_COUNTRY = env.str("DEFAULT_COUNTRY", default="")

# Twilio (a second carrier, telephony/twilio/)

TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
# Verifies webhooks (X-Twilio-Signature) and, without an API key, authenticates requests.
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# An API key (SK…) and its secret authenticate REST requests instead of the Auth Token.
TWILIO_API_KEY = env.str("TWILIO_API_KEY", default="")
TWILIO_API_SECRET = env.str("TWILIO_API_SECRET", default="")
TWILIO_PHONE_NUMBER = env.str("TWILIO_PHONE_NUMBER", default="")
# More numbers the Dial page may call from with Twilio (E.164, comma-separated).
TWILIO_FROM_NUMBERS = env.list("TWILIO_FROM_NUMBERS", default=[])
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com")
TWILIO_API_TIMEOUT = env.float("TWILIO_API_TIMEOUT", default=5.0)
TWILIO_API_MAX_ATTEMPTS = env.int("TWILIO_API_MAX_ATTEMPTS", default=4)
# The <Say> voice of the apology on Twilio calls (APOLOGY_VOICE names a Telnyx voice); empty:
# Twilio's default voice.
TWILIO_SAY_VOICE = env.str("TWILIO_SAY_VOICE", default="")
# Which carrier "Simulate inbound call" and a Dial from an unknown number use.
PHONEBRIDGE_CARRIER = env.str("PHONEBRIDGE_CARRIER", default="telnyx")
# The embedded Twilio simulator stands in for Twilio in DEBUG without credentials, as Telnyx's
# does; its account (sid and Auth Token, fixed for the process) signs its webhooks.
TWILIO_SIMULATOR = DEBUG and env.bool(
    "TWILIO_SIMULATOR", default=not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)
)
if TWILIO_SIMULATOR:
    _twilio_seed = hashlib.sha256(f"twilio-simulator:{SECRET_KEY}".encode()).hexdigest()
    TWILIO_ACCOUNT_SID = TWILIO_ACCOUNT_SID or f"AC{_twilio_seed[:32]}"
    TWILIO_AUTH_TOKEN = TWILIO_AUTH_TOKEN or _twilio_seed[32:]
    TWILIO_PHONE_NUMBER = TWILIO_PHONE_NUMBER or "+15550001111"
    if not env.str("TWILIO_API_BASE_URL", default=""):
        SIMULATOR_FOLLOWS_SERVER.append("TWILIO_API_BASE_URL")
    TWILIO_API_BASE_URL = env.str(
        "TWILIO_API_BASE_URL", default=f"http://{SIMULATOR_HOST}/_simulator/twilio"
    )
    if not PUBLIC_HOST:
        SIMULATOR_FOLLOWS_SERVER.append("PUBLIC_HOST")
    PUBLIC_HOST = PUBLIC_HOST or SIMULATOR_HOST

# Stream (getstream.io)

STREAM_API_KEY = env.str("STREAM_API_KEY", default="")
STREAM_API_SECRET = env.str("STREAM_API_SECRET", default="")
STREAM_BASE_URL = env.str("STREAM_BASE_URL", default="")
STREAM_CALL_TYPE = env.str("STREAM_CALL_TYPE", default="default")
STREAM_AGENT_USER_ID = env.str("STREAM_AGENT_USER_ID", default="ai-agent")
STREAM_JOIN_TIMEOUT = env.float("STREAM_JOIN_TIMEOUT", default=20.0)
STREAM_END_CALL_ON_HANGUP = env.bool("STREAM_END_CALL_ON_HANGUP", default=True)
AGENT_SERVER_URL = env.str("AGENT_SERVER_URL", default="")
AGENT_SERVER_TIMEOUT = env.float("AGENT_SERVER_TIMEOUT", default=8.0)
# Seconds a summoned agent has to join the Stream call after the phone did (one that leaves
# has a second to come back: Presence.agent_gone_grace).
AGENT_ARRIVAL_TIMEOUT = env.float("AGENT_ARRIVAL_TIMEOUT", default=10.0)
# What the caller hears when the agent cannot be reached, before we hang up (Telnyx `speak`).
APOLOGY_TEXT = env.str(
    "APOLOGY_TEXT",
    default="Sorry, our assistant is not available right now. Please call again later. Goodbye.",
)
APOLOGY_VOICE = env.str("APOLOGY_VOICE", default="Telnyx.KokoroTTS.af")
BRIDGE = env.str("BRIDGE", default="stream" if STREAM_API_KEY and STREAM_API_SECRET else "echo")

# Operations

METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
RECONCILE_INTERVAL = env.int("RECONCILE_INTERVAL", default=60)
RECONCILE_IDLE_SECONDS = env.int("RECONCILE_IDLE_SECONDS", default=300)
MAX_BACKGROUND_TASKS = env.int("MAX_BACKGROUND_TASKS", default=1000)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"call_id": {"()": "telephony.log_context.CallIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [call=%(call_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["call_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default config gives "django" its own console handler besides the root's:
        # every 4xx/5xx and the reloader's line were printed twice. The root's is enough.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "getstream": {"level": "WARNING"},
    },
}

# The local admin login that `runserver` creates in DEBUG only (named in README's Quick start).
DEV_ADMIN_USERNAME = "admin"
DEV_ADMIN_PASSWORD = "admin"  # noqa: S105 - DEBUG-only local login, documented in README
