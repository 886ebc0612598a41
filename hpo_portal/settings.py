"""Settings, read from the environment (see README's table). Every value has an embedded default
that runs the portal on one machine: SQLite and Celery's filesystem transport under var/, the
local engine."""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), not {raw!r}")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

VAR_DIR = Path(env_str("HPO_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-dev-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "formtools",
    "django_htmx",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "projects",
    "hpo_jobs",
    "hpo_jobs.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so that it sees the lockout the login view's authenticate() call signalled.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hpo_portal.urls"
WSGI_APPLICATION = "hpo_portal.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file under `make run`: wait for locks, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not memory, so that a real worker process in the end-to-end tests sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes first: it refuses a locked-out login before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: after LOGIN_FAILURE_LIMIT wrong passwords for one username from one address,
# that pair is locked out for LOGIN_LOCKOUT_MINUTES (each further try restarts the wait); other
# users at that address, and that user elsewhere, are not. A successful login clears the count.
# Staff unlock in the Django admin (Axes > Access attempts) or with `manage.py axes_reset_username`.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "hpo_portal.views.login_locked_out"
# The JSON API (hpo_jobs/api): personal tokens or the browser's session (with CSRF), JSON only,
# errors as RFC 9457 problem details.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "hpo_jobs.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "hpo_jobs.api.problems.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HPO Portal API",
    "DESCRIPTION": "Projects, HPO jobs and their training jobs; create, stop and clone jobs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # the docs page's assets come from the portal, not a CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Personal API tokens: how long a new one lasts unless its owner chooses otherwise.
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90, minimum=1)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or "pytest" in sys.modules
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Error reports (the DEBUG page, emails to admins) also hide passwords inside URLs.
DEFAULT_EXCEPTION_REPORTER_FILTER = "hpo_portal.debug.PortalExceptionReporterFilter"

CSP_REPORT_URL = "/csp-report/"
# Content-Security-Policy (django-csp): scripts, styles, images and fonts from the portal itself
# only; no inline script, no inline style (the pages keep theirs in static/ files; the charts and
# progress bars are SVG drawn with presentation attributes, which CSP does not govern). Browsers
# post violations to CSP_REPORT_URL, which logs them (hpo_portal.views.csp_report).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": CSP_REPORT_URL,
    },
}

# Security: strict unless DEBUG. Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER_ENABLED.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Joining browsers' preload list is a per-domain commitment an operator opts into.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    if env_bool("SECURE_PROXY_SSL_HEADER_ENABLED", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # /healthz is probed over plain HTTP by the container healthchecks.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "hpo-portal@localhost")
# The absolute address of the portal, for links in emails.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}

