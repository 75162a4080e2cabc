"""The gate's configuration: one TOML file, typed and closed (see docs/config.md).

    >>> cfg = load_config("gate.toml")
    >>> cfg.gate.id, cfg.devices.reader, cfg.screening.stale_policy

Every section is a frozen dataclass whose fields carry their documentation. Unknown keys, missing
required keys, wrong types and bad values are all collected and raised together as one
``ConfigError`` that names the file, the key path and the offending value: an invalid config
never starts a pipeline that could answer CLEAR. Device options live in the HAL URL and are
validated by that backend when it opens.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import hal
from agent.errors import BadDataError, ConfigError
from agent.protocol import ids
from hal.errors import BackendImportError, BadUrlError
from hal.url import split_url


class InvalidConfigError(ConfigError):
    """The config file has problems; ``errors`` lists each one (key path, value, expected form)."""

    def __init__(self, message: str, errors: list[str]) -> None:
        super().__init__(message)
        self.errors = errors


Check = Callable[[Any], str | None]  # returns the problem, or None when the value is fine


def _opt(doc: str, default: Any = dataclasses.MISSING, check: Check | None = None) -> Any:
    """A config field with its documentation and an optional value check."""
    meta = {"doc": doc, "check": check}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    if isinstance(default, list | dict):
        raise TypeError("use a tuple for sequence defaults")
    return field(default=default, metadata=meta)


def _matches(pattern: str, form: str) -> Check:
    rx = re.compile(pattern)
    return lambda v: None if rx.fullmatch(v) else f"expected {form}"


def _at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"expected a number >= {low}"


def _url_of(kind: str, *, optional: bool = False) -> Check:
    """Scheme in the HAL table; then ``hal.check_url``: the backend's grammar, no device opened."""
    table = hal.KINDS[kind]

    def check(url: str) -> str | None:
        if optional and url == "":
            return None
        try:
            parts = split_url(url)
        except BadUrlError as exc:
            return str(exc)
        if not parts.scheme or "://" not in url:
            return f"expected a URL SCHEME://… for the {kind}; known schemes: {', '.join(sorted(table))}"
        if parts.scheme not in table:
            return f"unknown {kind} URL scheme {parts.scheme!r}; known: {', '.join(sorted(table))}"
        try:
            hal.check_url(kind, url)
        except (BadUrlError, BackendImportError) as exc:
            return str(exc)
        return None

    return check


def _gate_id(v: str) -> str | None:
    try:
        ids.check_gate_id(v)
    except BadDataError as exc:
        return str(exc)
    return None


def _id(v: str | None) -> str | None:
    return None if v is None or ids.is_id(v) else f"expected {ids.ID_FORM}"


def _key_file_error(read: Callable[[Path], object], path: Path) -> str | None:
    """Why ``read`` (an agent.keys reader) refuses the key file ``path``, or None when it reads."""
    from agent.keys import KeyFileError

    try:
        read(path)
    except KeyFileError as exc:
        return str(exc)
    return None


def _public_keys(v: Path | tuple[Path, ...] | None) -> str | None:
    """Every named public key file reads as one (agent.keys: 32 raw bytes or 64 hex characters)."""
    from agent.keys import read_public_key

    paths = v if isinstance(v, tuple) else () if v is None else (v,)
    return next(filter(None, (_key_file_error(read_public_key, p) for p in paths)), None)


def _private_key(v: Path | None) -> str | None:
    """A device key file that exists must be a usable seed, mode 0600 (the agent creates a missing one)."""
    from agent.keys import load_signing_key

    return None if v is None or not v.exists() else _key_file_error(load_signing_key, v)


def _readable(v: Path | None) -> str | None:
    if v is None:
        return None
    try:
        with v.open("rb"):
            return None
    except OSError as exc:
        return f"cannot read {str(v)!r}: {exc.strerror or exc}"


def _codes(v: tuple[str, ...]) -> str | None:
    bad = [c for c in v if not re.fullmatch(r"[A-Z][A-Z<]?", c)]
    return f"expected document codes of one or two letters like 'P', 'ID', 'V'; bad: {bad!r}" if bad else None


def _states(v: tuple[str, ...]) -> str | None:
    bad = [s for s in v if not re.fullmatch(r"[A-Z<]{1,3}", s)]
    return f"expected ICAO 3-letter state codes like 'UTO', 'D<<'; bad: {bad!r}" if bad else None


