"""Run every benchmark in this folder (bench_*.py), one after the other, and print their figures.

A benchmark that runs on a database (it calls ``database.bench_database_url``) runs on SQLite and,
when DATABASE_URL names a PostgreSQL server, once more on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from database import postgres_url  # noqa: E402


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        databases = ["sqlite"]
        if "bench_database_url(" in script.read_text() and postgres_url():
            databases.append("postgres")
        for database in databases:
            print(f"\n=== {script.name} ({database}) ===", flush=True)
            env = {**os.environ, "BENCH_DB": database}
            result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, env=env)
            if result.returncode != 0:
                failed.append(f"{script.name} ({database})")
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
