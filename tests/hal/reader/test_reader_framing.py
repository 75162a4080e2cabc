"""The pure framers against what real readers send (../shared/READERS.md, docs/readers.md)."""

from __future__ import annotations

import random
from functools import reduce
from operator import xor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.reader.framing import MAX_ECHO, MAX_FRAME, MAX_ROW, parse_framing
from tests.support.reader_specimens import MRVA, TD1, TD2, TD3, TD3_B, docs, misreads, run


def spec(**query):
    return parse_framing(query)[0]


def lines_bytes(*documents, sep=b"\r\n", blank=False):
    out = b""
    for rows in documents:
        out += b"".join(r.encode() + sep for r in rows) + (sep if blank else b"")
    return out


# -- lines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [b"\r\n", b"\r", b"\n"], ids=["crlf", "cr", "lf-cooked-tty"])
@pytest.mark.parametrize("rows", [TD3, TD2, TD1, MRVA], ids=["td3", "td2", "td1", "mrva"])
def test_lines_block_complete_without_blank_line_or_idle(rows, sep):
    out = run(spec(framing="lines").framer(), [lines_bytes(rows, sep=sep)], idle=False)
    assert docs(out) == [rows] and misreads(out) == []


def test_lines_crlf_split_across_reads_is_one_separator():
    data = lines_bytes(TD3, TD3_B)
    cr = data.index(b"\r")
    out = run(spec().framer(), [data[: cr + 1], data[cr + 1 :]])
    assert docs(out) == [TD3, TD3_B] and misreads(out) == []


def test_lines_two_documents_in_one_read_are_two_documents():
    out = run(spec().framer(), [lines_bytes(TD3, TD1, blank=True)])
    assert docs(out) == [TD3, TD1]


def test_lines_repeated_read_of_same_document_is_passed_on():
    out = run(spec().framer(), [lines_bytes(TD3, TD3, blank=True)])
    assert docs(out) == [TD3, TD3]


def test_lines_truncated_block_yields_misread_and_next_block_comes_through():
    truncated = (TD3[0], TD3[1][:30])
    out = run(spec().framer(), [lines_bytes(truncated, blank=True) + lines_bytes(TD3_B, blank=True)])
    assert docs(out) == [TD3_B] and len(misreads(out)) == 1


def test_lines_lone_row_then_next_document_is_not_a_false_document():
    out = run(spec().framer(), [lines_bytes((TD3[0],), TD3_B)])
    assert docs(out) == [TD3_B]
    assert misreads(out) == ["unpaired row dropped"]


def test_lines_lost_row_1_does_not_pair_row_2_with_next_row_2():
    row2_like_row1 = "P898902C36UTO7408122F1204159ZE184226B<<<<<10"  # starts with P, like a passport row 1
    out = run(spec().framer(), [lines_bytes((row2_like_row1,), (TD3_B[1],))])
    assert docs(out) == [] and len(misreads(out)) == 1


def test_lines_row_2_then_next_row_1_is_not_a_document():
    out = run(spec().framer(), [lines_bytes((TD2[1],), (TD2[0],))])
    assert docs(out) == []


def test_lines_trailing_blanks_stripped_and_lower_case_upper_cased():
    data = (TD3[0].lower() + "   \r\n" + TD3[1] + " \r\n").encode()
    assert docs(run(spec().framer(), [data])) == [TD3]


MISREAD_ROWS = {
    "question-mark": TD3[1][:10] + "?" + TD3[1][11:],
    "underscore-padding": TD3[1][:40] + "____",
    "space-inside": TD3[1][:10] + " " + TD3[1][11:],
    "gs-candidate-group": TD3[1][:10] + "\x1d8B" + TD3[1][11:],
    "bit-7-set": TD3[1][:10] + "\xd0" + TD3[1][11:],
}


