"""Text a gate sent, made safe for the operator's terminal (docs/protocol.md "Central node", issue 8.6).

A gate controls many strings the central tools print (status kind, command result reason and detail, event
kind, message ids). Printed raw, an escape sequence could clear the screen, move the cursor or recolour the
console, a newline or carriage return could forge a whole console line, and a bidi override could make
text read backwards. ``escape_controls`` is the one function every central tool's text output goes
through; JSON output needs none (``json.dumps`` escapes every control and non-ASCII character).

    escape_controls("ok\\x1b[2J\\nHIT gate-9")  ->  'ok\\\\x1b[2J\\\\nHIT gate-9'
"""

from __future__ import annotations

import unicodedata

# Unicode categories that are never shown as themselves: controls (C0, DEL, C1), format characters (bidi
# embeddings, overrides and isolates U+202A-202E / U+2066-2069, marks, zero-width), line and paragraph
# separators, surrogates, unassigned and private use.
_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn", "Co"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_controls(text: str) -> str:
    """``text`` with every control, format and separator character written as a visible escape
    (``\\n``, ``\\x1b``, ``\\u202e``), and backslashes doubled so an escape cannot be faked."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # the common case, fast
    out = []
    for ch in text:
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif unicodedata.category(ch) in _UNSAFE:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)
