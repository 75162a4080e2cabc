"""Person name keys that survive transliteration variants (rules and their version: docs/names.md).

One normaliser, used byte-identically by the central list builder (`record_name_keys`) and by the gate
(`query_name_keys`). A traveller matches a listed person when any query key equals any record key; the
hit-list fingerprints `key + "|" + birth_date`, so only exact keys can be looked up and every tolerance
(MOHAMED = MUHAMMAD, ABD EL = ABDUL, a dropped trailing given name, a truncated field) has to be built
into the keys themselves. Keys never leave the process in clear and are never logged.

Key shapes (docs/names.md, "Keys"): `F|S|G` the surname components and all given-name components,
`P|S|G'` a proper prefix of the record's given names, `NG|...`/`NS|...` the whole name as one
sequence in given-first / surname-first order, `T|S|G` a record rendered into a full MRZ name field
and cut at 30, 31 or 39 characters, `I|prefix|initial` a component sequence followed by the initial of
the next component. Each component is a code: consonant skeleton plus first-vowel and final-vowel
classes (`MOHAMED` -> `MHMTu-`, `SALAMA` -> `SLMaA`).
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from agent.errors import BadDataError
from agent.hitlist.names_data import DICTIONARY_VERSION, DISTINCT_BY_VOWELS, NAME_DICTIONARY

logger = logging.getLogger(__name__)

# Identifies the keys produced (rules and dictionary): bumped on any change; carried in the signed list metadata;
# a gate whose value differs screens documents but REFERs on persons (docs/names.md, "Versions").
NORMALISER_VERSION = 19
NAME_KEY_VERSION = f"n{NORMALISER_VERSION}-d{DICTIONARY_VERSION}"  # readable form of both versions

EXACT = "exact"
WEAK = "weak"

# Name field widths of the MRZ formats (Doc 9303: TD1 30, TD2/MRV-B 31, TD3/MRV-A 39).
MRZ_NAME_WIDTHS = (30, 31, 39)
MAX_NAME_CHARS = 200  # bounds the work per call; real name fields are far shorter
# Alternative readings kept per field rendering, fewest departures from the primary reading first.
# The list side keeps more, so that the few a gate looks up are among them.
RECORD_COMBOS, QUERY_COMBOS, HABIT_COMBOS = 32, 16, 8
MAX_QUERY_KEYS = 64  # bounds the (slow, keyed) lookups per traveller; primary spellings come first

# --- cleaning (Doc 9303 Part 3 section 6: A-Z only, apostrophes joined, hyphens separate) -----------

# Doc 9303 Part 3 section 6 recommended transliterations of Latin national characters; the other
# accented letters lose their diacritic (NFKD below).
_ICAO_LATIN = str.maketrans(
    {
        "Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Ü": "UE", "Þ": "TH", "Œ": "OE",
        "Ĳ": "IJ", "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H", "Ŧ": "T", "Ŋ": "N", "ẞ": "SS",
    }
)  # fmt: skip
_APOSTROPHES = "'’‘`´ʼʻ"
_HYPHENS = "-‐‑–"
_SEPARATORS = re.compile(r"[\s<.,]+")
_NOT_NAME = re.compile(r"[^A-Z\- ]")


class NameKeyError(BadDataError):
    """A name field that cannot be a Latin-script name (other scripts, digits, control characters)."""


def _clean(field: str) -> str:
    """Upper-case A-Z words separated by single spaces, hyphens kept as '-'; raises NameKeyError."""
    if not isinstance(field, str):
        raise NameKeyError(f"name field {field!r} is not a string")
    if len(field) > MAX_NAME_CHARS:
        raise NameKeyError(f"name field {field[:40]!r}... is longer than {MAX_NAME_CHARS} characters")
    text = field.upper()
    if not text.isascii():  # MRZ fields are ASCII already; list sources may carry national letters
        for ch in _APOSTROPHES + _HYPHENS[1:]:  # before NFKD, which turns an acute accent into a space
            text = text.replace(ch, "" if ch in _APOSTROPHES else "-")
        text = text.translate(_ICAO_LATIN)
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = text.replace("'", "").replace("`", "")
    text = _SEPARATORS.sub(" ", text)
    bad = _NOT_NAME.search(text)
    if bad:
        raise NameKeyError(
            f"name field {field!r:.60} holds {bad.group()!r}; expected Latin letters separated by "
            "spaces, '<', hyphens or apostrophes"
        )
    text = re.sub(r" *- *", "-", text).strip(" -")
    return re.sub(r"-+", "-", text)


# --- components: articles, ABD family, particles, suffixes -------------------------------------------

_VOWELS = frozenset("AEIOU")
# Free-standing articles, with the assimilated forms (AR RAHMAN, ES SAID, ECH CHERIF).
_ARTICLES = frozenset(
    {"AL", "EL", "UL", "OL", "AD", "AN", "AR", "AS", "AT", "AZ", "ASH", "ACH", "ADH", "ATH"}
    | {"ED", "ER", "ES", "ET", "EZ", "EN", "ECH", "ESH", "EDH", "ETH"}
)
# Standalone ABD forms that are never a name by themselves: joined with what follows.
_ABD_WORDS = re.compile(r"^(?:ABD|EBD)(?:[AEIOU]|OU)?(?:L|R|S|SH|CH|T|TH|D|DH|Z|N)$|^(?:ABD|EBD)$")
# Particles that are part of the name and bind to the next part (BEN ALI = BENALI, never ALI).
_PARTICLES = {
    "BEN": "BN", "BIN": "BN", "IBN": "BN", "EBN": "BN", "BENT": "BNT", "BINT": "BNT",
    "OULD": "WLD", "OULED": "WLD", "WALD": "WLD", "WALAD": "WLD", "AIT": "AYT", "AYT": "AYT",
    "BOU": "BU", "BU": "BU", "ABU": "BU", "ABOU": "BU", "EBU": "BU",  # EBU: Turkish (EBUBEKIR)
}  # fmt: skip
# A word that starts with B and a rounded vowel (BOUCHRA, BOHAYNA, BOUKHERROUBA): its whole-word code also tells the
# first vowel after it, which a glued BOU's own vowel hides (n8: BOUKHERROUBA != BOUKHORROUBA, BUHAINA = BOHAYNA).
_B_ROUNDED = re.compile(r"^B(?:OU|UE|OE|O|U)(?=[^AEIOUWY])")
_GLUED_PARTICLE = re.compile(r"^(ABOU|ABU|EBU|BOU|BEN|BIN|IBN|EBN|BU)([A-Z]{3,})$")
_SUFFIX_WORDS = frozenset(
    {"EDDINE", "EDDIN", "EDINE", "EDIN", "UDDIN", "UDDINE", "UDDEEN", "UDEEN", "ADDIN", "ADDINE"}
    | {"ALDIN", "ALDINE", "ELDIN", "ELDINE", "DDINE", "DIN", "DINE", "DEEN", "EDDEEN"}
    | {"ULLAH", "ALLAH", "ELLAH", "OLLAH", "ULAH"}
)
_DIN_SUFFIX = re.compile(r"^(?P<base>[A-Z]{2,}?)(?:[AEOU]{1,2}(?:[LD]?D|TT)(?:I|EE|E)|D(?:I|EE))NE?$")  # TT: NURETTIN;
# a bare D before DIN, DINE, DEEN (NOURDINE), not before DEN: HEMDENE is hamdani, not HEM + DIN (n12)
# not JAMILA, LEILA, HAALLA, FADILAH, FADEELLA (n8); a ta marbuta's H before it: BERAKAHALLAH = BARAKAULLAH
_ALLAH_SUFFIX = re.compile(r"^(?P<base>[A-Z]{3,}?)(?:[AEIOU]{1,2}|[AEIOU]H[AEIOU])(?:LLAH|(?<=[AOU])LLA|(?<=U)LAH)$")
_ABD_GLUED = re.compile(r"^(?:ABD|EBD)(?P<rest>[A-Z]*)$")
_OU_CONSONANT = re.compile(r"OU[AEIO]")  # French OU before a vowel is the consonant W (OUAHED)
_GLUED_ARTICLE = re.compile(r"^(?:AL|EL|UL)([A-Z]+)$")
_GLUED_L = re.compile(r"^L([^AEIOUL][A-Z]{2,})$")
_ALLAH = re.compile(r"L+A?H?")
_ASSIMILATED_ARTICLE = re.compile(r"^[AE](TH|DH|SH|CH|[TDRZSN])\1(?P<tail>[A-Z]+)$")


def _group(tokens: list[str]) -> list[str]:
    """Raw components of one field: ABD forms and particles joined forward, suffixes backward,
    free articles dropped (kept when last: they are then a name, e.g. Vietnamese AN, Korean AN)."""
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        parts = [tokens[i]]
        i += 1
        while (_ABD_WORDS.match(parts[-1]) or parts[-1] in _PARTICLES) and i < n:
            while i < n - 1 and tokens[i] in _ARTICLES:
                parts.append(tokens[i])
                i += 1
            parts.append(tokens[i])
            i += 1
        word = "".join(parts)
        if len(parts) == 1 and word in _ARTICLES and i < n:
            continue
        if len(parts) == 1 and word in _SUFFIX_WORDS and out:
            out[-1] += word
            continue
        out.append(word)
    return out


_RH_GHAIN = re.compile(r"^RH(?=[AEIOU])|(?<=[AEIOU])RH")  # n13: also between vowels (MOURHIRE = MUGHIRA)
# Other romanisation habits, each a rewrite of the spelling into the habit the skeleton rules assume
# (docs/names.md, "Readings"): the component also gets the code of the rewritten spelling.
_READINGS = (
    (re.compile(r"C{1,2}(?=[AEIOU])"), "DJ"),  # Turkish C is jim: CEMAL = JAMAL, NECIP = NAJIB, NACCAR = NAJJAR
    (re.compile(r"(?<=[AEIOU])C(?=[BDFGJKLMNPRSTVWZ]|$)"), "DJ"),  # and before a consonant: MECDI = MAJDI (n3), or
    # at the end (n8): SIRAC = SIRAJ, KUBBAC = QUBBAJ
    (re.compile(r"C(?=[AOU])"), "S"),  # French C for C cedilla: FAYCAL = FAYSAL (n3)
    (re.compile(r"GH"), "G"),  # Turkish G for ghain: GALIP = GHALIB, BAGDADI = BAGHDADI
    (re.compile(r"(?<=[AEIOU])GH"), ""),  # the Turkish soft G after a vowel, not written in a German, French or
    # English document (n12): ZALUL = ZAGHLUL
    (re.compile(r"DH"), "Z"),  # Turkish/Persian Z for dhal and za: KAZIM = KADHIM, MUNZIR = MUNDHIR
    (re.compile(r"TH"), "S"),  # Turkish/Persian S for tha: OSMAN = OTHMAN
    (re.compile(r"TH"), "Z"),  # English TH for za: KATHIM = KAZIM = KADHIM (n3)
    (re.compile(r"^J(?=[AEIOU])"), "Y"),  # German J for ya: JUNUS = YUNUS, JASSIN = YASIN
    (re.compile(r"(?<!S)CH(?=.*(?:SCH|[OE]W$))"), "KH"),  # German CH for kha in a German-spelled word (n2; every
    # CH from n3 to n7, in a name in German orthography since n8): CHADIDSCHA = KHADIJA, CHASANOW = KHASANOV
    (_RH_GHAIN, "GH"),  # Moroccan RH for ghain: RHASSANE = GHASSAN; since n8 also after a vowel at the end or
    (_RH_GHAIN, "G"),  # before a consonant (SAYERH = SAYEGH), and as the G of other habits (RHANNAM = GANNAM)
    (re.compile(r"(?<=[^AEIOU]A)(?<!LLA|ULA)H$"), "HH"),  # a final AH is a ta marbuta (FATIMAH = FATIMA) or a
    # written h (n13): AFRAH = AFREH, SAYYAH = SAYYEH (French and Turkish E for a); HH keeps _prepare from dropping it.
    # Names told apart by that vowel are in the dictionary (SALAH != SALEH), which is never re-read; not ALLAH
    (re.compile(r"(?<=[MRVWY])E$"), "A"),  # Turkish final E for A after M, R, V: NADIRE = NADIRA, URVE = URWA (n7);
    # not after N, the French silent e of AMINE, SOFIANE, ABDERRAHMANE (AMINE != AMINA); after other consonants the final E is a
    # class of its own that the list side reads as A or I (n6, _record_final_e)
)


# Habits that only a document written in one orthography has, because its alphabet cannot tell two sounds apart
# (docs/names.md, "Document habits"): a Turkish MRZ writes S for Ş, a German transcription S for z. Read into
# every name they would merge different people (SAMI = SHAMI, SAID = ZAID), so a traveller's name gets these
# readings only when the name as a whole may be written in that orthography (nothing it never writes: `lacks`)
# and either shows it (at least one thing only it writes: `shows`; on either side, a list may copy a Turkish
# document's spelling) or the traveller's document was issued by a state that writes it (`states`, ICAO codes
# from the MRZ; since n6). Each reading rewrites one letter at a time (DIMASKI -> DIMASHKI).
class Habit(NamedTuple):
    """One orthography's tell-tales, the states whose documents write it, and the letters it writes for sounds
    others write apart."""

    lacks: re.Pattern[str]
    shows: re.Pattern[str]
    states: frozenset[str]
    readings: tuple[tuple[re.Pattern[str], str], ...]
    words: tuple[tuple[re.Pattern[str], str], ...] = ()  # whole-word rewrites, which the readings then also read


_HABITS = {
    "tr": Habit(  # Turkish (Doc 9303: S for Ş, C for C, G for Ğ): no digraphs, Q, W, X, doubled EE/OO
        lacks=re.compile(r"SH|(?<!S)CH|KH|TH|GH|DJ|OU|EE|OO|[QWX]"),  # DH: D and H (MIDHAT, SADHIR) since n8
        # V for w, C for jim before A/O/U or between vowels, final P for b, EY/EV for ay/aw, EBU, -ETTIN
        shows=re.compile(r"V|C[AOU]|[AEIOU]C[EI]|P\b|E[YV](?![AEIOU])|\bEBU|ETTIN\b|UE(?=[A-Z])"),
        states=frozenset({"TUR"}),
        words=((re.compile(r"C+"), "DJ"),),  # C is jim, never K or S (n12): CEBELE = JABALA, CELLAT = DJALLAD
        readings=(  # the final E first (n8): fewest readings per field are kept (HABIT_COMBOS)
            (re.compile(r"(?<=N)E$"), "A"),  # final E for A after N as well: YEMINE = YAMINA
            # sin and shin are both S: SAFIK = SHAFIQ, GANNUSI = GHANNOUCHI; a doubled S too (n13): BESSAR = BASHSHAR
            (re.compile(r"(?<!S)S+(?!S|CH)"), "SH"),
            (re.compile(r"(?<!S)S+(?!S|CH)"), "TH"),  # tha is S: BERGUSI = BARGHUTHI (with the list's GH -> G reading)
            (re.compile(r"(?<=[AE])H$"), "KH"),  # a final H is a consonant, never a silent ta marbuta: TEBBAH
            (re.compile(r"Z"), "D"),  # Z for dad and dhal (n6): MURTAZA = MURTADA, MUNKIZ = MUNQIDH, FAYYAZ = FAYYAD
        ),
    ),
    "de": Habit(  # German transcription: S for z, J for y
        lacks=re.compile(r"SH|OU|[QX]"),  # DJ before any vowel since n12 (HADJIB)
        shows=re.compile(r"SCH|CK|IE(?=[A-Z])|ẞ"),  # ß or ẞ as given: _habits writes ß as ẞ, which upper() keeps
        states=frozenset({"D", "DEU", "AUT"}),  # Germany's MRZ code is D (Doc 9303 Part 3)
        # CH for kha: CHALED = KHALED, BUCHARI = BUKHARI (n3; German only since n8: CHABIB != KHABBAB in French)
        # J for y after a vowel: NAJIF = NAYIF, HUSSEJN; since n6 also before a consonant or doubled: MAJMUN = MAYMUN,
        # BAJDAWI = BAYDAWI, TAJJIB = TAYYIB; since n8 after any letter but the D of DJ (NAHJAN = NAHYAN), and a
        # whole-word rewrite that the S readings also read (SAJDUN = ZAYDUN)
        words=((re.compile(r"(?<!S)CH"), "KH"), (re.compile(r"(?<=[A-CE-Z])J+"), "Y")),
        readings=(
            (re.compile(r"S+(?!CH)"), "Z"),  # voiced S for z, za, dhal: ASIS = AZIZ, DSCHASSAR = JAZZAR
            (re.compile(r"S+(?!CH)"), "DH"),  # TILMISI = TILMIDHI
            (re.compile(r"S+(?!CH)"), "TH"),  # and for tha (n13): DARWISI = DAROUITI, KASIERI = KATHIRI
        ),
    ),
    # Maghreb and Gulf G for qaf (n8 read every G so, on both sides, which merged K with G for every name the
    # dictionary does not know: NAGUIB = NAKIB, GAMILA = KAMILA, GABER = KABIR; NAMES.md: never merge K with G/J).
    # Since n16 only a document of a state whose documents write qaf as G, on the gate side: an Egyptian or Sudanese
    # G is jim (GAMAL, NAGUIB). No spelling shows it, so a list never reads its G so (its common Maghreb surnames
    # are in the dictionary: BELGACEM, GUESMI, GADDAFI).
    "qaf": Habit(
        lacks=re.compile(r"(?!)"),
        shows=re.compile(r"(?!)"),
        states=frozenset({"DZA", "MAR", "TUN", "LBY", "MRT", "SAU", "ARE", "KWT", "QAT", "BHR", "OMN", "YEM", "JOR"}),
        readings=((re.compile(r"G(?!H)"), "Q"),),  # BELGACEM = BELKACEM, MUGBIL = MUQBIL; GU as QU (the U silent)
    ),
}


def _habits(surname: str, given_names: str, issuing_state: str = "") -> tuple[str, ...]:
    """The orthographies the whole name is written in (usually none), shown by the name or, when it may be written
    in one, by the state that issued the document (`issuing_state`, '' when unknown); raises NameKeyError."""
    text = f"{_clean(surname)} {_clean(given_names)} {surname} {given_names}".replace("ß", "ẞ").upper()
    state = issuing_state.strip("<").upper()
    return tuple(name for name, habit in _HABITS.items()
                 if not habit.lacks.search(text) and (state in habit.states or habit.shows.search(text)))


def _readings(word: str, habit: str = "") -> list[str]:
    """The spelling rewritten by each habit that applies to it (not the word itself); with `habit`, also by
    that orthography's readings, one letter at a time. A spelling the dictionary knows is taken as written:
    JAMAL read as YAMAL would lose its tag and meet JAMIL."""
    out: list[str] = []
    if word in _TAGS_BY_SPELLING or word in NAME_DICTIONARY:
        return out
    words = _HABITS[habit].words if habit else ()
    applied = [(pattern, replacement) for pattern, replacement in words if pattern.search(word)]
    if len(applied) > 1:  # n13: a document writes every letter of a word in its orthography: German CH for kha
        together = word  # and J for y at once, CHAJJAM = KHAYYAM, CHUBAJB = KHUBAYB
        for pattern, replacement in applied:
            together = pattern.sub(replacement, together)
        out.append(together)
    for pattern, replacement in words + _READINGS:  # the orthography's whole-word rewrites first, and read first
        rewritten = pattern.sub(replacement, word)  # (n12): DUCANE in Turkish is DUDJANE, then DUDJANA
        if rewritten != word and rewritten not in out:
            out.append(rewritten)
    rewrites = len(applied) + (len(applied) > 1)
    for base in [*out[:rewrites], word, *out[rewrites:]] if habit else ():  # on the other habits' readings too (n7): CHASNADAR = KHAZNADAR
        for pattern, replacement in _HABITS[habit].readings:
            for match in pattern.finditer(base):
                rewritten = base[: match.start()] + replacement + base[match.end() :]
                if rewritten not in out and rewritten != word:
                    out.append(rewritten)
    return out


@lru_cache(maxsize=16384)
def _alternatives(word: str, habit: str = "") -> tuple[str, ...]:
    """Codes one raw component may stand for, primary first (usually one); `habit`: read as a document in
    that orthography (_HABITS)."""
    return tuple(dict.fromkeys(itertools.chain(_word_codes(word), *map(_word_codes, _readings(word, habit)))))


@lru_cache(maxsize=16384)
def _word_codes(word: str) -> tuple[str, ...]:
    """Codes of one raw component as spelled (dictionary, ABD family, particles, suffixes, articles)."""
    word = NAME_DICTIONARY.get(word, word)
    abd = _ABD_GLUED.match(word)
    if abd:
        return tuple("VBD~" + code for code in _abd_rest_codes(abd["rest"]))
    codes: list[str] = []
    particle = _GLUED_PARTICLE.match(word)
    if particle:
        rest = particle[2]
        if rest[0] == "L" and rest[1] not in _VOWELS:  # ABUL KASIM, BOUL KHEIR: the article's L
            rest = rest[1:]
        codes += [_PARTICLES[particle[1]] + "~" + code for code in _alternatives(rest)]
        if particle[1][0] in "AEI" or _PARTICLES[particle[1]] == "BN":  # ABU, EBU, BEN, BIN, IBN never start a
            # name (BOU does: BOUCHRA): no whole-word code, which would hide the name's first vowel (BIN KHALFAN =
            # BIN KHOLFAN, ABU TARFA = ABU TURFA); a doubled N may be the particle's (BENNANI = BENANI)
            if rest[0] == "N" and _PARTICLES[particle[1]] == "BN":
                codes += [f"BN~{code}" for code in _alternatives(rest[1:])]
            return tuple(dict.fromkeys(codes))
    suffix = _DIN_SUFFIX.match(word) or _ALLAH_SUFFIX.match(word)
    if suffix:
        mark = "~DN" if suffix.re is _DIN_SUFFIX else "~LH"  # a base's final vowel joins the suffix (n8, n7 for E):
        # ATEULLAH = ATAALLAH, WALIUDDIN = OUALEEDDINE = VALIETTIN
        codes += [re.sub(r"(?<=[au-])[AYIUE-]$", "-", code) + mark for code in _word_codes(suffix["base"])]
        if mark == "~LH" and not word.endswith("H"):  # n13: -LLA without H may also end a name with a doubled L
            codes += _tagged_codes(word)  # (GAZALLA = GHAZALA); ALLAH is mostly written with its H
    else:
        whole = _tagged_codes(word)
        b_rounded = _B_ROUNDED.match(word)
        if b_rounded:
            vowel = _FIRST_VOWEL.search(_skeleton_codes(word[b_rounded.end() :])[0])
            whole = tuple(f"B^{vowel[1] if vowel else '-'}{code[1:]}" for code in whole)
        codes += whole
        rest = _glued_article_rest(word)
        if rest:
            codes += _word_codes(rest)
    return tuple(dict.fromkeys(codes))


def _abd_rest_codes(rest: str) -> tuple[str, ...]:
    """ABD + connecting vowel + article + name, reduced to the name (ABDERRAHMANE -> RAHMAN)."""
    rest = rest.lstrip("AEIOU")
    if len(rest) > 1 and rest[0] == "L" and (rest[1] not in _VOWELS or _OU_CONSONANT.match(rest, 1)):
        rest = rest[1:]  # ABDELKADER, ABDULLAH, ABDELOUAHED: the article's L before a consonant
    if _ALLAH.fullmatch(rest):
        rest = "LA"  # ALLAH in every spelling, Appendix B ALLH included
    if not rest:
        return ("",)
    return _alternatives(rest)  # the habits' readings of the name too (n8): ABDEL RHAFFAR = ABDUL GHAFFAR


def _glued_article_rest(word: str) -> str | None:
    """The name behind a glued article (ELHADI -> HADI), or None when the word cannot hold one.

    ALI, ELIAS, ESSA, ALAA keep only their own code: the rest must be long enough to be a name."""
    m = _GLUED_ARTICLE.match(word)
    if m:
        rest = m[1]
        has_consonant = any(ch not in _VOWELS for ch in rest)
        if has_consonant and ((rest[0] not in _VOWELS and len(rest) >= 3) or len(rest) >= 4):
            return rest
        return None
    m = _ASSIMILATED_ARTICLE.match(word)
    if m and len(m[1]) + len(m["tail"]) >= 4:
        return m[1] + m["tail"]
    m = _GLUED_L.match(word)  # L'HASSAN written LHASSAN
    if m:
        return m[1]
    return None


# --- consonant skeleton ---------------------------------------------------------------------------

# Doc 9303 Part 3 Appendix B (reversible Arabic transliteration): escapes mapped to the Latin spelling
# that the skeleton rules fold the same way.
_APPENDIX_B = {
    "KH": "KH", "SH": "SH", "TH": "TH", "DH": "DH", "GH": "GH", "SS": "S", "DZ": "D", "TT": "T",
    "ZZ": "Z", "AE": "A", "AA": "A", "AH": "A", "TA": "A", "H": "H", "W": "W", "I": "I", "E": "",
}  # fmt: skip
_APPENDIX_B_STRONG = re.compile(r"X(?:KH|SH|TH|DH|GH|SS|DZ|TT|ZZ|AE|AA|AH|TA|H)")
_APPENDIX_B_ESCAPE = re.compile(r"X(KH|SH|TH|DH|GH|SS|DZ|TT|ZZ|AE|AA|AH|TA|H|W|I|E)")
_DIGRAPHS = {
    "SH": "X", "CH": "X", "DJ": "J", "KH": "H", "GH": "G", "TH": "T", "DH": "D", "PH": "F", "CK": "K",
}  # fmt: skip
_CONSONANT = {"C": "K", "Q": "K", "G": "J", "V": "V"}  # others stand for themselves


def _prepare(word: str) -> tuple[str, bool]:
    """The word with Appendix B escapes resolved, X as KS and a final AH as A; and whether its short
    vowels are not written (Appendix B, or no vowel after the first letter: MXHMD, EMR, ELY)."""
    appendix_b = bool(_APPENDIX_B_STRONG.search(word))
    if appendix_b:
        word = _APPENDIX_B_ESCAPE.sub(lambda m: _APPENDIX_B[m[1]], word)
    word = word.replace("X", "KS")
    if len(word) >= 3 and word.endswith("AH"):
        word = word[:-1]  # final ta marbuta: FATIMAH = FATIMA, SALAH != SALEH
    if len(word) >= 3 and word[0] not in "AIOU" and not _VOWELS.intersection(word[1:]):
        appendix_b = True
    return word, appendix_b


@lru_cache(maxsize=16384)
def _skeleton_codes(word: str) -> tuple[str, ...]:
    """Code(s) of one plain word: [V] + consonant classes + first-vowel class + final-vowel class.

    Appendix B forms (and other vowel-less spellings) carry no short vowels, so their first-vowel
    class is unknown: they get one code per class."""
    word, appendix_b = _prepare(word)
    consonants: list[str] = []
    first_vowel, first_vowel_at = "", 0
    trailing = ""  # vowel letters after the last consonant
    initial_vowel = False
    i, n = 0, len(word)
    while i < n:
        ch, pair = word[i], word[i : i + 2]
        after = i + (2 if pair in ("OU", "GU", "QU") else 1)
        nxt = word[after] if after < n else ""
        sym, vowel, step = "", "", 1
        if word.startswith("DSCH", i):
            sym, step = "J", 4  # German DSCH for jim: DSCHAMAL = JAMAL
        elif word.startswith("TSCH", i):
            sym, step = "X", 4
        elif word.startswith("SCH", i):
            sym, step = "X", 3
        elif pair in _DIGRAPHS:
            sym, step = _DIGRAPHS[pair], 2
        elif pair == "OU":
            if i == 0 and nxt in _VOWELS:
                sym = "W"
            else:
                vowel = "U"
            step = 2
        elif pair in ("GU", "QU") and nxt in _VOWELS:
            sym, step = ("J" if ch == "G" else "K"), 2  # NAGUIB, TAOUFIQUE: the U is silent
        elif ch in _VOWELS:
            vowel = ch
        elif ch in "YWV":
            if i == 0 and nxt and nxt in "AEIOUWY":
                sym = "Y" if ch == "Y" else "W"
            else:
                vowel = "I" if ch == "Y" else "U"  # medial Y, W and (Turkish) V: RIDVAN = RIDWAN
        elif ch == "C":
            sym = "S" if nxt in ("E", "I", "Y") else "K"
        else:
            sym = _CONSONANT.get(ch, ch)
        if sym:
            if not consonants or consonants[-1] != sym or trailing:
                consonants.append(sym)
            trailing = ""
        else:
            if i == 0:
                initial_vowel = True
            if not first_vowel:
                first_vowel = "u" if vowel in ("O", "U") else "a"
                first_vowel_at = len(consonants)
            elif (trailing in ("A", "E") and vowel in ("O", "U") and len(consonants) == first_vowel_at and consonants
                  and (nxt in ("", "O", "U") or nxt not in _VOWELS | {"W", "Y", "V"})):
                first_vowel = "u"  # AW / AOU / AU written OU in the Maghreb: TAWFIK = TOUFIK = TEVFIK; not where
                # the W is a consonant before a vowel (n6): RAWAYLI != RUWAYLI, HAWWARI = HAOUARI != HOUARI
            trailing += vowel
        i += step
    if consonants and consonants[-1] in "DP" and not trailing:
        consonants[-1] = "T" if consonants[-1] == "D" else "B"  # word-final devoicing: AHMED = AHMET,
        # GALIP = GHALIB (NADIA keeps its D)
    # a lone final E after a consonant is a written vowel, a or i (n6: class E, RAMEZE, ABBADE), but for the silent
    # French e after N (AMINE), or after M or R that follow a consonant (BADRE); since n8 not after a vowel and M or R
    # (KHAZNADARE for KHAZNADARA, not KHAZNADAR; ALAME for ALAMI)
    silent = consonants and _SILENT_E.search(word)
    final = "E" if trailing == "E" and consonants and not silent else _final_class(trailing)
    if _CONSONANT_YE.search(word):
        final = "Y"  # n13: YE after a consonant is y + a final a written E (DEBYE = DABYA != DEBY), like IYE (ZEKIYE)
    stem = ("V" if initial_vowel else "") + "".join(consonants)
    if appendix_b:
        return (stem + "a" + final, stem + "u" + final)
    return (stem + (first_vowel or "-") + final,)


_CONSONANT_YE = re.compile(r"(?<=[^AEIOUY])YE$")
_SILENT_E = re.compile(r"(?:[AEIOUY]N|[^AEIOUYR]R)E$")  # AMINE, BADRE; not MOUZNE, HANNE, MUCAMME, HELME (n9)
_SILENT_CODE = re.compile(r"(?<=[A-Z])(?<![~])(?<!^V)[au]-$")  # an untagged code without a final vowel
_FIRST_VOWEL = re.compile(r"([au-])[AYIUE-]$")  # the first-vowel class in a skeleton code

# A word that ends in one vowel letter after a consonant other than M, N, R (and W, Y: FADWA's A follows a W);
# and a code that ends in the final-vowel class A, I or E (no dictionary tag, no DIN/ALLAH suffix).
_ONE_FINAL_VOWEL = re.compile(r"(?:[^AEIOUNWY]|(?<![AEIOUY])N)[AEIY]H?$")  # FATIMAH: the final AH is A; MOZNA
_FINAL_VOWEL = re.compile(r"(?<=[A-Z])(?<![~])(?<!^V)(?P<first>[au-])(?P<final>[AIE])$")


def _record_final_e(word: str, codes: tuple[str, ...]) -> tuple[str, ...]:
    """A listed word's codes with the final-vowel readings a document's final E may stand for (since n6): French
    and English documents write a final short i as E (ABBADE = ABBADI), Turkish ones a final a (HIBE = HIBA). So a
    listed ...I or ...A also stores class E, and a listed ...E also A and I. Only the list side: the gate still
    looks up one code per spelling, and ABBADA never meets ABBADI (each meets only ABBADE)."""
    if _SILENT_E.search(word) and word[-3:-1] != "RR":  # n12: the silent e is also stored as the written final
        # vowel that a document writes after a doubled letter (HAMDANNE = HAMDANE, RAIHANNE = RAIHANE)
        return tuple(dict.fromkeys([*codes, *(code[:-1] + "E" for code in codes if _SILENT_CODE.search(code))]))
    if not _ONE_FINAL_VOWEL.search(word):
        return codes
    out = list(codes)
    for code in codes:
        m = _FINAL_VOWEL.search(code)
        if m:
            stem = code[: m.start("final")]
            out += [stem + final for final in ("AI" if m["final"] == "E" else "E")]
    return tuple(dict.fromkeys(out))


# A final vowel that documents write ambiguously (n10): an E after a vowel and N is the silent French e, or a final
# i or a written E (HURANE for HURANI, RAIHANE for RAIHANA); after a W, V or OU it stands for an i or an a (RAWE for
# RAWI, KOUDOUE for KOUDWA). Exact matching would merge different people (AMIN and AMINA), so both sides also key the
# name with every such final vowel, written E, A or I, coded `e`: a weak `W` key, on which the gate REFERs, never HITs.
_AMBIGUOUS_FINAL = re.compile(r"(?:[AEIOUY]NN?|W|V|OU)(?:E|[IY]|AH?)$")  # n12: also after a doubled N (HAMDANNE)
_CODE_FINAL = re.compile(r"(?<=[A-Z])(?<![~])(?<!^V)[au][AYIUE-]$")  # an untagged code's final-vowel class


def _final_class(trailing: str) -> str:
    """A, Y (IA), I, U or '-' for the vowels that end a word: MANSOUR '-', MANSOURI 'I', SALAMA 'A'.

    A lone final E is the silent French e (AMINE = AMIN); ALAE = ALAA, ALEE = ALI."""
    if not trailing or trailing == "E":
        return "-"
    trailing = trailing.replace("UEA", "UA")  # UE is the Turkish and German U umlaut: DUEA = DOUA (n8)
    if len(trailing) >= 3 and trailing.endswith("IE") and trailing[-3] in "AEIOU":
        return "Y"  # an E after a y written Y, YY or II is a final a (n12): OULAIIE = ULAYYA, SARIIE = SARIYYA, and
        # DJUWAIREYYE (juwayriyya) != DJUWAIREYY
    if len(trailing) >= 2 and trailing.endswith("E") and trailing != "EE":
        trailing = trailing[:-1]
    last = trailing[-1]
    if last == "A":
        before = trailing.rstrip("A")[-1:]
        return "Y" if before and before in "IEY" else "A"  # NADIA, ZAKARIYA, RABEA != NADA, ZAKARA
    if last in "IE":
        return "I"
    return "U"


def _tagged_codes(word: str) -> tuple[str, ...]:
    """Skeleton codes, split by the dictionary where only vowels tell names apart (JAMAL != JAMIL)."""
    codes: list[str] = []
    for code in _skeleton_codes(word):
        tags = _TAGS_BY_CODE.get(code)
        if tags is None:
            codes.append(code)
        else:
            codes += [f"{code}#{tag}" for tag in _TAGS_BY_SPELLING.get(word, tags)]
    return tuple(codes)


def _dictionary_tags() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Tags per colliding code and per listed spelling, from names_data.DISTINCT_BY_VOWELS."""
    by_code: dict[str, dict[str, None]] = {}
    by_spelling: dict[str, dict[str, None]] = {}
    for tag, spellings in DISTINCT_BY_VOWELS.items():
        for spelling in spellings:
            by_spelling.setdefault(spelling, {})[tag] = None
            for code in _skeleton_codes(spelling):
                by_code.setdefault(code, {})[tag] = None
    shared = {code: tuple(tags) for code, tags in by_code.items() if len(tags) > 1}
    return shared, {spelling: tuple(tags) for spelling, tags in by_spelling.items()}


