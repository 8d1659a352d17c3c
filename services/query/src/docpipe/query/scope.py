"""Which of the caller's documents a search may draw from: those the caller may see
(access groups, docs/api.md), narrowed by ``document_ids`` and metadata ``filters``
(§4), ANDed.

This module is the one place that writes the documents condition of a search; both legs
(their candidates, row counts and keyword statistics) and the answers take it from
:meth:`DocumentScope.chunk_filter` and :meth:`DocumentScope.visible`. Row-level security
applies the same group rule underneath (migration 0007), from the transaction's settings
rather than from these parameters: either alone keeps a hidden document out.

Filters, all ANDed:

- ``{"field": value}`` — equality; a list-valued field matches when it contains the value;
- ``{"field": {"in": [v, …]}}`` — any of the values (same matching as equality);
- ``{"field": {"gte": x, "lte": y}}`` (either bound alone too) — numbers, or ISO-8601
  dates/times compared as instants; a field of another type never matches a range. A
  date-only upper bound (``"2026-12-31"``) includes that whole day.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from docpipe.common.access import visible_sql
from docpipe.common.auth import Principal
from docpipe.common.metadata import KEY_PATTERN, MAX_STRING_CHARS
from docpipe.query.exceptions import FilterError

__all__ = [
    "MAX_FILTERS",
    "Params",
    "MAX_IN_VALUES",
    "DocumentScope",
    "parse_filters",
]

MAX_FILTERS = 16
MAX_IN_VALUES = 100
_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")
Scalar = str | int | float | bool


@dataclass(frozen=True)
class _Match:
    """Equality or ``in``: the field equals (or, for a list, contains) one of ``values``."""

    key: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class _Range:
    key: str
    kind: Literal["number", "date"]
    gte: float | str | None
    lte: float | str | None
    lte_whole_day: bool = False


_Condition = _Match | _Range


def _scalar(key: str, value: Any) -> Scalar:
    if isinstance(value, bool | str):
        if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            raise FilterError(key, f"values have at most {MAX_STRING_CHARS} characters")
        return value
    if isinstance(value, int | float) and value == value and abs(value) != float("inf"):
        return value
    raise FilterError(key, "compare with a string, number or boolean")


def _bound(key: str, value: Any) -> tuple[Literal["number", "date"], float | str, bool]:
    """``(kind, bound, date_only)`` of a range bound."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number", float(_scalar(key, value)), False
    if isinstance(value, str) and _DATE_PREFIX.match(value):
        try:
            if len(value) == 10:
                date.fromisoformat(value)
                return "date", value, True
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return "date", value, False
    raise FilterError(key, "range bounds are numbers or ISO-8601 dates (2026-03-31)")


def _range(key: str, spec: Mapping[str, Any]) -> _Range:
    unknown = set(spec) - {"gte", "lte"}
    if unknown or not spec:
        raise FilterError(key, 'use {"gte": x}, {"lte": y}, both, or {"in": [...]}')
    bounds = {name: _bound(key, value) for name, value in spec.items()}
    kinds = {kind for kind, _, _ in bounds.values()}
    if len(kinds) != 1:
        raise FilterError(key, "both bounds must be numbers, or both dates")
    lte = bounds.get("lte")
    return _Range(
        key=key,
        kind=kinds.pop(),
        gte=bounds["gte"][1] if "gte" in bounds else None,
        lte=lte[1] if lte else None,
        lte_whole_day=bool(lte and lte[2]),
    )


def _condition(key: str, spec: Any) -> _Condition:
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise FilterError(str(key), f"field names match {KEY_PATTERN.pattern}")
    if isinstance(spec, Mapping):
        if "in" in spec:
            values = spec["in"]
            if len(spec) != 1 or not isinstance(values, list) or not values:
                raise FilterError(key, '"in" takes a non-empty list and nothing else')
            if len(values) > MAX_IN_VALUES:
                raise FilterError(key, f'"in" takes at most {MAX_IN_VALUES} values')
            return _Match(key, tuple(_scalar(key, v) for v in values))
        return _range(key, spec)
    if isinstance(spec, list):
        raise FilterError(key, 'to match any of several values use {"in": [...]}')
    return _Match(key, (_scalar(key, spec),))


def parse_filters(filters: Mapping[str, Any] | None) -> tuple[_Condition, ...]:
    """The conditions of a request's ``filters`` object, or :class:`FilterError`."""
    if not filters:
        return ()
    if len(filters) > MAX_FILTERS:
        raise FilterError("*", f"at most {MAX_FILTERS} filters")
    return tuple(_condition(key, spec) for key, spec in filters.items())


