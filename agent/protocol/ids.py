"""Gate and list identifiers: one rule, used by the config, the topic builder, the message schema,
the broker set-up (enrolment, ACL, certificates) and the central node (docs/protocol.md "Identifiers").

    >>> check_gate_id("uto-north.07")
    'uto-north.07'
    >>> check_gate_id("gate/1")        # BadDataError: a '/' would open other gates' topics

An id is one MQTT topic level, the broker username and client id, and a certificate CN: 1-64
characters of ``A-Z a-z 0-9 . _ -``, starting with a letter or digit, so no ``/``, ``+``, ``#``,
space or control character can widen the ``%u`` patterns of the broker ACL. A gate id must not
start with ``central`` (any case): those names are the central node's users with access to every
gate's topics. List ids follow the same rule without the reserved prefix.
"""

from __future__ import annotations

import re

from agent.errors import BadDataError

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
ID_FORM = "1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit"
RESERVED_PREFIX = "central"
GATE_ID_PATTERN = f"(?!(?i:{RESERVED_PREFIX})){ID_PATTERN}"  # for schemas that take a pattern
_ID = re.compile(ID_PATTERN)


def is_id(value: object) -> bool:
    """True when ``value`` is a well-formed id (one topic level; see the module docstring)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: object, what: str = "list id") -> str:
    """Return ``value`` if it is a well-formed id; BadDataError naming ``what`` and the value otherwise."""
    if not is_id(value):
        raise BadDataError(f"{what} {value!r} is not valid: expected {ID_FORM}")
    return str(value)


def is_reserved(value: str) -> bool:
    """True for the central node's user names (``central``, ``central-…``): never a gate id."""
    return value.lower().startswith(RESERVED_PREFIX)


def check_gate_id(value: object) -> str:
    """Return ``value`` if it can be a gate's id, topic level, username, client id and CN; BadDataError
    otherwise (a malformed id, or one reserved for the central node's users)."""
    gate_id = check_id(value, "gate id")
    if is_reserved(gate_id):
        raise BadDataError(f"gate id {gate_id!r} is reserved: ids starting with {RESERVED_PREFIX!r} are the "
                           "central node's users")
    return gate_id