@dataclass(frozen=True)
class GateConfig:
    """Identity of this gate and where it keeps its state."""

    id: str = _opt("Gate id, unique in the deployment: MQTT topic level, broker username and certificate CN "
                   "(agent.protocol.ids: 1-64 of A-Z a-z 0-9 . _ -, not starting with 'central').", check=_gate_id)
    site: str = _opt("Site (border crossing) this gate belongs to; selects the site's rules.", check=_id)
    state_dir: Path = _opt("Directory for the outbox, status file and keys (relative: to the config file).")


@dataclass(frozen=True)
class DevicesConfig:
    """Which hardware the gate drives, as HAL URLs (options in the URL query)."""

    indicators: str = _opt("Indicator board URL, e.g. i2c://1/0x40?chip=pca9685, sim://pca9685.",
                           check=_url_of("indicators"))
    reader: str = _opt("Document reader URL, e.g. serial:///dev/serial/by-id/…?framing=lines, sim://reader. "
                       "Empty: the camera reads the MRZ (a camera gate).", "", check=_url_of("reader", optional=True))
    camera: str = _opt("Camera URL: file://PATH (recorded frames: a folder of PPM/PGM/NPY/JPEG/PNG files, an "
                       "MJPEG file, or a video the ffmpeg program decodes), v4l2:///dev/videoN[?width=W&height=H&fps=N"
                       "&format=auto|mjpeg|yuyv] (a USB/CSI camera); a camera that cannot be opened is a fault "
                       "in status and the gate screens without it; empty: no camera.", "",
                       check=_url_of("camera", optional=True))
    reader_id: str = _opt("Name of the reader recorded in every event.", "reader0",
                          check=_matches(r"[A-Za-z0-9_.:-]{1,64}", "1-64 characters of A-Z a-z 0-9 _ . : -"))
    plate_reader: str = _opt(
        "Plate reader (ANPR camera) URL at a land crossing: sim://plate, file://CAPTURE (docs/readers.md \"Plate "
        "readers\"); each new plate is screened like a swipe. Empty: no plate reader.", "",
        check=_url_of("plate", optional=True))
    plate_reader_id: str = _opt("Name of the plate reader recorded in its events (reader = plate:NAME).", "plate0",
                                check=_matches(r"[A-Za-z0-9_.:-]{1,64}", "1-64 characters of A-Z a-z 0-9 _ . : -"))
    plate_country: str = _opt(
        "Registration code assumed for a plate whose country the camera cannot tell (e.g. the crossing's own); "
        "empty: such a read is not screened.", "", check=_matches(r"([A-Z]{1,3})?", "1-3 capital letters or empty"))


@dataclass(frozen=True)
class ScreeningConfig:
    """The site's decision rules."""

    duplicate_window_s: float = _opt(
        "Reads of the same document within this many seconds of the previous read are one passage.", 10.0,
        check=_at_least(0))
    accepted_document_codes: tuple[str, ...] = _opt(
        "Document codes accepted at this site (first one or two MRZ letters); a code is accepted when it or "
        "its first letter is listed. Others give REFER.", ("P", "I", "A", "C", "V"), check=_codes)
    refused_issuing_states: tuple[str, ...] = _opt(
        "Issuing states whose documents give REFER at this site.", (), check=_states)
    accepted_issuing_states: tuple[str, ...] = _opt(
        "If not empty, only these issuing states are accepted; others give REFER.", (), check=_states)
    expiry_policy: Literal["refer", "ignore"] = _opt(
        "What an expired document gives: 'refer' (REFER) or 'ignore' (no effect on the decision).", "refer")
    expiry_grace_days: int = _opt(
        "Days after the printed expiry date that still count as valid.", 0, check=_at_least(0))
    stale_policy: Literal["refer", "clear-flag"] = _opt(
        "When the hit-list is stale: 'refer' (every non-HIT decision is REFER) or 'clear-flag' (decide as "
        "usual, events carry list_stale).", "refer")
    clear_event_detail: Literal["full", "fingerprint"] = _opt(
        "What a CLEAR event holds: 'full' MRZ fields, or only a keyed BLAKE2b 'fingerprint' of the document.",
        "full")
    relay_pulse_s: float = _opt("How long the relay stays open for a CLEAR passage, seconds; the next decision shuts it at once.", 3.0,
                                check=lambda v: None if 0 < v <= 60 else "expected 0 < seconds <= 60")
    clear_show_s: float = _opt(
        "How long a CLEAR's green stays lit (not less than the relay opening); then the board goes dark, "
        "ready for the next traveller. HIT and REFER stay shown until the next read.", 5.0,
        check=lambda v: None if 0 < v <= 600 else "expected 0 < seconds <= 600")
    buzzer_hz: int = _opt("Buzzer tone for a HIT, Hz (a PCA9685 board makes 24-1526 Hz).", 1000,
                          check=lambda v: None if 24 <= v <= 1526 else "expected 24..1526 Hz")
    lab_gate: bool = _opt(
        "A lab gate (development, demos, tests) screens without an installed, verified hit-list: no list, an "
        "unreadable list or one of another id does not turn CLEAR into REFER, and an unsigned records file "
        "may stand in for the list. False on every deployed gate; set in the file only (set_policy refuses it).",
        False)