_TAGS_BY_CODE, _TAGS_BY_SPELLING = _dictionary_tags()


# --- fields and keys ----------------------------------------------------------------------------------

Codes = tuple[str, ...]  # one code per component of a field
JOINED = "+"  # marks a field rendering made by joining written parts (DA SILVA -> DASILVA)


class Rendering(NamedTuple):
    """One way to read a field: a code per component, and whether it joins parts written apart."""

    codes: Codes
    joined: bool


def _combos(words: list[str], components: list[tuple[str, ...]], limit: int, any_order: bool = False) -> list[Codes]:
    """Up to `limit` readings of a field (one code per component of `words`), nearest the primary reading first
    (the sum of the alternatives' ranks), ties in the order the words are written or, `any_order`, in their
    alphabetical order (the same readings whatever order a document writes them in, n19). A word written twice
    (XHSYN XHSYN) is read the same way both times (n14): one document writes one name one way."""
    distinct = sorted(set(words)) if any_order else list(dict.fromkeys(words))
    slots = [distinct.index(word) for word in words]  # each component's word among the distinct ones
    sizes = [len(components[words.index(word)]) for word in distinct]
    choices = itertools.islice(itertools.product(*(range(n) for n in sizes)), 4096)
    best = sorted(choices, key=sum)[:limit]  # stable: lexicographic among equals
    return [tuple(c[choice[k]] for k, c in zip(slots, components, strict=True)) for choice in best]


