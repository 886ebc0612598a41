"""The plan each database makes for a query, to test that an index gives its order."""

from __future__ import annotations

from typing import Any, Sequence

from django.db import connection


def plan(sql: str, params: Sequence[Any] | None = None) -> str:
    """The plan of ``sql`` as text. On PostgreSQL, sorting and full scans are priced out first (for the
    rest of the test's transaction), so that a small table still shows whether an index can give the
    order: a plan that must sort still has a Sort step. On SQLite, a sort shows as a TEMP B-TREE."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


SORT_STEP = r"\bSort\b|TEMP B-TREE"  # a plan's sort step, on either database
