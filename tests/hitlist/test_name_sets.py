"""The name sets keep development and evaluation apart (tests/data/names/README.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from agent.hitlist.names_data import DISTINCT_BY_VOWELS, NAME_DICTIONARY
from tests.support.paths import DATA, REPO

NAMES = DATA / "names"
DEVELOPMENT_FILES = ("variant_sets.json", "heldout_sets.json", "heldout2_sets.json", "development_people.json",
                     "evaluation_people.json",  # the first evaluation set: development since normaliser n3
                     "evaluation2_people.json")  # the second: development since normaliser n4
EVALUATION = "evaluation3_people.json"
GENERATED = ("evaluation2_people.json", EVALUATION)
# Articles and particles are rules, not names: they may appear on both sides.
GRAMMAR = {"ABDOUL", "EBU", "DIN", "EDDINE", "EDDIN", "ALLAH", "ULLAH", "AL", "EL", "AD", "AN", "AR", "AS", "ASH", "AT", "ECH", "ED", "EN", "ER", "ES", "ET", "ABD", "ABDUL",
           "ABDEL", "BEN", "BIN", "IBN", "BOU", "ABU", "ABOU", "OULD", "AIT"}


def words(value) -> set[str]:
    """Every upper-case word of a JSON value, without the keys that start with '_' (comments)."""
    if isinstance(value, str):
        return {w for w in re.split(r"[ \-<']+", value.upper()) if w}
    if isinstance(value, list):
        return set().union(*map(words, value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(words(v) for k, v in value.items() if not k.startswith("_")))
    return set()


def test_evaluation_names_were_never_used_for_rules_or_dictionary() -> None:
    development = set().union(*(words(json.loads((NAMES / f).read_text("utf-8"))) for f in DEVELOPMENT_FILES))
    development |= set(NAME_DICTIONARY) | set(NAME_DICTIONARY.values())
    development |= set(DISTINCT_BY_VOWELS) | {s for spellings in DISTINCT_BY_VOWELS.values() for s in spellings}
    data = json.loads((NAMES / EVALUATION).read_text("utf-8"))
    spellings = [[p["listed"]] + [t[:2] for t in p["travelling"]] for p in data["people"]]  # without the tags
    shared = words([spellings, data["different_people"]]) & development - GRAMMAR
    assert not shared, f"evaluation names also in development files or the dictionary: {sorted(shared)}"


@pytest.mark.parametrize("name", GENERATED)
def test_generated_evaluation_set_is_reproducible(tmp_path, name: str) -> None:
    """The evaluation set is exactly what its seeded generator writes (its provenance: bench/names_evalset.py)."""
    meta = json.loads((NAMES / name).read_text("utf-8"))["_comment"]
    edition = re.search(r"--edition (\d+)", meta)
    seed, people = re.search(r"--seed (\d+) --people (\d+)", meta).groups()  # type: ignore[union-attr]
    out = tmp_path / name
    subprocess.run([sys.executable, str(REPO / "bench" / "names_evalset.py"), "--edition", edition[1] if edition else "2",
                    "--seed", seed, "--people", people, "--out", str(out)], check=True, capture_output=True, cwd=REPO)
    assert out.read_bytes() == (NAMES / name).read_bytes()


def test_every_evaluation_spelling_has_a_known_variation_tag() -> None:
    tags = {"fr", "en", "tr", "de", "tr-de", "tr-fr", "tr-en", "particle", "double", "vowel", "order", "mixed"}
    for file in ("evaluation_people.json", "development_people.json", *GENERATED):
        for person in json.loads((NAMES / file).read_text("utf-8"))["people"]:
            assert len(person["listed"]) == 2
            for surname, _given_names, tag in person["travelling"]:
                assert tag in tags and surname, (file, person["listed"], tag)