@lru_cache(maxsize=4096)
def _field_codes(
    field: str, glue: bool, limit: int = QUERY_COMBOS, habit: str = "", listed: bool = False, any_order: bool = False
) -> tuple[Rendering, ...]:
    """Every coded rendering of one field, primary first: hyphens as separators, then hyphenated
    parts joined (issuers do both) and, for the surname (`glue`), all parts as one word; `habit`: the
    components also read as written in that orthography; `listed`: a listed name's field, whose components
    also take the readings of a final E (_record_final_e); `any_order`: ties among readings as _combos."""
    text = _clean(field)
    split = text.replace("-", " ").split()
    renderings = [(split, False)]
    if "-" in text:
        renderings.append((text.replace("-", "").split(), True))
    if glue and len(split) > 1:
        renderings.append((["".join(split)], True))
    found: dict[Rendering, None] = {}
    for tokens, joined in renderings:
        words = _group(tokens)
        codes = [_alternatives(word, habit) for word in words]
        if listed:
            codes = [_record_final_e(word, c) for word, c in zip(words, codes, strict=True)]
        for combo in _combos(words, codes, limit, any_order):
            found.setdefault(Rendering(combo, joined))
    return tuple(found)


def _fields(
    surname: str, given_names: str, limit: int = QUERY_COMBOS, habit: str = "", listed: bool = False
) -> tuple[tuple[Rendering, ...], tuple[Rendering, ...]]:
    """Coded renderings of both fields (`listed`: of a listed name); raises NameKeyError when there is no name."""
    surnames = _field_codes(surname, True, limit, habit, listed)
    givens = _field_codes(given_names, False, limit, habit, listed)
    if not surnames[0].codes and not givens[0].codes:
        raise NameKeyError(
            f"name {surname!r:.60} / {given_names!r:.60} has no letters; expected a surname and given names"
        )
    return surnames, givens