@pytest.mark.parametrize("bad_row", MISREAD_ROWS.values(), ids=MISREAD_ROWS.keys())
def test_lines_unreadable_row_is_misread_and_never_a_document(bad_row):
    data = TD3[0].encode() + b"\r\n" + bad_row.encode("latin-1") + b"\r\n\r\n" + lines_bytes(TD3_B)
    out = run(spec().framer(), [data])
    assert docs(out) == [TD3_B]
    assert len(misreads(out)) == 1


def test_lines_noise_glued_to_row_1_ends_as_noise():
    data = b"\x15AT+STATUS=\x06" + lines_bytes(TD3)
    assert docs(run(spec().framer(), [data])) == [TD3]


ECHOES = {"rd": b"RD", "read-lower": b"read", "at-command": b"AT+READ", "status-ok": b"OK",
          "max-echo": b"E" * MAX_ECHO, "digits": b"0042"}  # fmt: skip


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
@pytest.mark.parametrize("rows", [TD3, TD2, TD1, MRVA], ids=["td3", "td2", "td1", "mrva"])
def test_lines_command_echo_glued_to_row_1_keeps_the_passport(rows, echo):
    data = echo + lines_bytes(rows) + lines_bytes(TD3_B)
    assert docs(run(spec().framer(), [data])) == [rows, TD3_B]
    assert docs(run(spec().framer(), [bytes([c]) for c in data])) == [rows, TD3_B]  # one byte per read


def test_lines_echo_longer_than_max_echo_is_an_oversize_misread_and_next_read_comes_through():
    out = run(spec().framer(), [b"E" * (MAX_ECHO + 1) + lines_bytes(TD3) + b"\r\n" + lines_bytes(TD3_B)])
    assert docs(out) == [TD3_B] and any("oversize" in m for m in misreads(out))


def test_lines_lone_row_whose_tail_looks_like_row_1_is_never_cut_into_a_false_document():
    # A lone 44-character passport row (its row 2 lost) whose last 30 characters are an identity card's
    # row 1, then that card's rows 2 and 3 (its row 1 lost): cutting the first row would make a card.
    lone = "P<UTOABCDEFGHI" + TD1[0]
    out = run(spec().framer(), [lines_bytes((lone,), TD1[1:])])
    assert docs(out) == [] and misreads(out)


def test_lines_echo_glued_to_a_row_2_never_pairs_it_with_the_next_document():
    out = run(spec().framer(), [b"RD" + lines_bytes((TD3[1],), TD3_B)])
    assert docs(out) == [TD3_B] and misreads(out) == ["unpaired row dropped"]


def test_lines_oversize_row_dropped_with_bounded_memory():
    framer = spec().framer()
    out = framer.feed(b"A" * 100_000, 0.0)
    assert framer.buffered <= MAX_ROW
    out += run(framer, [b"\r\n\r\n" + lines_bytes(TD3)])
    assert docs(out) == [TD3] and any("oversize" in m for m in misreads(out))


def test_lines_garbage_survived_with_bounded_memory_and_no_false_document():
    garbage = random.Random(7).randbytes(20_000)
    framer = spec().framer()
    out = framer.feed(garbage, 0.0)
    assert framer.buffered <= 3 * MAX_ROW + MAX_ROW
    out += framer.idle(0.0)
    out += run(framer, [lines_bytes(TD3)])
    assert docs(out) == [TD3]


def test_lines_last_row_without_separator_completes_when_line_goes_idle():
    data = lines_bytes(TD3)[:-2]
    framer = spec().framer()
    assert framer.feed(data, 0.0) == []
    assert docs(framer.idle(0.0)) == [TD3]


@pytest.mark.parametrize("per_row", [True, False], ids=["prefix-every-row", "prefix-once"])
def test_lines_prefix_stripped_even_split_across_reads(per_row):
    rows = [r.encode() for r in TD3]
    data = b"]o1" + rows[0] + b"\r" + (b"]o1" if per_row else b"") + rows[1] + b"\r"
    chunks = [data[:1], data[1:2], data[2:50], data[50:]]
    assert docs(run(spec(framing="lines", prefix="]o1").framer(), chunks)) == [TD3]


