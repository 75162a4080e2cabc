"""The name sets keep development and evaluation apart (tests/data/names/README.md)."""

from __future__ import annotations

import importlib
import itertools
import json
import random
import re
import subprocess
import sys
import types

import pytest

from agent.hitlist.names_data import DISTINCT_BY_VOWELS, NAME_DICTIONARY
from tests.support.paths import DATA, REPO

NAMES = DATA / "names"
DEVELOPMENT_FILES = ("variant_sets.json", "heldout_sets.json", "heldout2_sets.json", "development_people.json",
                     "evaluation_people.json",  # the first evaluation set: development since normaliser n3
                     "evaluation2_people.json",  # the second: development since normaliser n4
                     "evaluation3_people.json",  # the third: development since normaliser n5
                     "evaluation4_people.json", "evaluation5_people.json",  # development since normaliser n8
                     "evaluation6_people.json",  # development since normaliser n12
                     "evaluation7_people.json")  # development since normaliser n13
EVALUATIONS = ("evaluation8_people.json",)
GENERATED = ("evaluation2_people.json", "evaluation3_people.json", "evaluation4_people.json",
             "evaluation5_people.json", "evaluation6_people.json", "evaluation7_people.json", *EVALUATIONS)
# Articles and particles are rules, not names: they may appear on both sides.
GRAMMAR = {"ABDOUL", "EBU", "DIN", "EDDINE", "EDDIN", "ALLAH", "ULLAH", "AL", "EL", "AD", "AN", "AR", "AS", "ASH", "AT", "ECH", "ED", "EN", "ER", "ES", "ET", "EZ", "ABD", "ABDUL",
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


@pytest.mark.parametrize("evaluation", EVALUATIONS)
def test_evaluation_names_were_never_used_for_rules_or_dictionary(evaluation: str) -> None:
    development = set().union(*(words(json.loads((NAMES / f).read_text("utf-8"))) for f in DEVELOPMENT_FILES))
    development |= set(NAME_DICTIONARY) | set(NAME_DICTIONARY.values())
    development |= set(DISTINCT_BY_VOWELS) | {s for spellings in DISTINCT_BY_VOWELS.values() for s in spellings}
    data = json.loads((NAMES / evaluation).read_text("utf-8"))
    spellings = [[p["listed"]] + [t[:2] for t in p["travelling"]] for p in data["people"]]  # without the tags
    different = [[name[:2] for name in pair] for pair in data["different_people"]]  # without issuing states
    shared = words([spellings, different]) & development - GRAMMAR
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
            for surname, _given_names, tag, *state in person["travelling"]:  # edition 4 on: the issuing state
                assert tag in tags and surname, (file, person["listed"], tag)
                assert all(re.fullmatch(r"[A-Z]{3}", s) for s in state) and len(state) <= 1, (file, state)


@pytest.fixture
def bench(monkeypatch) -> types.SimpleNamespace:
    """The generator and the evaluator (bench/ scripts, which import each other by bare name)."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    return types.SimpleNamespace(evalset=importlib.import_module("names_evalset"),
                                 evaluate=importlib.import_module("names_eval"))


def test_generator_never_draws_two_identities_the_rules_take_for_one_person(bench) -> None:
    """Edition 3 drew pairs such as KHARRAT MANAF / KHARRAT MANAF ABDUL SABOOR, which the dropped-given-name rule
    makes one person: 26 of its 46 false hits on n4 were such pairs. From edition 4 on the generator draws none."""
    one_person = bench.evalset.one_person_by_the_rules
    frozen = [{"surname": p["sounds"][0], "given": p["sounds"][1].split()}
              for p in json.loads((NAMES / "evaluation3_people.json").read_text("utf-8"))["people"]]
    assert any(one_person(a, b) for a, b in itertools.combinations(frozen, 2))  # the fault, kept in the frozen set
    for seed in (1, 2, 3):
        drawn = bench.evalset.make_people(random.Random(seed), 150, bench.evalset.EDITIONS[4])
        assert not [(a, b) for a, b in itertools.combinations(drawn, 2) if one_person(a, b)], seed


def test_evaluator_counts_identities_the_rules_make_one_person_apart_from_false_hits(bench) -> None:
    people = [{"listed": ["KHARRAT", "MANAF"], "sounds": ["xarrAT", "manAf"], "travelling": []},
              {"listed": ["KHARRAT", "MANAF ABDUL SABOOR"], "sounds": ["xarrAT", "manAf Eabd-al-SabUr"],
               "travelling": [["KHARRAT", "MANAF", "particle"]]},
              {"listed": ["KHARRAT", "MUNIF"], "sounds": ["xarrAT", "munIf"], "travelling": []}]
    result = bench.evaluate.evaluate(people, [], bench.evaluate.matcher(bench.evaluate.names))
    assert result["false_hits"] == []
    assert (("KHARRAT", "MANAF"), ("KHARRAT", "MANAF ABDUL SABOOR")) in result["one_person"]
    for person in people:  # a hand-written set has no identities: every exact match between its people is false
        del person["sounds"]
    assert bench.evaluate.evaluate(people, [], bench.evaluate.matcher(bench.evaluate.names))["false_hits"]