def _part(codes: Codes, joined: bool = False) -> str:
    return (JOINED if joined else "") + ".".join(codes)


def _key(tag: str, *parts: str) -> str:
    return tag + "|" + "|".join(parts)


def _initial_keys(s: Codes, g: Codes) -> list[str]:
    """I|prefix|initial for every component after the first: what a cut field still shows."""
    tokens = (*s, "/", *g)
    return [
        "I|" + ".".join(tokens[:j]) + "|" + tokens[j][:1]
        for j in range(1, len(tokens))
        if tokens[j] != "/" and tokens[j]
    ]


# The first-vowel class of a component code and its dictionary tag (MHMTu- -> MHMT*-, HSNa-#HASSAN -> HSN*-).
_FIRST_VOWEL_CLASS = re.compile(r"[au-]([AYIUE-])(?:#[A-Z]+)?(?=[~.]|$)")


def _blind(codes: Codes) -> str:
    """A field's codes with the first-vowel class of each component unknown: how a name whose short
    vowels are not written (Appendix B) is compared, as one key instead of one per vowel reading."""
    return ".".join(_FIRST_VOWEL_CLASS.sub(r"*\1", code) for code in codes)


@lru_cache(maxsize=4096)
def _split_words(field: str) -> tuple[str, ...]:
    """The raw components of a field with hyphens as separators (its primary rendering); raises NameKeyError."""
    return tuple(_group(_clean(field).replace("-", " ").split()))


