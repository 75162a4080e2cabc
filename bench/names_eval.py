"""Person-name matching on the EVALUATION set: hit rate and false hits, ours against the previous matcher.

    python bench/names_eval.py [--peer-rev REV] [--set tests/data/names/evaluation3_people.json] [--near]

The evaluation set (tests/data/names/README.md) holds listed people and the same people as other issuers
write them; it was written before the rules it measures and never used to build them. For every listed
person and every other spelling of them: a *hit* is a match through an exact key (the gate decides HIT), a
*refer* a match through a weak key only. A *false hit* is an exact match between two different people
(every listed person against every other person's spellings, and the named `different_people` pairs, both
ways), all taken with the same birth date, which is the worst case. The peer is the matcher of an earlier
commit (default: the last n1 normaliser), loaded from git into this same process and run on the same
pairs, so the two columns are comparable.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import types
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import names_evalset  # type: ignore[import-not-found]  # bench/ is on sys.path when run as a script

from agent.hitlist import names

ROOT = Path(__file__).resolve().parent.parent
EVALUATION = ROOT / "tests" / "data" / "names" / "evaluation3_people.json"  # generated, bench/names_evalset.py
PEER_REV = "4ecbcb0017949e1c33767e0c2111ab468c30f97b"  # the last commit of normaliser n1

# Listed people of the evaluation set whose names the first development set of n2 also held by mistake
# (JAWAD/CEVAT, KADHIM/KAZIM) while the Turkish C and DH readings were written: reported apart.
SEEN_WHILE_DEVELOPING = {("BELHADJ", "JAWAD"), ("AL MUSAWI", "KADHIM"), ("ABDELJAOUAD", "FAYCAL")}

Name = tuple[str, str]
Matcher = Callable[[Name, Name], "str | None"]


def matcher(module: types.ModuleType) -> Matcher:
    """Strongest strength ('exact', 'weak' or None) with which a traveller finds a listed person."""

    def match(record: Name, query: Name) -> str | None:
        stored = set(module.record_name_keys(*record))
        found = {s for k, s in module.query_name_keys(*query) if k in stored}
        return "exact" if "exact" in found else ("weak" if found else None)

    return match


def load_peer(rev: str) -> types.ModuleType:
    """The names module of commit `rev` (with its own dictionary), imported under private names."""

    def source(path: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True,
                              capture_output=True, text=True).stdout

    def module(name: str, text: str) -> types.ModuleType:
        spec = importlib.util.spec_from_loader(name, loader=None)
        assert spec is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        exec(compile(text, f"{rev[:8]}:{name}", "exec"), mod.__dict__)
        return mod

    module("peer_names_data", source("agent/hitlist/names_data.py"))
    text = source("agent/hitlist/names.py").replace("agent.hitlist.names_data", "peer_names_data")
    return module("peer_names", text)


def evaluate(people: list[dict], different: list, match: Matcher) -> dict:
    """Outcome counts: per variation tag, hits/refers/misses; and the false hits found."""
    by_tag: dict[str, Counter] = {}
    misses: list[tuple[Name, Name]] = []
    for person in people:
        listed = tuple(person["listed"])
        for surname, given, tag in person["travelling"]:
            outcome = match(listed, (surname, given)) or "miss"
            by_tag.setdefault(tag, Counter())[outcome] += 1
            if outcome != "exact":
                misses.append((listed, (surname, given)))
    false_hits: list[tuple[Name, Name]] = []
    pairs = 0
    for i, a in enumerate(people):
        for j, b in enumerate(people):
            if i == j:
                continue
            for query in [b["listed"]] + [t[:2] for t in b["travelling"]]:
                pairs += 1
                if match(tuple(a["listed"]), tuple(query)) == "exact":
                    false_hits.append((tuple(a["listed"]), tuple(query)))
    for a, b in different:
        for x, y in ((a, b), (b, a)):
            pairs += 1
            if match(tuple(x), tuple(y)) == "exact":
                false_hits.append((tuple(x), tuple(y)))
    return {"by_tag": by_tag, "misses": misses, "false_hits": false_hits, "pairs": pairs}


def report(label: str, result: dict, verbose: bool) -> None:
    total = sum((c for c in result["by_tag"].values()), Counter())
    n = sum(total.values())
    print(f"{label:34s} hit {100 * total['exact'] / n:6.2f}% ({total['exact']}/{n})  refer {total['weak']:3d}"
          f"  miss {total['miss']:3d}  false hits {len(result['false_hits'])} in {result['pairs']} pairs")
    for tag, c in sorted(result["by_tag"].items()):
        m = sum(c.values())
        print(f"    {tag:10s} hit {100 * c['exact'] / m:6.2f}% ({c['exact']}/{m})")
    if verbose:
        for listed, query in result["misses"]:
            print(f"    not hit: {listed} <- {query}")
        for listed, query in result["false_hits"]:
            print(f"    FALSE HIT: {listed} <- {query}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=EVALUATION, help="a file in the evaluation_people.json format")
    parser.add_argument("--peer-rev", default=PEER_REV, help="git commit whose matcher is the peer")
    parser.add_argument("--near", action="store_true",
                        help="also pair each listed person of a generated edition-2 set with a near impostor "
                             "(bench/names_evalset.py near_impostors; development sets only)")
    parser.add_argument("--verbose", action="store_true", help="list every pair not hit and every false hit")
    args = parser.parse_args()
    data = json.loads(args.set.read_text("utf-8"))
    people, different = data["people"], data.get("different_people", [])
    if args.near:
        different = different + names_evalset.near_impostors(data)
    peer = load_peer(args.peer_rev)
    clean = [p for p in people if tuple(p["listed"]) not in SEEN_WHILE_DEVELOPING]
    print(f"{args.set.name}: {len(people)} listed people, "
          f"{sum(len(p['travelling']) for p in people)} other spellings of them")
    report(f"ours ({names.NAME_KEY_VERSION})", evaluate(people, different, matcher(names)), args.verbose)
    report(f"peer ({peer.NAME_KEY_VERSION} @ {args.peer_rev[:8]})", evaluate(people, different, matcher(peer)),
           args.verbose)
    if len(clean) < len(people):
        print(f"without the {len(people) - len(clean)} people seen while developing n2:")
        report(f"ours ({names.NAME_KEY_VERSION})", evaluate(clean, different, matcher(names)), False)
        report("peer", evaluate(clean, different, matcher(peer)), False)


if __name__ == "__main__":
    main()
