"""Keyset pagination (seek pages): a page is the rows after (or before) the last row seen, in an
order whose keys end on a unique column, so that no page needs a full count or an OFFSET, a deep page
costs what the first one does, and rows added meanwhile never shift a page into duplicates or gaps.

An order is a tuple of key expressions that all run one way, none of them NULL (a nullable column is
wrapped in a Coalesce to a sentinel), the last one unique. The comparison with a cursor is one
row-value comparison, ``(k1, k2, id) > (v1, v2, i)``, which PostgreSQL answers from an index on the
same keys (SQLite gets Django's equivalent OR form). Shared by the training jobs table and the API.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from django.core.exceptions import ValidationError
from django.db.models import Expression, F, Field, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils.dateparse import parse_datetime


@dataclass(frozen=True)
class Order:
    """The keys of an order (expressions, all ascending or all descending), the last one unique."""

    keys: tuple[Expression, ...]
    descending: bool = False

    def reversed(self) -> "Order":
        return Order(self.keys, not self.descending)

    def names(self) -> list[str]:
        return [f"_key{i}" for i in range(len(self.keys))]

    def apply(self, rows: QuerySet) -> QuerySet:
        rows = rows.alias(**dict(zip(self.names(), self.keys)))
        return rows.order_by(*(F(n).desc() if self.descending else F(n).asc() for n in self.names()))

    def seek(self, rows: QuerySet, values: Sequence[Any]) -> QuerySet:
        """The rows that come after ``values`` in this order."""
        lookup = TupleLessThan if self.descending else TupleGreaterThan
        return rows.filter(lookup(Tuple(*(F(n) for n in self.names())), list(values)))


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, timedelta):
        return {"d": [value.days, value.seconds, value.microseconds]}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        parsed = parse_datetime(str(value["t"]))
        if parsed is None:
            raise ValueError("bad time")
        return parsed
    if isinstance(value, dict) and "d" in value:
        days, seconds, micro = (int(v) for v in value["d"])
        return timedelta(days=days, seconds=seconds, microseconds=micro)
    if value is None or isinstance(value, (dict, list)):
        raise ValueError("bad key")
    return value


def encode_cursor(tag: str, values: Sequence[Any]) -> str:
    """An opaque token for a row's keys in the order called ``tag``."""
    text = json.dumps([tag, *(_encode_value(v) for v in values)], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(token: str | None, tag: str, fields: Sequence[Field]) -> list[Any] | None:
    """The keys a token holds, each checked against its key's field, or None when the token is
    missing, of another order, or not one of ours (the first page then)."""
    if not token:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4)))
        if not isinstance(raw, list) or len(raw) != len(fields) + 1 or raw[0] != tag:
            return None
        values = [field.to_python(_decode_value(v)) for field, v in zip(fields, raw[1:])]
    except (ValueError, TypeError, UnicodeError, ValidationError):
        return None
    return None if any(v is None for v in values) else values


@dataclass
class Page:
    """One page of rows and the cursors of its neighbours (None when there is no such page)."""

    object_list: list[Any]
    next_cursor: str | None
    previous_cursor: str | None
    is_first: bool
    is_last: bool
    cursor_ignored: bool = False  # a cursor was given that is not one of this order's

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous


def paginate(
    rows: QuerySet, order: Order, size: int, *, tag: str, after: str | None = None, before: str | None = None,
    last: bool = False,
) -> Page:
    """The page of ``size`` rows after the cursor ``after``, before ``before``, the last page
    (``last``), or else the first: one query of at most ``size + 1`` rows. ``tag`` names the order
    (a cursor of another order is ignored). ``rows`` may be a ``values()`` query: its rows are dicts."""
    names = order.names()
    ordered = order.apply(rows)
    fields = [ordered.query.annotations[n].output_field for n in names]
    after_keys = decode_cursor(after, tag, fields)
    before_keys = decode_cursor(before, tag, fields) if after_keys is None else None
    backwards = before_keys is not None or (last and after_keys is None)
    walk = order.reversed() if backwards else order
    query = walk.apply(rows)
    start = after_keys if after_keys is not None else before_keys
    if start is not None:
        query = walk.seek(query, start)
    found = list(query.annotate(**{f"{n}_": F(n) for n in names})[: size + 1])
    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()

    def cursor(row: Any) -> str:
        keys = [f"{n}_" for n in names]
        return encode_cursor(tag, [row[k] for k in keys] if isinstance(row, dict) else [getattr(row, k) for k in keys])

    ignored = bool(after or before) and start is None
    if not found:
        return Page([], None, None, start is None, True, ignored)
    if backwards:
        has_previous, has_next = more, before_keys is not None
    else:
        has_previous, has_next = after_keys is not None, more
    return Page(
        found,
        next_cursor=cursor(found[-1]) if has_next else None,
        previous_cursor=cursor(found[0]) if has_previous else None,
        is_first=not has_previous,
        is_last=not has_next,
        cursor_ignored=ignored,
    )
