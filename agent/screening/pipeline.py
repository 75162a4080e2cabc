"""The screening pipeline for one gate: reader block -> MRZ -> checks -> hit-list -> event -> indicator.

    >>> screener = Screener(gate_id="g1", site="s", reader_id="r0", rules=cfg.screening,
    ...                     hitlist=hl, outbox=box, indicators=ind)
    >>> screener.handle(reader.read(timeout=1.0))   # Decision, or None for a duplicate read

``handle`` runs on the reader thread, one read at a time, with no hand-off: the event is committed
to the outbox (one durable transaction) *before* the indicator is told anything, so every state an
officer or a traveller has seen has its event; the outbox's upkeep (its WAL checkpoint) waits until
the indicator has acted. If the event cannot be committed the gate shows
REFER (amber, relay shut) and reports the fault. A second read of the same document within the
duplicate window is the same passage: no new event, the indicator shows that passage's state again.
A CLEAR opens the relay for ``relay_pulse_s`` and goes dark after ``clear_show_s`` (``tick``); HIT
and REFER stay shown until the next read.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.config import HitListConfig, ScreeningConfig
from agent.errors import BadDataError
from agent.hitlist.api import HitList
from agent.link.query import LATE, Pending
from agent.mrz import MrzResult, parse_mrz
from agent.outbox import PRIORITY_HIT, PRIORITY_ROUTINE, Outbox, OutboxError
from agent.screening.decision import CLEAR, HIT, REFER, Decision, decide, decide_query, unreadable
from agent.screening.events import EventSealer, build_event, encode_event, new_event_id
from agent.screening.listcheck import ListProblem
from agent.screening.online import Centre, ask_centre, with_centre
from agent.screening.sources import ListSource, PersonQuery, Query, Source
from hal.errors import HalError
from hal.indicators import AMBER, GREEN, OFF, RED, SAFE_STATE, Indicators, IndicatorState
from hal.reader import Misread, ReaderDocument

if TYPE_CHECKING:
    from agent.vision.camera_reader import Sighting
    from hal.camera import Camera, Frame

logger = logging.getLogger(__name__)

FRAMES_KEPT = 16
FINISH_KEPT = 16  # recent times from the end of the wait to the indicator that the deadline keeps room for
WAKE_MARGIN_S = 0.003  # more room kept after the wait: the scheduler's lateness the last decisions did not show
SPECULATE_AFTER = 1 / 10  # of the deadline: no answer from the centre by then, commit the silent case's event
FACE_WAIT_S = 2.0  # at most this long for a camera passage's face search (it started while the MRZ was read)
IDLE_STATE = IndicatorState(colour=OFF)  # ready for the next traveller: dark, silent, relay shut


def indicator_state(verdict: str, rules: ScreeningConfig) -> IndicatorState:
    """What the board shows for a verdict: CLEAR green (the relay opening is timed by ``Screener.show``),
    HIT red blinking with the buzzer and the relay shut, REFER amber with the relay shut."""
    if verdict == CLEAR:
        return IndicatorState(colour=GREEN)
    if verdict == HIT:
        return IndicatorState(colour=RED, blink_hz=2.0, buzzer_hz=rules.buzzer_hz)
    return IndicatorState(colour=AMBER)


def centre_deadline_at(received_at: float, deadline_s: float, finish_s: Sequence[float]) -> float:
    """When the wait for the centre ends for a read the reader framed at ``received_at`` (time.monotonic):
    the deadline runs from the swipe to the indicator, so the wait ends early by what followed it lately
    (``finish_s``: the slowest of the last few decisions: how late the thread resumed, committing if still
    to do, showing) and ``WAKE_MARGIN_S`` more for a thread resumed later than any of them, by at most a third
    of the deadline (docs/online-query.md "Deadline"). Never later than ``received_at + deadline_s``."""
    reserve = min(max(max(finish_s, default=0.0), 0.0) + WAKE_MARGIN_S, deadline_s / 3)
    return received_at + deadline_s - reserve


def utc_today(wall: float) -> dt.date:
    """The calendar date (UTC) at wall-clock ``wall``: document expiry is judged against it."""
    return dt.datetime.fromtimestamp(wall, dt.UTC).date()


@dataclass
class StageTimes:
    """perf_counter_ns at each stage boundary of the last handled read (for bench/gate_latency.py)."""

    start: int = 0  # handle() entered: the reader has framed the block
    parsed: int = 0
    decided: int = 0  # checks and hit-list lookups done (and the wait for the centre)
    held: int = 0  # the silent case's event committed during the wait for the centre (0: none this read)
    held_from: int = 0  # ... that commit began
    evidence: int = 0  # the camera frame and its face search ready (= decided without a camera)
    committed: int = 0  # event durable in the outbox
    shown: int = 0  # indicator apply returned


# A passage's key for reads that are no MRZ: misreads within ``duplicate_window_s`` of the last are one passage, so a
# reader sending garbage (a fragment every few bytes) makes one REFER event per burst, not hundreds a second that fill
# the outbox (`test_a_reader_sending_garbage_is_one_refer_passage_not_one_per_fragment`)
UNREADABLE = ("unreadable",)


@dataclass(frozen=True)
class Passage:
    """The last decision shown, for duplicate suppression and status."""

    key: tuple[str, ...] | None
    decision: Decision
    event_id: str | None
    seq: int | None
    wall: float
    last_read: float  # monotonic time of the last read of this passage
    face: dict[str, object] | None = None  # agent/vision/face.py ``evidence`` (with ``jpeg`` for HIT/REFER)


class Screener:
    """Turns reads into decisions, events and indicator states; see the module docstring."""

    def __init__(
        self,
        *,
        gate_id: str,
        site: str,
        reader_id: str,
        rules: ScreeningConfig,
        hitlist: HitList,
        outbox: Outbox,
        indicators: Indicators,
        list_id: str | None = None,
        lists: Sequence[Source] = (),
        camera: Camera | None = None,
        fingerprint_key: bytes = b"",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        today: Callable[[float], dt.date] = utc_today,
        on_committed: Callable[[], None] | None = None,
        trusted: Callable[[], float] | None = None,
        sealer: EventSealer | None = None,
        centre: Centre | None = None,
        centre_deadline_s: float = 0.3,
    ) -> None:
        if rules.clear_event_detail == "fingerprint" and len(fingerprint_key) < 16:
            raise ValueError("clear_event_detail = 'fingerprint' needs a fingerprint key of 16+ bytes")
        self.gate_id, self.site, self.reader_id = gate_id, site, reader_id
        self.rules = rules
        self.hitlist = hitlist
        self.outbox = outbox
        self.indicators = indicators
        self.camera = camera
        # The last FRAMES_KEPT camera frames by the reference their events carry (for vision, evidence).
        self.frames: collections.OrderedDict[str, Frame] = collections.OrderedDict()
        self._fingerprint_key = fingerprint_key
        self._sealer = sealer  # personal fields sealed to the centre; left out of events without it
        self._clock, self._monotonic, self._today = clock, monotonic, today
        # Document expiry and list freshness are judged on the gate's trusted time (RELIABILITY 42,
        # agent/protocol/trusted_time.py); ``clock`` only stamps events.
        self._trusted = trusted or clock
        self.on_committed = on_committed  # e.g. wakes the link to send the new event; must not block
        self.on_decided: Callable[[Passage], None] | None = None  # e.g. the officer's screen; must not block
        self._handle_lock = threading.Lock()  # the reader thread and the officer's manual entries
        self._show_lock = threading.Lock()
        self.desired: IndicatorState = SAFE_STATE
        self._relay_close_at: float | None = None  # monotonic time a CLEAR's relay opening ends
        self._idle_at: float | None = None  # monotonic time a CLEAR's green goes dark
        self.last: Passage | None = None
        self.times = StageTimes()
        # Keys fixed up front so another thread can copy the counts while this one counts.
        self.counts: collections.Counter[str] = collections.Counter(dict.fromkeys((CLEAR, HIT, REFER, "duplicate"), 0))
        self.faults: dict[str, str] = {}  # replaced whole by set_fault, never changed in place
        self.list_id = list_id  # the list this gate screens against (None: any verified list)
        # Every source asked about every read, [hitlist] first (agent.screening.sources); ``hitlist`` stays
        # the first list's store for status. ``lists`` given: they are the sources ([hitlist] among them).
        self.sources: list[Source] = list(lists) or [ListSource(hitlist, HitListConfig(list_id=list_id))]
        # online query (agent/screening/online.py): asked for every document read, waited for at most
        # ``centre_deadline_s`` from the swipe (RELIABILITY 47)
        self.centre = centre
        self.centre_deadline_s = centre_deadline_s
        self._finish_s: collections.deque[float] = collections.deque(maxlen=FINISH_KEPT)  # commit + show, s
        if centre is not None:  # status counts both sources (keys fixed up front, as above)
            for name in ("centre_answered", "centre_late", "centre_unreachable", "centre_hit", "local_hit"):
                self.counts[name] = 0
        self.check_list()

    def handle(self, item: ReaderDocument | Misread) -> Decision | None:
        """Decide on one read, commit its event, then show it. None when it repeats the last passage.
        One read at a time: a document the officer enters by hand waits for the reader's read in hand."""
        with self._handle_lock:
            decision = self._handle(item)
            passage = self.last
        on_decided = self.on_decided
        if decision is not None and on_decided is not None and passage is not None:
            on_decided(passage)
        return decision

    def _handle(self, item: ReaderDocument | Misread) -> Decision | None:
        times = self.times
        times.start = time.perf_counter_ns()
        wall, mono, now = self._clock(), self._monotonic(), self._trusted()
        asked: Pending | None = None
        mrz: MrzResult | None = None
        if isinstance(item, Misread):
            unreadable = item.reason
        else:
            try:
                mrz, unreadable = parse_mrz(item.lines, today=self._today(now)), ""
            except BadDataError as exc:
                unreadable = f"not an MRZ: {exc}"
        times.parsed = time.perf_counter_ns()
        key = UNREADABLE if mrz is None else (mrz.document_code, mrz.issuing_state, mrz.document_number, mrz.birth_date)
        if self._is_duplicate(key, mono):
            return None
        if mrz is None:
            decision = self._unreadable(unreadable, now)
        else:
            asked = self._ask_centre(Query.from_mrz(mrz))
            decision = decide(mrz, rules=self.rules, sources=self.sources, today=self._today(now), now=now)
        self.check_list()
        return self._commit_and_show(decision, key, wall, mono, item.received_at,
                                     sighting=getattr(item, "sighting", None),  # a camera passage's frame and face
                                     asked=asked, started=item.received_at)

    def handle_query(self, query: Query, checks: Sequence[str] = (), *, origin: str = "officer") -> Decision:
        """Decide on an identifier that did not come from the document reader: a VIN or a plate (the officer's
        entry, a plate reader), a document or a person entered by hand. The same sources, the same
        combination, the same event and indicator path as a swipe; ``origin`` is recorded in the event
        (``reader`` field). ``checks``: reasons already found (e.g. ``vin_check_digit``). Not deduplicated."""
        with self._handle_lock:
            started = time.monotonic()  # the deadline for the centre runs from here (no reader's last byte)
            wall, mono, now = self._clock(), self._monotonic(), self._trusted()
            self.times.start = self.times.parsed = time.perf_counter_ns()
            asked = self._ask_centre(query)
            decision = decide_query(query, checks, rules=self.rules, now=now, sources=self.sources)
            self.check_list()
            decision = self._commit_and_show(decision, None, wall, mono, mono, reader_id=origin, asked=asked,
                                             started=started)
            passage = self.last
        on_decided = self.on_decided
        if on_decided is not None and passage is not None:
            on_decided(passage)
        return decision

    def _ask_centre(self, query: Query) -> Pending | None:
        """The online query for ``query``, published before the local lists answer (None: no centre, or
        nothing it answers)."""
        return ask_centre(self.centre, query) if self.centre is not None else None

    def handle_person(self, surname: str, given_names: str, birth_date: str) -> Decision:
        """Screen a person the officer entered by hand (no document): the lists that govern persons answer.
        Raises ``BadDataError`` (a ValueError) for a birth date that is not YYMMDD or a name that is not one."""
        from agent.hitlist.fingerprint import normalise_birth_date
        from agent.hitlist.names import query_name_keys

        query_name_keys(surname, given_names)  # refuses what is not a name, before anything is committed
        person = PersonQuery(surname, given_names, normalise_birth_date(birth_date))
        return self.handle_query(Query(person=person), origin="officer")

    def _commit_and_show(self, decision: Decision, key: tuple[str, ...] | None, wall: float, mono: float,
                         read_mono: float, *, reader_id: str | None = None, sighting: Sighting | None = None,
                         asked: Pending | None = None, started: float = 0.0) -> Decision:
        """Commit ``decision``'s event, then show it (the order the module docstring gives). ``asked``: the
        online query in flight, waited for here until the deadline counted from ``started`` (time.monotonic
        of the swipe or of the entry). If the centre has not answered by ``SPECULATE_AFTER`` of the deadline,
        the event the decision has should it stay silent is committed meanwhile, held back from the link; at
        the deadline it is released as it is, or rewritten first if the centre answered after all
        (docs/online-query.md "Commit"): with the centre gone, only showing is left after the deadline."""
        times = self.times
        times.held = times.held_from = 0
        event_id = new_event_id()
        held: int | None = None
        overrun = 0.0  # how late the deciding thread resumed after its wait for the centre, s
        silent: Decision | None = None
        evidence: tuple[str | None, dict[str, object] | None] | None = None
        if asked is not None:
            deadline_at = centre_deadline_at(started, self.centre_deadline_s, self._finish_s)
            speculate_at = min(deadline_at, started + self.centre_deadline_s * SPECULATE_AFTER)
            if asked.sent and not asked.arrived_by(speculate_at):
                times.held_from = time.perf_counter_ns()
                silent = self._with_faults(with_centre(decision, None, LATE))
                evidence = self._capture_frame(attach_face=True, sighting=sighting)  # the verdict may still change
                silent, held = self._commit(silent, event_id, wall, mono, read_mono, reader_id, evidence, hold=True)
                times.held = time.perf_counter_ns()
            answer = asked.wait_until(deadline_at)
            decision = with_centre(decision, answer, asked.state)
            # the scheduler's lateness counts as work after the wait; a held commit that ended past the deadline
            # does not (the next waits ending earlier would not make it shorter)
            overrun = asked.overslept
        decision = self._with_faults(decision)
        times.decided = time.perf_counter_ns()

        if evidence is None:
            evidence = self._capture_frame(attach_face=decision.verdict in (HIT, REFER), sighting=sighting)
        times.evidence = time.perf_counter_ns()
        face = _face_for(decision.verdict, evidence[1])
        if held is not None and decision == silent:  # the centre stayed silent: the held event is this one
            seq: int | None = held
        else:
            decision, seq = self._commit(decision, event_id, wall, mono, read_mono, reader_id, evidence, held=held)
        if held is not None:
            self.outbox.release(held)
        times.committed = time.perf_counter_ns()

        self.last = Passage(key, decision, event_id if seq is not None else None, seq, wall, mono, face)
        cleared = decision.verdict == CLEAR
        self.show(indicator_state(decision.verdict, self.rules), pulse=cleared,
                  idle_after=self.rules.clear_show_s if cleared else None)
        times.shown = time.perf_counter_ns()
        self._finish_s.append(overrun + (times.shown - times.decided) / 1e9)
        if seq is not None and self.on_committed is not None:
            self.on_committed()
        if decision.centre:
            self._count_sources(decision)
        self.counts[decision.verdict] += 1
        logger.info("decision", extra={
            "fields": {"decision": decision.verdict, "reasons": list(decision.reasons), "seq": seq,
                       "event": self.last.event_id, "list_version": decision.list_version,
                       "list_stale": decision.list_stale,
                       "latency_us": (times.shown - times.start) // 1000},
            "private": _private(decision)})
        self.outbox.checkpoint()  # the WAL's upkeep, after the indicator (agent/outbox.py)
        return decision

    def _with_faults(self, decision: Decision) -> Decision:
        """``decision`` as the gate's faults allow it: no CLEAR while the indicators are faulty."""
        if self.indicators.fault and decision.verdict == CLEAR:
            return decision.refer("indicator_fault")
        return decision

    def _commit(self, decision: Decision, event_id: str, wall: float, mono: float, read_mono: float,
                reader_id: str | None, evidence: tuple[str | None, dict[str, object] | None], *,
                held: int | None = None, hold: bool = False) -> tuple[Decision, int | None]:
        """Commit ``decision``'s event as a new row (``hold``: held back from the link) or over held row ``held``;
        returns the decision and the row's seq. Nothing committed: the seq is None, and a CLEAR becomes REFER
        (a rewrite that fails leaves the held row as it was, which is then released)."""
        frame_ref, face = evidence[0], _face_for(decision.verdict, evidence[1])
        faults = {k: v for k, v in (("indicators", self.indicators.fault), *self.faults.items()) if v}

        def encode(seq: int) -> bytes:
            return encode_event(build_event(
                decision, event_id=event_id, seq=seq, gate_id=self.gate_id, site=self.site,
                reader_id=reader_id or self.reader_id, wall=wall, mono=mono, read_mono=read_mono,
                clear_detail=self.rules.clear_event_detail, fingerprint_key=self._fingerprint_key,
                frame=frame_ref, face=face, faults=faults, sealer=self._sealer, list_id=self.list_id))

        priority = PRIORITY_HIT if decision.verdict == HIT else PRIORITY_ROUTINE
        try:
            if held is None:
                seq: int | None = self.outbox.append_with_seq("decision", event_id, encode, priority=priority,
                                                              now=wall, held=hold)
            else:
                self.outbox.replace(held, encode, priority=priority)
                seq = held
            self.set_fault("outbox", None)
        except OutboxError as exc:
            # Nothing committed: show nothing that lets anyone through, and say why.
            self.set_fault("outbox", str(exc))
            logger.error("event not committed; showing REFER", extra={"fields": {"error": str(exc)}})
            if decision.verdict == CLEAR:
                decision = decision.refer("event_log_unavailable")
            seq = None
        return decision, seq

    def _count_sources(self, decision: Decision) -> None:
        self.counts[f"centre_{decision.centre}"] += 1
        local = decision.local_hit
        if local is not None and local.strength != "weak":
            self.counts["local_hit"] += 1
        for answer in decision.answers:
            if answer.remote and answer.match is not None and answer.match.strength != "weak":
                self.counts[f"{answer.source}_hit"] += 1

    def check_list(self) -> ListProblem | None:
        """Why no decision may be CLEAR for want of a verified list (RELIABILITY 45, 49), or None: the first
        list's problem; each list's problem is recorded as its fault (``hitlist``, ``hitlist:ID`` for the
        further lists). A lab gate (``rules.lab_gate``) screens without lists: always None."""
        first: ListProblem | None = None
        for i, source in enumerate(self.sources):
            if not isinstance(source, ListSource):
                continue
            found = source.problem_reason(self.rules)
            problem = ListProblem(*found) if found is not None else None
            self.set_fault("hitlist" if i == 0 else f"hitlist:{source.name}", problem.detail if problem else None)
            first = first or problem
        return first

    def set_fault(self, part: str, fault: str | None) -> None:
        """Record (or clear, with None) a fault of ``part``; copy-on-write so other threads read safely."""
        if self.faults.get(part) == fault:
            return
        faults = dict(self.faults)
        if fault is None:
            faults.pop(part, None)
        else:
            faults[part] = fault
        self.faults = faults

    def _unreadable(self, detail: str, now: float) -> Decision:
        """REFER for a misread: the lists that govern documents or persons say only their state."""
        answers = tuple(s.ask(None, now=now, rules=self.rules) for s in self.sources
                        if not isinstance(s, ListSource) or s.governs & {"document", "person"})
        first = answers[0] if answers else None
        return unreadable(detail, list_version=first.version if first else 0,
                          list_stale=first.stale if first else False, answers=answers)

    def _is_duplicate(self, key: tuple[str, ...], mono: float) -> bool:
        last = self.last
        if last is None or last.key != key or mono - last.last_read > self.rules.duplicate_window_s:
            return False
        if last.seq is None:  # that passage's event was never committed: decide (and try) again
            return False
        self.last = replace(last, last_read=mono)
        self.counts["duplicate"] += 1
        logger.info("duplicate read: same passage, indicator shown again",
                    extra={"fields": {"decision": last.decision.verdict, "seq": last.seq}})
        # The passage's state again; a relay still open stays open, a shut one is not opened again.
        verdict = last.decision.verdict
        state = replace(indicator_state(verdict, self.rules), relay_open=self._relay_close_at is not None)
        self.show(state, idle_after=self.rules.clear_show_s if verdict == CLEAR else None)
        return True

    def _capture_frame(self, *, attach_face: bool, sighting: Sighting | None = None,
                       ) -> tuple[str | None, dict[str, object] | None]:  # fmt: skip
        """A camera frame's reference and what it shows of a face (agent/vision/face.py ``evidence``: the
        best face crop computed when ``attach_face``, kept in events for HIT and REFER only, ``_face_for``);
        (None, None) without a camera. A camera passage's
        ``sighting`` gives the frame the document was read from and its face search, already under way."""
        if sighting is not None:
            frame = sighting.frame
        elif self.camera is None:
            return None, None
        else:
            try:
                frame = self.camera.capture()
            except (HalError, OSError) as exc:
                self.set_fault("camera", str(exc))
                return None, None
            self.set_fault("camera", None)
        ref = f"{self.reader_id}@{frame.timestamp:.6f}"  # resolved through ``frames`` while kept
        self.frames[ref] = frame
        while len(self.frames) > FRAMES_KEPT:
            self.frames.popitem(last=False)
        try:
            if sighting is not None:
                face = sighting.face.result(timeout=FACE_WAIT_S)
            else:
                from agent.vision.face import evidence

                face = evidence(frame.image, attach=attach_face)
        except (TimeoutError, CancelledError):
            self.set_fault("vision", f"face search not done within {FACE_WAIT_S:g} s")
            return ref, None
        except (ImportError, RuntimeError, ValueError) as exc:  # no tflite runtime or model: record why
            self.set_fault("vision", str(exc))
            return ref, None
        self.set_fault("vision", None)
        return ref, face

    def show(self, state: IndicatorState, *, pulse: bool = False, idle_after: float | None = None) -> None:
        """Apply ``state``; ``pulse`` opens the relay for ``relay_pulse_s`` (a CLEAR passage);
        ``idle_after`` seconds later (and not before the relay shuts) the board goes dark (idle).

        A state with the relay shut shuts it at once, also in the middle of a CLEAR's opening (the
        board's own ``pulse_relay`` is an officer override that a new state would not end). A board
        fault is recorded by the board and logged here, never raised.
        """
        with self._show_lock:
            if pulse:
                state = replace(state, relay_open=True)
                self._relay_close_at = self._monotonic() + self.rules.relay_pulse_s
            elif not state.relay_open:
                self._relay_close_at = None
            self._idle_at = None if idle_after is None else self._monotonic() + idle_after
            self._apply(state)

    def tick(self) -> None:
        """Shut the relay once a CLEAR's opening time is over, then let its green go dark after
        ``clear_show_s``; HIT and REFER stay shown until the next read. The supervisor calls this often."""
        self.check_list()  # a list installed (or lost) meanwhile shows in status at once
        with self._show_lock:
            now = self._monotonic()
            close_at = self._relay_close_at
            if close_at is not None and now >= close_at:
                self._relay_close_at = None
                self._apply(replace(self.desired, relay_open=False))
            if self._idle_at is not None and now >= self._idle_at and self._relay_close_at is None:
                self._idle_at = None
                self._apply(IDLE_STATE)

    def _apply(self, state: IndicatorState) -> None:
        """Drive ``state``; a board without a buzzer (or that refuses the tone) still shows the colour."""
        self.desired = state
        try:
            try:
                self.indicators.apply(state)
            except ValueError as exc:
                if not state.buzzer_hz:
                    raise
                logger.error("indicator refused the buzzer; showing the colour alone",
                             extra={"fields": {"error": str(exc)}})
                self.indicators.apply(replace(state, buzzer_hz=0))
        except (HalError, OSError, ValueError) as exc:
            logger.error("indicator apply failed", extra={"fields": {"error": str(exc)}})


def _face_for(verdict: str, face: dict[str, object] | None) -> dict[str, object] | None:
    """What an event keeps of the face evidence: the crop (``jpeg``) for HIT and REFER only."""
    if face is None or verdict in (HIT, REFER):
        return face
    return {k: v for k, v in face.items() if k != "jpeg"}


def _private(decision: Decision) -> dict[str, object]:
    """What only a DEBUG log may show (the MRZ, the raw read), computed only when DEBUG is on."""
    if not logger.isEnabledFor(logging.DEBUG):
        return {}
    return {"detail": decision.detail, "mrz": decision.mrz.to_dict() if decision.mrz is not None else None}
