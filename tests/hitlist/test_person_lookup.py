"""Person screening through the names normaliser: transliteration variants hit, other people do not,
a list built with another normaliser version makes every person lookup REFER (weak), and so do a birth date
with day and month swapped and a listing that knows only the year (and month) of a date read in full (NAMES.md
rule 5)."""

from __future__ import annotations

import threading

import pytest

from agent.hitlist import keying, names
from agent.hitlist.api import Hit
from agent.hitlist.fingerprint import (
    FingerprintKeys,
    document_fingerprint,
    partial_birth_dates,
    person_fingerprint,
    transposed_birth_date,
)
from agent.hitlist.memory import MemoryHitList
from agent.hitlist.store import HitListStore
from agent.mrz import parse_mrz
from agent.mrz.render import render_mrz
from agent.screening.sources import Query
from tests.support.hitlist_central import T0, Central, doc, person, resign

LISTED = [
    person("MOHAMED", "AHMED", "750101", "P-MOH"),
    person("ABDERRAHMANE", "DJAMEL", "800202", "P-ABD"),
    person("ERIKSSON", "ANNA MARIA", "740812", "P-ERI"),
]


@pytest.fixture
def persons(tmp_path) -> HitListStore:
    central = Central()
    store = HitListStore(tmp_path / "g", central.root_pub)
    store.install(central.snapshot(LISTED, 1), now=T0)
    return store


@pytest.mark.parametrize(
    ("surname", "given", "birth", "ref"),
    [
        ("MUHAMMAD", "AHMED", "750101", "P-MOH"),
        ("MOHAMMED", "AHMAD", "750101", "P-MOH"),
        ("ABDELRAHMAN", "JAMAL", "800202", "P-ABD"),
        ("ABD AL RAHMAN", "DJAMEL", "800202", "P-ABD"),
    ],
    ids=["muhammad", "mohammed-ahmad", "abdelrahman-jamal", "abd-al-rahman"],
)
def test_transliteration_variant_hits(persons, surname, given, birth, ref):
    hit = persons.lookup_person(surname, given, birth)
    assert hit is not None and hit.ref == ref


@pytest.mark.parametrize(
    ("surname", "given", "birth"),
    [
        ("ERIKSSON", "ANNA MARIA", "740813"),
        ("LINDQVIST", "ANNA MARIA", "740812"),
        ("MOHAMED", "MAHMOUD", "750101"),
    ],
    ids=["other-birth-date", "other-surname", "other-given-name"],
)
def test_other_people_do_not_hit(persons, surname, given, birth):
    assert persons.lookup_person(surname, given, birth) is None


def test_exact_spelling_and_dropped_trailing_given_name_hit(persons):
    assert persons.lookup_person("ERIKSSON", "ANNA MARIA", "740812").ref == "P-ERI"
    assert persons.lookup_person("ERIKSSON", "ANNA", "740812").ref == "P-ERI"
    assert persons.lookup_person("ERIKSSON", "ANNA<MARIA", "740812").strength == "exact"


def test_turkish_passport_reads_the_name_in_turkish_orthography(tmp_path):
    """The issuing state travels from the MRZ to the name keys (sources.Query.from_mrz -> lookup_person): a TUR
    passport writes S for SH, so SAFIK is SHAFIK there and only there (docs/names.md, "Version 6")."""
    central = Central()
    store = HitListStore(tmp_path / "t", central.root_pub)
    store.install(central.snapshot([person("AL UTAYBI", "ZOHUR SHAFIK", "790303", "P-UTA")], 1), now=T0)
    lines = render_mrz(format="TD3", document_code="P", issuing_state="TUR", surname="UTAYBI",
                       given_names="ZUHUR SAFIK", document_number="U12345678", nationality="TUR",
                       birth_date="790303", sex="M", expiry_date="300101")
    query = Query.from_mrz(parse_mrz(lines))
    assert query.person is not None and query.person.issuing_state == "TUR"
    p = query.person
    hit = store.lookup_person(p.surname, p.given_names, p.birth_date, issuing_state=p.issuing_state)
    assert hit is not None and (hit.ref, hit.strength) == ("P-UTA", "exact")
    assert store.lookup_person(p.surname, p.given_names, p.birth_date, issuing_state="FRA") is None
    assert store.lookup_person(p.surname, p.given_names, p.birth_date) is None