def test_lines_broken_prefix_is_cut_like_an_echo_and_never_spoils_the_next_read():
    data = b"]o" + lines_bytes(TD3) + b"\r\n]o1" + lines_bytes(TD3_B)
    out = run(spec(framing="lines", prefix="]o1").framer(), [data])
    assert docs(out) == [TD3, TD3_B] and misreads(out) == []  # "O" glued to row 1 is cut as an echo


def test_lines_prefix_mismatch_keeps_bytes_that_belong_to_the_row():
    rows = [r.encode() for r in TD1]
    data = b"".join(b"I<Q" + r + b"\r" for r in rows)  # prefix "I<Q"; row 1 itself starts with "I<"
    assert docs(run(spec(framing="lines", prefix="I<Q").framer(), [data])) == [TD1]
    assert docs(run(spec(framing="lines", prefix="I<Q").framer(), [lines_bytes(TD1)])) == [TD1]


def test_lines_reset_discards_partial_block():
    framer = spec().framer()
    framer.feed(TD3[0].encode() + b"\r\n" + TD3[1][:30].encode(), 0.0)
    framer.reset()
    out = run(framer, [TD3[1][30:].encode() + b"\r\n"])
    assert docs(out) == []


# -- stx-etx ----------------------------------------------------------------------------------


def access_is(rows, final_cr=False):
    return b"\x1c\x02" + b"\r".join(r.encode() for r in rows) + (b"\r" if final_cr else b"") + b"\x03\x1d"


def test_stx_etx_access_is_frame_without_cr_before_etx():
    assert docs(run(spec(framing="stx-etx").framer(), [access_is(TD3), access_is(TD1, True)])) == [TD3, TD1]


def test_stx_etx_magnetic_stripe_and_barcode_frames_ignored():
    stripe = b"\x0e\x02" + lines_bytes(TD3_B) + b"\x03\x0f"  # even when it looks like an MRZ
    barcode = b"\x1e\x02" + b"4006381333931" + b"\x03\x1f"
    out = run(spec(framing="stx-etx").framer(), [stripe + barcode + access_is(TD3)])
    assert docs(out) == [TD3] and misreads(out) == []


def test_stx_etx_bytes_outside_frames_ignored():
    outside = lines_bytes(TD3_B) + b"garbage\r\n"
    out = run(spec(framing="stx-etx").framer(), [outside + access_is(TD3) + outside])
    assert docs(out) == [TD3] and misreads(out) == []


def test_stx_etx_wrong_bcc_drops_frame_and_next_frame_comes_through():
    s = spec(framing="stx-etx", bcc="xor")
    good = s.encode(TD3)
    bad = good[:-1] + bytes([good[-1] ^ 0x01])
    out = run(s.framer(), [bad + s.encode(TD1)])
    assert docs(out) == [TD1] and misreads(out) == ["BCC mismatch: frame dropped"]


def test_stx_etx_bcc_is_xor_after_start_through_end():
    frame = spec(framing="stx-etx", bcc="xor").encode(TD3)
    assert frame[0] == 0x02 and frame[-2] == 0x03
    assert frame[-1] == reduce(xor, frame[1:-1], 0)


def test_stx_etx_multibyte_markers_split_inside_markers():
    s = spec(framing="stx-etx", start="1c02", end="031d")
    data = b"\x1d\x1c" + s.encode(TD3) + s.encode(TD3_B)
    assert data.count(b"\x1c\x02") == 2
    chunks = [data[:2], data[2:3]]
    i = data.index(b"\x03\x1d")
    chunks += [data[3 : i + 1], data[i + 1 : i + 2], data[i + 2 :]]
    assert docs(run(s.framer(), chunks)) == [TD3, TD3_B]


def test_stx_etx_truncated_frame_is_misread_and_next_frame_comes_through():
    truncated = b"\x02" + TD3[0].encode() + b"\r" + TD3[1][:10].encode()
    out = run(spec(framing="stx-etx").framer(), [truncated, access_is(TD3_B)])
    assert docs(out) == [TD3_B] and len(misreads(out)) == 1


