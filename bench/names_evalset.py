"""Generate a person-name EVALUATION set from Arabic names written as sounds, by rules of romanisation.

    python bench/names_evalset.py [--seed 2026] [--people 120] [--out tests/data/names/evaluation2_people.json]

Why generated: the hand-written evaluation sets were used to tune the matcher (tests/data/names/README.md), and
a person writing spellings by hand after reading the matcher writes what it already handles. Here each
listed identity is a sequence of Arabic sounds (consonants, short and long vowels, doubled consonants, the
article, ABD AL, IBN/BIN, ABU/BOU), and each document spelling is produced by the romanisation habits of
one tradition (French/Maghreb, English/Mashriq, Turkish, German), written down from how those documents
spell names, not from `agent/hitlist/names.py` (this module imports nothing from it). On top of a
tradition, one disturbance: the particle dropped, joined or changed (EL/AL/ABD/BEN/BOU), a doubled letter
written single or a single one doubled, a short vowel shifted, or the given names in another order.

Negatives (`different_people`): people who share the surname but not a given name, or the given names
but not the surname, written in the same tradition; bench/names_eval.py also pairs every listed person
with every other person's spellings. The identities use no name of the development files, the first
evaluation set or the dictionary (`tests/hitlist/test_name_sets.py` checks the output); a seeded
`random.Random` makes the file reproducible (`test_generated_evaluation_set_is_reproducible`).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "names" / "evaluation2_people.json"

# --- identities as sounds -----------------------------------------------------------------------------
# One character per sound: b t c(th) j H(h of Hasan) x(kh) d v(dh) r z s C(sh) S(emphatic s) D T Z
# '(hamza) E(ain) g(gh) f q k l m n h w y; short vowels a i u, long A I U; a doubled consonant is written
# twice. Prefixes: "al-" (the article), "Eabd-al-", "ibn-", "abU-" (father of).
def _words(text: str) -> list[str]:
    return text.split()


MALE = _words("""
bAsil bahA' DiyA' gayc hilAl jawhar jihAd kAmil labIb luqmAn mAhir mAzin muHsin muhannad murtaDA muEtaSim
najm nAjI rAgib raCAd riyAD SAbir sahl CihAb Suhayb tamIm cAbit wajdI waSfI yaHyA yazan Zafir zuhdI fawwAz
HAzim iHsAn EimrAn iyAs jAbir xalaf xaTTAb kinAn mamdUH midHat miSbAH mufId muxliS munIf muSEab muwaffaq
nasIm nawwAf nazIh nuEmAn qutayba rAmiz ruCdI samIH Saqr CafIq CAkir taHsIn TAlib wadIE wahbI wajIh wisAm
zakI adham Eafif EAkif EAtif Eawad Eazzam badIE fahd fahIm fA'iq gAnim Haydar Hakam hAnI hArUn Hilmi
Eikrima Eismat Eizzat karam maHfUZ maZhar nAyif rabAH rafEat Eabd-al-SamAd Eabd-al-xAliq Eabd-al-wahhAb
Eabd-al-bArI Eabd-al-jabbAr Eabd-al-gafUr Eabd-al-muHsin Eabd-al-Hayy Eabd-al-mAlik Eabd-al-nUr
""")
FEMALE = _words("""
EabIr EafAf asmahAn bahIja basma dalAl DuHA fadwA fA'iza gufrAn hadIl hAla HalIma hanAdI inAs intiSAr
ibtisAm jIhAn kawcar xawla lubnA mahA mAjida manAl marwa nabIha najlA' najwA nisrIn rabAb ragda raHma
randa raCA ruwayda SabAH saHar sanA' sihAm suhA curayyA warda wijdAn yamIna ZAhira zuhUr zulayxa rAbiEa
gAniya
""")
SURNAMES = _words("""
al-makkI zarwAl farHAt naHHAs Sabbag EaTTAr najjAr xayyAT Hallaq dabbAg qaSSAb jazzAr TaHHAn Sarraf
qabbAnI bargUcI HalabI HimSI dimaCqI mawSilI baSrI kUfI tUnisI jazA'irI magribI tilimsAnI EannAbI
qusanTInI janUbI CamAlI yamanI HijAzI najdI HaDramI azharI dajAnI naCACIbI xAlidI kattAnI bUrqIba
gannUCI mistIrI CAbbI al-jundI zayyAt xaddAm ramlAwI bannA' TabbAx kurdI al-karbalA'I al-najafI al-xazrajI
al-muTayrI al-EutaybI al-dawsarI al-CahrAnI al-gAmidI al-HarbI al-EanazI al-balUCI al-kaEbI al-mazrUEI
al-falAsI al-kuwArI al-sulayTI bU-rAs bU-xubza bU-jadra bin-xalfAn ibn-ruCd bin-jAsim al-biqAEI al-Sayrafi
al-tilmIvI al-bayTAr al-jarrAH al-Eassal al-nabulsI al-Hakawati al-zarqAwI al-maydAnI
""")

SUN = set("tcdvrzsCSDTZln")
VOWELS = set("aiuAIU")
TRADITIONS = ("fr", "en", "tr", "de")

# --- romanisation habits, per tradition: each sound's spellings, the first the most common ---------------
# (French: Maghreb civil registers and passports; English: Mashriq and Gulf passports; Turkish: Turkish
# orthography as written in an MRZ, without diacritics; German: German transcription habits.)
CONSONANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "fr": {"b": ("B",), "t": ("T",), "c": ("T", "TH"), "j": ("DJ", "J"), "H": ("H",), "x": ("KH",), "d": ("D",),
           "v": ("D", "DH"), "r": ("R",), "z": ("Z",), "s": ("S",), "C": ("CH",), "S": ("S",), "D": ("D", "DH"),
           "T": ("T",), "Z": ("Z", "DH"), "'": ("",), "E": ("",), "g": ("GH",), "f": ("F",), "q": ("K", "Q"),
           "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "h": ("H",), "w": ("OU", "W"), "y": ("Y", "I")},
    "en": {"b": ("B",), "t": ("T",), "c": ("TH",), "j": ("J",), "H": ("H",), "x": ("KH",), "d": ("D",),
           "v": ("DH", "Z"), "r": ("R",), "z": ("Z",), "s": ("S",), "C": ("SH",), "S": ("S",), "D": ("D", "DH"),
           "T": ("T",), "Z": ("Z", "DH"), "'": ("", "", "A"), "E": ("", "", "A"), "g": ("GH",), "f": ("F",), "q": ("Q", "K"),
           "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "h": ("H",), "w": ("W",), "y": ("Y",)},
    "tr": {"b": ("B",), "t": ("T",), "c": ("S",), "j": ("C",), "H": ("H",), "x": ("H",), "d": ("D",),
           "v": ("Z",), "r": ("R",), "z": ("Z",), "s": ("S",), "C": ("S",), "S": ("S",), "D": ("Z", "D"),
           "T": ("T",), "Z": ("Z",), "'": ("",), "E": ("",), "g": ("G",), "f": ("F",), "q": ("K",),
           "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "h": ("H",), "w": ("V",), "y": ("Y",)},
    "de": {"b": ("B",), "t": ("T",), "c": ("T", "S"), "j": ("DSCH", "DJ"), "H": ("H",), "x": ("CH", "KH"),
           "d": ("D",), "v": ("D", "S"), "r": ("R",), "z": ("Z", "S"), "s": ("S", "SS"), "C": ("SCH",), "S": ("S",),
           "D": ("D",), "T": ("T",), "Z": ("S", "Z"), "'": ("",), "E": ("",), "g": ("GH", "G"), "f": ("F",),
           "q": ("K",), "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "h": ("H",), "w": ("W",), "y": ("J", "Y")},
}
SHORT = {  # short vowels: French and Turkish often write a as E, u as O; Turkish i stays I, u may be Ü -> U
    "fr": {"a": ("A", "E"), "i": ("I", "E"), "u": ("OU", "O")},
    "en": {"a": ("A",), "i": ("I", "E"), "u": ("U", "O")},
    "tr": {"a": ("A", "E"), "i": ("I",), "u": ("U", "Ü")},
    "de": {"a": ("A",), "i": ("I",), "u": ("U",)},
}
LONG = {
    "fr": {"A": ("A",), "I": ("I",), "U": ("OU",)},
    "en": {"A": ("A", "A", "AA"), "I": ("I", "EE"), "U": ("U", "U", "OO")},
    "tr": {"A": ("A",), "I": ("I",), "U": ("U",)},
    "de": {"A": ("A",), "I": ("I", "IE"), "U": ("U",)},
}
DIPHTHONG = {  # a + y, a + w before a consonant or at the end
    "fr": {"ay": ("AI", "EI"), "aw": ("AOU", "AW")},
    "en": {"ay": ("AY", "AI", "EI"), "aw": ("AW",)},
    "tr": {"ay": ("AY", "EY"), "aw": ("EV", "AV")},
    "de": {"ay": ("AI", "EI"), "aw": ("AU",)},
}
FINAL_DEVOICE = {"tr": {"B": "P", "D": "T"}}  # Turkish writes final b, d as p, t (REFIK, RECEP)
ARTICLE = {"fr": ("EL",), "en": ("AL", "AL-"), "tr": ("",), "de": ("AL",)}
OTHER_ARTICLE = {"fr": "AL", "en": "EL", "tr": "EL", "de": "EL"}
ASSIMILATED = {"fr": 0.3, "en": 0.15, "tr": 0.0, "de": 0.0}
ABD = {"fr": ("ABDEL", "ABD EL", "ABDE+"), "en": ("ABDUL", "ABD AL", "ABDU+"), "tr": ("ABDUL+", "ABDÜL+"),
       "de": ("ABD AL", "ABDUL", "ABDEL")}
SON = {"fr": ("BEN", "BEN+"), "en": ("BIN", "IBN"), "tr": ("BIN",), "de": ("BIN", "BEN")}
FATHER = {"fr": ("BOU+", "BOU", "ABOU"), "en": ("ABU", "ABU+"), "tr": ("EBU",), "de": ("ABU", "ABOU")}
# ICAO transliteration of the Turkish letters that have none in the MRZ (Doc 9303 Part 3: Ç -> C, Ü -> UE or U)
MRZ_LETTERS = {"Ç": ("C",), "Ü": ("U", "UE")}


def tokens(sounds: str) -> list[str]:
    """The sounds of one word, a doubled consonant as one token ``cc``."""
    out: list[str] = []
    for ch in sounds:
        if out and ch == out[-1] and ch not in VOWELS:
            out[-1] = ch * 2
        else:
            out.append(ch)
    return out


def pick(rng: random.Random, options: tuple[str, ...]) -> str:
    """The most common spelling (first) seven times in ten, else one of the others."""
    return options[0] if rng.random() < 0.7 or len(options) == 1 else rng.choice(options[1:])


def spell_word(sounds: str, tradition: str, rng: random.Random, *, double: str = "as-said",
               shift_vowel: bool = False) -> str:
    """One word written in ``tradition``: each sound by a spelling of that tradition (the most common one
    more often); ``double``: 'as-said' (doubled consonants doubled, mostly), 'single' (written single),
    'extra' (one single consonant between vowels doubled); ``shift_vowel``: one short vowel written as
    another (A/E, I/E, U/O)."""
    toks = tokens(sounds)
    vary = random.Random(rng.random())  # the disturbance's own draws: the rest is spelled as without it
    shift_at = extra_at = None
    shorts = [i for i, t in enumerate(toks) if t in ("a", "i", "u")]
    if shift_vowel and shorts:
        shift_at = vary.choice(shorts)
    singles = [i for i, t in enumerate(toks) if 0 < i < len(toks) - 1 and len(t) == 1 and t not in VOWELS
               and t not in "'Ewy" and toks[i - 1] in VOWELS and toks[i + 1] in VOWELS]
    if double == "extra" and singles:
        extra_at = vary.choice(singles)
    out: list[str] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t == "a" and nxt in ("y", "w") and (i + 2 >= len(toks) or toks[i + 2] not in VOWELS):
            out.append(pick(rng, DIPHTHONG[tradition]["a" + nxt]))
            i += 2
            continue
        if t in ("a", "i", "u"):
            spelled = pick(rng, SHORT[tradition][t])
            if i == shift_at:
                spelled = {"A": "E", "E": "A", "I": "E", "OU": "O", "O": "U", "U": "O", "Ü": "O"}.get(spelled, spelled)
            out.append(spelled)
        elif t in ("A", "I", "U"):
            options = LONG[tradition][t]
            if t == "I" and nxt is None:  # a final long I: -I, in English also -Y; never -IE or -EE
                options = ("I", "Y") if tradition == "en" else ("I",)
            out.append(pick(rng, options))
        else:
            c = t[0]
            options = CONSONANTS[tradition][c]
            if c == "w" and tradition == "fr" and (nxt is None or nxt not in VOWELS):
                options = ("W", "OU")  # French OU is a vowel before a consonant: DAOUD but MAWLA/MAOULA
            prev = toks[i - 1] if i else None
            if c == "w" and tradition == "fr" and prev in ("u", "U"):
                options = ("",) if out[-1].endswith("OU") else ("W",)  # ROUAIDA, KOWARI: not ROUOUAIDA
            if c in "E'" and i == 0:
                options = ("",)  # an initial ain or hamza is not written
            letters = pick(rng, options)
            if c == "y" and i == 0:
                letters = "Y" if tradition != "de" else "J"
            doubled = len(t) == 2 and rng.random() >= 0.1  # a doubled consonant is sometimes written single
            if double == "single":
                doubled = False
            if i == extra_at:
                doubled = True
            if c == "s" and tradition == "fr" and len(t) == 1 and i > 0 and toks[i - 1] in VOWELS and nxt in VOWELS:
                letters = "SS"  # French doubles S between vowels so that it is not read as Z
            out.append(letters * 2 if doubled and len(letters) == 1 else letters)  # SHADDA on TH: written once
        i += 1
    word = re.sub(r"(.)\1\1+", r"\1\1", "".join(out))  # never three letters alike (E + AA: not AAA)
    if tradition == "fr" and word.endswith("A") and sounds.endswith("a") and rng.random() < 0.2:
        word += "H"
    if tradition == "fr" and sounds[-1] == "n" and rng.random() < 0.4:
        word += "E"  # French final E after N: SOFIANE, RAMDANE
    if tradition == "tr":
        last = word[-1]
        word = word[:-1] + FINAL_DEVOICE["tr"].get(last, last)
        if sounds.endswith("a") and rng.random() < 0.5:
            word = word[:-1] + "E"  # Turkish -e for a final -a (HATICE)
    for letter, options in MRZ_LETTERS.items():
        word = word.replace(letter, pick(rng, options))
    return word


def spell_component(component: str, tradition: str, rng: random.Random, *, particle: str = "usual",
                    double: str = "as-said", shift_vowel: bool = False) -> str:
    """A name component with its prefix (article, ABD AL, IBN, ABU) as ``tradition`` writes it; ``particle``:
    'usual', 'dropped' (the article left out), 'joined' (written as one word with the name), 'other' (the
    other common form: AL for EL, BIN for BEN, ABDUL for ABDEL...)."""
    parts = component.split("-")
    name = parts[-1]
    word = spell_word(name, tradition, rng, double=double, shift_vowel=shift_vowel)

    if parts[0] == "al":
        if particle == "dropped":
            return word
        form = pick(rng, ARTICLE[tradition]) if particle != "other" else OTHER_ARTICLE[tradition]
        if form in ("AL", "EL") and name[0] in SUN and rng.random() < ASSIMILATED[tradition]:
            first = word[:2] if word[:2] in ("CH", "SH", "TH", "DH") else word[0]
            form = form[0] + first  # the article assimilated to a sun letter: ECH CHERIF, ER RACHID, AS SAYYID
        if not form:
            return word
        if form.endswith("-") or particle == "joined":
            return form + word
        return f"{form} {word}"
    if parts[0] == "Eabd":
        options = ABD[tradition]
        form = options[0] if particle != "other" else rng.choice(options[1:] or options)
        if form.endswith("+"):
            stem = form[:-1]
            if stem in ("ABDE", "ABDU"):  # the article assimilated: ABDERRAHIM, ABDUSSAMAD; else ABDELKHALIQ
                first = word[:2] if word[:2] in ("CH", "SH", "TH", "DH") else word[0]
                return stem + (first if name[0] in SUN else "L") + word
            return stem + word
        if particle == "joined":
            return form.replace(" ", "") + word
        return f"{form} {word}"
    if parts[0] in ("ibn", "bin", "abU", "bU"):
        options = (SON if parts[0] in ("ibn", "bin") else FATHER)[tradition]
        form = options[0] if particle != "other" else rng.choice(options[1:] or options)
        if form.endswith("+") or particle == "joined":
            return form.rstrip("+") + word
        return f"{form} {word}"
    return word


VARIATIONS = ("particle", "double", "vowel", "order")


def person_spelling(person: dict, tradition: str, seed: int, variation: str | None = None,
                    vary: random.Random | None = None) -> tuple[str, str]:
    """(surname, given names) of ``person`` written in ``tradition``, each component spelled from its own
    seed (so the same ``seed`` spells a component the same way), with at most one ``variation`` applied to
    one component chosen by ``vary`` (or, for 'order', the given names rotated)."""
    components = [person["surname"], *person["given"]]
    target = None
    if variation in ("particle", "double", "vowel"):
        assert vary is not None
        target = vary.choice([i for i, c in enumerate(components) if variation != "particle" or "-" in c])
    spelled = []
    for i, sounds in enumerate(components):
        kwargs: dict = {}
        if i == target and variation == "particle":
            assert vary is not None
            kwargs["particle"] = vary.choice(("dropped", "joined", "other") if sounds.startswith("al-")
                                             else ("joined", "other"))
        elif i == target and variation == "double":
            kwargs["double"] = "single" if re.search(r"([^aiuAIU])\1", sounds) else "extra"
        elif i == target and variation == "vowel":
            kwargs["shift_vowel"] = True
        spelled.append(spell_component(sounds, tradition, random.Random(seed * 7919 + i), **kwargs))
    given = spelled[1:]
    if variation == "order":
        given = given[1:] + given[:1]
    return spelled[0], " ".join(given)


def make_people(rng: random.Random, count: int) -> list[dict]:
    """``count`` distinct identities: a surname and one or two given names (the second the father's)."""
    people, seen = [], set()
    while len(people) < count:
        female = rng.random() < 0.35
        first = rng.choice(FEMALE if female else MALE)
        given = [first] + ([rng.choice(MALE)] if rng.random() < 0.6 else [])
        if len(given) == 2 and given[0] == given[1]:
            continue
        key = (rng.choice(SURNAMES), tuple(given))
        if key in seen:
            continue
        seen.add(key)
        people.append({"surname": key[0], "given": list(key[1])})
    return people


def variations_for(person: dict) -> list[str]:
    """The disturbances that apply to ``person`` (a particle only when a component has one, ...)."""
    out = ["vowel"]
    sounds = [person["surname"], *person["given"]]
    if any("-" in s for s in sounds):
        out.append("particle")
    out.append("double")  # a doubled consonant written single, or a single one doubled
    if len(person["given"]) == 2:
        out.append("order")
    return out


def generate(seed: int, count: int) -> dict:
    """The evaluation set: listed people, their spellings by tradition and disturbance, and negatives."""
    rng = random.Random(seed)
    identities = make_people(rng, count)
    people = []
    for n, person in enumerate(identities):
        listed_tradition = rng.choice(("fr", "en"))  # lists are written by French or English speaking services
        base = seed * 100_000 + n * 10
        listed = person_spelling(person, listed_tradition, base)
        travelling, seen = [], {listed}
        others = [t for t in TRADITIONS if t != listed_tradition]
        for k, tradition in enumerate(rng.sample(others, 3)):
            spelled = person_spelling(person, tradition, base + 1 + k)
            if spelled not in seen:
                seen.add(spelled)
                travelling.append([*spelled, tradition])
        for variation in rng.sample(variations_for(person), 2):  # the listed spelling, one thing changed
            spelled = person_spelling(person, listed_tradition, base, variation, rng)
            if spelled not in seen:
                seen.add(spelled)
                travelling.append([*spelled, variation])
        people.append({"listed": list(listed), "sounds": [person["surname"], " ".join(person["given"])],
                       "travelling": travelling})
    different = []
    for n, person in enumerate(identities[: count // 2]):
        tradition = rng.choice(("fr", "en"))
        if n % 2 == 0:  # same surname, another first given name (a brother, a cousin)
            pool = FEMALE if person["given"][0] in FEMALE else MALE
            other = {"surname": person["surname"],
                     "given": [rng.choice([g for g in pool if g not in person["given"]]), *person["given"][1:]]}
        else:  # same given names, another family
            other = {"surname": rng.choice([s for s in SURNAMES if s != person["surname"]]), "given": person["given"]}
        base = seed * 100_000 + 50_000 + n * 10
        different.append([list(person_spelling(person, tradition, base)),
                          list(person_spelling(other, tradition, base + 1))])
    return {
        "_comment": f"EVALUATION set 2, generated by bench/names_evalset.py --seed {seed} --people {count} (see its docstring): "
                    "Arabic names written as sounds, spelled by French, English, Turkish and German habits, "
                    "with one disturbance (particle, double, vowel, order). Frozen before the matcher it "
                    "measures was tuned; never used to build rules or the dictionary. Generated specimens, "
                    "no real persons.",
        "people": people,
        "different_people": different,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--people", type=int, default=120)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = generate(args.seed, args.people)
    args.out.write_text(dumps(data), "utf-8")
    print(f"{args.out}: {len(data['people'])} people, {sum(len(p['travelling']) for p in data['people'])} "
          f"spellings, {len(data['different_people'])} different-people pairs")


def dumps(data: dict) -> str:
    """The set as JSON, one person per line (diffable)."""
    lines = ["{", f' "_comment": {json.dumps(data["_comment"])},', ' "people": [']
    lines += [f"  {json.dumps(p, ensure_ascii=False)}," for p in data["people"]]
    lines[-1] = lines[-1].rstrip(",")
    lines += [" ],", ' "different_people": [']
    lines += [f"  {json.dumps(p, ensure_ascii=False)}," for p in data["different_people"]]
    lines[-1] = lines[-1].rstrip(",")
    lines += [" ]", "}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