@pytest.mark.parametrize(
    ("listed", "read"),
    [(("MUSHTAHA", "SERAJUDDIN WAHHAJ"), ("MUSTAHA", "VAHAC SIRACETTIN")),
     (("AL HASHIMI", "MOHAMMED SHAFIQ JAWDAT"), ("HASIMI", "CEVDET SAFIK MEHMET"))],
    ids=["set-4", "mehmet-last"],
)
def test_turkish_passport_with_the_given_names_in_another_order_hits(tmp_path, listed, read):
    """A Turkish passport's name read in Turkish orthography, its given names in another order than the list's: the
    order key of that reading is among the lookups the store makes (up to n18 it fell past MAX_QUERY_KEYS;
    docs/names.md "Version 19")."""
    central = Central()
    store = HitListStore(tmp_path / "t", central.root_pub)
    store.install(central.snapshot([person(*listed, "790303", "P-TUR")], 1), now=T0)
    lines = render_mrz(format="TD3", document_code="P", issuing_state="TUR", surname=read[0], given_names=read[1],
                       document_number="U12345678", nationality="TUR", birth_date="790303", sex="M",
                       expiry_date="300101")
    p = Query.from_mrz(parse_mrz(lines)).person
    assert p is not None and p.issuing_state == "TUR"
    hit = store.lookup_person(p.surname, p.given_names, p.birth_date, issuing_state=p.issuing_state)
    assert hit is not None and (hit.ref, hit.strength) == ("P-TUR", "exact")


@pytest.mark.parametrize("built_with", [names.NORMALISER_VERSION - 1, names.NORMALISER_VERSION + 1],
                         ids=["older-normaliser", "newer-normaliser"])
def test_other_normaliser_version_refers_on_persons_but_screens_documents(tmp_path, built_with):
    """A list built before a normaliser change (n5 lists after n6) or after it: persons REFER, documents screen."""
    central = Central()
    blob = resign(
        central.snapshot([*LISTED, doc(1)], 1),
        central.list_key,
        name_key_version=built_with,
    )
    store = HitListStore(tmp_path / "g", central.root_pub)
    store.install(blob, now=T0)
    hit = store.lookup_person("NOBODY", "AT ALL", "010101")
    assert hit is not None and hit.strength == "weak" and hit.reason == "normaliser_mismatch"
    assert store.lookup_document("UTO", "X00000001") is not None
    assert store.status(T0)["names_usable"] is False


def test_person_path_uses_its_own_slower_key():
    keys = FingerprintKeys(b"d" * 32, b"p" * 32, 5)
    other_person_key = FingerprintKeys(b"d" * 32, b"q" * 32, 5)
    other_cost = FingerprintKeys(b"d" * 32, b"p" * 32, 6)
    fp = person_fingerprint(keys, "ERIKSSON/ANNA", "740812")
    assert fp != person_fingerprint(other_person_key, "ERIKSSON/ANNA", "740812")
    assert fp != person_fingerprint(other_cost, "ERIKSSON/ANNA", "740812")
    assert document_fingerprint(keys, "UTO", "L898902C3") == document_fingerprint(
        other_person_key, "UTO", "L898902C3"
    )


def test_builder_default_person_cost_is_the_chosen_one(tmp_path):
    """docs/hitlist.md "Privacy" chose 150 PBKDF2 iterations for the gate's latency budget; a list built
    without --person-cost carries it, and the docs name it."""
    from tests.support.paths import REPO
    from tools.hitlist.build import DEFAULT_PERSON_COST, read_list
    from tools.hitlist_cli import main as hitlist_cli

    assert DEFAULT_PERSON_COST == 150
    records = tmp_path / "r.jsonl"
    records.write_text('{"kind": "person", "surname": "ERIKSSON", "given_names": "ANNA", "birth_date": "740812", '
                       '"reason": "wanted", "ref": "P-1"}\n')
    assert hitlist_cli(["keygen", "--out", str(tmp_path / "keys")]) == 0
    out = tmp_path / "v1.shl"
    assert hitlist_cli(["build", "--keys", str(tmp_path / "keys"), "--from", str(records), "--list-id", "nominal",
                        "--version", "1", "--out", str(out)]) == 0
    meta, _, _ = read_list(out.read_bytes())
    assert meta.fp_keys.person_cost == DEFAULT_PERSON_COST
    assert f"person_cost={DEFAULT_PERSON_COST}" in (REPO / "docs" / "hitlist.md").read_text()