def _vowels_unwritten(surname: str, given_names: str) -> bool:
    """Whether every component of the name is written without its short vowels (MXHMD XHSYN)."""
    words = [*_split_words(surname), *_split_words(given_names)]
    return bool(words) and all(_prepare(word)[1] for word in words)


def _blind_record_keys(tag: str, s: Codes, g: Codes) -> list[str]:
    """`tag|S|G` and `tagP|S|G[:k]` (every proper prefix of the given names) over blind codes."""
    bs = _blind(s)
    return [_key(tag, bs, _blind(g))] + [_key(tag + "P", bs, _blind(g[:k])) for k in range(1, len(g))]


def _ordered(g: Codes) -> str:
    """The given names in code order: the same key whatever order the document writes them in."""
    return ".".join(sorted(g))


_INITIAL_VOWEL_CODES = frozenset({"VaA", "Va-", "VaI", "VuU"})


def _is_initial(code: str) -> bool:
    """Whether a component is one letter (an initial): a lone consonant codes to 'K--', a vowel to one
    of the four vowel codes."""
    return (len(code) == 3 and code.endswith("--")) or code in _INITIAL_VOWEL_CODES


def mrz_name_field(surname: str, given_names: str) -> str:
    """The name as an MRZ name field (SURNAME<<GIVEN<NAMES), untruncated; raises NameKeyError."""
    surname_part = _clean(surname).replace("-", "<").replace(" ", "<")
    given_part = _clean(given_names).replace("-", "<").replace(" ", "<")
    return surname_part + ("<<" + given_part if given_part else "")