KINDS = ("document", "person", "vehicle")  # what a list can hold, and so what it governs


def _kinds(v: tuple[str, ...]) -> str | None:
    bad = [k for k in v if k not in KINDS]
    if bad or not v:
        return f"expected a non-empty list of {', '.join(repr(k) for k in KINDS)}; bad: {bad!r}"
    return None


@dataclass(frozen=True)
class HitListConfig:
    """Where the gate's hit-list comes from: the signed store (`store_dir`), or on a lab gate an in-memory
    records file (`records`); not both. Without an installed, verified list of `list_id` every decision is
    REFER (reasons `hitlist_missing`, `hitlist_unreadable`, `hitlist_wrong_id`) unless `[screening] lab_gate`.
    The same keys, policy included, describe each further list `[lists.ID]` (docs/config.md "Several lists")."""

    store_dir: Path | None = _opt(
        "Signed hit-list store: the directory `sharaka-gate hitlist install --state DIR` fills (lists, deltas, "
        "heads; its root.pub is the pinned root key). Relative: to the config file.", None)
    list_id: str | None = _opt(
        "Id of the list this gate screens against (required with store_dir, here or as [link] list_id; both "
        "set: the same). An installed list of another id gives REFER. In [lists.ID]: ID itself.", None, check=_id)
    root_pub: Path | None = _opt(
        "Root public key file (32 raw bytes or 64 hex characters) the store must be pinned to; unset: the store's own "
        "root.pub. A different key already pinned stops the start.", None, check=_public_keys)
    max_staleness_s: float = _opt(
        "Signed store: the list is stale when the last valid head is older than this many seconds.", 3600.0,
        check=_at_least(1))
    records: Path | None = _opt(
        "In-memory stand-in: JSON Lines file of listed records (the `sharaka-hitlist build --from` format), "
        "loaded at start. Relative: to the config file.", None)
    version: int = _opt("In-memory stand-in: version reported for the records file.", 0, check=_at_least(0))
    max_age_s: float = _opt(
        "In-memory stand-in: the list is stale when the records file is older than this many seconds; "
        "0: never stale.", 0.0, check=_at_least(0))
    governs: tuple[str, ...] = _opt(
        "What this list is asked about, and so which decisions its problems (missing, unreadable, stale) "
        "affect: any of 'document', 'person', 'vehicle'.", KINDS, check=_kinds)
    on_match: Literal["hit", "refer"] = _opt(
        "What an exact match in this list decides: 'hit' (HIT) or 'refer' (REFER: the officer looks).", "hit")
    on_weak: Literal["refer", "ignore"] = _opt(
        "What a weak (possible) name match decides: 'refer' (REFER) or 'ignore' (recorded, no effect).", "refer")
    on_stale: Literal["screening", "refer", "clear-flag"] = _opt(
        "What a stale list decides for the reads it governs: 'refer', 'clear-flag' (decide as usual, events "
        "carry list_stale) or 'screening' (as [screening] stale_policy).", "screening")
    acknowledge: bool = _opt(
        "A match in this list must be acknowledged by an officer on the screen (the event says so).", True)

    def policy(self) -> dict[str, Any]:
        """This list's kind (what it ``governs``) and policy, as the gate's status reports it (``sharaka-gate
        status``, the link's status message) and the screens show it."""
        return {"governs": list(self.governs), "on_match": self.on_match, "on_weak": self.on_weak,
                "on_stale": self.on_stale, "acknowledge": self.acknowledge}