def _keyed_on_threads(monkeypatch, on_helper) -> list[tuple[str, tuple[str, str]]]:
    """Record (thread name, (name key, birth date)) of every person key computed; ``on_helper()`` runs before a
    helper thread's key."""
    computed_on: list[tuple[str, tuple[str, str]]] = []
    real = keying.person_fingerprint

    def recorded(keys, name_key, birth_date):
        if threading.current_thread().name.startswith("hitlist-person"):
            on_helper()
        computed_on.append((threading.current_thread().name, (name_key, birth_date)))
        return real(keys, name_key, birth_date)

    monkeypatch.setattr(keying, "person_fingerprint", recorded)
    return computed_on


def test_a_travellers_person_keys_are_computed_on_several_threads(tmp_path, monkeypatch):
    """The caller and the helper threads share one traveller's keys out one at a time: each key is taken by
    one thread, some by a helper, and the answer is the same as one thread's (the caller computing every key alone:
    test_a_stalled_helper_thread_does_not_hold_up_the_traveller). A key is computed twice only when the caller
    took over a helper's key still in flight after about one key's wait (a helper that lost its core on a busy
    machine: in CI once, 14 computations of 13 keys)."""
    central = Central()
    store = HitListStore(tmp_path / "g", central.root_pub, hash_threads=3)
    store.install(central.snapshot(LISTED, 1), now=T0)
    helper_began = threading.Event()
    computed_on = _keyed_on_threads(monkeypatch, helper_began.set)
    work = keying._Traveller.work

    def caller_lets_a_helper_begin(job):  # so that a helper takes a key however busy the machine is
        if threading.current_thread() is threading.main_thread():
            helper_began.wait(timeout=30)
        return work(job)

    monkeypatch.setattr(keying._Traveller, "work", caller_lets_a_helper_begin)
    hit = store.lookup_person("MOHAMMED", "AHMAD", "750101")
    assert hit is not None and hit.ref == "P-MOH"
    keys = [(k.name_key, k.birth_date) for k in keying.person_lookup_keys("MOHAMMED", "AHMAD", "750101")]
    on_caller = [key for thread, key in computed_on if thread == "MainThread"]
    on_helpers = [key for thread, key in computed_on if thread.startswith("hitlist-person")]
    assert len(keys) >= 3 and len(on_caller) + len(on_helpers) == len(computed_on)  # on no other thread
    assert set(on_caller) | set(on_helpers) == set(keys)  # every key
    assert len(set(on_caller)) == len(on_caller) and len(set(on_helpers)) == len(on_helpers)  # taken once each way
    assert len(computed_on) - len(keys) == len(set(on_caller) & set(on_helpers))  # twice: only a key taken over
    assert on_helpers  # a helper took keys
    one_thread = HitListStore(tmp_path / "g", central.root_pub, hash_threads=1)
    assert one_thread.lookup_person("MOHAMMED", "AHMAD", "750101") == hit


def test_a_stalled_helper_thread_does_not_hold_up_the_traveller(tmp_path, monkeypatch):
    """A helper that lost its core mid-key (here: blocked until the lookup is over) costs the caller at most
    about one key's wait: it computes the stalled key itself, and the answer is the same. A fixed split,
    where the caller waits for each helper's whole run, would wait here until the helper resumed."""
    central = Central()
    store = HitListStore(tmp_path / "g", central.root_pub, hash_threads=2)
    store.install(central.snapshot(LISTED, 1), now=T0)
    resume = threading.Event()
    computed_on = _keyed_on_threads(monkeypatch, lambda: resume.wait(timeout=60))
    answers: list = []
    lookup = threading.Thread(target=lambda: answers.append(store.lookup_person("MOHAMMED", "AHMAD", "750101")),
                              name="reader")
    lookup.start()
    lookup.join(timeout=30)
    stalled, while_stalled = lookup.is_alive(), list(computed_on)
    resume.set()
    lookup.join()
    assert not stalled, "the lookup waited for the stalled helper"
    assert answers[0] is not None and answers[0].ref == "P-MOH"
    assert [thread for thread, _ in while_stalled] == ["reader"] * len(keying.person_lookup_keys("MOHAMMED", "AHMAD", "750101"))  # all on the caller