# --- Celery ------------------------------------------------------------------------------------
CELERY_QUEUE_DIR = VAR_DIR / "celery"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or env_str("REDIS_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (CELERY_QUEUE_DIR / sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport, with each message written whole before a worker can see it.
    CELERY_BROKER_TRANSPORT = "hpo_portal.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task whose worker dies unacknowledged is redelivered after this long.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600, minimum=60),
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must fail fast when the broker is down: the database is the outbox and the sweep
# relaunches what could not be queued.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE

HPO_POLL_INTERVAL_S = env_int("HPO_POLL_INTERVAL_S", 10, minimum=1)
# A poll cycle syncs its jobs in batches of HPO_SYNC_BATCH_SIZE: the beat's task syncs the first and
# queues the others as tasks of their own, so that every worker takes a share of the cycle. In a batch,
# up to HPO_SYNC_CONCURRENCY describes are in flight at once (threads: a describe is mostly waiting on
# the engine, and the threads make no database call, so SQLite is no bottleneck).
HPO_SYNC_BATCH_SIZE = env_int("HPO_SYNC_BATCH_SIZE", 50, minimum=1)
HPO_SYNC_CONCURRENCY = env_int("HPO_SYNC_CONCURRENCY", 50, minimum=1)
HPO_SWEEP_INTERVAL_S = env_int("HPO_SWEEP_INTERVAL_S", 60, minimum=5)
# How often jobs whose insights (importance, narrowed ranges) lag their children are queued again.
HPO_INSIGHTS_SWEEP_INTERVAL_S = env_int("HPO_INSIGHTS_SWEEP_INTERVAL_S", 300, minimum=10)
# A Pending job not launched after this long is queued again by the sweep.
HPO_RELAUNCH_AFTER_S = env_int("HPO_RELAUNCH_AFTER_S", 120, minimum=1)
# A job with no progress report from its engine for this long ends Failed with a reason.
HPO_STUCK_AFTER_S = env_int("HPO_STUCK_AFTER_S", 60 * 60 * 24, minimum=60)
# Task retry policy (transient AWS errors): exponential backoff with jitter.
HPO_TASK_MAX_RETRIES = env_int("HPO_TASK_MAX_RETRIES", 8, minimum=0)
HPO_TASK_RETRY_BACKOFF_MAX_S = env_int("HPO_TASK_RETRY_BACKOFF_MAX_S", 300, minimum=1)

CELERY_BEAT_SCHEDULE = {
    "sync-active-jobs": {
        "task": "hpo_jobs.tasks.sync_active_jobs",
        "schedule": timedelta(seconds=HPO_POLL_INTERVAL_S),
        "options": {"expires": HPO_POLL_INTERVAL_S},
    },
    "sweep-jobs": {
        "task": "hpo_jobs.tasks.sweep_jobs",
        "schedule": timedelta(seconds=HPO_SWEEP_INTERVAL_S),
        "options": {"expires": HPO_SWEEP_INTERVAL_S},
    },
    # A lost or failed refresh_insights is queued again (the sync queues it when children change).
    "queue-missing-insights": {
        "task": "hpo_jobs.tasks.queue_missing_insights",
        "schedule": timedelta(seconds=HPO_INSIGHTS_SWEEP_INTERVAL_S),
        "options": {"expires": HPO_INSIGHTS_SWEEP_INTERVAL_S},
    },
}

# --- Engines ----------------------------------------------------------------------------------
HPO_BACKEND = env_str("HPO_BACKEND", "local")
if HPO_BACKEND not in {"local", "sagemaker"}:
    raise ImproperlyConfigured(f"HPO_BACKEND must be 'local' or 'sagemaker', not {HPO_BACKEND!r}")
AWS_REGION = env_str("AWS_REGION", env_str("AWS_DEFAULT_REGION", "us-east-1"))
SAGEMAKER_ROLE_ARN = env_str("SAGEMAKER_ROLE_ARN")
# Short read-only calls made while a person waits (the wizard's name check, ECR listing).
AWS_INTERACTIVE_TIMEOUT_S = env_int("AWS_INTERACTIVE_TIMEOUT_S", 5, minimum=1)

# The local engine: where it keeps each job's state and the /opt/ml-like directories.
HPO_LOCAL_ENGINE_DIR = Path(env_str("HPO_LOCAL_ENGINE_DIR", str(VAR_DIR / "local-engine"))).resolve()
# Channels must be paths (or file:// URIs) under one of these folders. "{project}" in an entry is
# replaced by the slug of the job's project: each project reads only its own folder (an entry
# without it is shared by every project).
HPO_LOCAL_DATA_DIRS = [
    Path(p).resolve() for p in env_list("HPO_LOCAL_DATA_DIRS", [str(VAR_DIR / "data" / "{project}")])
]
HPO_LOCAL_MAX_PARALLEL = env_int("HPO_LOCAL_MAX_PARALLEL", os.cpu_count() or 1, minimum=1)
# How often the local engine restarts a tuning job whose supervisor died before ending it Failed.
HPO_LOCAL_MAX_RESTARTS = env_int("HPO_LOCAL_MAX_RESTARTS", 3, minimum=0)
# A custom algorithm's image maps to a local command only through this setting (JSON object of
# image URI -> argv list). The example algorithm shipped with the portal is always there.
HPO_LOCAL_EXAMPLE_IMAGE = "hpo-portal/example-custom:latest"
HPO_LOCAL_CUSTOM_IMAGES: dict[str, list[str]] = {
    HPO_LOCAL_EXAMPLE_IMAGE: [sys.executable, str(BASE_DIR / "examples" / "custom_algorithm" / "train.py")],
}
try:
    HPO_LOCAL_CUSTOM_IMAGES.update(json.loads(env_str("HPO_LOCAL_CUSTOM_IMAGES", "{}")))
except json.JSONDecodeError as exc:
    raise ImproperlyConfigured(f"HPO_LOCAL_CUSTOM_IMAGES must be a JSON object: {exc}") from None

# The local engine's limits. HPO_LOCAL_MAX_PARALLEL (above) caps the training processes running at
# once across every job and worker sharing HPO_LOCAL_ENGINE_DIR, queued first come, first served.
# Each training process gets an address-space, CPU-time and file-size limit, and its log a size cap
# (0: no limit); a job that hits one ends Failed with a reason that names the setting.
HPO_LOCAL_MAX_MEMORY_MB = env_int("HPO_LOCAL_MAX_MEMORY_MB", 4096, minimum=0)
HPO_LOCAL_MAX_CPU_S = env_int("HPO_LOCAL_MAX_CPU_S", 86_400, minimum=0)
HPO_LOCAL_MAX_FILE_MB = env_int("HPO_LOCAL_MAX_FILE_MB", 1024, minimum=0)
HPO_LOCAL_MAX_LOG_MB = env_int("HPO_LOCAL_MAX_LOG_MB", 64, minimum=0)
# CPU seconds the supervisor may spend matching one training job's log with its metric regexes.
HPO_LOCAL_MAX_METRICS_CPU_S = env_int("HPO_LOCAL_MAX_METRICS_CPU_S", 120, minimum=0)
# Training jobs run in a bubblewrap sandbox (see hpo_jobs/local_engine/sandbox.py) when bwrap is
# installed; "none" runs them as plain processes of the portal's user, with a warning.
HPO_LOCAL_SANDBOX = env_str("HPO_LOCAL_SANDBOX", "bwrap" if shutil.which("bwrap") else "none")
if HPO_LOCAL_SANDBOX not in {"bwrap", "none"}:
    raise ImproperlyConfigured(f"HPO_LOCAL_SANDBOX must be 'bwrap' or 'none', not {HPO_LOCAL_SANDBOX!r}")
if HPO_LOCAL_SANDBOX == "bwrap" and not shutil.which("bwrap"):
    raise ImproperlyConfigured("HPO_LOCAL_SANDBOX is 'bwrap' but bwrap is not installed (Debian: apt-get install bubblewrap)")

DEMO_PASSWORD = env_str("DEMO_PASSWORD", "hpo-demo-pass")
