"""Named groups of redundant dependency processes, and the fault and chaos items that name them.

A scenario's ``[scenarios.X.groups.auth]`` with ``members = [cmd, cmd, cmd]`` gives each side
three processes, ``auth-0``, ``auth-1`` and ``auth-2``, each behind a proxy link of its own
name. A chaos or fault item may name a member, or the group with ``members`` (indices, default
all) and ``stagger`` (the k-th chosen member is hit at ``at + k * stagger``)::

    [[scenarios.X.chaos]]
    at = 4
    action = "kill"
    process = "auth"
    members = [0, 1]
    stagger = "2s"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perfgate.errors import ConfigError, FaultError
from perfgate.faults.schedule import parse_seconds

GROUP_ITEM_KEYS = ("members", "stagger")


@dataclass(frozen=True)
class GroupSpec:
    name: str
    commands: tuple[str, ...]  # one per member
    ready_path: str = "/healthz"
    ready_timeout: float = 30.0

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(member_name(self.name, k) for k in range(len(self.commands)))


def member_name(group: str, index: int) -> str:
    return f"{group}-{index}"


def scenario_groups(groups: Mapping[str, Any]) -> tuple[GroupSpec, ...]:
    """The groups of a scenario's (already validated) ``groups`` table."""
    return tuple(
        GroupSpec(name, tuple(table["members"]), table["ready_path"], float(table["ready_timeout"]))
        for name, table in groups.items()
    )


def without_group_keys(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The items with ``members`` and ``stagger`` left out, to check their other keys first."""
    return [{k: v for k, v in item.items() if k not in GROUP_ITEM_KEYS} for item in items]


def expand_groups(
    items: Sequence[Mapping[str, Any]], groups: Sequence[GroupSpec], key: str, where: str
) -> list[dict[str, Any]]:
    """Each item whose ``key`` (``process`` or ``link``) names a group becomes one item per chosen
    member, staggered; other items are kept as they are. Errors name ``where[i]`` and the key."""
    by_name = {g.name: g for g in groups}
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        group = by_name.get(item.get(key))  # type: ignore[arg-type]
        if group is None:
            extra = next((k for k in GROUP_ITEM_KEYS if k in item), None)
            if extra is not None:
                raise ConfigError(f"{here}.{extra}: only an item whose {key} names a group takes {extra}")
            out.append(dict(item))
            continue
        chosen = _members(item.get("members"), len(group.commands), f"{here}.members")
        try:
            stagger = parse_seconds(item.get("stagger", 0.0), "stagger", here)
            at = parse_seconds(item.get("at", 0.0), "at", here)
        except FaultError as exc:
            raise ConfigError(str(exc)) from exc
        base = {k: v for k, v in item.items() if k not in GROUP_ITEM_KEYS}
        out += [{**base, key: member_name(group.name, k), "at": at + j * stagger} for j, k in enumerate(chosen)]
    return out


def _members(raw: Any, count: int, where: str) -> list[int]:
    if raw is None:
        return list(range(count))
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < count for k in raw)
        or len(set(raw)) != len(raw)
    ):
        raise ConfigError(f"{where}: must be a non-empty list of distinct member indices 0..{count - 1}, got {raw!r}")
    return list(raw)