# MQTT's field sizes: the keepalive is 2 bytes; the will delay is 4, and the session lasts twice it (agent/link/
# connection.py). A larger value made paho raise struct.error on every connect, and the link never came up.
MAX_KEEPALIVE_S = 65535
MAX_WILL_DELAY_S = (2**32 - 1) // 2


@dataclass(frozen=True)
class LinkConfig:
    """Link to the central node (MQTT, docs/protocol.md). Key and password files: relative to the config file."""

    enabled: bool = _opt("Connect to the central node. False: screen offline, events stay in the outbox.", False)
    host: str = _opt("Broker host name or address.", "127.0.0.1")
    port: int = _opt("Broker port (8883 for TLS by convention).", 1883,
                     check=lambda v: None if 0 < v < 65536 else "expected 1..65535")
    password_file: Path | None = _opt("File holding the broker password (password listener); username = gate id.",
                                      None, check=_readable)
    ca_file: Path | None = _opt("CA certificate pinned for the broker (TLS); unset: no TLS.", None, check=_readable)
    cert_file: Path | None = _opt("This gate's client certificate (TLS, CN = gate id); with key_file and ca_file.",
                                  None, check=_readable)
    key_file: Path | None = _opt("Private key of the client certificate (TLS); with cert_file.", None,
                                 check=_readable)
    device_key: Path | None = _opt("Ed25519 device key (32-byte seed, 0600) signing every message; "
                                   "unset: STATE_DIR/device.key.", None, check=_private_key)
    node_pub: Path | None = _opt("Central node public key: verifies acks, hit-list chunks and query replies; "
                                 "events' personal fields are sealed to it (unset: left out). Required when enabled.", None, check=_public_keys)
    command_pubs: tuple[Path, ...] = _opt("Pinned central command public keys.", (), check=_public_keys)
    high_impact_threshold: int = _opt(
        "Different command-key holders needed for a high-impact command (wipe, device-key rotation, pulse_relay, "
        "a set_policy that weakens screening); at least 2 (docs/protocol.md \"Two-key rule\").", 2,
        check=_at_least(2))
    keepalive_s: int = _opt("MQTT keepalive; a dead link is noticed within about twice this.", 30,
                            check=lambda v: None if 5 <= v <= MAX_KEEPALIVE_S else f"expected 5..{MAX_KEEPALIVE_S}")
    will_delay_s: int = _opt("MQTT 5 will delay: how long a broken link may last before 'offline' is published.",
                             30, check=lambda v: None if 0 <= v <= MAX_WILL_DELAY_S else f"expected 0..{MAX_WILL_DELAY_S}")
    heartbeat_s: float = _opt("Status heartbeat interval.", 60.0, check=_at_least(1))
    list_id: str | None = _opt("Hit-list id to follow over MQTT; unset: [hitlist] list_id.", None, check=_id)
    list_fetch_spread_s: float = _opt(
        "A list update the centre announces is fetched at a random moment within this many seconds, so a fleet "
        "does not fetch all at once; the list counts as behind (stale) until then. 0: at once.", 30.0,
        check=lambda v: None if 0 <= v <= 3600 else "expected 0..3600")
    query: bool = _opt("Online query (FIND): every decision also asks the centre, which answers from its current "
                       "lists (entries not yet in any delta, online-only lists); a hit from either source is a HIT. "
                       "Needs MQTT 5; offline the local lists alone decide.", False)
    query_deadline_ms: int = _opt("Longest a decision waits for the centre's answer, from the swipe; past it the "
                                  "local answer stands and the event records the centre as late.", 300,
                                  check=lambda v: None if 1 <= v <= 5000 else "expected 1..5000")


@dataclass(frozen=True)
class OutboxConfig:
    """Bounds of the durable event queue."""

    max_rows: int = _opt("Rows kept; beyond it routine events are dropped oldest-first, hits never.", 200_000,
                         check=_at_least(100))
    reserve_kib: int = _opt("Space kept free for the outbox (a preallocated file beside it): released when the disk "
                            "fills, so decisions are still committed and status still says so; made again when space "
                            "returns. 0: none.", 4096, check=_at_least(0))


def _listen(v: str) -> str | None:
    import ipaddress

    try:
        ipaddress.ip_address(v)
    except ValueError:
        return "expected an IP address of this gate, e.g. \"127.0.0.1\" or \"10.0.0.5\""
    return None