@lru_cache(maxsize=4096)
def _ambiguous_words(surname: str, given_names: str) -> tuple[tuple[int, int], tuple[int, ...]]:
    """The number of raw components of each field in its primary rendering, and the positions of those that end
    in an ambiguously written final vowel (_AMBIGUOUS_FINAL); computed once per name, not per reading."""
    words = [_split_words(surname), _split_words(given_names)]
    found = tuple(i for i, word in enumerate([*words[0], *words[1]]) if _AMBIGUOUS_FINAL.search(word))
    return (len(words[0]), len(words[1])), found


def _ambiguous_key(surname: str, given_names: str, s: Codes, g: Codes, only: frozenset[int] | None = None) -> str | None:
    """`W|S|G` of the reading `s`, `g` with the final vowel of every word that ends ambiguously (_AMBIGUOUS_FINAL)
    coded `e`, the same on both sides; None when no word does (or the reading does not line up with the words).
    `only`: the positions among those to code `e` (the list side, below)."""
    lengths, positions = _ambiguous_words(surname, given_names)
    if only is not None:
        positions = tuple(i for i in positions if i in only)
    if not positions or lengths != (len(s), len(g)):
        return None
    codes = [*s, *g]
    found = False
    for i in positions:
        if _CODE_FINAL.search(codes[i]):
            codes[i], found = codes[i][:-1] + "e", True
    return _key("W", ".".join(codes[: len(s)]), ".".join(codes[len(s) :])) if found else None


