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