def test_stx_etx_row_longer_than_44_is_an_oversize_misread_and_next_frame_comes_through():
    """Only line mode allows MAX_ECHO characters of a command echo before row 1; in a frame a row is at most 44."""
    long_row = (TD3[0] + "<" * 6,) + TD3[1:]
    out = run(spec(framing="stx-etx").framer(), [access_is(long_row), access_is(TD3_B)])
    assert docs(out) == [TD3_B] and misreads(out) == [f"oversize row ({MAX_ROW + 6} > {MAX_ROW} characters)"]


def test_stx_etx_oversize_frame_dropped_with_bounded_memory():
    framer = spec(framing="stx-etx").framer()
    out = framer.feed(b"\x02" + b"A" * 50_000, 0.0)
    assert framer.buffered <= MAX_FRAME
    out += run(framer, [b"\x03" + access_is(TD3)])
    assert docs(out) == [TD3] and any("oversize" in m for m in misreads(out))


READ = 4096  # what the serial backend asks of the port at a time (hal/reader/serial.py: READ_CHUNK)


def reads(data: bytes, size: int = READ) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def counting_searches(framer) -> list[int]:  # type: ignore[no-untyped-def]
    """Count the bytes the framer's marker searches look at (its work, not its time): [bytes searched]."""
    searched = [0]

    def counted(find):  # type: ignore[no-untyped-def]
        def find_counted(buf, start, end):  # type: ignore[no-untyped-def]
            found = find(buf, start, end)
            searched[0] += max(0, (found + 1 if found >= 0 else min(end, len(buf))) - start)
            return found

        return find_counted

    framer._start_at, framer._end_at = counted(framer._start_at), counted(framer._end_at)
    return searched


STX_GARBAGE = {
    "one_frame_without_etx": b"\x02" + b"A" * (2 << 20),
    "frames_without_etx": (b"\x02" + b"A" * 100) * ((2 << 20) // 101),
}


@pytest.mark.parametrize("read", ["whole", "4k"])
@pytest.mark.parametrize("garbage", STX_GARBAGE, ids=list(STX_GARBAGE))
def test_stx_etx_2mb_without_etx_is_dropped_and_the_frames_around_it_come_through(garbage, read):
    """2 MB after a start marker with no end marker (a reader gone mad, a wrong line speed), between two good
    frames, read in one piece or in 4 KB reads: the frames before and after are read, the garbage is one
    oversize misread (or one truncated misread per start marker), the buffer stays bounded, and every byte is
    searched a bounded number of times (it was searched again for every frame in the read: quadratic)."""
    s = spec(framing="stx-etx")
    framer = s.framer()
    searched = counting_searches(framer)
    data = s.encode(TD3) + STX_GARBAGE[garbage] + s.encode(TD3_B)
    out: list = []
    for chunk in [data] if read == "whole" else reads(data):
        out += framer.feed(chunk, 0.0)
        assert framer.buffered <= framer.max_buffered
    assert not framer.pending
    assert docs(out) == [TD3, TD3_B]
    if garbage == "one_frame_without_etx":
        assert misreads(out) == [f"oversize frame (> {MAX_FRAME} bytes)"]
    else:
        assert set(misreads(out)) == {"truncated frame (a new start marker came before the end marker)"}
        assert len(misreads(out)) == (2 << 20) // 101
    assert searched[0] <= 3 * len(data), f"{searched[0]} bytes searched for {len(data)}"


@pytest.mark.parametrize("cut", [None, 40, 160], ids=["one-read", "end-in-a-later-read", "limit-passed-before-the-end"])
def test_stx_etx_oversize_frame_is_dropped_however_the_reads_split_it(cut):
    # blank rows padding a real MRZ past MAX_FRAME: the frame is oversize whether its end marker comes in the
    # read that overflows the limit or in a later one (it was a document when it all came in one read)
    frame = b"\x02" + b"\r".join(r.encode() for r in TD3) + b"\r" * 80 + b"\x03"
    assert len(frame) - 2 > MAX_FRAME
    chunks = [frame] if cut is None else [frame[:cut], frame[cut:]]
    out = run(spec(framing="stx-etx").framer(), chunks + [access_is(TD3_B)])
    assert docs(out) == [TD3_B] and misreads(out) == [f"oversize frame (> {MAX_FRAME} bytes)"]


def test_stx_etx_frame_of_the_largest_size_still_passes_with_split_markers():
    s = spec(framing="stx-etx", start="1c02", end="031d")
    payload = b"\r".join(r.encode() for r in TD3) + b"\r" * (MAX_FRAME - 89)
    frame = b"\x1c\x02" + payload + b"\x03\x1d"
    assert len(payload) == MAX_FRAME
    for cut in range(1, len(frame)):
        assert docs(run(s.framer(), [frame[:cut], frame[cut:]])) == [TD3], cut


def seven_e_one(data):
    """Bytes as a 7E1 reader sends them, read by a port set to 8N1: bit 7 is the even-parity bit."""
    return bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in data)