@dataclass
class Params:
    """Positional parameters of one statement, numbered from ``first``."""

    first: int
    values: list[object] = field(default_factory=list)

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${self.first + len(self.values) - 1}"

    @property
    def next(self) -> int:
        """The number the next parameter will get."""
        return self.first + len(self.values)


def _match_sql(condition: _Match, params: Params) -> str:
    alternatives = []
    for value in condition.values:
        alternatives.append(
            f"d.metadata @> {params.add(json.dumps({condition.key: value}))}::jsonb"
        )
        if isinstance(value, str):  # a list-valued field containing it
            member = json.dumps({condition.key: [value]})
            alternatives.append(f"d.metadata @> {params.add(member)}::jsonb")
    return "(" + " or ".join(alternatives) + ")"


def _range_sql(condition: _Range, params: Params) -> str:
    key = params.add(condition.key)
    if condition.kind == "number":
        value = (
            f"(case when jsonb_typeof(d.metadata -> {key}) = 'number'"
            f" then (d.metadata ->> {key})::numeric end)"
        )
        cast = "numeric"
    else:  # ISO-8601 strings as instants; the CASE keeps other strings from being cast
        text = f"(d.metadata ->> {key})"
        value = (
            f"(case when jsonb_typeof(d.metadata -> {key}) = 'string'"
            f" and {text} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}'"
            f" and pg_input_is_valid({text}, 'timestamptz') then {text}::timestamptz end)"
        )
        cast = "timestamptz"
    parts = []
    if condition.gte is not None:
        parts.append(f"{value} >= {params.add(str(condition.gte))}::text::{cast}")
    if condition.lte is not None:
        bound = f"{params.add(str(condition.lte))}::text::{cast}"
        if condition.lte_whole_day:
            parts.append(f"{value} < {bound} + interval '1 day'")
        else:
            parts.append(f"{value} <= {bound}")
    return "(" + " and ".join(parts) + ")"


@dataclass(frozen=True)
class DocumentScope:
    """The documents a search may return. ``groups``/``sees_all``: the reader's (an
    unknown reader sees open documents only); ``document_ids``/``conditions``: the
    request's narrowing (none: every document the reader sees)."""

    document_ids: tuple[uuid.UUID, ...] = ()
    conditions: tuple[_Condition, ...] = ()
    groups: frozenset[str] = frozenset()
    sees_all: bool = False

    @classmethod
    def of(
        cls,
        *,
        document_ids: Sequence[uuid.UUID] | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> DocumentScope:
        return cls(tuple(dict.fromkeys(document_ids or ())), parse_filters(filters))

    def seen_by(self, reader: Principal) -> DocumentScope:
        """This scope for ``reader``: its groups, and whether it is an admin."""
        return replace(self, groups=reader.groups, sees_all=reader.admin)

    @property
    def restricted(self) -> bool:
        """Whether the request narrows the documents (not the reader's groups)."""
        return bool(self.document_ids or self.conditions)

    def visible(self, column: str, params: Params) -> str:
        """A condition: the access list in ``column`` admits the reader."""
        return visible_sql(column, groups=self.groups, admin=self.sees_all, add_param=params.add)

    def chunk_filter(self, alias: str, *, first_param: int) -> tuple[str, list[object]]:
        """``(condition, parameters)`` on the chunks ``alias`` (``""``: unqualified): the
        reader sees the chunk and, in a restricted scope, its document is in scope; ``""``
        when there is nothing to check (an admin's unrestricted search)."""
        params = Params(first_param)
        prefix = f"{alias}." if alias else ""
        parts = [self.visible(f"{prefix}access", params)]
        if self.restricted:
            condition, values = self.sql(f"{prefix}document_id", first_param=params.next)
            parts.append(condition)
            params.values.extend(values)
        parts = [p for p in parts if p != "true"]
        return " and ".join(parts), params.values

    def sql(self, column: str, *, first_param: int) -> tuple[str, list[object]]:
        """``(condition on column, parameters)``: ``column`` (a chunk's document id) names
        a document in scope. Parameters are numbered from ``first_param``."""
        params = Params(first_param)
        where = []
        if self.document_ids:
            where.append(f"d.id = any({params.add(list(self.document_ids))}::uuid[])")
        for condition in self.conditions:
            if isinstance(condition, _Match):
                where.append(_match_sql(condition, params))
            else:
                where.append(_range_sql(condition, params))
        documents = "select d.id from documents d" + (
            f" where {' and '.join(where)}" if where else ""
        )
        return f"{column} in ({documents})", params.values
