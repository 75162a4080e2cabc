"""Read the MRZ of page images: locate the band, recognise its lines (models/mrz_line.tflite), decode.

Decoding turns the model's per-column probabilities into lines of exactly the layout's width (a Viterbi
search over CTC paths with that many characters), keeps each character's probabilities, restricts each
position to its field's type, and searches the most probable readings that pass every check digit (best
first, a bounded number; ``constrained``). The reading's ``confidence`` combines how surely the characters
no check digit covers are read (names: an unsure name letter lowers it) with how clearly the check digits
single out this reading among the passing ones; a name field not shaped as Doc 9303 gives it
(``names_well_formed``) has confidence 0. A reading that passes no check is returned with ``valid``
False, and one below MIN_CONFIDENCE is not ``trusted``: the gate REFERs both, it never guesses. A trusted
reading is read again at another character pitch (``second_look``); one not trusted is read by the other
line models too, and trusted when all views together are sure (``second_opinion``).

Several frames of the same document: the surest trusted frame, or else their per-character probabilities
averaged (``read_frames``).

    >>> reading = read_image_mrz(rgb)
    >>> reading.result.valid, reading.confidence, reading.timings_ms
"""

from __future__ import annotations

import calendar
import contextlib
import datetime
import functools
import heapq
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np

from agent.mrz import MrzFormatError, parse_mrz
from agent.mrz.checkdigit import check_digit, check_value, values
from agent.mrz.countries import COUNTRY_CODES
from agent.mrz.layouts import Layout, detect_layout
from agent.mrz.parser import is_partial_date
from agent.mrz.result import MrzResult
from agent.vision.image import enlarged, grey, resize, straightened, turned
from agent.vision.lines import ALPHABET, LINE_H, line_input, widened, widened_width
from agent.vision.locate import WORK_SIDE, Band, iter_candidates
from agent.vision.runtime import Model, VisionUnavailableError, shared_model

T = TypeVar("T")
MODEL = "mrz_line.tflite"
SECOND_MODEL = "mrz_line_second.tflite"  # line models trained apart, asked when the first is not sure: second_opinion
THIRD_MODEL = "mrz_line_third.tflite"
OTHER_MODELS = (SECOND_MODEL, THIRD_MODEL)
WIDTHS = {3: (30,), 2: (44, 36)}  # line widths by line count: TD1; TD3/MRV-A, TD2/MRV-B/French ID
SURE_BLANK = 0.995  # a column this surely blank is taken as blank by the exact-width decoding
MAX_CANDIDATES = 1000  # readings tried for the passing ones
RIVAL_SPAN = math.log(1000)  # passing readings this much less probable than the best no longer count
CHANCE = 0.1  # the chance that a check digit passes on a misread
ALTERNATIVES = 4  # per uncertain character, and every one at least TIED as probable as its likeliest (constrained)
TIED = 0.5
UNCERTAIN = 12  # characters whose alternatives are searched (the least certain ones)
SURE_UPRIGHT = -0.04  # characters' mean log-probability of lines read surely (not read turned, nor other bands)
# best_band: a band with a line crop less than this many times as wide as it is high is read after the others: no
# room for a TD1's 30 characters at 0.47 of the crop's height a character. MRZ crops were 16-40 on 300 evaluation
# pages and the 38 real specimens; a page's large print read before its MRZ 7-13 (777000+47, +118, +204, +222:
# 4-10 line model runs each, the camera gate's slowest frames)
MRZ_ASPECT = 14.0
LIKELY = -0.3  # a band read at least this surely whose reading is trusted ends the search too (best_band)
LENGTH_PENALTY = 0.05  # per character a line's best-path reading is off the layout's width
EDGE = 0.5  # Scored.unseen: a character emitted beyond the frame's start or end less this much (pitches)
TRIM_MARGIN = 0.8  # a trimmed crop's margin beyond the first and last emission, in characters
TRIM_GAIN = 0.93  # a crop is trimmed only when this leaves at most this share of a line
SQUEEZED = 1.5  # _unsqueezed: a character emitted between two this few pitches apart is squeezed in, not read
MIN_CONFIDENCE = 0.95  # below this a reading that passes its checks is still not trusted (REFER)
WIDER_CONFIDENCE = 1 - (1 - MIN_CONFIDENCE) / 2  # a second reading (reread_wider) is a second chance: half the doubt
# apply_field_types: a position where the model puts less than this of its probability on the characters the field
# allows read something the field cannot hold (a real Romanian card prints `132` where its nationality is due; the
# letters left were renormalised into a sure listed code, `ISR`, trusted at 0.957); it keeps only kept / KEPT_MIN in
# all. Trusted right readings keep 0.02 or more on 2,000 development pages and 0.013 on the real specimens
KEPT_MIN = 1e-3
UNLISTED = 1e-4  # the weight of a country code not in agent/mrz/countries.py against a listed one (_listed_codes)
LETTERS = np.frombuffer(ALPHABET.encode("ascii"), np.uint8)  # ALPHABET's characters by class, as bytes
CODES = np.array([[ALPHABET.index(c) for c in code] for code in sorted(COUNTRY_CODES)])  # the listed codes
LOOK_SURE = 0.8  # second_look: a second reading of the same text at least this sure confirms the first
LOOK_WIDTHS = {44: widened_width(44), 36: widened_width(36), 30: 376}  # second_look: TD1 at a TD2-like pitch
# shows_an_mrz: an MRZ line is printed in OCR-B at a fixed pitch, 30, 36 or 44 characters, fillers included; a band
# shows an MRZ when the line model reads one of its lines at such a length (+-1), its characters evenly spaced and
# surely: their columns' stray from a smooth curve (a quadratic: seen at an angle, the pitch narrows along the line;
# root mean square, in pitches) plus MRZ_DOUBT of the characters' mean doubt (-log p, ``_greedy``) at most MRZ_LINE.
# The best line of real MRZs read REFER, of pages with half their bottom MRZ line covered and of pages blurred to
# REFER's edge (Gaussian, radius 2.5-3.5): 0.21 at most; of other print: a chart of the MRZ's 44 cells 0.23 (read
# REFER), cards' fronts 0.27 and more, scans of text 0.29-0.34, photographs 0.42 and more (docs/vision.md "MRZ or not")
MRZ_LINE, MRZ_DOUBT = 0.25, 0.2
TURNS = (90, 45, -45)  # read_frames: a frame not trusted as it lies is read turned so (the skew search spans +-21.75)
SMALL_SIDE = 2000  # read_frames: a frame not trusted is read again closer: enlarged (bicubic, 2x) when its longer
# side is shorter than this, else located on a working image twice the usual side (see _other_views)
FAR_EDGES = ("top", "bottom", "left", "right")  # read_frames: a frame not trusted in any view above is read
KEYSTONE = 0.2  # straightened as if its far edge (each of these) had looked this share shorter at each end
WIDER_CHARS = (44,)  # lines read again wider when doubted (TD3, MRV-A); not 36: see reread_wider


@dataclass
class Reading:
    """What was read from one image (or several frames): lines, parse result, confidence, timings."""

    lines: tuple[str, ...] = ()
    result: MrzResult | None = None  # None when no MRZ was found
    confidence: float = 0.0
    probs: list[np.ndarray] = field(default_factory=list)  # per line: width x len(ALPHABET)
    timings_ms: dict[str, float] = field(default_factory=dict)
    crops: list[np.ndarray] = field(default_factory=list, repr=False)  # the upright line crops read (second_look)

    @property
    def trusted(self) -> bool:
        """Every check passes and every character is sure enough: the gate may act on it."""
        return self.result is not None and self.result.valid and self.confidence >= MIN_CONFIDENCE

    def as_json(self) -> dict[str, object]:
        """The reading as printed by ``mrz read --json``: the keys of ``mrz parse``, confidence, timings."""
        timings = {k: round(v, 3) for k, v in self.timings_ms.items()}
        if self.result is None:
            return {"error": "no MRZ found", "confidence": 0.0, "timings_ms": timings}
        return {**self.result.to_dict(), "confidence": round(self.confidence, 4), "timings_ms": timings}


class BandReading(NamedTuple):
    """A candidate band as the model read it: how surely (``_score``), the band, the per-character
    probabilities at the layout's width, and the upright line crops they were read from (turned, chosen,
    trimmed as ``scored_columns`` found best)."""

    score: float
    band: Band
    probs: list[np.ndarray]
    crops: list[np.ndarray]
    unseen: tuple[tuple[int, int], ...] = ()  # per line, its first and last characters read beyond the frame


def recognise(crops: Sequence[np.ndarray], model: Model) -> list[np.ndarray]:
    """Per-column class probabilities (columns x CLASSES, blank first) of each grey line crop, all lines in
    one hand-over to the model's worker thread (the first line model's spread over it and its twin: ``spread``)."""
    width = model.input_shape[-1]
    x = line_input(np.stack([resize(np.clip(c, 0, 255).astype(np.uint8), width, LINE_H) for c in crops]))
    outs = model.run_each([line.reshape(model.input_shape) for line in x], spread=spread(model))
    return [np.exp(out.reshape(out.shape[-2], out.shape[-1]).astype(np.float64)) for (out,) in outs]