SEVEN_E_ONE = {
    "access-is": ({"framing": "stx-etx"}, access_is(TD3)),
    "access-is-multibyte-markers": ({"framing": "stx-etx", "start": "1c02", "end": "031d"}, access_is(TD3)),
    "bcc": ({"framing": "stx-etx", "bcc": "xor"}, spec(framing="stx-etx", bcc="xor").encode(TD3)),
}


@pytest.mark.parametrize("query,frame", SEVEN_E_ONE.values(), ids=SEVEN_E_ONE.keys())
def test_stx_etx_7e1_reader_read_as_8n1_is_a_misread_naming_7e1_not_silence(query, frame):
    # STX arrives as 0x82 and CR as 0x8d: the frame was never found, so a technician decoding the capture
    # saw nothing at all instead of the hint to set bytesize=7&parity=E (../shared/READERS.md)
    stripe = b"\x0e\x02;4000001234567899=2512?\x03\x0f"  # still skipped as a magnetic-stripe frame
    out = run(spec(**query).framer(), [seven_e_one(stripe + frame), spec(**query).encode(TD3_B)])
    assert docs(out) == [TD3_B]
    assert len(misreads(out)) == 1 and "7E1" in misreads(out)[0]


def test_stx_etx_frame_with_wrong_shape_is_misread():
    out = run(spec(framing="stx-etx").framer(), [access_is((TD3[0], TD2[1]))])
    assert docs(out) == [] and len(misreads(out)) == 1


def _with(row: str, at: range, text: str) -> str:
    return row[: at.start] + text + row[at.stop :]


SHAPES = {  # rows of the right count and length whose shape is no MRZ's, and the limits that still are one
    "td3-row-1-not-p-or-v": ((_with(TD3[0], range(0, 1), "I"), TD3[1]), "starts with 'I', expected one of PV"),
    "td1-row-1-not-a-c-or-i": ((_with(TD1[0], range(0, 1), "P"),) + TD1[1:], "starts with 'P', expected one of ACI"),
    "7-of-12-date-digits": ((TD3[0], _with(TD3[1], range(13, 18), "ABCDE")), "row 2 hold 7/12 digits"),
    "5-digits-in-the-name-row": ((_with(TD3[0], range(5, 10), "12345"), TD3[1]), "name row 1 holds digits"),
    "8-of-12-date-digits": ((TD3[0], _with(TD3[1], range(13, 17), "ABCD")), None),
    "4-digits-in-the-name-row": ((_with(TD3[0], range(5, 9), "1234"), TD3[1]), None),
}