def _any_order_keys(
    surnames: list[Codes], given_names: str, truncated: bool, limit: int = QUERY_COMBOS, habit: str = ""
) -> list[str]:
    """`O|` keys of the given-name readings that the cap keeps whatever order the document writes the names in
    (_combos `any_order`), which the gate looks up besides those of the readings as written (n19): a Turkish DUCANE HUCR
    keeps the reading DUCANA HUDJR of a listed DUJAANA HUJR as its 8th, HUCR DUCANE had it 9th, past HABIT_COMBOS."""
    words = _split_words(given_names)
    if truncated or list(dict.fromkeys(words)) == sorted(set(words)):  # in that order already: the same readings
        return []
    if math.prod(len(_alternatives(word, habit)) for word in set(words)) <= limit:  # the cap keeps every reading
        return []
    givens = [g for g, joined in _field_codes(given_names, False, limit, habit, any_order=True) if len(g) > 1 and not joined]
    return [_key("O", _part(s), _ordered(g)) for s in surnames for g in givens]


def record_name_keys(surname: str, given_names: str) -> list[str]:
    """Keys a list builder stores for one listed person (each then fingerprinted with the birth date).

    Keys of joined renderings are marked, so that two names written apart never meet through their
    joined forms (KHALED-MAHMOUD and KHALED-MOHAMED both join to KHALEDM.HM.D).
    Raises NameKeyError for a field that is not a Latin-script name or a name without letters."""
    surnames, givens = _fields(surname, given_names, RECORD_COMBOS, listed=True)
    blind_tags = ("B", "A") if _vowels_unwritten(surname, given_names) else ("B",)
    keys: dict[str, None] = {}
    positions = _ambiguous_words(surname, given_names)[1][:3]
    ambiguous_subsets = [frozenset(c) for k in range(len(positions), 0, -1) for c in itertools.combinations(positions, k)]
    for s, s_joined in surnames:
        for g, g_joined in givens:
            sp, gp = _part(s, s_joined), _part(g, g_joined)
            keys.setdefault(_key("F", sp, gp))
            for k in range(len(g)):
                keys.setdefault(_key("P", sp, _part(g[:k], g_joined)))
            if not s_joined and not g_joined:
                keys.setdefault(_key("NG", _part(g + s)))
                keys.setdefault(_key("NS", _part(s + g)))
                if len(g) > 1:
                    keys.setdefault(_key("O", sp, _ordered(g)))
                for tag in blind_tags:
                    keys.update(dict.fromkeys(_blind_record_keys(tag, s, g)))
                for key in _initial_keys(s, g):
                    keys.setdefault(key)
                for only in ambiguous_subsets:  # n12: for every reading, like the gate, and for every part of the
                    ambiguous = _ambiguous_key(surname, given_names, s, g, only)  # ambiguous words (a document
                    if ambiguous:  # writes KAHLAN without the silent e of a listed KEHLANE, HAMDANI with an I)
                        keys.setdefault(ambiguous)
    for habit in _habits(surname, given_names):  # listed as a document in that orthography spelled it
        habit_surnames, habit_givens = _fields(surname, given_names, RECORD_COMBOS, habit, listed=True)
        for s, s_joined in habit_surnames:
            for g, g_joined in habit_givens:
                keys.setdefault(_key("F", _part(s, s_joined), _part(g, g_joined)))  # no prefixes: a reading and
                # a dropped given name are two departures (n8), which the gate only REFERs
                if len(g) > 1 and not s_joined and not g_joined:  # the reading's own surname, as the gate
                    keys.setdefault(_key("O", _part(s), _ordered(g)))  # looks it up (up to n17 the last primary's)
    field = mrz_name_field(surname, given_names)
    for width in MRZ_NAME_WIDTHS:
        if len(field) > width:
            cut_surname, _, cut_given = field[:width].rstrip("<").partition("<<")
            cut_surnames, cut_givens = _fields(cut_surname.replace("<", " "), cut_given.replace("<", " "))
            for s, s_joined in cut_surnames:
                for g, g_joined in cut_givens:
                    if not s_joined and not g_joined:
                        keys.setdefault(_key("T", _part(s), _part(g)))
    return list(keys)