class CtcPath(NamedTuple):
    """A line's reading along one CTC path: its text, each character's probabilities over ALPHABET (at the
    column it was emitted), the path's log-probability, and the columns it emits its characters at."""

    text: str
    chars: np.ndarray
    logp: float
    steps: np.ndarray


def decode_exact(probs: np.ndarray, width: int) -> CtcPath:
    """The most probable CTC path emitting exactly ``width`` characters (no text when there is none)."""
    logp = np.log(np.maximum(probs, 1e-12))
    steps, classes = logp.shape
    neg = -1e18
    # score[n, s]: best log-prob having emitted n characters, current label s (0 = blank)
    score = np.full((width + 1, classes), neg)
    score[0, 0] = logp[0, 0]
    score[1, 1:] = logp[0, 1:]
    back = np.zeros((steps, width + 1, classes), np.int16)  # previous label; the previous count follows
    rows = np.arange(width + 1)
    labels = np.arange(1, classes)
    sure_blank = probs[:, 0] > SURE_BLANK  # a column that is all but surely blank: only blank paths go on
    for t in range(1, steps):
        if t > 1 and sure_blank[t] and sure_blank[t - 1]:  # only blank paths came here too: each goes on from its
            score[:, 0] += logp[t, 0]  # blank (back[t] stays 0), in place
            continue
        new = np.empty_like(score)
        # to blank: from any label, same count
        first = score.argmax(1)
        best_prev = score[rows, first]
        new[:, 0] = best_prev + logp[t, 0]
        back[t, :, 0] = first
        if sure_blank[t]:
            new[:, 1:] = neg
            score = new
            continue
        # stay on the same label (no emission)
        stay = score[:, 1:] + logp[t, 1:]
        # emit a label: from count n-1, the best previous label other than this one (the best, or the second best
        # when the best is this label: the best masked out of score, which ``new`` replaces)
        score[rows, first] = neg
        second = score.argmax(1)
        second_prev = score[rows, second]
        is_first = first[:-1, None] == labels
        emit = np.where(is_first, second_prev[:-1, None], best_prev[:-1, None]) + logp[t, 1:]
        use_emit = emit > stay[1:]
        new[0, 1:] = stay[0]  # no count below 0 to emit from
        new[1:, 1:] = np.where(use_emit, emit, stay[1:])
        # the back pointer: the previous label, +classes when the count went up
        back[t, 0, 1:] = labels
        back[t, 1:, 1:] = np.where(use_emit, np.where(is_first, second[:-1, None], first[:-1, None]) + classes, labels)
        score = new
    state = int(score[width].argmax())
    total = float(score[width, state])
    n, emitted = width, []
    for t in range(steps - 1, 0, -1):
        ptr = int(back[t, n, state])
        went_up = state != 0 and ptr >= classes
        prev = ptr - classes if went_up else ptr
        if went_up:
            emitted.append((t, state))
            n -= 1
        state = prev
    if n == 1 and state != 0:
        emitted.append((0, state))
    emitted.reverse()
    if len(emitted) != width:
        return CtcPath("", np.zeros((width, len(ALPHABET))), neg, np.zeros(0, np.intp))
    text = "".join(ALPHABET[s - 1] for _, s in emitted)
    char_probs = np.stack([probs[t, 1:] / max(probs[t, 1:].sum(), 1e-12) for t, _ in emitted])
    return CtcPath(text, char_probs, total, np.array([t for t, _ in emitted]))


def _parse(lines: Sequence[str], today: datetime.date) -> MrzResult | None:
    return _parsed(tuple(lines), today)


@functools.lru_cache(maxsize=4096)
def _parsed(lines: tuple[str, ...], today: datetime.date) -> MrzResult | None:
    """``parse_mrz`` of ``lines``, None when not an MRZ. Cached (a result is an immutable tuple): the constrained
    searches of one frame's views (as read, the second look, read wider, the other models) try many of the same
    readings again; on evaluation page 777000+252, read with doubt, 1,106 parses were of 543 readings."""
    try:
        return parse_mrz(list(lines), today=today)
    except MrzFormatError:
        return None


def constrained(probs: list[np.ndarray], today: datetime.date) -> tuple[tuple[str, ...], MrzResult | None, float]:
    """The most probable reading that passes every check digit and whose dates are calendar dates, searched
    best first over alternatives for the least certain characters that a check digit covers (the ALTERNATIVES
    next likeliest, or every one at least TIED as probable as the likeliest: a character not seen, ``unknown``),
    and its confidence: the least of

    - the probability that every character no check digit covers (a name's letter), or that was not
      varied, is right (their probabilities multiplied);
    - its share of the probability of all passing readings found (``0``/``O`` in a document number, which
      the check digit tells apart, no longer limits it; letters 10 apart in value, which the 7-3-1 weights
      cannot tell apart, still do: both pass), with, as a rival, the chance that a passing reading turned
      up by luck: CHANCE per check the best reading failed, for every reading tried before it (a band read
      from a texture passes after enough alterations; a fixed ``0``/``O`` after one or two); and where the
      composite fails only with a field it weighs alike (``_composite_implied``), so that one check decided,
      CHANCE times the odds that an altered position prints a character never tried (``_untried_odds``).

    When no passing reading is found within the bounds: the best reading (failing) and confidence 0."""
    widths = [p.shape[0] for p in probs]
    flat = np.concatenate(probs)
    best = flat.argmax(1)
    fields = _country_fields(widths, "".join(ALPHABET[c] for c in best[:5]))
    codes_sure = _listed_codes(flat, best, fields)
    logp = np.log(np.maximum(flat, 1e-12))

    def text_of(chars: np.ndarray) -> tuple[str, ...]:
        s = LETTERS[chars].tobytes().decode("ascii")  # up to MAX_CANDIDATES a reading: not one by one
        out, i = [], 0
        for w in widths:
            out.append(s[i : i + w])
            i += w
        return tuple(out)

    try:  # alternatives: the least certain positions a check digit covers, each with its next likeliest characters
        layout: Layout | None = detect_layout(text_of(best))
    except MrzFormatError:
        layout = None
    checks = len(layout.checks) if layout else 0
    covered = _covered(layout, len(best)) if layout else np.ones(len(best), bool)
    order = np.argsort(np.where(covered, flat.max(1), 2.0))[: min(UNCERTAIN, int(covered.sum()))]
    alts = []
    for pos in order:
        tied = int((flat[pos] >= TIED * flat[pos].max()).sum())  # a character not seen: every one its field allows
        ranked = np.argsort(-flat[pos], kind="stable")[: max(ALTERNATIVES + 1, tied)]
        alts.append([(float(logp[pos, ranked[0]] - logp[pos, c]), int(c)) for c in ranked[1:] if flat[pos, c] > 0])
    passing: list[tuple[float, np.ndarray, MrzResult]] = []  # (cost, characters, result), cheapest first
    heap: list[tuple[float, tuple[tuple[int, int], ...]]] = [(0.0, ())]
    seen: set[tuple[tuple[int, int], ...]] = {()}
    tried, failed = 0, checks  # readings tried before the first passing one; checks the best reading fails
    implied = False
    for _ in range(MAX_CANDIDATES):
        if not heap:
            break
        cost, subs = heapq.heappop(heap)
        if passing and cost > passing[0][0] + RIVAL_SPAN:
            break  # rivals this much less probable than the best passing reading no longer count
        chars = best.copy()
        for i, k in subs:
            chars[order[i]] = alts[i][k][1]
        candidate = _parse(text_of(chars), today)
        if not subs and candidate is not None:
            failed = len(candidate.failed_checks) + (not _dates_exist(candidate))
            implied = layout is not None and _composite_implied(layout, "".join(text_of(chars)), candidate.failed_checks)
        if candidate is not None and candidate.valid and _dates_exist(candidate):
            passing.append((cost, chars, candidate))
        elif not passing:
            tried += 1
        last = subs[-1][0] if subs else -1
        for i in range(last + 1, len(alts)):  # add one more substitution after the last one
            nxt = (*subs, (i, 0))
            if alts[i] and nxt not in seen:
                seen.add(nxt)
                heapq.heappush(heap, (cost + alts[i][0][0], nxt))
        if subs:  # or move the last substitution to its next alternative
            i, k = subs[-1]
            if k + 1 < len(alts[i]):
                nxt = (*subs[:-1], (i, k + 1))
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (cost - alts[i][k][0] + alts[i][k + 1][0], nxt))
    if not passing:  # the checks pass as read but a date is not a date: still nothing to trust
        return text_of(best), _parse(text_of(best), today), 0.0
    cost, chars, result = passing[0]
    rivals = sum(math.exp(cost - c) for c, _, _ in passing)
    luck = max(tried, 1) * CHANCE**failed if failed else CHANCE**checks
    if implied:  # one check's evidence: the odds that the truth lies among characters the search never tried count
        luck = max(luck, CHANCE ** (failed - 1) * _untried_odds(flat, best, chars, order, alts))
    text = text_of(chars)
    if not names_well_formed(text):
        return text, result, 0.0
    codes = [i for field in fields for i in field]  # judged as whole codes: codes_sure
    return text, result, min(codes_sure * _sure(flat, chars, order, covered, codes), 1.0 / (rivals + luck))