def test_a_list_without_persons_costs_no_person_key_until_a_delta_adds_one(tmp_path, monkeypatch):
    """The builder signs whether a list holds persons: a documents-only list answers a person lookup at once,
    without one slow key; the delta that adds a person turns the keys back on, and the person hits."""
    import json
    import time

    from agent.keys import read_public_key
    from tools.hitlist.build import read_list
    from tools.hitlist_cli import main as hitlist_cli

    keys, now = tmp_path / "keys", time.time()
    assert hitlist_cli(["keygen", "--out", str(keys)]) == 0

    def build(version: int, records: list[dict], *extra: str):
        source = tmp_path / f"r{version}.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in records))
        out = tmp_path / f"v{version}.shl"
        assert hitlist_cli(["build", "--keys", str(keys), "--from", str(source), "--list-id", "sltd", "--version",
                            str(version), "--out", str(out), "--person-cost", "1", *extra]) == 0
        return out

    document = {"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3", "reason": "stolen",
                "ref": "D-1"}
    wanted = {"kind": "person", "surname": "ERIKSSON", "given_names": "ANNA MARIA", "birth_date": "740812",
              "reason": "wanted", "ref": "P-1"}
    v1 = build(1, [document])
    v2 = build(2, [document, wanted], "--base", str(v1))
    delta = tmp_path / "d2.shl"
    assert hitlist_cli(["delta", "--keys", str(keys), "--from", str(v1), "--to", str(v2), "--out", str(delta)]) == 0
    assert (read_list(v1.read_bytes())[0].persons, read_list(delta.read_bytes())[0].persons) == (False, True)

    keyed: list[str] = []
    real = keying.person_fingerprint
    monkeypatch.setattr(keying, "person_fingerprint", lambda k, key, birth: keyed.append(key) or real(k, key, birth))
    store = HitListStore(tmp_path / "gate", read_public_key(keys / "root.pub"))
    store.install(v1.read_bytes(), now=now)
    assert store.lookup_person("ERIKSSON", "ANNA MARIA", "740812") is None and keyed == []
    assert store.lookup_document("UTO", "L898902C3").ref == "D-1"
    store.install(delta.read_bytes(), now=now)
    assert store.lookup_person("ERIKSSON", "ANNA MARIA", "740812").ref == "P-1" and keyed
    reopened = HitListStore(tmp_path / "gate", read_public_key(keys / "root.pub"))  # the flag survives a restart
    assert reopened.view().state.persons is True


# --- NAMES.md rule 5: a birth date with day and month swapped refers, never hits (docs/names.md "Transposed
# birth dates") ------------------------------------------------------------------------------------------------
SWAPPED = [person("MOHAMED", "AHMED", "850307", "P-MAR"), person("ERIKSSON", "ANNA MARIA", "741208", "P-DEC")]


@pytest.fixture(params=["signed-store", "memory"])
def person_list(request, tmp_path):
    """The same persons in the gate's signed store (real keys, real PBKDF2) and in the in-memory list (which the
    centre's online lists are made of): both must answer alike."""
    def make(records):
        if request.param == "memory":
            return MemoryHitList(records, version=1)
        central = Central()
        store = HitListStore(tmp_path / f"g{len(list(tmp_path.iterdir()))}", central.root_pub)
        store.install(central.snapshot(records, 1), now=T0)
        return store
    return make


@pytest.mark.parametrize(
    ("surname", "given", "birth", "ref"),
    [("MOHAMED", "AHMED", "850703", "P-MAR"), ("MUHAMMAD", "AHMAD", "850703", "P-MAR"),
     ("ERIKSSON", "ANNA MARIA", "741812", None), ("ERIKSSON", "ANNA MARIA", "740812", "P-DEC")],
    ids=["listed-march-read-july", "spelling-variant-and-swap", "swap-would-be-month-18", "listed-december-read-august"],
)
def test_birth_date_with_day_and_month_swapped_refers_never_hits(person_list, surname, given, birth, ref):
    hit = person_list(SWAPPED).lookup_person(surname, given, birth)
    if ref is None:
        assert hit is None
    else:
        assert hit == Hit("person", "wanted", ref, "weak", keying.TRANSPOSED)


