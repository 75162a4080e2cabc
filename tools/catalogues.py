"""Compile the web pages' gettext catalogues (``.po`` -> ``.mo``) and list the strings the pages use.

    python -m tools.catalogues            # compile every catalogue's LANG/LC_MESSAGES/*.po next to itself
    python -m tools.catalogues --check    # exit 1 when a .mo is out of date or a used string is untranslated

Two catalogues (``CATALOGUES``): the gate's (agent/web/locale: the web foundation and the officer's screen) and
the operators' console's (tools/central/console/locale), which the console reads first and the gate's fills in
(``agent.web.i18n.Catalogues``): a string the console uses is translated in the console's catalogue or the gate's.

The ``.po`` files are the sources (committed, edited by translators); the ``.mo`` files are what
``gettext`` reads at run time (committed too, so that ``pip install .`` needs no build step). The compiler
writes the GNU .mo format in a few lines (without the optional hash table, which Python's ``gettext``
does not use), so no gettext tools are needed on the build machine. tests/web/test_i18n.py runs the check.
"""

from __future__ import annotations

import argparse
import ast
import re
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIRS = [ROOT / "agent" / "web" / "locale", ROOT / "tools" / "central" / "console" / "locale"]
GATE, CONSOLE = LOCALE_DIRS
SOURCES = {GATE: [ROOT / "agent" / "web", ROOT / "agent" / "screen"], CONSOLE: [ROOT / "tools" / "central" / "console"]}
FALLBACK = {CONSOLE: GATE}  # the console's pages also use the foundation's strings, translated in the gate's
# msgids in templates: _("…") or _('…'); in Python: gettext or _ calls, FormError / Refusal / done messages, N_("…")
TEMPLATE_CALL = re.compile(r"""_\(\s*(?:"([^"]*)"|'([^']*)')\s*\)""")
PY_CALLS = {"_", "gettext", "N_", "FormError", "_done", "done", "translate", "Refusal", "Refused"}


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a .po file (no plural forms or contexts: these catalogues use neither)."""
    entries: dict[str, str] = {}
    key: str | None = None
    current: list[str] = []
    msgid = ""

    def flush() -> None:
        nonlocal key
        if key == "msgstr":
            entries[msgid] = "".join(current)
        key = None

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            flush()
            key, current = "msgid", [ast.literal_eval(line[6:])]
        elif line.startswith("msgstr "):
            msgid = "".join(current)
            key, current = "msgstr", [ast.literal_eval(line[7:])]
        elif line.startswith('"'):
            current.append(ast.literal_eval(line))
        else:
            raise ValueError(f"unexpected .po line {raw!r}")
    flush()
    return entries


def compile_mo(entries: dict[str, str]) -> bytes:
    """The GNU .mo bytes of ``entries`` (untranslated entries left out; the header entry "" kept)."""
    items = sorted((k.encode(), v.encode()) for k, v in entries.items() if v)
    ids = b"".join(k + b"\0" for k, _ in items)
    strs = b"".join(v + b"\0" for _, v in items)
    n = len(items)
    start = 7 * 4 + 16 * n
    offsets_ids, offsets_strs, pos = [], [], 0
    for k, _ in items:
        offsets_ids += [len(k), start + pos]
        pos += len(k) + 1
    pos = 0
    for _, v in items:
        offsets_strs += [len(v), start + len(ids) + pos]
        pos += len(v) + 1
    header = struct.pack("<7I", 0x950412DE, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, 0)
    return header + struct.pack(f"<{4 * n}I", *offsets_ids, *offsets_strs) + ids + strs


def po_files(locale_dir: Path | None = None) -> list[Path]:
    """Every catalogue source (of ``locale_dir`` only, when given)."""
    return sorted(p for d in ([locale_dir] if locale_dir else LOCALE_DIRS) for p in d.glob("*/LC_MESSAGES/*.po"))


def used_msgids(locale_dir: Path = GATE) -> set[str]:
    """Every string the pages of the catalogue at ``locale_dir`` translate: template ``_("…")`` calls, the Python
    calls in ``PY_CALLS``, and the text tables their views pass to the templates."""
    found = _called(SOURCES[locale_dir])
    if locale_dir == CONSOLE:
        from tools.central.console import TITLE, federation
        from tools.central.console import views as console_views

        found.update(console_views.PAGES.values())
        found.update(console_views.AUDIT_ACTIONS.values())
        found.update(federation.REFUSALS.values())
        found.update(console_views.LISTING_REFUSALS.values())
        found.update(console_views.SEVERITIES)
        found.update(("all", "site", "gates", "alert", "clear", "hit"))  # alert targets, federation item kinds
        found.update(federation.VERIFICATION.values())
        found.update(federation.STATES.values())
        found.add(TITLE)
        return found
    from agent.screen import model, views
    from agent.web import codes

    for table in (*codes.TABLES, views.VERDICTS, views.OVERRIDE_TEXT):
        found.update(table.values())
    found.update(label for label, _attr in model.MRZ_FIELDS)
    found.add("Officer's screen")
    return found


def _called(sources: list[Path]) -> set[str]:
    """The msgids of the ``_("…")`` calls in the templates and the ``PY_CALLS`` in the Python under ``sources``."""
    found: set[str] = set()
    for src in sources:
        for path in src.rglob("*.html"):
            for m in TEMPLATE_CALL.finditer(path.read_text()):
                found.add(m.group(1) if m.group(1) is not None else m.group(2))
        for path in src.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and node.args:
                    name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                    texts = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                    if name in PY_CALLS and texts and not str(texts[0].value).startswith("/"):  # _done(request, "…")
                        found.add(str(texts[0].value))
                    if name == "FormError":
                        found.update(str(k.value.value) for k in node.keywords  # field labels are translated too
                                     if k.arg == "field" and isinstance(k.value, ast.Constant))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.catalogues", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="check only; exit 1 on a stale .mo or a missing string")
    args = parser.parse_args(argv)
    problems: list[str] = []
    for po in po_files():
        locale_dir = po.parent.parent.parent
        entries = parse_po(po.read_text(encoding="utf-8"))
        mo = compile_mo(entries)
        target = po.with_suffix(".mo")
        lang = po.parent.parent.name
        known = dict(entries)
        if locale_dir in FALLBACK:
            fallback = FALLBACK[locale_dir] / lang / "LC_MESSAGES" / po.name
            shared = parse_po(fallback.read_text(encoding="utf-8"))
            known = {**shared, **{k: v for k, v in entries.items() if v or k not in shared}}
        missing = sorted(m for m in used_msgids(locale_dir) if m not in known or (lang != "en" and not known[m]))
        problems += [f"{po.relative_to(ROOT)}: no translation of {m!r}" for m in missing]
        if args.check:
            if not target.exists() or target.read_bytes() != mo:
                problems.append(f"{target.relative_to(ROOT)}: out of date; run python -m tools.catalogues")
        else:
            target.write_bytes(mo)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
