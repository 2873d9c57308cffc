"""A page of a list (users, clients, roles, permissions, audit events): its items and where it stands."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    limit: int
    offset: int

    def as_dict(self) -> dict:
        return {"items": self.items, "total": self.total, "limit": self.limit, "offset": self.offset}


def page(query, limit: int, offset: int, to_dict) -> Page:
    """`limit` rows of `query` from `offset`, each turned into a dict, and how many there are in all."""
    total = query.count()
    return Page([to_dict(row) for row in query.limit(limit).offset(offset)], total, limit, offset)