def _host_names(v: tuple[str, ...]) -> str | None:
    from agent.web.hosts import HOST_NAME_FORM, is_host_name

    bad = [n for n in v if not is_host_name(n)]
    return f"expected {HOST_NAME_FORM}; bad: {bad!r}" if bad else None


@dataclass(frozen=True)
class ScreenConfig:
    """The officer's screen: a web page the agent serves to the booth officer (docs/screen.md)."""

    enabled: bool = _opt("Serve the officer's screen.", False)
    listen: str = _opt("Address to listen on: 127.0.0.1 (the booth terminal is this machine) or one interface's "
                       "address; any other than loopback needs HTTPS (cert_file and key_file).", "127.0.0.1",
                       check=_listen)
    port: int = _opt("TCP port; 0 picks a free one (tests).", 8080,
                     check=lambda v: None if 0 <= v < 65536 else "expected 0..65535")
    cert_file: Path | None = _opt("TLS certificate served (the device certificate); unset: [link] cert_file. "
                                  "Required when listen is not loopback.", None, check=_readable)
    key_file: Path | None = _opt("Private key of cert_file; unset: [link] key_file.", None, check=_readable)
    names: tuple[str, ...] = _opt(
        "Host names the officer's browser reaches the screen by, besides listen (and localhost on loopback) and "
        "the gate id (the device certificate's name), e.g. \"gate-7.border.example\"; a request naming another host "
        "is refused (421), so a DNS-rebinding page never reaches the sign-in form.", (), check=_host_names)
    session_idle_s: float = _opt("An officer idle this long is signed out.", 900.0, check=_at_least(30))
    session_max_s: float = _opt("A session ends this long after sign-in, active or not.", 43200.0,
                                check=_at_least(60))
    max_failures: int = _opt("Wrong passwords in a row from one client that lock that client out of an account.", 5, check=_at_least(1))
    lockout_s: float = _opt("How long a client stays locked out of an account.", 300.0, check=_at_least(1))
    language: Literal["ar", "fr", "en"] = _opt("Language of the sign-in page before an officer chooses one "
                                               "(the browser's Accept-Language wins when it names one of these).",
                                               "en")
    history: int = _opt("How many recent decisions the screen lists.", 12,
                        check=lambda v: None if 1 <= v <= 200 else "expected 1..200")


@dataclass(frozen=True)
class LoggingConfig:
    """Structured logs (JSON lines on stdout)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _opt(
        "Lowest level logged. MRZ contents and names appear only at DEBUG.", "INFO")


@dataclass(frozen=True)
class Config:
    """The whole gate configuration; ``path`` is the file it came from."""

    gate: GateConfig
    devices: DevicesConfig
    screening: ScreeningConfig = field(default_factory=ScreeningConfig)
    hitlist: HitListConfig = field(default_factory=HitListConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    lists: tuple[HitListConfig, ...] = ()  # [lists.ID] tables: further lists, each with its own policy
    path: Path = Path("gate.toml")

    def screening_lists(self) -> tuple[HitListConfig, ...]:
        """Every list this gate screens against, [hitlist] first: [hitlist] unless it names no source while
        [lists.ID] tables exist (a gate without any list keeps [hitlist], which then refers everyone)."""
        primary = self.hitlist
        if self.lists and primary.store_dir is None and primary.records is None:
            return self.lists
        return (primary, *self.lists)


SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Config)[f.name] for f in dataclasses.fields(Config) if f.name not in ("path", "lists")
}
LISTS = "lists"  # [lists.ID]: one HitListConfig table per further list


def load_config(path: str | Path) -> Config:
    """Read and validate ``path``; raises ``ConfigError`` listing every problem found."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path) -> Config:
    """Build a ``Config`` from parsed TOML; relative paths are taken against ``path``'s directory."""
    errors: list[str] = []
    sections: dict[str, Any] = {}
    lists = _lists(data.get(LISTS, {}), path.parent, errors)
    for key, value in data.items():
        if key == LISTS:
            continue
        if key not in SECTIONS:
            errors.append(f"[{key}]: unknown section (value {value!r}); known: {', '.join(SECTIONS)}")
        elif not isinstance(value, dict):
            errors.append(f"{key} = {value!r}: expected a table [{key}]")
    for name, cls in SECTIONS.items():
        table = data.get(name)
        if not isinstance(table, dict):
            required = any(_required(f) for f in dataclasses.fields(cls))
            if table is None and required:
                errors.append(f"[{name}]: missing section")
            table = {}
        section = _section(cls, name, table, path.parent, errors)
        if section is not None:
            sections[name] = section
    if errors:
        raise _invalid(path, errors)
    config = Config(**sections, lists=lists, path=path)
    errors = _cross_checks(config, data)
    if errors:
        raise _invalid(path, errors)
    return _with_list_id(config)


