"""A peer's person name keys, written from docs/names.md alone ("Rules", "Key text", the appendix "Dictionary d6",
which it reads from the page itself): what a centre that is not this project needs to list wanted persons that the
gate HITs. Nothing of ``agent`` is imported (``tests/agent/test_peer_centre.py`` checks it).

    record_keys("EL AMRANI", "KHALED MAHMOUD")   # ['F|VMRNaI|HLTa-.MHMTa-', 'P|VMRNaI|', 'P|VMRNaI|HLTa-', ...]
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "names.md"
VERSION = 19  # "Versions": NORMALISER_VERSION, signed in the list metadata as name_key_version
MRZ_WIDTHS = (30, 31, 39)
RECORD_COMBOS, QUERY_COMBOS = 32, 16  # "Counts": at most 32 readings of a field in the list, 16 of a cut field

# ---------------------------------------------------------------------- rule 1: cleaning
ICAO = str.maketrans({"Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Ü": "UE", "ß": "SS", "Þ": "TH",
                      "Œ": "OE", "Ĳ": "IJ", "Ð": "D", "Đ": "D", "Ł": "L"})
VOWELS = frozenset("AEIOU")


def clean(field: str) -> str:
    """Upper-case A-Z words, single spaces, hyphens kept; apostrophes joined, diacritics dropped."""
    text = field.upper().replace("ß", "SS").translate(ICAO)
    text = re.sub(r"['’‘`´ʼʻ]", "", text)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = re.sub(r"[\s<.,]+", " ", text)
    if re.search(r"[^A-Z\- ]", text):
        raise ValueError(f"name field {field!r}: not a Latin-script name")
    return re.sub(r"-+", "-", re.sub(r" *- *", "-", text)).strip(" -")


# ---------------------------------------------------------------------- rule 2: components
ARTICLES = frozenset({
    "AL", "EL", "UL", "OL", "AD", "AN", "AR", "AS", "AT", "AZ", "ASH", "ACH", "ADH", "ATH", "ED", "ER", "ES", "ET",
    "EZ", "EN", "ECH", "ESH", "EDH", "ETH",
})
PARTICLES = frozenset({
    "BEN", "BIN", "IBN", "EBN", "BENT", "BINT", "OULD", "OULED", "WALD", "WALAD", "AIT", "AYT", "BOU", "BU", "ABU",
    "ABOU", "EBU",
})
ABD_WORD = re.compile(r"(?:ABD|EBD)(?:(?:[AEIOU]|OU)?(?:L|R|S|SH|CH|T|TH|D|DH|Z|N))?")
SUFFIXES = frozenset({
    "EDDINE", "EDDIN", "EDINE", "EDIN", "UDDIN", "UDDINE", "UDDEEN", "UDEEN", "ADDIN", "ADDINE", "ALDIN", "ALDINE",
    "ELDIN", "ELDINE", "DDINE", "DIN", "DINE", "DEEN", "EDDEEN", "ULLAH", "ALLAH", "ELLAH", "OLLAH", "ULAH",
})


def components(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        parts = [tokens[i]]
        i += 1
        while (ABD_WORD.fullmatch(parts[-1]) or parts[-1] in PARTICLES) and i < n:
            while i < n - 1 and tokens[i] in ARTICLES:
                parts.append(tokens[i])
                i += 1
            parts.append(tokens[i])
            i += 1
        word = "".join(parts)
        if len(parts) == 1 and word in ARTICLES and i < n:
            continue
        if len(parts) == 1 and word in SUFFIXES and out:
            out[-1] += word
            continue
        out.append(word)
    return out


# ---------------------------------------------------------------------- the appendix "Dictionary d6"
def _dictionary() -> tuple[dict[str, str], dict[str, list[str]]]:
    text = DOC.read_text(encoding="utf-8").split("## Dictionary d6", 1)[1]
    blocks = re.findall(r"```\n(.*?)```", text, re.S)
    variants = {v: canon for line in blocks[0].splitlines() for canon, rest in [line.split(": ")]
                for v in rest.split()}
    tags = {tag: rest.split() for line in blocks[1].splitlines() for tag, rest in [line.split(": ")]}
    return variants, tags


VARIANTS, TAGS = _dictionary()


# ---------------------------------------------------------------------- rule 3 and "Key text": codes
APPENDIX_B = {"KH": "KH", "SH": "SH", "TH": "TH", "DH": "DH", "GH": "GH", "SS": "S", "DZ": "D", "TT": "T", "ZZ": "Z",
              "AE": "A", "AA": "A", "AH": "A", "TA": "A", "H": "H", "W": "W", "I": "I", "E": ""}
DIGRAPHS = {"SH": "X", "CH": "X", "DJ": "J", "KH": "H", "GH": "G", "TH": "T", "DH": "D", "PH": "F", "CK": "K"}


def final_class(trailing: str) -> str:
    if not trailing or trailing == "E":
        return "-"
    trailing = trailing.replace("UEA", "UA")
    if len(trailing) >= 3 and trailing.endswith("IE") and trailing[-3] in VOWELS:
        return "Y"
    if len(trailing) >= 2 and trailing.endswith("E") and trailing != "EE":
        trailing = trailing[:-1]
    if trailing[-1] == "A":
        before = trailing.rstrip("A")[-1:]
        return "Y" if before and before in "IEY" else "A"
    return "I" if trailing[-1] in "IE" else "U"


def prepared(word: str) -> tuple[str, bool]:
    """The word with Appendix B escapes resolved, X as KS, a final AH as A; and whether no short vowel is written."""
    escapes = "KH|SH|TH|DH|GH|SS|DZ|TT|ZZ|AE|AA|AH|TA|H"
    unwritten = bool(re.search(f"X(?:{escapes})", word))
    if unwritten:
        word = re.sub(f"X({escapes}|W|I|E)", lambda m: APPENDIX_B[m[1]], word)
    word = word.replace("X", "KS")
    if len(word) >= 3 and word.endswith("AH"):
        word = word[:-1]
    return word, unwritten or (len(word) >= 3 and word[0] not in "AIOU" and not VOWELS.intersection(word[1:]))


def skeleton(word: str) -> tuple[str, ...]:
    """``[V]`` + consonant letters + first-vowel class + final-vowel class; two codes when no short vowel is written."""
    word, unwritten = prepared(word)
    consonants: list[str] = []
    first, first_at, trailing, initial = "", 0, "", False
    i, n = 0, len(word)
    while i < n:
        ch, pair = word[i], word[i:i + 2]
        after = i + (2 if pair in ("OU", "GU", "QU") else 1)
        nxt = word[after] if after < n else ""
        sym, vowel, step = "", "", 1
        if word.startswith("DSCH", i):
            sym, step = "J", 4
        elif word.startswith("TSCH", i):
            sym, step = "X", 4
        elif word.startswith("SCH", i):
            sym, step = "X", 3
        elif pair in DIGRAPHS:
            sym, step = DIGRAPHS[pair], 2
        elif pair == "OU":
            sym, vowel, step = ("W", "", 2) if i == 0 and nxt in VOWELS else ("", "U", 2)
        elif pair in ("GU", "QU") and nxt in VOWELS:
            sym, step = ("J" if ch == "G" else "K"), 2
        elif ch in VOWELS:
            vowel = ch
        elif ch in "YWV":
            if i == 0 and nxt and nxt in "AEIOUWY":
                sym = "Y" if ch == "Y" else "W"
            else:
                vowel = "I" if ch == "Y" else "U"
        elif ch == "C":
            sym = "S" if nxt in ("E", "I", "Y") else "K"
        else:
            sym = {"Q": "K", "G": "J"}.get(ch, ch)
        if sym:
            if not consonants or consonants[-1] != sym or trailing:
                consonants.append(sym)
            trailing = ""
        else:
            initial = initial or i == 0
            if not first:
                first, first_at = ("u" if vowel in ("O", "U") else "a"), len(consonants)
            elif (trailing in ("A", "E") and vowel in ("O", "U") and consonants and len(consonants) == first_at
                  and (nxt in ("", "O", "U") or nxt not in "AEIOUWYV")):
                first = "u"  # rule 3: A before O/U/W rounds (TAWFIK = TOUFIK), not before a vowel (RAWAYLI)
            trailing += vowel
        i += step
    if consonants and consonants[-1] in "DP" and not trailing:
        consonants[-1] = {"D": "T", "P": "B"}[consonants[-1]]
    silent = re.search(r"(?:[AEIOUY]N|[^AEIOUYR]R)E$", word)
    final = "E" if trailing == "E" and consonants and not silent else final_class(trailing)
    if re.search(r"(?<=[^AEIOUY])YE$", word):
        final = "Y"
    stem = ("V" if initial else "") + "".join(consonants)
    return (stem + "a" + final, stem + "u" + final) if unwritten else (stem + (first or "-") + final,)


def _tag_index() -> dict[str, list[str]]:
    by_code: dict[str, dict[str, None]] = {}
    for tag, spellings in TAGS.items():
        for spelling in spellings:
            for code in skeleton(spelling):
                by_code.setdefault(code, {})[tag] = None
    return {code: list(tags) for code, tags in by_code.items() if len(tags) > 1}


SHARED_TAGS = _tag_index()
SPELLING_TAGS = {s: [t for t in TAGS if s in TAGS[t]] for spellings in TAGS.values() for s in spellings}


def tagged(word: str) -> list[str]:
    out: list[str] = []
    for code in skeleton(word):
        tags = SHARED_TAGS.get(code)
        out += [code] if tags is None else [f"{code}#{tag}" for tag in SPELLING_TAGS.get(word, tags)]
    return out


def glued_article_rest(word: str) -> str | None:
    m = re.fullmatch(r"(?:AL|EL|UL)([A-Z]+)", word)
    if m:
        rest = m[1]
        ok = any(ch not in VOWELS for ch in rest) and ((rest[0] not in VOWELS and len(rest) >= 3) or len(rest) >= 4)
        return rest if ok else None
    m = re.fullmatch(r"[AE](TH|DH|SH|CH|[TDRZSN])\1(?P<tail>[A-Z]+)", word)
    if m and len(m[1]) + len(m["tail"]) >= 4:
        return m[1] + m["tail"]
    m = re.fullmatch(r"L([^AEIOUL][A-Z]{2,})", word)
    return m[1] if m else None


# "Key text", readings: each a rewrite of the whole word, in this order; a spelling the dictionary lists is not re-read
READINGS = [(re.compile(pattern), rewrite) for pattern, rewrite in [
    (r"C{1,2}(?=[AEIOU])", "DJ"), (r"(?<=[AEIOU])C(?=[BDFGJKLMNPRSTVWZ]|$)", "DJ"), (r"C(?=[AOU])", "S"),
    (r"GH", "G"), (r"(?<=[AEIOU])GH", ""), (r"DH", "Z"), (r"TH", "S"), (r"TH", "Z"), (r"^J(?=[AEIOU])", "Y"),
    (r"(?<!S)CH(?=.*(?:SCH|[OE]W$))", "KH"), (r"^RH(?=[AEIOU])|(?<=[AEIOU])RH", "GH"),
    (r"^RH(?=[AEIOU])|(?<=[AEIOU])RH", "G"), (r"(?<=[^AEIOU]A)(?<!LLA|ULA)H$", "HH"), (r"(?<=[MRVWY])E$", "A"),
]]


Rewrites = list[tuple[re.Pattern[str], str]]
# "Key text", document habits on the list side: (never, shown by, whole-word rewrites, readings)
HABITS: dict[str, tuple[re.Pattern[str], re.Pattern[str], Rewrites, Rewrites]] = {
    "tr": (re.compile(r"SH|(?<!S)CH|KH|TH|GH|DJ|OU|EE|OO|[QWX]"),
           re.compile(r"V|C[AOU]|[AEIOU]C[EI]|P\b|E[YV](?![AEIOU])|\bEBU|ETTIN\b|UE(?=[A-Z])"),
           [(re.compile(r"C+"), "DJ")],
           [(re.compile(r"(?<=N)E$"), "A"), (re.compile(r"(?<!S)S+(?!S|CH)"), "SH"),
            (re.compile(r"(?<!S)S+(?!S|CH)"), "TH"), (re.compile(r"(?<=[AE])H$"), "KH"), (re.compile(r"Z"), "D")]),
    "de": (re.compile(r"SH|OU|[QX]"), re.compile(r"SCH|CK|IE(?=[A-Z])|ẞ"),
           [(re.compile(r"(?<!S)CH"), "KH"), (re.compile(r"(?<=[A-CE-Z])J+"), "Y")],
           [(re.compile(r"S+(?!CH)"), "Z"), (re.compile(r"S+(?!CH)"), "DH"), (re.compile(r"S+(?!CH)"), "TH")]),
}


def readings(word: str, habit: str = "") -> list[str]:
    """The spellings a component is also read as: the general readings, and in ``habit`` its rewrites first."""
    if word in SPELLING_TAGS or word in VARIANTS:
        return []
    whole, letters = (HABITS[habit][2], HABITS[habit][3]) if habit else ([], [])
    applied = [(p, r) for p, r in whole if p.search(word)]
    out: list[str] = []
    if len(applied) > 1:
        together = word
        for p, r in applied:
            together = p.sub(r, together)
        out.append(together)
    for p, r in whole + READINGS:
        read = p.sub(r, word)
        if read != word and read not in out:
            out.append(read)
    first = len(applied) + (len(applied) > 1)
    for base in [*out[:first], word, *out[first:]] if habit else []:
        for p, r in letters:
            for m in p.finditer(base):
                read = base[:m.start()] + r + base[m.end():]
                if read not in out and read != word:
                    out.append(read)
    return out


def alternatives(word: str, habit: str = "") -> list[str]:
    """The codes of a component as spelled, then of each reading of it."""
    return list(dict.fromkeys(codes(word) + [c for read in readings(word, habit) for c in codes(read)]))


def habits(surname: str, given_names: str) -> list[str]:
    """The orthographies a listed name is written in: nothing the orthography never writes, something only it does."""
    text = f"{clean(surname)} {clean(given_names)} {surname} {given_names}".replace("ß", "ẞ").upper()
    return [name for name, (never, shown, _, _) in HABITS.items() if not never.search(text) and shown.search(text)]


def listed_final_vowels(word: str, cs: list[str]) -> list[str]:
    """A listed component's codes with the final vowels a document's final E may stand for ("Key text")."""
    plain = r"(?<=[A-Z])(?<![~])(?<!^V)"
    if re.search(r"(?:[AEIOUY]N|[^AEIOUYR]R)E$", word) and word[-3:-1] != "RR":
        return list(dict.fromkeys([*cs, *(c[:-1] + "E" for c in cs if re.search(plain + "[au]-$", c))]))
    if not re.search(r"(?:[^AEIOUNWY]|(?<![AEIOUY])N)[AEIY]H?$", word):
        return cs
    out = list(cs)
    for c in cs:
        m = re.search(plain + "[au-](?P<final>[AIE])$", c)
        if m:
            out += [c[:m.start("final")] + f for f in ("AI" if m["final"] == "E" else "E")]
    return list(dict.fromkeys(out))


def codes(word: str) -> list[str]:
    """Every code of one component, primary first ("Key text", steps 1 to 5)."""
    word = VARIANTS.get(word, word)
    abd = re.fullmatch(r"(?:ABD|EBD)([A-Z]*)", word)
    if abd:
        rest = abd[1].lstrip("AEIOU")
        if len(rest) > 1 and rest[0] == "L" and (rest[1] not in VOWELS or re.match(r"OU[AEIO]", rest[1:])):
            rest = rest[1:]
        if re.fullmatch(r"L+A?H?", rest):
            rest = "LA"
        return ["VBD~" + code for code in (alternatives(rest) if rest else [""])]
    out: list[str] = []
    particle = re.fullmatch(r"(ABOU|ABU|EBU|BOU|BEN|BIN|IBN|EBN|BU)([A-Z]{3,})", word)
    if particle:
        mark, rest = ("BN" if particle[1] in ("BEN", "BIN", "IBN", "EBN") else "BU"), particle[2]
        if rest[0] == "L" and rest[1] not in VOWELS:
            rest = rest[1:]
        out += [f"{mark}~{code}" for code in alternatives(rest)]
        if particle[1][0] in "AEI" or mark == "BN":
            if rest[0] == "N" and mark == "BN":
                out += [f"BN~{code}" for code in alternatives(rest[1:])]
            return list(dict.fromkeys(out))
    suffix = (re.fullmatch(r"(?P<base>[A-Z]{2,}?)(?:[AEOU]{1,2}(?:[LD]?D|TT)(?:I|EE|E)|D(?:I|EE))NE?", word),
              re.fullmatch(r"(?P<base>[A-Z]{3,}?)(?:[AEIOU]{1,2}|[AEIOU]H[AEIOU])(?:LLAH|(?<=[AOU])LLA|(?<=U)LAH)", word))
    if suffix[0] or suffix[1]:
        base, mark = (suffix[0]["base"], "~DN") if suffix[0] else (suffix[1]["base"], "~LH")  # type: ignore[index]
        out += [re.sub(r"(?<=[au-])[AYIUE-]$", "-", code) + mark for code in codes(base)]
        if mark == "~LH" and not word.endswith("H"):
            out += tagged(word)
        return list(dict.fromkeys(out))
    whole = tagged(word)
    b = re.match(r"B(?:OU|UE|OE|O|U)(?=[^AEIOUWY])", word)
    if b:
        vowel = re.search(r"([au-])[AYIUE-]$", skeleton(word[b.end():])[0])
        whole = [f"B^{vowel[1] if vowel else '-'}{code[1:]}" for code in whole]
    out += whole
    rest = glued_article_rest(word)
    if rest:
        out += codes(rest)
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------------- "Key text": record keys
def renderings(field: str, glue: bool, limit: int = RECORD_COMBOS, listed: bool = True, habit: str = ""
               ) -> list[tuple[tuple[str, ...], bool]]:
    """(codes, joined) per reading of a field, primary first: split at hyphens, hyphens joined, (surname) one word."""
    text = clean(field)
    split = text.replace("-", " ").split()
    ways = [(split, False)] + ([(text.replace("-", "").split(), True)] if "-" in text else [])
    ways += [(["".join(split)], True)] if glue and len(split) > 1 else []
    found: dict[tuple[tuple[str, ...], bool], None] = {}
    for tokens, joined in ways:
        words = components(tokens)
        distinct = list(dict.fromkeys(words))
        options = [listed_final_vowels(w, alternatives(w, habit)) if listed else alternatives(w, habit)
                   for w in distinct]
        choices = sorted(itertools.islice(itertools.product(*(range(len(o)) for o in options)), 4096), key=sum)
        for choice in choices[:limit]:
            found.setdefault((tuple(options[distinct.index(w)][choice[distinct.index(w)]] for w in words), joined))
    return list(found)


def blind(cs: tuple[str, ...]) -> str:
    return ".".join(re.sub(r"[au-]([AYIUE-])(?:#[A-Z]+)?(?=[~.]|$)", r"*\1", c) for c in cs)


def ambiguous_keys(surname: str, given_names: str, s: tuple[str, ...], g: tuple[str, ...]) -> list[str]:
    """``W|`` keys of one reading: a final vowel written ambiguously coded ``e``, for every non-empty set of the
    first three such words, largest sets first."""
    words = [components(clean(f).replace("-", " ").split()) for f in (surname, given_names)]
    found = [i for i, w in enumerate(words[0] + words[1]) if re.search(r"(?:[AEIOUY]NN?|W|V|OU)(?:E|[IY]|AH?)$", w)]
    if not found or (len(words[0]), len(words[1])) != (len(s), len(g)):
        return []
    out = []
    for k in range(len(found[:3]), 0, -1):
        for subset in itertools.combinations(found[:3], k):
            cs = [*s, *g]
            coded = [i for i in subset if re.search(r"(?<=[A-Z])(?<![~])(?<!^V)[au][AYIUE-]$", cs[i])]
            for i in coded:
                cs[i] = cs[i][:-1] + "e"
            if coded:
                out.append("W|" + ".".join(cs[:len(s)]) + "|" + ".".join(cs[len(s):]))
    return out


def record_keys(surname: str, given_names: str) -> list[str]:
    """The keys a list stores for one listed person (each fingerprinted with the birth date)."""
    keys: dict[str, None] = {}
    primary = [components(clean(f).replace("-", " ").split()) for f in (surname, given_names)]
    blind_tags = ("B", "A") if all(prepared(w)[1] for w in primary[0] + primary[1]) and primary != [[], []] else ("B",)
    for s, s_joined in renderings(surname, True):
        for g, g_joined in renderings(given_names, False):
            sp, gp = ("+" if s_joined else "") + ".".join(s), ("+" if g_joined else "") + ".".join(g)
            keys.setdefault(f"F|{sp}|{gp}")
            for k in range(len(g)):
                keys.setdefault(f"P|{sp}|" + ("+" if g_joined else "") + ".".join(g[:k]))
            if s_joined or g_joined:
                continue
            keys.setdefault("NG|" + ".".join(g + s))
            keys.setdefault("NS|" + ".".join(s + g))
            if len(g) > 1:
                keys.setdefault(f"O|{sp}|" + ".".join(sorted(g)))
            for tag in blind_tags:
                keys.setdefault(f"{tag}|{blind(s)}|{blind(g)}")
                for k in range(1, len(g)):
                    keys.setdefault(f"{tag}P|{blind(s)}|{blind(g[:k])}")
            tokens = (*s, "/", *g)
            for j in range(1, len(tokens)):
                if tokens[j] != "/" and tokens[j]:
                    keys.setdefault("I|" + ".".join(tokens[:j]) + "|" + tokens[j][:1])
            keys.update(dict.fromkeys(ambiguous_keys(surname, given_names, s, g)))
    for habit in habits(surname, given_names):
        for s, s_joined in renderings(surname, True, habit=habit):
            for g, g_joined in renderings(given_names, False, habit=habit):
                keys.setdefault(f"F|{'+' if s_joined else ''}{'.'.join(s)}|{'+' if g_joined else ''}{'.'.join(g)}")
                if len(g) > 1 and not s_joined and not g_joined:
                    keys.setdefault(f"O|{'.'.join(s)}|" + ".".join(sorted(g)))
    field = clean(surname).replace("-", "<").replace(" ", "<")
    given = clean(given_names).replace("-", "<").replace(" ", "<")
    field += "<<" + given if given else ""
    for width in MRZ_WIDTHS:
        if len(field) > width:
            cut_s, _, cut_g = field[:width].rstrip("<").partition("<<")
            for s, s_joined in renderings(cut_s.replace("<", " "), True, QUERY_COMBOS, listed=False):
                for g, g_joined in renderings(cut_g.replace("<", " "), False, QUERY_COMBOS, listed=False):
                    if not s_joined and not g_joined:
                        keys.setdefault(f"T|{'.'.join(s)}|{'.'.join(g)}")
    return list(keys)
