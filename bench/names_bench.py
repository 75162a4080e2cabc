"""Person name keys: match rate on transliteration variants, false merges, and cost per traveller.

    python bench/names_bench.py [--identities 20000] [--pairs 200000] [--seed 1]

Prints, for the names normaliser (agent/hitlist/names.py) and for a peer measured in the same run
(American Soundex per name part, surname codes equal and one side's given-name codes a prefix of the
other's: the classic phonetic key with the same dropped-name tolerance):
  1. pairwise match rate inside named variant sets (tests/data/names/variant_sets.json, which the
     rules were developed on; heldout_sets.json and heldout2_sets.json, written down before the rules
     ran on them);
  2. match rate on a generated corpus of full names: each component spelled with a random variant,
     plus structural noise (dropped trailing name, glued surname, hyphens, swap, TD1 truncation);
  3. false merges: pairs of different people that share any key (different name sets, not merely
     one side listing fewer trailing given names, which is the same person by design);
  4. microseconds per traveller for query_name_keys (warm caches, and cold: every cache cleared)
     and per listed person for record_name_keys, and the number of keys.
Figures go into docs/names.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import time
from pathlib import Path

from agent.hitlist import names
from agent.hitlist.names import EXACT, WEAK, mrz_name_field, query_name_keys, record_name_keys

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "names"


def load_sets(file: str) -> dict[str, list[str]]:
    sets = json.loads((DATA / file).read_text("utf-8"))["must_match"]
    return {name: spellings for name, spellings in sets.items() if not name.startswith("_")}


# --- peer: American Soundex ---------------------------------------------------------------------------

_SOUNDEX = {
    ch: str(d)
    for d, letters in enumerate(["AEIOUYHW", "BFPV", "CGJKQSXZ", "DT", "L", "MN", "R"])
    for ch in letters
}


def soundex(word: str) -> str:
    word = "".join(ch for ch in word.upper() if "A" <= ch <= "Z")
    if not word:
        return ""
    out, last = word[0], _SOUNDEX[word[0]]
    for ch in word[1:]:
        code = _SOUNDEX[ch]
        if code != "0" and code != last:
            out += code
        if ch not in "HW":
            last = code
    return (out + "000")[:4]


def peer_match(record: tuple[str, str], query: tuple[str, str]) -> str | None:
    rs, rg = ([soundex(w) for w in _words(f)] for f in record)
    qs, qg = ([soundex(w) for w in _words(f)] for f in query)
    if rs != qs:
        return None
    n = min(len(rg), len(qg))
    return EXACT if rg[:n] == qg[:n] and (n or not rg and not qg) else None


def _words(field: str) -> list[str]:
    return field.replace("<", " ").replace("-", " ").split()


# --- ours ---------------------------------------------------------------------------------------------


def our_match(record: tuple[str, str], query: tuple[str, str], truncated: bool = False) -> str | None:
    stored = set(record_name_keys(*record))
    found = {s for k, s in query_name_keys(*query, truncated=truncated) if k in stored}
    return EXACT if EXACT in found else (WEAK if found else None)


def rate(outcomes: list[str | None], value: str | None) -> str:
    return f"{100 * sum(o == value for o in outcomes) / max(1, len(outcomes)):6.2f}%"


def count(outcomes: list[str | None], value: str | None) -> str:
    hits = sum(o == value for o in outcomes)
    return f"{hits:4d} ({100 * hits / max(1, len(outcomes)):.4f}%)"


def pairwise(sets: dict[str, list[str]], label: str) -> None:
    ours, peer = [], []
    for spellings in sets.values():
        for a, b in itertools.permutations(spellings, 2):
            ours.append(our_match(("ERIKSSON", a), ("ERIKSSON", b)))
            peer.append(peer_match(("ERIKSSON", a), ("ERIKSSON", b)))
    print(
        f"{label:34s} pairs {len(ours):6d}  ours exact {rate(ours, EXACT)} weak {rate(ours, WEAK)}"
        f"  | soundex {rate(peer, EXACT)}"
    )


# --- generated corpus ---------------------------------------------------------------------------------

NOISE = (
    "none",
    "drop-trailing-given",
    "list-drops-given",
    "glued-surname",
    "hyphenated-given",
    "swap",
    "td1-cut",
)


def identity(rng: random.Random, keys: list[str]) -> tuple[str, list[str]]:
    return rng.choice(keys), rng.sample(keys, rng.randint(1, 3))


def render(rng: random.Random, sets: dict[str, list[str]], ident: tuple[str, list[str]], canonical: bool):
    pick = (lambda s: sets[s][0]) if canonical else (lambda s: rng.choice(sets[s]))
    return pick(ident[0]), [pick(g) for g in ident[1]]


def corpus(sets: dict[str, list[str]], identities: int, seed: int) -> None:
    rng = random.Random(seed)
    keys = sorted(sets)
    by_noise: dict[str, tuple[list[str | None], list[str | None]]] = {n: ([], []) for n in NOISE}
    for _ in range(identities):
        ident = identity(rng, keys)
        rs, rg = render(rng, sets, ident, canonical=True)
        qs, qg = render(rng, sets, ident, canonical=False)
        noise = rng.choice(NOISE)
        truncated = False
        record, query = (rs, " ".join(rg)), (qs, " ".join(qg))
        if noise == "drop-trailing-given" and len(qg) > 1:
            query = (qs, " ".join(qg[:-1]))
        elif noise == "list-drops-given" and len(rg) > 1:
            record = (rs, " ".join(rg[:-1]))
        elif noise == "glued-surname":
            query = (qs.replace(" ", "").replace("-", ""), query[1])
        elif noise == "hyphenated-given" and len(rg) > 1:
            record = (rs, "-".join(rg))
        elif noise == "swap":
            query = (query[1], query[0]) if query[1] else query
        elif noise == "td1-cut":
            field = mrz_name_field(*query)
            if len(field) > 30:
                s, _, g = field[:30].rstrip("<").partition("<<")
                query, truncated = (s.replace("<", " "), g.replace("<", " ")), True
        ours, peer = by_noise[noise]
        ours.append(our_match(record, query, truncated))
        peer.append(peer_match(record, query))
    every_ours = [o for n in NOISE for o in by_noise[n][0]]
    every_peer = [o for n in NOISE for o in by_noise[n][1]]
    for noise in (*NOISE, "all"):
        ours, peer = by_noise[noise] if noise != "all" else (every_ours, every_peer)
        print(
            f"  {noise:22s} n={len(ours):6d}  ours exact {rate(ours, EXACT)} weak {rate(ours, WEAK)}"
            f" miss {rate(ours, None)}  | soundex {rate(peer, EXACT)}"
        )


def false_merges(sets: dict[str, list[str]], pairs: int, seed: int) -> None:
    rng = random.Random(seed)
    keys = sorted(sets)
    ours, peer, father_ours, father_peer = [], [], [], []
    for _ in range(pairs):
        a, b = identity(rng, keys), identity(rng, keys)
        n = min(len(a[1]), len(b[1]))
        if a[0] == b[0] and a[1][:n] == b[1][:n]:
            continue  # same person by design: one side dropped trailing given names
        ra, rb = render(rng, sets, a, canonical=False), render(rng, sets, b, canonical=False)
        record, query = (ra[0], " ".join(ra[1])), (rb[0], " ".join(rb[1]))
        ours.append(our_match(record, query))
        peer.append(peer_match(record, query))
    for _ in range(pairs // 20):  # same surname and first name, different second name (father)
        surname, first, f1, f2 = rng.sample(keys, 4)
        record = (rng.choice(sets[surname]), f"{rng.choice(sets[first])} {rng.choice(sets[f1])}")
        query = (rng.choice(sets[surname]), f"{rng.choice(sets[first])} {rng.choice(sets[f2])}")
        father_ours.append(our_match(record, query))
        father_peer.append(peer_match(record, query))
    print(
        f"  random different people  n={len(ours):6d}  ours exact {count(ours, EXACT)} weak {count(ours, WEAK)}"
        f"  | soundex {count(peer, EXACT)}"
    )
    print(
        f"  other father's name      n={len(father_ours):6d}  ours exact {count(father_ours, EXACT)}"
        f" weak {count(father_ours, WEAK)}  | soundex {count(father_peer, EXACT)}"
    )
    distinct = [spellings[0] for spellings in sets.values()]
    comp = [our_match(("ERIKSSON", a), ("ERIKSSON", b)) for a, b in itertools.permutations(distinct, 2)]
    comp_peer = [peer_match(("ERIKSSON", a), ("ERIKSSON", b)) for a, b in itertools.permutations(distinct, 2)]
    print(
        f"  distinct single names    n={len(comp):6d}  ours exact {count(comp, EXACT)} weak {count(comp, WEAK)}"
        f"  | soundex {count(comp_peer, EXACT)}"
    )


def near_distinct() -> None:
    pairs = json.loads((DATA / "variant_sets.json").read_text("utf-8"))["near_distinct"]["pairs"]
    both = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]
    ours = [our_match(("ERIKSSON", a), ("ERIKSSON", b)) for a, b in both]
    peer = [peer_match(("ERIKSSON", a), ("ERIKSSON", b)) for a, b in both]
    print(
        f"  names apart by vowels    n={len(ours):6d}  ours exact {count(ours, EXACT)} weak {count(ours, WEAK)}"
        f"  | soundex {count(peer, EXACT)}"
    )


def clear_caches() -> None:
    for cached in (names._field_codes, names._split_words, names._ambiguous_words, names._alternatives,
                   names._word_codes, names._skeleton_codes):
        cached.cache_clear()


def speed(sets: dict[str, list[str]], seed: int) -> None:
    rng = random.Random(seed)
    keys = sorted(sets)
    people = [render(rng, sets, identity(rng, keys), canonical=False) for _ in range(2000)]
    fields = [(s, " ".join(g)) for s, g in people]
    warm, cold, rec, peer, counts, rcounts, usual = [], [], [], [], [], [], []
    for surname, given_names in fields:
        query_name_keys(surname, given_names)  # every word of the corpus seen once
    for surname, given_names in fields:  # a new traveller made of known words: the usual case at a gate
        names._field_codes.cache_clear()
        names._split_words.cache_clear()
        names._ambiguous_words.cache_clear()  # n12: the field's ambiguous final vowels, once per name
        t0 = time.perf_counter()
        query_name_keys(surname, given_names)
        usual.append(time.perf_counter() - t0)
    for surname, given_names in fields:
        clear_caches()
        t0 = time.perf_counter()
        query_name_keys(surname, given_names)
        t1 = time.perf_counter()
        counts.append(len(query_name_keys(surname, given_names)))
        t2 = time.perf_counter()
        query_name_keys(surname, given_names)
        t3 = time.perf_counter()
        rcounts.append(len(record_name_keys(surname, given_names)))
        t4 = time.perf_counter()
        record_name_keys(surname, given_names)
        t5 = time.perf_counter()
        [soundex(w) for w in _words(surname) + _words(given_names)]
        t6 = time.perf_counter()
        cold.append(t1 - t0)
        warm.append(t3 - t2)
        rec.append(t5 - t4)
        peer.append(t6 - t5)

    def us(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"p50 {1e6 * statistics.median(xs):6.1f} us  p99 {1e6 * xs[int(0.99 * len(xs))]:6.1f} us"

    print(f"  query_name_keys, cold caches  {us(cold)}")
    print(f"  query_name_keys, warm caches  {us(warm)}")
    print(f"  query_name_keys, new field    {us(usual)}  (field cache cleared, word caches warm)")
    print(f"  record_name_keys, warm        {us(rec)}")
    print(
        f"  peer soundex of every part    {us(peer)}  (ours warm / peer: {statistics.median(warm) / statistics.median(peer):.1f}x)"
    )
    print(f"  keys per traveller  mean {statistics.mean(counts):.1f}  max {max(counts)}")
    print(f"  keys per listed person  mean {statistics.mean(rcounts):.1f}  max {max(rcounts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=200000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    dev, held, held2 = (
        load_sets("variant_sets.json"),
        load_sets("heldout_sets.json"),
        load_sets("heldout2_sets.json"),
    )
    dev = {k: v for k, v in dev.items() if not k.startswith("appendix_b")}  # components, not X forms
    print(f"names normaliser {names.NAME_KEY_VERSION}; peer: American Soundex per part")
    print("1. pairwise match inside variant sets (given-name field, same surname)")
    pairwise(load_sets("variant_sets.json"), "development sets (variant_sets)")
    pairwise(held, "held-out sets (heldout_sets)")
    pairwise(held2, "second held-out sets (heldout2)")
    for label, sets in (("development", dev), ("held-out", held), ("second held-out", held2)):
        print(f"2. generated corpus from {label} sets, {args.identities} people, by noise")
        corpus(sets, args.identities, args.seed)
    for label, sets in (("development", dev), ("held-out", held), ("second held-out", held2)):
        print(f"3. false merges between different people ({label} sets)")
        false_merges(sets, args.pairs, args.seed)
    print("3. false merges between different names told apart only by vowels (variant_sets near_distinct)")
    near_distinct()
    print("4. cost")
    speed({**dev, **held, **held2}, args.seed)


if __name__ == "__main__":
    main()
