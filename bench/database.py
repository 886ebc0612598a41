"""The database a benchmark runs on: a throwaway SQLite file, or a throwaway PostgreSQL database.

``run_all.py`` runs every benchmark that calls :func:`bench_database_url` once on SQLite and, when
``DATABASE_URL`` names a PostgreSQL server, once more on that server (``BENCH_DB=postgres``), in a
database of its own (``<name>_bench``, dropped and made anew), so the figures of both are printed in
one run and the server's own data is never touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def postgres_url() -> str | None:
    """DATABASE_URL when it names a PostgreSQL server, else None."""
    url = os.environ.get("DATABASE_URL", "")
    return url if urlsplit(url).scheme in ("postgres", "postgresql", "pgsql") else None


def bench_database_url(sqlite_path: Path) -> str:
    """The URL to run on: SQLite at ``sqlite_path``, or (BENCH_DB=postgres) a fresh ``<name>_bench``."""
    if os.environ.get("BENCH_DB", "sqlite") != "postgres":
        return f"sqlite:///{sqlite_path}"
    url = postgres_url()
    if url is None:
        raise SystemExit("BENCH_DB=postgres needs DATABASE_URL to name a PostgreSQL server")
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def label() -> str:
    """Which database this run is on, for the figures' headings."""
    return "PostgreSQL" if os.environ.get("BENCH_DB") == "postgres" else "SQLite"


def setup_django(bench_dir: Path, database_url: str, **env: str) -> None:
    """Django on a benchmark's own folder (wiped first) and ``database_url`` (``bench_database_url``'s,
    for a benchmark that runs on both databases), configured as production runs
    (DEBUG off: no debug templates, no query log), with the portal's migrations applied; ``env``
    adds or overrides settings from the environment."""
    import shutil
    import sys

    shutil.rmtree(bench_dir, ignore_errors=True)
    bench_dir.mkdir(parents=True)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "hpo_portal.settings",
        "HPO_VAR_DIR": str(bench_dir),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-only-secret-key",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "LOG_LEVEL": "WARNING",
        **env,
    })
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from django.conf import settings

    # Static URLs without a collectstatic manifest (the pages are what is measured, not static files).
    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
