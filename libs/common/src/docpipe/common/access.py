"""Document access groups (docs/api.md, "Conventions"): one set of rules for the services and
the database.

A document's ``access`` is a list of group names; empty means everyone in the tenant. A
caller sees a document when it is open, when the caller is in one of its groups, or when
the caller is an admin (``ADMIN_GROUPS``). The same rule is written three times on
purpose, each from its own inputs: :func:`can_see` (Python), :func:`visible_sql` (the
query service's own condition, from the caller's groups as parameters) and the
row-level security policies of migration 0007 (from the transaction's ``app.groups`` and
``app.admin``). Stored lists are canonical (sorted, without repeats), as the database's
check constraint requires.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from docpipe.common.exceptions import InvalidAccess

__all__ = [
    "GROUP_PATTERN",
    "Access",
    "MAX_ACCESS_GROUPS",
    "can_see",
    "canonical_access",
    "groups_from_claim",
    "groups_literal",
    "parse_access_json",
    "visible_sql",
]

GROUP_PATTERN = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
MAX_ACCESS_GROUPS = 32
#: Most groups read from one token: more cannot be meant, and each is a policy parameter.
_MAX_CALLER_GROUPS = 256


def canonical_access(value: Any) -> list[str]:
    """The stored form of an ``access`` value: sorted, without repeats, or InvalidAccess."""
    if not isinstance(value, list | tuple):
        raise InvalidAccess('access must be a JSON array of group names, e.g. ["hr"]')
    if len(value) > MAX_ACCESS_GROUPS:
        raise InvalidAccess(f"access names at most {MAX_ACCESS_GROUPS} groups")
    for group in value:
        if not isinstance(group, str) or not GROUP_PATTERN.fullmatch(group):
            raise InvalidAccess(f"access: {group!r} is not a group name ({GROUP_PATTERN.pattern})")
    return sorted(set(value))


#: A request body field holding an ``access`` list (stored canonical: sorted, no repeats).
Access = Annotated[
    list[Annotated[str, StringConstraints(strict=True, pattern=f"^{GROUP_PATTERN.pattern}$")]],
    Field(max_length=MAX_ACCESS_GROUPS),
    AfterValidator(lambda groups: sorted(set(groups))),
]


def parse_access_json(text: str) -> list[str]:
    """``access`` from a multipart form field (a JSON array)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidAccess('access must be a JSON array of group names, e.g. ["hr"]') from exc
    return canonical_access(value)


def groups_from_claim(value: Any) -> frozenset[str]:
    """The caller's groups from a token claim, in every shape it reaches a service.

    A JSON list (a verified token); a space-separated string (OAuth ``scope`` style); the
    HTTP API JWT authorizer's rendering of a list, ``"[a b]"``; the REST API Cognito
    authorizer's, ``"a,b"``. Names that could never be in an ``access`` list are dropped
    (they can match no document), so an odd claim only narrows what the caller sees.
    """
    if value is None:
        return frozenset()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = text[1:-1].split()
            items: Iterable[Any] = decoded if isinstance(decoded, list) else [decoded]
        else:
            items = text.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return frozenset()
    names = [i for i in items if isinstance(i, str) and GROUP_PATTERN.fullmatch(i)]
    return frozenset(names[:_MAX_CALLER_GROUPS])


def can_see(access: Iterable[str], *, groups: frozenset[str], admin: bool) -> bool:
    access = list(access)
    return admin or not access or not groups.isdisjoint(access)


def groups_literal(groups: Iterable[str]) -> str:
    """A PostgreSQL ``text[]`` literal; every name is quoted (a group named NULL stays one).

    Only names matching :data:`GROUP_PATTERN` (no quote, backslash, comma or brace) may
    be passed.
    """
    names = sorted(groups)
    if any(not GROUP_PATTERN.fullmatch(n) for n in names):
        raise InvalidAccess("group names must match " + GROUP_PATTERN.pattern)
    return "{" + ",".join(f'"{n}"' for n in names) + "}"


def visible_sql(
    column: str, *, groups: frozenset[str], admin: bool, add_param: Callable[[object], str]
) -> str:
    """A condition: the access list in ``column`` admits this caller. ``add_param`` adds a
    statement parameter and returns its placeholder (called only when one is needed)."""
    if admin:
        return "true"
    if not groups:
        return f"{column} = '{{}}'::text[]"
    return f"({column} = '{{}}'::text[] or {column} && {add_param(sorted(groups))}::text[])"