def test_exact_birth_date_still_hits_exactly_beside_a_transposed_listing(person_list):
    """Two listed people alike but for day and month: each traveller hits their own record exactly."""
    hitlist = person_list([*SWAPPED, person("MOHAMED", "AHMED", "850703", "P-JUL")])
    assert hitlist.lookup_person("MOHAMED", "AHMED", "850703") == Hit("person", "wanted", "P-JUL")
    assert hitlist.lookup_person("MOHAMED", "AHMED", "850307") == Hit("person", "wanted", "P-MAR")


@pytest.mark.parametrize(
    ("birth", "swapped"),
    [("850307", "850703"), ("850703", "850307"), ("<<0307", "<<0703"), ("850313", None), ("851303", None),
     ("850303", None), ("85<<07", None), ("8503<<", None), ("85<<<<", None), ("850007", None), ("850300", None)],
    ids=["march-7", "july-3", "year-unknown", "day-above-12", "month-above-12", "same-day-and-month", "month-unknown",
         "day-unknown", "both-unknown", "month-00", "day-00"],
)
def test_only_a_valid_different_date_is_looked_up_transposed(birth, swapped):
    """fingerprint.transposed_birth_date keeps normalise_birth_date's rule (YYMMDD as printed, '<' for unknown)
    and swaps only when both parts are months 01..12 and differ; otherwise no key more is computed."""
    assert transposed_birth_date(birth) == swapped
    keys = keying.person_lookup_keys("MOHAMED", "AHMED", birth)
    queries = names.query_name_keys("MOHAMED", "AHMED")
    assert keys[:len(queries)] == [keying.PersonKey(k, birth, s) for k, s in queries]
    exact = [k for k, s in queries if s == names.EXACT][:keying.MAX_TRANSPOSED_KEYS]
    extra = [keying.PersonKey(k, swapped, names.WEAK, keying.TRANSPOSED) for k in exact] if swapped else []
    assert [k for k in keys[len(queries):] if k.basis == keying.TRANSPOSED] == extra


def test_a_day_above_12_or_the_same_day_and_month_costs_no_extra_key(tmp_path, monkeypatch):
    """The signed store computes a traveller's name keys once with the date read for 850313 and 850303 (no other
    date: only the 2 x MAX_PARTIAL_KEYS of a date read in full follow), and MAX_TRANSPOSED_KEYS more for 850307
    (docs/names.md: the keying budget)."""
    central = Central()
    store = HitListStore(tmp_path / "g", central.root_pub, hash_threads=1)
    store.install(central.snapshot(SWAPPED, 1), now=T0)
    keyed: list[tuple[str, str]] = []
    real = keying.person_fingerprint

    def recorded(keys: FingerprintKeys, key: str, birth: str) -> int:
        keyed.append((key, birth))
        return real(keys, key, birth)

    monkeypatch.setattr(keying, "person_fingerprint", recorded)
    queries = names.query_name_keys("MOHAMED", "AHMED")
    masked = 2 * keying.MAX_PARTIAL_KEYS
    for birth in ("850313", "850303"):
        keyed.clear()
        assert store.lookup_person("MOHAMED", "AHMED", birth) is None
        assert keyed[:-masked] == [(key, birth) for key, _ in queries]
        assert {birth for _, birth in keyed[-masked:]} == {"8503<<", "85<<<<"}
    keyed.clear()
    assert store.lookup_person("MOHAMED", "AHMED", "850307") == Hit("person", "wanted", "P-MAR")
    assert len(keyed) == len(queries) + keying.MAX_TRANSPOSED_KEYS + masked
    assert {birth for _, birth in keyed[len(queries):-masked]} == {"850703"}