@pytest.mark.parametrize(("rows", "reason"), SHAPES.values(), ids=SHAPES.keys())
def test_rows_make_a_document_only_when_their_shape_fits(rows, reason):
    """docs/readers.md "Rows": row 1's first letter by width, at least 8 of the 12 date characters digits, at most 4
    digits in the name row; a false document is worse than a lost read."""
    out = run(spec(framing="stx-etx").framer(), [access_is(rows)])
    if reason is None:
        assert docs(out) == [rows]
    else:
        assert docs(out) == [] and len(misreads(out)) == 1 and reason in misreads(out)[0]


def test_stx_etx_frame_cut_by_idle_is_misread():
    framer = spec(framing="stx-etx").framer()
    assert framer.feed(access_is(TD3)[:50], 0.0) == []
    assert framer.pending
    assert len(misreads(framer.idle(0.0))) == 1


# -- rte --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [TD3, TD2, TD1], ids=["td3", "td2", "td1"])
def test_rte_native_message(rows):
    s = spec(framing="rte")
    frame = s.encode(rows)
    assert frame[0] == 0x01 and frame[3:6] == b"OU\x02"
    if len(rows) == 2:
        assert frame[7] == 0x0D  # a 2-row document starts with an empty line
    assert docs(run(s.framer(), [frame])) == [rows]


@pytest.mark.parametrize(
    "options", [{"bcc": "none"}, {"bcc": "ignore"}, {"length": "bcc"}, {"length": "ignore"}], ids=str
)
def test_rte_configurable_bcc_and_length(options):
    s = spec(framing="rte", **options)
    assert docs(run(s.framer(), [s.encode(TD3)])) == [TD3]


def rte_frame(text: bytes, length_delta: int = 0) -> bytes:
    """An RTE native message around ``text`` with a right BCC (and a length off by ``length_delta``).

    Built by hand, not by the framer's encoder: the length word counts the bytes after it through the
    BCC (../shared/READERS.md), which is the framer's default rule."""
    tail = b"OU\x020" + text + b"\x03"
    n = len(tail) + 1 + length_delta
    body = bytes([n & 0xFF, n >> 8]) + tail
    return b"\x01" + body + bytes([reduce(xor, body, 0)])


TEXT = b"\r" + TD3[0].encode() + b"\r" + TD3[1].encode() + b"\r"
RTE_BAD = {
    "wrong-bcc": (rte_frame(TEXT)[:-1] + bytes([rte_frame(TEXT)[-1] ^ 0xFF]), "BCC"),
    "wrong-length": (rte_frame(TEXT, length_delta=1), "length"),
    "underscore-padded-row": (rte_frame(TEXT.replace(b"<<<<<10", b"<<<<<__")), "'_'"),
    "two-lines-only": (rte_frame(TEXT[1:]), "expected 3"),
}


@pytest.mark.parametrize("frame,reason", RTE_BAD.values(), ids=RTE_BAD.keys())
def test_rte_bad_message_is_misread_and_next_message_comes_through(frame, reason):
    s = spec(framing="rte")
    assert docs(run(s.framer(), [rte_frame(TEXT)])) == [TD3]  # the helper itself frames right
    out = run(s.framer(), [frame + s.encode(TD1)])
    assert docs(out) == [TD1]
    assert len(misreads(out)) == 1 and reason in misreads(out)[0]


RTE_OPTIONS = {  # messages built by hand (not by the framer's encoder) as each option reads them
    "length-etx": ({"length": "etx"}, rte_frame(TEXT, length_delta=-1)),  # the word counts through ETX
    "bcc-ignore": ({"bcc": "ignore"}, RTE_BAD["wrong-bcc"][0]),  # a byte there, not checked
    "bcc-none": ({"bcc": "none"}, rte_frame(TEXT, length_delta=-1)[:-1]),  # no byte; the word through ETX
    "length-ignore": ({"length": "ignore"}, RTE_BAD["wrong-length"][0]),
}


@pytest.mark.parametrize(("options", "frame"), RTE_OPTIONS.values(), ids=RTE_OPTIONS.keys())
def test_rte_length_and_bcc_options_read_the_message_as_they_say_and_the_default_refuses_it(options, frame):
    assert docs(run(spec(framing="rte", **options).framer(), [frame])) == [TD3]
    out = run(spec(framing="rte").framer(), [frame])
    assert docs(out) == [] and len(misreads(out)) == 1