def query_name_keys(
    surname: str, given_names: str, *, truncated: bool = False, issuing_state: str = ""
) -> list[tuple[str, str]]:
    """Keys a gate looks up for one traveller, each with its strength: "exact" may HIT, "weak" may
    only REFER. `truncated` says the MRZ name field was full, so its last component may be partial;
    `issuing_state` is the document's issuing state as the MRZ writes it (ICAO code, '' when unknown): a Turkish
    or German document's spelling is also read in that orthography (_HABITS).

    At most MAX_QUERY_KEYS keys, the full-name keys of every spelling first.
    Raises NameKeyError for a field that is not a Latin-script name or a name without letters."""
    surnames, givens = _fields(surname, given_names)
    keys: dict[str, tuple[int, str]] = {}  # key -> (rank, strength); lower ranks are looked up first

    def add(rank: int, key: str, strength: str) -> None:
        if key not in keys or (strength == EXACT and keys[key][1] != EXACT):
            keys[key] = (min(rank, keys.get(key, (rank, ""))[0]), strength)

    full = WEAK if truncated else EXACT  # keys holding the possibly partial last component
    # B keys: this name's vowels are not written, every record stores B; A: the record's are not
    unwritten = _vowels_unwritten(surname, given_names)
    blind_tag, blind_rank = ("B", 0) if unwritten else ("A", 3)
    single_surname = len(surnames[0].codes) <= 1  # may be the joined form of a listed DA SILVA
    for s, s_joined in surnames:
        for g, g_joined in givens:
            sp, gp = _part(s), _part(g)
            add(0, _key("F", sp, gp), full)
            add(1, _key("P", sp, gp), full if g else WEAK)  # record has more given names than the document
            if s_joined or g_joined:
                continue  # joined forms only meet the record's own spelling, never its joined forms
            for k in range(len(g) - 1, 0, -1):  # record has fewer given names than the document
                add(1, _key("F", sp, _part(g[:k])), EXACT)
            if len(g) > 1 and not truncated:  # the given names in another order
                add(1, _key("O", sp, _ordered(g)), EXACT)
            ambiguous = _ambiguous_key(surname, given_names, s, g)
            if ambiguous:  # a final vowel written ambiguously (n10), for every reading of the words since n12
                add(4, ambiguous, WEAK)
            primary = (s, g) == (surnames[0].codes, givens[0].codes)
            if not primary and not unwritten:
                continue  # the other ways of writing a name's structure: for its primary reading only (n6)
            add(1, _key("F", sp, ""), WEAK)  # the record has no given names
            # the document writes as one word what the list writes apart
            for marked_s, marked_g in ((True, False), (False, True)):
                if marked_s and not single_surname or marked_g and not g:
                    continue
                msp, mgp = _part(s, marked_s), _part(g, marked_g)
                add(2, _key("F", msp, mgp), full)
                add(3, _key("P", msp, mgp), full)
            if not truncated:
                bs = _blind(s)  # unwritten vowels on either side; A keys for the primary reading only
                add(blind_rank, _key(blind_tag, bs, _blind(g)), EXACT)
                add(blind_rank, _key(blind_tag + "P", bs, _blind(g)), EXACT)
                for k in range(1, len(g) if unwritten else 0):  # the record has fewer given names
                    add(blind_rank + 1, _key(blind_tag, bs, _blind(g[:k])), EXACT)
            add(2, _key("NG", _part(g + s)), full)
            add(2, _key("NS", _part(s + g)), full)
            if g:  # surname and given names swapped on one side
                add(4, _key("NS", _part(g + s)), WEAK)
                add(4, _key("NG", _part(s + g)), WEAK)
            initial = next((j for j, code in enumerate(g) if _is_initial(code)), None)
            if initial:  # MOHAMED A K: given names cut to initials (Doc 9303 truncation)
                add(4, "I|" + ".".join((*s, "/", *g[:initial])) + "|" + g[initial][:1], WEAK)
            if truncated:  # the same spelling cut at the same width: exact only when a whole given name is left
                # beside the cut one; a visible surname (or part of one) alone may only REFER (NAMES.md rule 5, n15)
                add(0, _key("T", sp, gp), EXACT if len(g) > 1 else WEAK)
                if g:
                    if len(g) > 1:  # a whole given name agrees; a lone cut one is left to its initial
                        add(3, _key("P", sp, _part(g[:-1])), WEAK)
                    prefix, last = (*s, "/", *g[:-1]), g[-1]
                else:
                    prefix, last = s[:-1], (s[-1] if s else "")
                if prefix and last:
                    add(3, "I|" + ".".join(prefix) + "|" + last[:1], WEAK)
    for key in _any_order_keys([s for s, joined in surnames if not joined], given_names, truncated):
        add(1, key, EXACT)
    for habit in _habits(surname, given_names, issuing_state):  # a document orthography that writes two sounds alike
        habit_surnames, habit_givens = _fields(surname, given_names, HABIT_COMBOS, habit=habit)
        for s, _ in habit_surnames:
            for g, _ in habit_givens:
                sp, gp = _part(s), _part(g)
                add(1, _key("F", sp, gp), full)
                if len(g) > 1 and not truncated:  # every given name, in another order: with the full-name keys (n19)
                    add(1, _key("O", sp, _ordered(g)), EXACT)
                add(2, _key("P", sp, gp), full if g else WEAK)  # the record has more given names
                for k in range(len(g) - 1, 0, -1):  # a reading and a dropped given name: two departures,
                    add(2, _key("F", sp, _part(g[:k])), WEAK)  # REFER only (n8: ZAYDUN != SADUN HUDHAIL read ZADUN)
        for key in _any_order_keys([s for s, _ in habit_surnames], given_names, truncated, HABIT_COMBOS, habit):
            add(1, key, EXACT)
    ranked = sorted(keys.items(), key=lambda item: item[1][0])  # stable: spelling order within a rank
    return [(key, strength) for key, (_, strength) in ranked[:MAX_QUERY_KEYS]]