# --- NAMES.md rule 5: a person listed with only the year (and month) of their birth refers a traveller whose
# document gives the full date, never hits (docs/names.md "Partly unknown birth dates") ------------------------
PARTIAL = [person("MOHAMED", "AHMED", "88<<<<", "P-YEAR"), person("ERIKSSON", "ANNA MARIA", "7408<<", "P-MONTH")]


@pytest.mark.parametrize(
    ("surname", "given", "birth", "ref"),
    [("MOHAMED", "AHMED", "880512", "P-YEAR"), ("MUHAMMAD", "AHMAD", "881231", "P-YEAR"),
     ("ERIKSSON", "ANNA MARIA", "740812", "P-MONTH"), ("ERIKSSON", "ANNA MARIA", "740831", "P-MONTH"),
     ("MOHAMED", "AHMED", "890512", None), ("ERIKSSON", "ANNA MARIA", "740912", None),
     ("LINDQVIST", "ANNA MARIA", "740812", None)],
    ids=["listed-year-read-full", "spelling-variant-listed-year", "listed-year-and-month-read-full",
         "listed-year-and-month-any-day", "another-year", "another-month", "another-surname"],
)
def test_person_listed_with_only_part_of_the_birth_date_refers_never_hits(person_list, surname, given, birth, ref):
    hit = person_list(PARTIAL).lookup_person(surname, given, birth)
    if ref is None:
        assert hit is None
    else:
        assert hit == Hit("person", "wanted", ref, "weak", keying.PARTIAL)


def test_a_date_printed_as_listed_still_hits_and_an_exact_date_wins(person_list):
    """A document that prints the date as partly unknown as the listing still HITs it (unchanged); a person listed
    with the full date HITs beside a namesake listed with the year only; the year and month rank above the year."""
    hitlist = person_list([*PARTIAL, person("MOHAMED", "AHMED", "880512", "P-FULL"),
                           person("MOHAMED", "AHMED", "8805<<", "P-Y-M")])
    assert hitlist.lookup_person("MOHAMED", "AHMED", "88<<<<") == Hit("person", "wanted", "P-YEAR")
    assert hitlist.lookup_person("ERIKSSON", "ANNA MARIA", "7408<<") == Hit("person", "wanted", "P-MONTH")
    assert hitlist.lookup_person("MOHAMED", "AHMED", "880512") == Hit("person", "wanted", "P-FULL")
    assert hitlist.lookup_person("MOHAMED", "AHMED", "880513") == Hit("person", "wanted", "P-Y-M", "weak",
                                                                      keying.PARTIAL)


def test_a_swapped_date_ranks_above_a_partial_one(person_list):
    """Both weak: the listed full date with day and month swapped says more than a listed year."""
    hitlist = person_list([person("MOHAMED", "AHMED", "850307", "P-MAR"), person("MOHAMED", "AHMED", "85<<<<", "P-85")])
    assert hitlist.lookup_person("MOHAMED", "AHMED", "850703") == Hit("person", "wanted", "P-MAR", "weak",
                                                                      keying.TRANSPOSED)


@pytest.mark.parametrize(
    ("birth", "partial"),
    [("880512", ("8805<<", "88<<<<")), ("001231", ("0012<<", "00<<<<")), ("88<<<<", ()), ("8805<<", ()),
     ("<<0512", ()), ("880500", ()), ("880012", ()), ("881312", ()), ("880532", ())],
    ids=["full", "year-00", "year-only", "year-and-month", "year-unknown", "day-00", "month-00", "month-13",
         "day-32"],
)
def test_only_a_date_read_in_full_is_looked_up_in_part(birth, partial):
    """fingerprint.partial_birth_dates: a traveller's own partly unknown date (<< or an issuer's 00) is looked
    up as printed only; a full one also as YYMM<< and YY<<<< with the first MAX_PARTIAL_KEYS exact name keys."""
    assert partial_birth_dates(birth) == partial
    keys = keying.person_lookup_keys("MOHAMED", "AHMED", birth)
    exact = [k for k, s in names.query_name_keys("MOHAMED", "AHMED") if s == names.EXACT][:keying.MAX_PARTIAL_KEYS]
    assert [k for k in keys if k.basis == keying.PARTIAL] == [
        keying.PersonKey(k, date, names.WEAK, keying.PARTIAL) for date in partial for k in exact]
