"""Which changes of the screening policy weaken it (docs/protocol.md "Two-key rule", RELIABILITY 46).

A ``set_policy`` command that weakens screening needs two command-key holders; one that only makes it
stricter (or changes what is neutral to screening: how long green stays lit, the buzzer tone, how much a
CLEAR event holds) needs one. Pure: the policy in force and the requested changes in, the names of the
weakened rules out. A rule this table does not know counts as weakened (fail safe).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.config import ScreeningConfig
from agent.protocol.commands import HIGH_IMPACT

_ORDER = {"expiry_policy": ("refer", "ignore"), "stale_policy": ("refer", "clear-flag")}  # strict -> lax
NEUTRAL = frozenset({"clear_show_s", "buzzer_hz", "clear_event_detail"})


def _as_set(value: Any) -> set[str] | None:
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return {v.upper() for v in value}
    return None


def _weakens(name: str, old: Any, new: Any) -> bool:
    """True unless ``old`` -> ``new`` of rule ``name`` is neutral, equal or at least as strict."""
    if name in NEUTRAL or new == old:
        return False
    if name in _ORDER:
        order = _ORDER[name]
        return new not in order or order.index(new) > order.index(old)
    if name in ("expiry_grace_days", "duplicate_window_s", "relay_pulse_s"):  # more is laxer
        return not isinstance(new, int | float) or isinstance(new, bool) or new > old
    if name == "accepted_document_codes":
        new_set, old_set = _as_set(new), _as_set(old)
        return new_set is None or old_set is None or not new_set <= old_set
    if name == "refused_issuing_states":
        new_set, old_set = _as_set(new), _as_set(old)
        return new_set is None or old_set is None or not new_set >= old_set
    if name == "accepted_issuing_states":  # empty accepts every state
        new_set, old_set = _as_set(new), _as_set(old)
        if new_set is None or old_set is None:
            return True
        return bool(old_set) and (not new_set or not new_set <= old_set)
    return True  # lab_gate, and anything unknown


def weakened_rules(current: ScreeningConfig, changes: Mapping[str, Any]) -> list[str]:
    """The rules of ``changes`` that would make screening laxer than ``current``."""
    return sorted(name for name, new in changes.items() if _weakens(name, getattr(current, name, None), new))


def command_impact(rules: Callable[[], ScreeningConfig | None]) -> Callable[[str, Mapping[str, Any]], bool]:
    """The gate's ``is_high_impact`` for CommandGuard: set_policy is high impact only when it weakens the
    policy in force (``rules()``; None: unknown, so every set_policy is); other ops as ``HIGH_IMPACT``."""
    def high_impact(op: str, args: Mapping[str, Any]) -> bool:
        if op != "set_policy":
            return op in HIGH_IMPACT
        current = rules()
        return current is None or bool(weakened_rules(current, args))

    return high_impact