def _untried_odds(flat: np.ndarray, best: np.ndarray, chars: np.ndarray, order: np.ndarray,
                  alts: list[list[tuple[float, int]]]) -> float:
    """The odds that a position where ``chars`` differs from ``best`` prints none of the characters the search tried
    there: the model's belief outside them against its belief in the one chosen. A character the model does not see
    (a thumb over it) spreads its belief over many, and a look-alike the check digit decides between holds nearly
    all of it in the two (``_composite_implied``)."""
    odds = 0.0
    for pos in np.flatnonzero(chars != best):
        searched = [int(best[pos])] + [c for _, c in alts[int(np.flatnonzero(order == pos)[0])]]
        odds += max(0.0, 1.0 - float(flat[pos, searched].sum())) / max(float(flat[pos, chars[pos]]), 1e-12)
    return odds


def _composite_implied(layout: Layout, text: str, failed: Sequence[str]) -> bool:
    """Whether the composite check of ``text`` fails only as its failing field checks imply: a field the composite
    weighs 7, 3, 1 from the field's first character, as the field's own check digit does (a document number, a
    TD3's personal number), passes the composite with any reading that passes its own check and keeps the rest.
    The composite is then no second check on the search's alterations of that field (``constrained``): ``M0``
    under a thumb on a real Taiwanese specimen, read ``V9``, passed both
    (`test_a_document_number_whose_first_character_is_not_seen_is_not_guessed_by_its_check_digits`)."""
    composite = next((c for c in layout.checks if c.name == "composite"), None)
    if composite is None or "composite" not in failed:
        return False

    def residue(spans: Sequence[tuple[int, int]], digit: int) -> int:
        return (check_value(values("".join(text[a:b] for a, b in spans))) - values(text[digit])[0]) % 10

    starts, at = {}, 0
    for a, b in composite.spans:
        for k in range(a, b):
            starts[k] = at + k - a
        at += b - a
    aligned = [c for c in layout.checks if c.name in failed and c.name != "composite" and len(c.spans) == 1
               and c.spans[0][0] in starts and starts[c.spans[0][0]] % 3 == 0 and c.digit_pos in starts]
    if not aligned:
        return False
    implied = sum(residue(c.spans, c.digit_pos) for c in aligned) % 10
    return residue(composite.spans, composite.digit_pos) == implied


def _country_fields(widths: Sequence[int], head: str) -> list[tuple[int, int, int]]:
    """Positions (in the joined lines) of the issuing state and the nationality, by layout (Doc 9303 Parts
    4-7; the French 1995 card has no nationality field)."""
    nationality = {30: 30 + 15, 36: 36 + 10, 44: 44 + 10}.get(widths[0])
    if nationality is None or len(widths) not in (2, 3):
        return []
    return [(2, 3, 4)] if head.startswith("IDFRA") else [(2, 3, 4), (nationality, nationality + 1, nationality + 2)]


def _listed_codes(flat: np.ndarray, best: np.ndarray, fields: list[tuple[int, int, int]]) -> float:
    """Each country field of ``best`` set to the listed code (agent/mrz/countries.py) it most probably is, and
    the probability that every field is right. The model's letters are a product distribution over the
    field's strings; weighting each string not in the list by UNLISTED against a listed one, a field's
    chosen string has the probability: its product (times UNLISTED when not listed) over the listed
    strings' sum plus UNLISTED times the rest. No check digit covers a country code, but only some 280 of
    the 19,683 strings are codes: ``NLO``, read with ``O``/``D`` in doubt, is ``NLD`` (a real Dutch
    specimen), where the letters alone leave it unsure. A code not in the list, read surely, stands (a list
    is never complete; a new state's code is not a misreading); one read unsurely does not, nor one whose
    listed look-alike the model finds nearly UNLISTED times as probable: 1e-4, so that the 19,400 strings that
    are no code weigh 0.7 % of the listed ones together (at 0.01, 70 %, a real Macao card saved as a coarse JPEG
    read ``MAC`` as ``HAC``, ``M`` at 0.00009, and trusted it)."""
    sure = 1.0
    for positions in fields:
        at = list(positions)
        listed = flat[at[0], CODES[:, 0]] * flat[at[1], CODES[:, 1]] * flat[at[2], CODES[:, 2]]
        k = int(listed.argmax())
        total = float(listed.sum()) + UNLISTED * max(0.0, 1.0 - float(listed.sum()))
        read = float(np.prod(flat[at, best[at]]))
        unlisted = 0.0 if (best[at] == CODES).all(1).any() else UNLISTED * read
        if total <= 0:
            return 0.0
        if listed[k] >= unlisted:
            best[at] = CODES[k]
        sure *= max(float(listed[k]), unlisted) / total
    return sure


def names_well_formed(lines: Sequence[str]) -> bool:
    """The name field has the shape Doc 9303 Part 3 (4.6) gives it: the primary identifier, ``<<``, the
    secondary identifier's components each after one ``<``, then fillers to the end; so no ``<<`` after the
    first one before the trailing fillers. No check digit covers a name: a letter the model reads past the
    fillers (a spurious character at a crop's end, with a doubled letter dropped before it, shifting the whole
    name by one) is caught here, not trusted (evaluation seed 5151000, page 99). The French 1995 card has its
    own name fields and is not judged."""
    if len(lines) == 3:
        names = lines[2]
    elif lines and not lines[0].startswith("IDFRA"):
        names = lines[0][5:]
    else:
        return True
    core = names.rstrip("<")
    first = core.find("<<")
    return first < 0 or "<<" not in core[first + 2 :]


def _sure(flat: np.ndarray, chars: np.ndarray, searched: np.ndarray, covered: np.ndarray, codes: list[int]) -> float:
    """The probability that every character of ``chars`` that no check digit covers, or that the search did
    not vary, is right (their probabilities multiplied: a check digit decides between the alternatives
    tried, nothing else does); the country codes' positions (``codes``) are judged whole (_listed_codes)."""
    loose = np.ones(len(chars), bool)  # not searched (np.setdiff1d would import numpy.ma: 15 ms, once)
    loose[searched] = False
    loose |= ~covered
    loose[codes] = False
    return float(np.prod(flat[np.arange(len(chars)), chars][loose]))


@functools.lru_cache(maxsize=8)
def _covered(layout: Layout, length: int) -> np.ndarray:
    """Which positions of the joined lines some check digit covers (its spans and the digit itself)."""
    out = np.zeros(length, bool)
    for check in layout.checks:
        for a, b in check.spans:
            out[a:b] = True
        out[check.digit_pos] = True
    out.flags.writeable = False
    return out


def _dates_exist(result: MrzResult) -> bool:
    """The expiry date is a calendar date and the birth date one as its issuer may print it (``_birth_date_as_printed``)."""
    return _birth_date_as_printed(result.birth_date) and (not result.expiry_date or result.expiry_date_value() is not None)


def _birth_date_as_printed(printed: str) -> bool:
    """Whether ``printed`` (YYMMDD, trailing fillers dropped) is a birth date as issuers print them: a part not known
    filled with ``<`` (Doc 9303) or, for the month or day, ``00`` (Switzerland prints a birth day and month it does not
    know so: 00 00 68), a month 01-12 and a day within that month's longest, 29 February in any year (the Czech
    passport specimen prints 29.02.1911, and its MRZ ``110229``). Not the calendar itself: the reader vouches for
    what is printed; misreadings such as month 13, day 31 of April or the runs of ``5`` of a band read upside down
    (``_checks_pass``) are still no date."""
    printed = printed.ljust(6, "<")
    if not is_partial_date(printed):
        return False
    month, day = printed[2:4], printed[4:6]
    m = int(month) if month.isdigit() else 0
    d = int(day) if day.isdigit() else 0
    return m <= 12 and d <= (calendar.monthrange(2000, m)[1] if m else 31)  # 2000: a leap year, 29 February


def _best_path(columns: np.ndarray, width: int) -> CtcPath | None:
    """The best-path (greedy) reading when it has exactly ``width`` characters (the usual case, and then
    what ``decode_exact`` finds too), with each character's probabilities at its first column; else None."""
    best = columns.argmax(1)
    starts = np.flatnonzero(_emitted(best))
    if len(starts) != width:
        return None
    text = "".join(ALPHABET[best[t] - 1] for t in starts)
    chars = columns[starts, 1:]
    chars = chars / np.maximum(chars.sum(1, keepdims=True), 1e-12)
    return CtcPath(text, chars, float(np.log(np.maximum(columns.max(1), 1e-12)).sum()), starts)