def test_rte_soh_in_noise_resynchronises():
    s = spec(framing="rte")
    out = run(s.framer(), [b"\x01\x00\x01junk" + s.encode(TD3)])
    assert docs(out) == [TD3]


# -- tlv --------------------------------------------------------------------------------------


def test_tlv_mrz_message_and_other_types_ignored():
    s = spec(framing="tlv")
    version = b"V\x00\x05" + b"1.2.3"
    ack = b"A\x00\x00"
    out = run(s.framer(), [version + s.encode(TD3) + ack + s.encode(TD1)])
    assert docs(out) == [TD3, TD1] and misreads(out) == []


def test_tlv_configured_type():
    s = spec(framing="tlv", type="4d")
    assert s.encode(TD3)[0] == 0x4D
    assert docs(run(s.framer(), [spec(framing="tlv").encode(TD2) + s.encode(TD3)])) == [TD3]


def test_tlv_garbage_before_message_resynchronises_with_bounded_memory():
    s = spec(framing="tlv")
    framer = s.framer()
    out = framer.feed(b"\xff\xff\xff" * 1000, 0.0)
    assert framer.buffered <= MAX_FRAME + 3
    out += run(framer, [b"\x00\x13" + s.encode(TD3)])
    assert docs(out) == [TD3]


def test_tlv_mrz_message_with_bad_row_is_misread():
    s = spec(framing="tlv")
    bad = s.encode(TD3).replace(b"<<<<<10", b"<<<<<?0")
    out = run(s.framer(), [bad + s.encode(TD1)])
    assert docs(out) == [TD1] and len(misreads(out)) == 1


# -- any split --------------------------------------------------------------------------------

STREAMS = {
    "lines": (spec(framing="lines"), b"\r\n"),
    "lines-prefix": (spec(framing="lines", prefix="]o1"), b""),
    "stx-etx-bcc": (spec(framing="stx-etx", bcc="xor"), b"\x1d\x0e\x02noise\x03\x0f"),
    "access-is-markers": (spec(framing="stx-etx", start="1c02", end="031d"), b"\x1d"),
    "rte": (spec(framing="rte"), b"\x00"),
    "tlv": (spec(framing="tlv"), b"S\x00\x02ok"),
}
DOCS = [TD3, TD2, TD1, TD3_B, MRVA]


@pytest.mark.parametrize("name", STREAMS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_split_of_a_valid_stream_yields_the_same_documents(name, data):
    s, between = STREAMS[name]
    chosen = data.draw(st.lists(st.sampled_from(DOCS), min_size=1, max_size=4))
    stream = b"".join(s.encode(rows) + between for rows in chosen)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    whole = run(s.framer(), [stream])
    split = run(s.framer(), chunks)
    assert docs(whole) == chosen
    assert docs(split) == chosen and misreads(split) == misreads(whole)


def test_lines_prefix_stripped_once_per_row_even_when_row_starts_like_it():
    s = spec(framing="lines", prefix="I<")
    data = b"".join(b"I<" + r.encode() + b"\r" for r in TD1)  # TD1 row 1 itself starts with "I<"
    assert docs(run(s.framer(), [data])) == [TD1]
    assert docs(run(s.framer(), [bytes([c]) for c in data])) == [TD1]


@pytest.mark.parametrize("name", STREAMS)
def test_garbage_never_makes_a_document_and_memory_stays_bounded(name):
    s, _ = STREAMS[name]
    framer = s.framer()
    rng = random.Random(name)
    out = []
    for _ in range(200):
        out += framer.feed(rng.randbytes(rng.randrange(1, 600)), 0.0)
        assert framer.buffered <= framer.max_buffered
    out += framer.idle(0.0)
    assert docs(out) == []
    assert docs(run(framer, [s.encode(TD3)])) == [TD3]