def _lists(tables: Any, base: Path, errors: list[str]) -> tuple[HitListConfig, ...]:
    """The ``[lists.ID]`` tables, each a ``HitListConfig`` whose ``list_id`` is its ID."""
    if not isinstance(tables, dict):
        errors.append(f"lists = {tables!r}: expected tables [lists.ID]")
        return ()
    out = []
    for list_id, table in tables.items():
        where = f"lists.{list_id}"
        if not isinstance(table, dict):
            errors.append(f"{where} = {table!r}: expected a table [{where}]")
            continue
        if _id(list_id) is not None:
            errors.append(f"[{where}]: list id {list_id!r}: {_id(list_id)}")
            continue
        if table.get("list_id", list_id) != list_id:
            errors.append(f"[{where}] list_id = {table['list_id']!r}: expected {list_id!r} (the table's name) or none")
            continue
        section = _section(HitListConfig, where, {**table, "list_id": list_id}, base, errors)
        if section is not None:
            out.append(section)
    return tuple(out)


def _invalid(path: Path, errors: list[str]) -> InvalidConfigError:
    listing = "\n".join(f"  {path}: {e}" for e in errors)
    return InvalidConfigError(f"{path}: {len(errors)} config error(s):\n{listing}", errors)


def _cross_checks(config: Config, data: dict[str, Any]) -> list[str]:
    """Rules between keys (each key alone is fine): every one is checked here, at load, so that no rule
    is discovered after the indicators or the outbox are open (docs/config.md "Rules between keys").
    Values are quoted as written in the file."""

    def raw(section: str, key: str) -> Any:
        return data[section][key]

    errors = []
    hl, link, lab = config.hitlist, config.link, config.screening.lab_gate
    if hl.store_dir is not None and hl.records is not None:
        errors.append(f"[hitlist] records = {raw('hitlist', 'records')!r}: not with store_dir = "
                      f"{raw('hitlist', 'store_dir')!r}; "
                      "expected one hit-list source")
    if hl.records is not None and not lab:
        errors.append(f"[hitlist] records = {raw('hitlist', 'records')!r}: an unsigned records file is for lab gates only; "
                      "expected store_dir (the signed list) or [screening] lab_gate = true")
    if hl.list_id is not None and link.list_id is not None and hl.list_id != link.list_id:
        errors.append(f"[link] list_id = {link.list_id!r}: differs from [hitlist] list_id = {hl.list_id!r}; "
                      "expected the same list id (or only one of them)")
    if hl.store_dir is not None and hl.list_id is None and link.list_id is None:
        errors.append(f"[hitlist] store_dir = {raw('hitlist', 'store_dir')!r}: no list id; expected [hitlist] list_id = "
                      "\"ID\", the list this gate screens against")
    seen = {hl.list_id or link.list_id}
    for extra in config.lists:
        where = f"[lists.{extra.list_id}]"
        if extra.list_id in seen:
            errors.append(f"{where}: list id {extra.list_id!r} is already configured; expected one table per list")
        seen.add(extra.list_id)
        if (extra.store_dir is None) == (extra.records is None):
            errors.append(f"{where}: expected store_dir (the signed list) or, on a lab gate, records; exactly one")
        elif extra.records is not None and not lab:
            errors.append(f"{where} records = {str(extra.records)!r}: an unsigned records file is for lab gates only; "
                          "expected store_dir or [screening] lab_gate = true")
        if extra.store_dir is not None and extra.store_dir in {hl.store_dir, *(o.store_dir for o in config.lists
                                                                                if o is not extra)}:
            errors.append(f"{where} store_dir = {str(extra.store_dir)!r}: another list uses it; expected one "
                          "directory per list")
    if not config.devices.reader and not config.devices.camera:
        errors.append("[devices] reader = \"\": no camera either; expected a reader URL, or a camera URL for a "
                      "camera gate")
    if (link.cert_file is None) != (link.key_file is None):
        key, other = ("cert_file", "key_file") if link.cert_file is not None else ("key_file", "cert_file")
        errors.append(f"[link] {key} = {raw('link', key)!r}: {other} is not set; expected both (the client "
                      "certificate and its private key)")
    if link.cert_file is not None and link.ca_file is None:
        errors.append(f"[link] cert_file = {raw('link', 'cert_file')!r}: ca_file is not set; expected the CA "
                      "that signed the broker's certificate (TLS)")
    errors.extend(_screen_checks(config, data))
    if link.enabled and link.node_pub is None:
        errors.append("[link] enabled = true: node_pub is not set; expected node_pub = \"FILE\", the central "
                      "node's public key")
    return errors