def _mask(chars: str) -> np.ndarray:
    return np.array([ch in chars for ch in ALPHABET])


LETTER = _mask("<ABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGIT = _mask("<0123456789")
SEX = _mask("<MFX")
FIRST = {44: _mask("PV"), 36: _mask("ACIV"), 30: _mask("ACI")}  # a document code's first letter, by line width


def field_types(widths: list[int], first_line: str) -> list[dict[int, np.ndarray]]:
    """Which characters each position may hold (positions not named: any), by layout (Doc 9303 Part 4-7):
    codes, country codes and names letters, dates and check digits digits, sex M/F/X. The French 1995 card
    (``IDFRA``) keeps its own lines free after the code. A document code's first letter is the layout's:
    ``P`` or ``V`` on 44-character lines (TD3, MRV-A), ``A``, ``C``, ``I`` or ``V`` on 36 (TD2, MRV-B), ``A``,
    ``C`` or ``I`` on 30 (TD1) (Doc 9303 Parts 4-7; a real Australian specimen photographed at an angle read its
    ``P`` with an ``R`` at 0.12: `test_the_first_letter_of_a_document_code_is_one_its_layout_allows`)."""
    head = {0: FIRST.get(widths[0], LETTER), **{i: LETTER for i in range(1, 5)}}
    if widths == [30, 30, 30]:
        td1 = {**{i: DIGIT for i in range(7)}, 7: SEX, **{i: DIGIT for i in range(8, 15)},
               **{i: LETTER for i in range(15, 18)}, 29: DIGIT}  # fmt: skip
        return [head, td1, {i: LETTER for i in range(30)}]
    if first_line.startswith("IDFRA"):
        return [head, {}]
    second = {9: DIGIT, **{i: LETTER for i in range(10, 13)}, **{i: DIGIT for i in range(13, 20)}, 20: SEX,
              **{i: DIGIT for i in range(21, 28)}}  # fmt: skip
    if widths[0] == 44 and first_line.startswith("P"):
        second.update({42: DIGIT, 43: DIGIT})
    return [{**{i: LETTER for i in range(widths[0])}, **head}, second]  # the first line: code, country, names


@functools.lru_cache(maxsize=16)
def _allowed(widths: tuple[int, ...], head: str) -> tuple[np.ndarray, ...]:
    """Per line a (width x len(ALPHABET)) mask of the characters each position may hold (field_types)."""
    masks = []
    for width, types in zip(widths, field_types(list(widths), head), strict=True):
        mask = np.ones((width, len(ALPHABET)), bool)
        for pos, allowed in types.items():
            mask[pos] = allowed
        masks.append(mask)
    return tuple(masks)


def apply_field_types(probs: list[np.ndarray]) -> list[np.ndarray]:
    """``probs`` with the characters each position cannot hold removed and renormalised; a position that kept
    less than KEPT_MIN is left less sure than that (a guess among letters is no reading of a digit)."""
    first = "".join(ALPHABET[k] for k in probs[0][:5].argmax(1))
    head = first if first == "IDFRA" else first[:1] if first.startswith("P") else ""
    out = []
    for p, mask in zip(probs, _allowed(tuple(len(q) for q in probs), head), strict=True):
        p = np.where(mask, p, 0.0)
        out.append(p / np.maximum(p.sum(1, keepdims=True), KEPT_MIN))
    return out


def _emitted(best: np.ndarray) -> np.ndarray:
    """Where the best path (``best``: each column's likeliest class, 0 the blank) emits a character: a class other
    than the blank and than the column before's (CTC: a repeat is one character)."""
    return (best != 0) & (best != np.concatenate([[0], best[:-1]]))


def _greedy(columns: np.ndarray) -> tuple[int, float]:
    """Length of the best-path reading of one line, and how surely its characters are read: the mean
    log-probability of the columns where the best path emits a character (blank columns are sure either
    way round, so they would not tell an upright line from a turned one)."""
    best = columns.argmax(1)
    emitted = _emitted(best)
    length = int(emitted.sum())
    sure = np.log(np.maximum(columns.max(1), 1e-12))
    return length, float(sure[best != 0].mean()) if length else -20.0


def line_probs(band_lines: list[np.ndarray], model: Model) -> list[np.ndarray] | None:
    """Per-character probabilities of the band's lines, the right way up, at the layout's width."""
    return model.call(lambda: scored_columns(band_lines, model).probs())


@functools.lru_cache(maxsize=4)
def _widened_model(path: Path, width: int) -> Model:
    return Model.load(path, content=widened(path.read_bytes(), width), input_shape=(1, 1, LINE_H, width))


def reread_wider(crops: list[np.ndarray], widths: Sequence[int], model: Model, today: datetime.date) -> Reading | None:
    """The reading of ``crops`` (a band's upright lines, ``widths`` characters each) read again at the
    character pitch of a TD1 line (``lines.widened_width``), when that reading alone is trusted; else None.
    The model reads a line of 44 or 36 characters squeezed into its 448 pixels (10 or 12 per character
    against a TD1 line's 15), and misreads or doubts more characters there: on 300 development
    pages (seeds 900000, 5151000, 6161000) 8 documents not trusted as read at 448 were trusted, and right,
    read again this way, none wrong. Only a reading not trusted is read again: one that is stays as it was.
    Only lines of WIDER_CHARS: 36-character lines (12 pixels a character) gained little, and on a fresh seed
    (9393000, page 74, MRV-B) one read again at 536 pixels was trusted wrong (an ``O`` no check digit covers
    read ``0`` at 0.96), where 12 of 12 44-character documents trusted so were right."""
    if widths[0] not in WIDER_CHARS:
        return None
    try:
        probs = _widened_probs(crops, widths, model, widened_width(widths[0]))
    except NotWidened:  # another line model (vision_bench --compare), or a runtime that cannot run it wider:
        return None  # the reading stays as read
    if probs is None:
        return None
    reading = Reading(*_widened_reading(probs, today), probs, crops=crops)
    return reading if reading.trusted and reading.confidence >= WIDER_CONFIDENCE else None


class NotWidened(Exception):
    """These lines are not read at another pitch: a width not read so, or a model or runtime that cannot be widened."""


def _last_call(fn: Callable[..., T], kept: int = 1) -> Callable[..., T]:
    """``fn`` returning a result again when called with the same arguments as one of its last ``kept`` calls:
    arrays (alone or in a list or tuple) the very same objects, which those calls hold on to (so no other array
    takes their ids), anything else equal. A frame's doubted lines are read at one wider pitch by up to three steps
    (``second_look``, ``reread_wider``: the same pitch for 44-character lines, and ``second_opinion``): evaluation
    page 777000+252, as it was located until 2026-12-05, read them three times and searched the same
    probabilities twice (decode 23 ms, 10 of them repeated). Only for arguments nothing alters in place: line
    crops, and the probabilities ``_widened_probs`` returns."""
    last: list[tuple[tuple[object, ...], tuple[object, ...], T]] = []

    def key(arg: object) -> object:
        if isinstance(arg, np.ndarray):
            return id(arg)
        return tuple(map(key, arg)) if isinstance(arg, list | tuple) else arg

    @functools.wraps(fn)
    def call(*args: object) -> T:
        k = tuple(map(key, args))
        for held in last:
            if held[0] == k:
                return held[2]
        result = fn(*args)
        last[:] = [(k, args, result), *last[: kept - 1]]
        return result

    return call


@_last_call
def _widened_probs(crops: list[np.ndarray], widths: Sequence[int], model: Model, width: int) -> list[np.ndarray] | None:
    """``model``'s per-character probabilities of ``crops`` read at ``width`` pixels (None: not readable)."""
    try:
        wide = _widened_model(Path(model.path), width)
    except (ValueError, VisionUnavailableError) as exc:  # another line model, or a runtime that cannot run it so
        raise NotWidened from exc
    return _character_probs(wide.call(recognise, crops, wide), widths)


_widened_reading = _last_call(constrained)  # of _widened_probs' probabilities: second_look, then reread_wider


def spread(model: Model) -> bool:
    """Whether ``model``'s lines are read on two interpreters at once (``Model.twin``): the first line model's, at
    every pitch, whose reading and second look are the decision's path (300 frames, each read three ways: 54.9 ms
    p50 so, 61.5 without twins, docs/vision.md). Not the models trained apart: their reading runs beside the second
    look already, and twins of them too gained nothing on two cores (54.5 ms p50) for 5 MB more."""
    return Path(model.path).name == MODEL


def prepare_line_models() -> None:
    """Load every line model a reading may ask (the first, the others that ship, the first widened to the
    pitches lines are read again at), the first's with their twins (``spread``), and run each interpreter once, as a
    camera gate starts: its first traveller waits for no loading (the first frame read cold took 25 ms more
    here). VisionUnavailableError when the first cannot be loaded; the others, as when reading, are asked only
    when they can be."""
    model = shared_model(MODEL)
    models = [model, *_other_models(model)]
    for width in sorted(set(LOOK_WIDTHS.values())):
        with contextlib.suppress(ValueError, VisionUnavailableError):  # as _widened_probs: not read wider then
            models.append(_widened_model(Path(model.path), width))
    for each in models:
        twice = spread(each)  # once on the model, once on its twin
        each.run_each([np.zeros(each.input_shape, np.float32)] * (2 if twice else 1), spread=twice)


def _look_probs(crops: list[np.ndarray], widths: list[int], model: Model) -> list[np.ndarray] | None:
    """``model``'s per-character probabilities of ``crops`` read at the LOOK_WIDTHS pitch (None: not readable)."""
    if widths[0] not in LOOK_WIDTHS:
        raise NotWidened
    return _widened_probs(crops, widths, model, LOOK_WIDTHS[widths[0]])


def second_look(reading: Reading, crops: list[np.ndarray], model: Model, today: datetime.date) -> Reading:
    """``reading`` (trusted, of a band's upright lines ``crops``) as confirmed by the same lines read again at
    another character pitch (``LOOK_WIDTHS``): the same text read at least LOOK_SURE surely, it stands (less
    surely, its confidence is at most the second reading's); another text, its confidence becomes at most how
    probable the second look finds the first's characters where its own most probable character is another.
    The model is sometimes sure of a wrong name letter, which no check digit covers: evaluation page 1717000+57
    read a ``C`` as ``O`` at 0.995 (trusted once the document code's first letter was known), and at another
    pitch reads the ``C``
    (`test_a_sure_wrong_letter_read_otherwise_at_another_pitch_is_not_trusted`); page 7070000+73 read an ``F`` as
    ``P`` at 0.998, and at another pitch reads ``P`` too but at 0.78
    (`test_a_sure_wrong_letter_read_less_surely_at_another_pitch_is_not_trusted`). On 2,000 pages, 5 of 1,891
    right trusted readings were read less surely than that at the second pitch, none otherwise. Costs one
    inference per line, on trusted readings only."""
    if not reading.trusted:
        return reading
    try:
        probs = _look_probs(crops, [len(p) for p in reading.probs], model)
    except NotWidened:
        return reading
    if probs is None:
        return replace(reading, confidence=0.0)
    lines, _, sure = _widened_reading(probs, today)
    if lines == reading.lines:
        return reading if sure >= LOOK_SURE else replace(reading, confidence=min(reading.confidence, sure))
    return replace(reading, confidence=min(reading.confidence, _probability_of(reading.lines, probs)))


def _probability_of(lines: Sequence[str], probs: list[np.ndarray]) -> float:
    """How probable another reading's per-character ``probs`` find ``lines`` where their own most probable
    character is another (1 where they agree throughout)."""
    seen = np.concatenate(probs)
    chars = np.array([ALPHABET.index(c) for c in "".join(lines)])
    differ = seen.argmax(1) != chars
    return float(np.prod(seen[np.flatnonzero(differ), chars[differ]]))


def second_opinion(reading: Reading, crops: list[np.ndarray], model: Model, today: datetime.date,
                   others: Sequence[Model] | None = None) -> Reading:  # fmt: skip
    """``reading`` (of a band's upright lines ``crops``, per-character probabilities in ``reading.probs``)
    when it is trusted; else the consensus of every view of the same crops, when that is trusted: the
    reading itself, ``model`` (the first line model) at the second look's pitch, and each line model trained
    apart (``others``, by default OTHER_MODELS that ship: other lines, other seeds). Their probabilities
    are combined as a normalised geometric mean (``agreed``): a character all views read fairly surely
    becomes sure, one they read differently stays in doubt. Most readings not trusted are right with one
    name letter in doubt (0.8-0.94 where MIN_CONFIDENCE is 0.95), and models trained apart seldom doubt
    the same letter. The second look is one of the views, so a letter the first model reads surely but
    otherwise at another pitch stays in doubt. Costs one inference per line and view, on readings not
    trusted only."""
    if reading.trusted or not reading.probs:
        return reading
    others = _other_models(model) if others is None else others
    if not others:  # a gate without the other models reads with the first alone
        return reading
    combined = _consensus(reading, crops, model, today, others)
    return combined if combined is not None and combined.trusted else reading


def cross_checked(reading: Reading, crops: list[np.ndarray], model: Model, today: datetime.date,
                  others: Sequence[Model] | None = None) -> Reading:  # fmt: skip
    """``reading`` (trusted, of a band's upright lines ``crops``) as the first line model trained apart
    (``others``, by default OTHER_MODELS) reads the same crops: when its most probable characters are the
    reading's, the reading stands; else the consensus of every view (``second_opinion``'s) decides: reading
    the same text, the reading stands; else REFER (its confidence at most how probable the consensus finds
    its characters, as ``second_look``; REFER too when a view cannot read the lines at their widths). Never
    another text instead: two models of one recipe can agree surely on a wrong letter (page 7070000+73,
    ``second_opinion``). A crop can lean beyond what the first model was trained on, which then reads a
    character surely wrong while the check digit passes: a real Czech specimen photographed at a steep angle
    (its far edge 0.2 of its width narrower each side) read document number ``99003853`` as ``99L73853`` at
    0.995, which the models trained apart read right (0.99, 0.87)
    (`test_a_trusted_reading_the_models_trained_apart_read_otherwise_is_not_trusted`). On 5,200
    evaluation pages 76 trusted readings went to the consensus and none changed. Costs one inference per
    line on trusted readings, three more where the models differ."""
    if not reading.trusted:
        return reading
    others = _other_models(model) if others is None else others
    if not others:
        return reading
    widths = [len(p) for p in reading.probs]
    second = _character_probs(_read_apart(crops, others[0]).result(), widths)
    if second is None:
        return replace(reading, confidence=0.0)
    if "".join(ALPHABET[k] for p in second for k in p.argmax(1)) == "".join(reading.lines):
        return reading
    combined = _consensus(reading, crops, model, today, others, second)
    if combined is None:
        return replace(reading, confidence=0.0)
    if combined.lines == reading.lines:
        return reading
    return replace(reading, confidence=min(reading.confidence, _probability_of(reading.lines, combined.probs)))


def _consensus(reading: Reading, crops: list[np.ndarray], model: Model, today: datetime.date,
               others: Sequence[Model], second: list[np.ndarray] | None = None) -> Reading | None:  # fmt: skip
    """The reading of every view of ``crops`` combined (``agreed``): ``reading`` itself, each of ``others``
    (``second``: the first one's probabilities, when already read) and ``model`` at the second look's pitch;
    None when a view cannot read the lines at their widths."""
    widths = [len(p) for p in reading.probs]
    read = [] if second is None else [second]
    reading_apart = [_read_apart(crops, other) for other in others[len(read) :]]  # on their threads meanwhile
    looked = []
    with contextlib.suppress(NotWidened):
        looked.append(_look_probs(crops, widths, model))
    views = [reading.probs, *read, *(_character_probs(columns.result(), widths) for columns in reading_apart), *looked]
    if any(v is None for v in views):
        return None
    probs = agreed([v for v in views if v is not None])
    return Reading(*constrained(probs, today), probs, crops=crops)


def read_apart_meanwhile(crops: list[np.ndarray], model: Model) -> None:
    """Start the first line model trained apart from ``model`` reading ``crops`` (a band's upright lines just
    read) on its own thread, as a reading about to be confirmed or doubted will ask it (``cross_checked``,
    ``second_opinion``): the second look or the reading again wider run meanwhile on the other core, not
    after it. Called where those follow, as soon as the band is read; a gate without the other models starts
    nothing."""
    others = _other_models(model)
    if others:
        _read_apart(crops, others[0])


def _reading_apart(crops: list[np.ndarray], other: Model) -> Future[list[np.ndarray]]:
    return other.submit(recognise, crops, other)


# ``other``'s columns of ``crops``, being computed on ``other``'s worker thread: started once per model for the same
# crops (``read_apart_meanwhile``, then the steps that take them). Kept for each model trained apart: a doubted
# frame's consensus (``second_opinion``) asks the second and the third, and the cross-check of its reading asks the
# second again, then the third; kept for the last call alone, evaluation page 777000+40 (TD1) read both again, six
# inferences, 5.8 of its 51.5 ms.
_read_apart = _last_call(_reading_apart, kept=len(OTHER_MODELS))


def _other_models(model: Model) -> list[Model]:
    """The OTHER_MODELS that ship, loaded once, but not ``model`` itself."""
    out = []
    for name in OTHER_MODELS:
        try:
            other = shared_model(name)
        except VisionUnavailableError:  # a model not shipped, or a runtime that cannot load it
            continue
        if other.file != model.file:
            out.append(other)
    return out


def agreed(views: Sequence[list[np.ndarray]]) -> list[np.ndarray]:
    """Several views' per-character probabilities of the same lines as one: their geometric mean, normalised."""
    out = []
    for line in zip(*views, strict=True):
        mean = np.exp(np.mean([np.log(np.maximum(p, 1e-12)) for p in line], axis=0))
        out.append(mean / np.maximum(mean.sum(1, keepdims=True), 1e-12))
    return out


def too_tall(band: Band) -> bool:
    """Whether a line of ``band`` is too short for its height to be an MRZ's (MRZ_ASPECT): such a band is read
    last (``best_band``), and a camera gate does not search the portrait zones beside it for the face."""
    return min(line.shape[1] / max(line.shape[0], 1) for line in band.lines) < MRZ_ASPECT


def best_band(bands: Iterable[Band], model: Model, today: datetime.date | None = None) -> BandReading | None:
    """The candidate band the model reads most surely (``scored_columns``); the bands are read most MRZ-like first
    (those whose lines are too tall for an MRZ's last, MRZ_ASPECT), and once one reads surely, or with ``today``
    likely (LIKELY) and its reading is trusted (``constrained``), the rest are not read (nor located, from
    ``locate.iter_candidates``). All on the model's worker thread: one hand-over per frame."""
    return model.call(_best_band, bands, model, today)


def _best_band(bands: Iterable[Band], model: Model, today: datetime.date | None) -> BandReading | None:
    read: list[tuple[Scored, Band]] = []  # the bands read not surely, not yet decoded at their width
    tall: list[Band] = []  # bands whose lines are too short for their height to be an MRZ's, read last
    for band in bands:
        if too_tall(band):
            tall.append(band)
        elif found := _ending(band, model, today, read):
            return found
    for band in tall:
        if found := _ending(band, model, today, read):
            return found
    # none read surely: the surest that decodes at its width. A band's exact-width decoding (decode_exact when
    # its best path has other lengths, as a band of a security print's waves has) is the costly part of reading
    # it: only the band that wins is decoded (evaluation page 777000+47, whose MRZ was its seventh band: 137 -> 75 ms)
    for scored, band in sorted(read, key=lambda r: -r[0].score):
        if found := scored.reading(band):
            return found
    return None


def _ending(band: Band, model: Model, today: datetime.date | None, read: list[tuple[Scored, Band]]) -> BandReading | None:
    """``band`` read: its reading when it ends the search (``best_band``), else None, and a band read not surely
    joins ``read``. A band read not surely ends it when its reading is trusted: evaluation page 777000+125, a
    TD1 read at -0.044 and trusted, went on to read two more bands (21 line model runs that frame, now 9; page
    1316000+119: 18, now 4); the readings of 900 pages (seeds 777000, 1316000, 2427000) stayed the same."""
    scored = scored_columns(band.lines, model, band.edges, band.inside, band.foot_up)
    if scored.score >= SURE_UPRIGHT:
        return scored.reading(band)
    read.append((scored, band))
    if today is not None and scored.score >= LIKELY:
        found = scored.reading(band)
        if found is not None and Reading(*constrained(found.probs, today), found.probs).trusted:
            return found
    return None


def _score(columns: list[np.ndarray]) -> tuple[float, int]:
    """How surely ``columns`` (the lines of one orientation and line choice) read as an MRZ, and the
    layout's width that fits them: the characters' mean sureness less LENGTH_PENALTY per character the
    lines are off that width on average."""
    greedy = [_greedy(c) for c in columns]
    median = float(np.median([g[0] for g in greedy]))
    width = min(WIDTHS[len(columns)], key=lambda w: abs(w - median))
    off = sum(abs(g[0] - width) for g in greedy) / len(greedy)
    return sum(g[1] for g in greedy) / len(greedy) - LENGTH_PENALTY * off, width


class Scored(NamedTuple):
    """A band's lines as the model read them (``scored_columns``): how surely, per-column class
    probabilities, the upright line crops read, the layout's width (characters per line), and each crop's
    left and right x on the page and the part of that lying in the frame (as ``Band.edges``, ``Band.inside``;
    negated when turned)."""

    score: float
    columns: list[np.ndarray]
    lines: list[np.ndarray]
    width: int
    spans: list[tuple[float, float]]
    inside: list[tuple[float, float]]

    def probs(self) -> list[np.ndarray] | None:
        """Per-character probabilities at the layout's width, field types applied (``_character_probs``)."""
        return _character_probs(self.columns, [self.width] * len(self.columns))

    def reading(self, band: Band) -> BandReading | None:
        """The band's reading at the layout's width, its characters read beyond the frame unknown (``unseen``,
        ``unknown``); None when a line cannot be read at it or the reading shows no MRZ (``shows_an_mrz``)."""
        if not shows_an_mrz(self.columns):
            return None
        paths = _exact_paths(self.columns, [self.width] * len(self.columns))
        if paths is None:
            return None
        unseen = self.unseen(paths)
        return BandReading(self.score, band, unknown(apply_field_types([p.chars for p in paths]), unseen),
                           self.lines, unseen)  # fmt: skip

    def unseen(self, paths: list[CtcPath]) -> tuple[tuple[int, int], ...]:
        """Per line, how many of its first and last characters lie mostly beyond the frame's edge: emitted (on
        its exact-width path in ``paths``, evenly spaced) more than EDGE of a pitch before the frame starts, or
        less than that before it ends (the model emits a character at its left side). A line running out of
        the frame is cut out with black beyond it, and the model reads the black's edge as a character: a real
        Luxembourg specimen cut 7 % on the left, through its MRZ's first characters, read document number
        ``S998527`` as ``I998527`` at 0.98, the ``S`` beyond the frame
        (`test_characters_beyond_the_frame_s_edge_are_not_read`)."""
        out = []
        for cols, path, (left, right), (in0, in1) in zip(self.columns, paths, self.spans, self.inside, strict=True):
            cut_left, cut_right = in0 > left, in1 < right
            if not (cut_left or cut_right):
                out.append((0, 0))
                continue
            steps = path.steps
            # where each character is emitted, evenly spaced (a fit: emissions jitter by a column, 0.4 of a
            # 44-character line's pitch)
            pitch, first = np.polyfit(np.arange(len(steps)), left + (steps + 0.5) / len(cols) * (right - left), 1)
            x = first + pitch * np.arange(len(steps))
            out.append((int((x < in0 - EDGE * pitch).sum()) if cut_left else 0,
                        int((x > in1 - EDGE * pitch).sum()) if cut_right else 0))  # fmt: skip
        return tuple(out)


def shows_an_mrz(columns: list[np.ndarray]) -> bool:
    """One of the band's lines (per-column class probabilities) reads as an MRZ line (MRZ_LINE): a band of a
    photograph, of a card's or a cover's print, or of a page's text is no MRZ, where it would be read as a REFER of
    fillers and letters (`test_a_photograph_a_card_or_a_page_without_its_mrz_shows_no_mrz`); a damaged MRZ still
    shows its other lines, a blurred one its even pitch (`test_an_unreadable_band_is_refer_never_a_guess`)."""
    for cols in columns:
        length, sure = _greedy(cols)
        if min(abs(length - w) for widths in WIDTHS.values() for w in widths) > 1:
            continue
        at = np.flatnonzero(_emitted(cols.argmax(1)))
        k = np.arange(length)
        stray = np.sqrt(np.mean((at - np.polyval(np.polyfit(k, at, 2), k)) ** 2)) / ((at[-1] - at[0]) / (length - 1))
        if stray - MRZ_DOUBT * sure <= MRZ_LINE:
            return True
    return False


def unknown(probs: list[np.ndarray], unseen: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """``probs`` with each line's first and last characters counted in ``unseen`` unknown: any character their
    field allows, alike; but past a name's trailing fillers only another filler (``names_well_formed``), and a
    check digit the one its span gives (``_unseen_check_digits``)."""
    if not any(a or b for a, b in unseen):
        return probs
    out = [p.copy() for p in probs]
    for p, (first, last) in zip(out, unseen, strict=True):
        p[:first] = 1.0
        p[len(p) - last :] = 1.0
    out = apply_field_types(out)
    text = ["".join(ALPHABET[k] for k in p.argmax(1)) for p in out]
    at = [(i, pos) for i, (p, (first, last)) in enumerate(zip(out, unseen, strict=True))
          for pos in [*range(first), *range(len(p) - last, len(p))]]  # fmt: skip
    for i, pos in at:
        filled, lettered = ([*text[:i], text[i][:pos] + c + text[i][pos + 1 :], *text[i + 1 :]] for c in "<A")
        if names_well_formed(filled) and not names_well_formed(lettered):
            out[i][pos] = _only("<")
    _unseen_check_digits(out, text, at)
    return out


def _only(*chars: str) -> np.ndarray:
    """A character's probabilities: ``chars`` alike, nothing else."""
    row = np.isin(np.arange(len(ALPHABET)), [ALPHABET.index(c) for c in chars]).astype(np.float64)
    return row / row.sum()


def _unseen_check_digits(probs: list[np.ndarray], text: list[str], at: list[tuple[int, int]]) -> None:
    """Each unseen check digit (``at``: line, position) in ``probs`` set to the one its span gives, as read
    (``text``): it checks nothing then, and the search over every digit for it would count the tries as
    chances for a misreading to pass (``constrained``: a right reading of a page cut through its composite
    check digit had confidence 0.67). An all-filler field's may be ``<`` too (``Check.empty_lt_ok``)."""
    starts = np.cumsum([0, *map(len, text)])
    unseen = {int(starts[i]) + pos for i, pos in at}
    joined = list("".join(text))
    try:
        checks = detect_layout(text).checks
    except MrzFormatError:
        return
    for check in checks:  # in the layout's order: the composite, whose span holds the others, last
        if check.digit_pos not in unseen or any(unseen.intersection(range(a, b)) for a, b in check.spans):
            continue
        covered = "".join("".join(joined[a:b]) for a, b in check.spans)
        digit = check_digit(covered)
        row = _only(digit, "<") if check.empty_lt_ok and not covered.strip("<") else _only(digit)
        line = int(np.searchsorted(starts, check.digit_pos, side="right")) - 1
        probs[line][check.digit_pos - starts[line]] = row
        joined[check.digit_pos] = digit
        unseen.discard(check.digit_pos)


def seen_only(reading: Reading, unseen: Sequence[tuple[int, int]], today: datetime.date) -> Reading:
    """``reading`` (of a band whose characters ``unseen`` were read beyond the frame, ``Scored.unseen``) with
    those characters unknown: the views of the same crops after the first (``second_look``, ``reread_wider``,
    the other line models) read the frame's edge as the first model does. Trusted only when the rest still
    singles out its text (a name's trailing filler, a check digit: ``unknown``); else REFER. Its probabilities
    are those with the characters unknown (several frames of one document average them)."""
    probs = unknown(reading.probs, unseen) if reading.probs else reading.probs
    if probs is reading.probs:
        return reading
    lines, _, confidence = constrained(probs, today)
    return replace(reading, probs=probs,
                   confidence=min(reading.confidence, confidence if lines == reading.lines else 0.0))  # fmt: skip


def scored_columns(band_lines: list[np.ndarray], model: Model, edges: Sequence[tuple[float, float]] | None = None,
                   inside: Sequence[tuple[float, float]] | None = None, foot_up: bool = False) -> Scored:  # fmt: skip
    """The band's lines read in the orientation (as found, or turned half a circle: lines in reverse order,
    each rotated) and, for three found lines, the choice of lines the model is surest of with lines of the
    layout's width. ``edges`` (each crop's left and right x on the page, Band.edges) let the crops be cut
    down to the characters when that reads better (see ``_trimmed``); ``inside`` (Band.inside, by default
    ``edges``: the whole crop) tells characters read beyond the frame (``Scored.unseen``). One orientation read
    surely at a layout's width, its check digits passing (``_read_surely``), the other is not read: the lines are
    read as found first, or turned first when ``foot_up`` (Band.foot_up: the page's ink lies below the band), which
    saves a page lying upside down one reading of its lines. Both read, the outcome does not depend on that order."""
    edges = list(edges or [(0.0, 1.0)] * len(band_lines))
    inside = list(inside or edges)
    ways = [(list(band_lines), edges, inside),
            ([c[::-1, ::-1] for c in reversed(band_lines)], _turned(edges), _turned(inside))]  # fmt: skip
    options, sure = [], False
    for lines, spans, frame in ways[::-1] if foot_up else ways:
        options.append((recognise(lines, model), lines, spans, frame))
        if sure := _read_surely(options[-1][0]):
            break
    options.sort(key=lambda o: o[1] is not ways[0][0])  # as found first, whichever was read first: max takes the first of equals
    if not sure and len(band_lines) == 3:  # a stray text line may sit above or below a two-line MRZ
        options += [(c[part], ln[part], e[part], i[part]) for c, ln, e, i in options[:2]
                    for part in (slice(2), slice(1, 3))]  # fmt: skip
    ranked = [(_checks_pass(o[0]), _score(o[0]), o) for o in options]
    _, (score, width), (columns, lines, spans, frame) = max(ranked, key=lambda r: (r[0], r[1][0]))
    if score < SURE_UPRIGHT and any(_greedy(c)[0] != width for c in columns):  # characters lost: squeezed?
        trimmed = _trimmed(columns, lines, spans)
        if trimmed is not None:
            cut, cut_spans = trimmed
            again = recognise(cut, model)
            score_cut, width_cut = _score(again)
            if score_cut > score and width_cut >= width:  # never fewer characters: a filler run cut off
                score, width, columns, lines, spans = score_cut, width_cut, again, cut, cut_spans
    return Scored(score, columns, lines, width, spans, frame)


def _read_surely(columns: list[np.ndarray]) -> bool:
    """Lines read surely (SURE_UPRIGHT) at a layout's width, their check digits passing: the other way round is not
    read (``scored_columns``)."""
    greedy = [_greedy(c) for c in columns]
    return (len({g[0] for g in greedy}) == 1 and greedy[0][0] in WIDTHS[len(columns)]
            and min(g[1] for g in greedy) >= SURE_UPRIGHT and _checks_pass(columns))  # fmt: skip


def _turned(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Lines' left and right x on the page (``scored_columns``) as they lie when the band is turned half a circle."""
    return [(-b, -a) for a, b in reversed(spans)]


def _checks_pass(columns: list[np.ndarray]) -> bool:
    """The lines' best-path readings pass every check digit of their layout and their dates are calendar
    dates. A line model can read an OCR-B band turned upside down more surely than the right way up (the model
    of 2026-12-03 on evaluation page 777000+60 as the locator cut it then: a TD1 read ``A<<<<5555...``, whose
    runs of ``5`` even pass their check digits), but its dates are no dates: the checks tell the way up before
    sureness does."""
    texts = []
    for cols in columns:
        best = cols.argmax(1)
        emitted = _emitted(best)
        texts.append("".join(ALPHABET[k - 1] for k in best[emitted]))
    result = _parse(texts, datetime.date.today())
    return result is not None and not result.failed_checks and _dates_exist(result)


def _character_probs(columns: list[np.ndarray], widths: Sequence[int]) -> list[np.ndarray] | None:
    """Each line's per-character probabilities at its width (``widths``), field types applied; None when a
    line cannot be read at its width."""
    paths = _exact_paths(columns, widths)
    return None if paths is None else apply_field_types([p.chars for p in paths])


def _exact_paths(columns: list[np.ndarray], widths: Sequence[int]) -> list[CtcPath] | None:
    """Each line's path at its width: the best path when it has that many characters, else ``decode_exact``'s
    with its squeezed characters unknown (``_unsqueezed``); None when a line cannot be read at its width."""
    paths = [_best_path(c, w) or _unsqueezed(c, decode_exact(c, w)) for c, w in zip(columns, widths, strict=True)]
    return None if any(not p.text for p in paths) else paths


def _unsqueezed(columns: np.ndarray, path: CtcPath) -> CtcPath:
    """``path`` with its characters squeezed in unknown (any character alike), and then its first and last too.
    An MRZ's characters are evenly spaced: where the best path emits a character fewer than the width with no
    gap between them, it missed one at an end, and the exact-width decoding puts one in instead where the best
    path emits none, between two characters less than SQUEEZED pitches apart. Which end lost it is not read,
    and the characters between the two are one place off in one of the ways. A real Serbian card keystoned
    15 %, its crop trimmed through the last filler, read its optional data ``000000<<`` as ``0000000<`` at
    0.983, ``0`` and ``<`` alike in every check digit; every line model read the crop so
    (`test_a_line_that_lost_a_character_at_an_end_is_not_read_at_its_width`)."""
    steps = path.steps
    if len(steps) < 3:
        return path
    pitch = (steps[-1] - steps[0]) / (len(steps) - 1)
    gaps = np.diff(steps)
    between = np.concatenate([[2 * gaps[0]], gaps[:-1] + gaps[1:], [2 * gaps[-1]]])  # its neighbours' distance
    squeezed = ~_emitted(columns.argmax(1))[steps] & (between < SQUEEZED * pitch)
    if not squeezed.any():
        return path
    squeezed[[0, -1]] = True
    chars = path.chars.copy()
    chars[squeezed] = 1.0 / chars.shape[1]
    return path._replace(chars=chars)


def _trimmed(columns: list[np.ndarray], lines: list[np.ndarray], edges: list[tuple[float, float]]
             ) -> tuple[list[np.ndarray], list[tuple[float, float]]] | None:  # fmt: skip
    """The line crops cut down to where every line has characters, when that is clearly narrower: a crop
    can run on into a security print or the desk's texture, and the model then reads the characters
    squeezed into part of its columns. The lines of an MRZ start and end together, so the characters'
    common span is where the model emits characters in all of them (the first to the last emission, plus
    TRIM_MARGIN of a character); only fillers (``<``) may be cut off, never a letter or digit. The cut crops
    and their left and right x on the page; None when nothing is to be cut."""
    spans, marks = [], []
    for cols, (left, right) in zip(columns, edges, strict=True):
        best = cols.argmax(1)
        at = np.flatnonzero(_emitted(best))
        if len(at) < 2:
            return None
        x = left + (at + 0.5) / len(best) * (right - left)  # the emissions' x on the page
        pitch = (x[-1] - x[0]) / (len(at) - 1)
        spans.append((x[0] - TRIM_MARGIN * pitch, x[-1] + TRIM_MARGIN * pitch))
        marks.append((x, best[at]))
    x0, x1 = max(s[0] for s in spans), min(s[1] for s in spans)
    if x1 <= x0:
        return None
    filler = ALPHABET.index("<") + 1
    if any(((x < x0) | (x > x1))[labels != filler].any() for x, labels in marks):
        return None
    out, kept, narrower = [], [], False
    for crop, (left, right) in zip(lines, edges, strict=True):
        w = crop.shape[1]
        u0 = max(0, round((x0 - left) / (right - left) * w))
        u1 = min(w, round((x1 - left) / (right - left) * w))
        narrower |= u1 - u0 < TRIM_GAIN * w
        out.append(crop[:, u0:u1])
        kept.append((left + u0 / w * (right - left), left + u1 / w * (right - left)))
    return (out, kept) if narrower and all(c.shape[1] >= 8 for c in out) else None


def read_image_mrz(rgb: np.ndarray, *, today: datetime.date | None = None, model: Model | None = None) -> Reading:
    """Locate, recognise and decode the MRZ of one image (HxWx3 uint8)."""
    return read_frames([rgb], today=today, model=model)


def read_frames(frames: Sequence[np.ndarray], *, today: datetime.date | None = None,
                model: Model | None = None) -> Reading:  # fmt: skip
    """One reading from several frames of the same document: the surest frame that is trusted alone (read
    again wider when not trusted as read: ``reread_wider``), else per-character probabilities averaged over
    the frames that show the layout most frames show. A frame not trusted as it lies is read again in other
    views (``_other_views``) until one is trusted, the best reading kept: turned a quarter round (a phone photo or
    a scan of a page lying sideways; the reader turns bands half round itself), closer (a small photo enlarged, a
    passport photographed from afar located on a larger working image), and that turned a quarter and an eighth
    round either way (a card laid across a scanner's glass: the locator's skew search spans +-20 degrees, so a
    page at 25-65 degrees was no MRZ at all), and last straightened (a page photographed at a steep angle)
    (`test_a_page_lying_a_quarter_turn_round_is_read`, `test_a_page_lying_at_any_angle_is_read`,
    `test_a_small_photo_and_a_passport_photographed_from_afar_are_read_closer`,
    `test_a_page_photographed_at_a_steep_angle_is_read_straightened`)."""
    model = model or shared_model(MODEL)
    today = today or datetime.date.today()
    timings = {"locate": 0.0, "recognise": 0.0, "decode": 0.0}
    readings: list[Reading] = []
    for rgb in frames:
        t0 = time.perf_counter()
        g = grey(rgb)
        timings["locate"] += (time.perf_counter() - t0) * 1000
        reading = _read_frame(g, WORK_SIDE, model, today, timings)
        views = _timed(_other_views(g), timings)  # a view is made only when the readings so far are not trusted
        while (reading is None or not reading.trusted) and (view := next(views, None)) is not None:
            frame, work_side, doubt = view
            other = _read_frame(frame, work_side, model, today, timings)
            if other is not None and doubt > 1:  # one of several more chances to pass: as many times the doubt
                other = replace(other, confidence=max(0.0, 1 - (1 - other.confidence) * doubt))
            if other is not None and (reading is None or _rank(other) > _rank(reading)):
                reading = other
        if reading is not None:
            readings.append(reading)
    trusted = [r for r in readings if r.trusted]
    if trusted or len(readings) < 2:  # a frame that reads well alone is not averaged with worse ones
        best_reading = max(trusted, key=lambda r: r.confidence) if trusted else readings[0] if readings else Reading()
        best_reading.timings_ms = timings
        return best_reading
    t3 = time.perf_counter()
    shapes = [tuple(p.shape for p in r.probs) for r in readings]
    common = max(shapes, key=shapes.count)  # the layout most frames show
    voters = [r for r, shape in zip(readings, shapes, strict=True) if shape == common]
    combined = [np.mean([r.probs[i] for r in voters], axis=0) for i in range(len(common))]
    reading = Reading(*constrained(combined, today), combined, timings)
    for voter in voters:  # trusted from the votes: each frame's lines looked at again too
        reading = second_look(reading, voter.crops, model, today)
    timings["decode"] += (time.perf_counter() - t3) * 1000
    return reading


def _other_views(g: np.ndarray) -> Iterator[tuple[np.ndarray, int, int]]:
    """The grey frame as read again when not trusted as it lies (``read_frames``), each made only when asked for, with
    the locator's working side: turned a quarter round (a scan of a page lying sideways, the commonest), closer,
    then that turned by each of TURNS. Closer is a small frame enlarged
    (SMALL_SIDE; a small photo's characters a few pixels wide), and a large one located on a working image twice
    the usual side (a passport photographed from afar is a few pixels a character on the usual one). Not both:
    on 5,200 evaluation pages (under 1,600 pixels) the enlarged frame located at twice the side as well read 6
    more pages right but one WRONG (8420000+77, a ``C`` with a stroke through it read ``G`` at 0.997). Last, the
    frame straightened as if each of FAR_EDGES in turn were the far one (``image.straightened``, KEYSTONE), on a
    copy at most twice the working side (a page photographed at a steep angle fills much of the frame; a blank
    4,000 x 3,000 photo costs 65 ms a view so, 138 at 3,072): such a page leans its lines near its sides beyond
    what the line model was trained on.
    Each view also says how many chances to pass it is one of: a straightened view's reading carries four times
    its doubt (confidence 1 - 4 x (1 - c); trusted from 0.9875), since four more views are four more chances for a
    look-alike to pass. At the usual bar the 52 development seeds read 10 more pages right but 2 WRONG (1427000+2,
    a name's ``T`` read ``F``; 8083000+18, ``O`` read ``0``; both at 0.977); so, 9 more and no new WRONG."""
    yield turned(g, 90), WORK_SIDE, 1
    closer, work_side = (enlarged(g), WORK_SIDE) if max(g.shape) < SMALL_SIDE else (g, 2 * WORK_SIDE)
    yield closer, work_side, 1
    for degrees in TURNS:
        if closer is not g or degrees != 90:  # a large frame turned a quarter round was the first view
            yield turned(closer, degrees), WORK_SIDE, 1
    for edge in FAR_EDGES:
        yield straightened(g, edge, KEYSTONE, max_side=2 * WORK_SIDE), WORK_SIDE, len(FAR_EDGES)


def _read_frame(g: np.ndarray, work_side: int, model: Model, today: datetime.date,
                timings: dict[str, float]) -> Reading | None:  # fmt: skip
    """The reading of one grey frame as it lies (None when no band is found), its stages' times added to ``timings``."""
    t1 = time.perf_counter()
    located = timings["locate"]
    best = best_band(_timed(iter_candidates(g, work_side=work_side), timings), model, today)  # a later mask made only when read up to
    t2 = time.perf_counter()
    timings["recognise"] += (t2 - t1) * 1000 - (timings["locate"] - located)
    if best is None:
        return None
    read_apart_meanwhile(best.crops, model)
    first = Reading(*constrained(best.probs, today), best.probs, crops=best.crops)
    reading = second_look(first, best.crops, model, today)
    if not first.trusted:  # not when only the second look doubts it: read wider, its own view would decide alone
        reading = reread_wider(best.crops, [len(p) for p in best.probs], model, today) or reading
    reading = second_opinion(reading, best.crops, model, today)
    reading = seen_only(cross_checked(reading, best.crops, model, today), best.unseen, today)
    timings["decode"] += (time.perf_counter() - t2) * 1000
    return reading


def _timed(items: Iterator[T], timings: dict[str, float]) -> Iterator[T]:
    """``items`` (bands as they are located, a frame's other views as they are made), the time taken to make each
    added to ``timings["locate"]``."""
    while True:
        t0 = time.perf_counter()
        item = next(items, None)
        timings["locate"] += (time.perf_counter() - t0) * 1000
        if item is None:
            return
        yield item


def _rank(reading: Reading) -> tuple[bool, bool, float]:
    """Trusted first, then passing every check, then the surer."""
    return reading.trusted, reading.result is not None and reading.result.valid, reading.confidence