def _screen_checks(config: Config, data: dict[str, Any]) -> list[str]:
    """The officer's screen off loopback needs HTTPS with a certificate and key (its own or the link's)."""
    import ipaddress

    screen, link = config.screen, config.link
    if not screen.enabled or ipaddress.ip_address(screen.listen).is_loopback:
        return []
    if (screen.cert_file or link.cert_file) is None or (screen.key_file or link.key_file) is None:
        return [f"[screen] listen = {data['screen']['listen']!r}: not loopback, and no certificate; expected "
                "[screen] cert_file and key_file (or [link] cert_file and key_file, the device certificate): "
                "the screen is served over HTTPS off this machine"]
    return []


def _with_list_id(config: Config) -> Config:
    """One list id for the screener and the link: whichever of [hitlist] / [link] list_id is set."""
    list_id = config.hitlist.list_id or config.link.list_id
    if list_id is None:
        return config
    return dataclasses.replace(config, hitlist=dataclasses.replace(config.hitlist, list_id=list_id),
                               link=dataclasses.replace(config.link, list_id=list_id))


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _section(cls: type, name: str, table: dict[str, Any], base: Path, errors: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    before = len(errors)
    for key, value in table.items():
        if key not in fields:
            errors.append(f"[{name}] {key} = {value!r}: unknown key; known: {', '.join(fields)}")
    values: dict[str, Any] = {}
    for fname, f in fields.items():
        where = f"[{name}] {fname}"
        if fname not in table:
            if _required(f):
                errors.append(f"{where}: missing required key ({f.metadata.get('doc', '')})")
            continue
        value = table[fname]
        converted, problem = _convert(value, hints[fname], base)
        if problem is None and f.metadata.get("check") is not None:
            problem = f.metadata["check"](converted)
        if problem is not None:
            errors.append(f"{where} = {value!r}: {problem}")
            continue
        values[fname] = converted
    return cls(**values) if len(errors) == before else None


def _convert(value: Any, tp: Any, base: Path) -> tuple[Any, str | None]:
    """Check ``value`` against the annotation ``tp``; returns (converted value, problem or None)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None, None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, base)
    if origin is Literal:
        if value in args:
            return value, None
        return value, f"expected one of {', '.join(repr(a) for a in args)}"
    if origin is tuple:
        if not isinstance(value, list):
            return value, "expected a list"
        items = []
        for item in value:
            conv, problem = _convert(item, args[0], base)
            if problem is not None:
                return value, f"list item {item!r}: {problem}"
            items.append(conv)
        return tuple(items), None
    if tp is bool:
        return value, None if isinstance(value, bool) else "expected true or false"
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return value, None if ok else "expected an integer"
    if tp is float:  # TOML's inf and nan are no setting: an endless duplicate window made every read one passage
        if isinstance(value, float) and not math.isfinite(value):
            return value, "expected a finite number"
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else value, None if ok else "expected a number"
    if tp is str:
        return value, None if isinstance(value, str) else "expected a string"
    if tp is Path:
        if not isinstance(value, str) or not value:
            return value, "expected a non-empty path string"
        try:
            p = Path(value).expanduser()
        except RuntimeError as exc:  # "~user/…" of no such user (found by the atheris config target)
            return value, f"cannot expand {value!r}: {exc}"
        return (p if p.is_absolute() else base / p), None
    raise TypeError(f"config annotation {tp!r} not supported")


def describe() -> list[tuple[str, str, str, str]]:
    """(section, key, default, doc) of every key, for docs/config.md and `--help` texts."""
    rows = []
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = "required" if _required(f) else repr(f.default)
            rows.append((name, f.name, default, f.metadata.get("doc", "")))
    return rows
