"""Write the reader captures of this directory and the output a careful framer must give for each.

    python tests/data/captures/make_captures.py

Each ``NAME.hex`` is what one reader family sends (../../../docs/readers.md), cut into reads at
awkward places (inside markers, between CR and LF, mid-row), with timestamps; its first line
``# decode: QUERY`` names the framing options. ``NAME.expected.jsonl`` is written here from what was
put on the wire, independently of the framer, and ``tests/hal/reader/test_reader_captures.py`` compares
``sharaka-gate reader decode --json`` against it line by line.
"""

from __future__ import annotations

import json
from functools import reduce
from operator import xor
from pathlib import Path

HERE = Path(__file__).parent

TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
TD3_B = ("P<UTOSPECIMEN<<KARL<<<<<<<<<<<<<<<<<<<<<<<<<", "X123456785UTO8001014M3001019<<<<<<<<<<<<<<02")
TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")
TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
MRVA = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<")


def doc(rows):
    return {"lines": list(rows)}


def misread(reason):
    return {"misread": reason}


def b(rows, sep=b"\r"):
    return sep.join(r.encode() for r in rows)


def write(name, query, description, segments, expected):
    """``segments``: (seconds, bytes, [cut offsets]) — one burst from the reader, cut into reads."""
    lines = [f"# decode: {query}", *(f"# {d}" for d in description.splitlines())]
    for at, data, cuts in segments:
        bounds = [0, *cuts, len(data)]
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
            lines.append(f"{at + i * 0.004:.6f} {data[lo:hi].hex(' ')}")
    (HERE / f"{name}.hex").write_text("\n".join(lines) + "\n")
    (HERE / f"{name}.expected.jsonl").write_text("".join(json.dumps(e) + "\n" for e in expected))


def access_is():
    frame = lambda rows, cr=False: b"\x1c\x02" + b(rows) + (b"\r" if cr else b"") + b"\x03\x1d"  # noqa: E731
    stripe = b"\x0e\x02%B4111111111111111^SPECIMEN/KARL^3001?\x03\x0f"
    barcode = b"\x1e\x02" + b(TD3_B, b"\r\n") + b"\x03\x1f"  # a barcode that looks like an MRZ: ignored
    seven_e_one = bytes(c | 0x80 if i % 7 == 3 else c for i, c in enumerate(frame(TD3)))
    first_high = next(c for c in seven_e_one[2:] if c >= 0x80)
    write(
        "access-is",
        "framing=stx-etx",
        "Access-IS OCR315 on a COM port: FS STX rows ETX GS, the CR before ETX absent on passports.\n"
        "A magnetic-stripe frame (SO STX ... ETX SI) and a barcode frame (RS STX ... ETX US) share the\n"
        "port and are ignored. One read taken at 8N1 from a 7E1 unit sets bit 7: a misread.",
        [
            (0.0, frame(TD3), [1, 2, 47, 90]),  # cut between FS and STX, mid-row, just before ETX
            (2.5, stripe + barcode, [3, 30, 45]),
            (4.0, frame(TD1, cr=True), [60, 95, 96]),  # cut between CR and ETX, ETX and GS
            (6.0, seven_e_one, [40]),
            (8.0, frame(MRVA) + frame(TD3_B), [92]),  # two documents, the cut inside the second FS STX
        ],
        [
            doc(TD3),
            doc(TD1),
            misread(f"byte 0x{first_high:02x} >= 0x80 in a row (a 7E1 line read as 8N1?)"),
            doc(MRVA),
            doc(TD3_B),
        ],
    )


def desko_cute():
    # Assumed device markers around the STX frame (docs/readers.md): ESC 'D' before, ESC 'E' after.
    frame = lambda rows: b"\x1bD\x02" + b(rows) + b"\r\x03\x1bE"  # noqa: E731
    replaced = (TD2[0], TD2[1][:12] + "<" + TD2[1][13:])  # a misread character replaced, sent anyway
    write(
        "desko-cute",
        "framing=stx-etx",
        "DESKO PENTA in airport CUTE mode: a device marker, STX, rows each ending CR, ETX, a device\n"
        "marker. Misread characters are replaced and sent anyway: the MRZ engine decides, not the framer.",
        [
            (0.0, frame(TD3), [2, 3, 48]),
            (3.0, frame(replaced), [37, 75]),
            (5.0, frame(TD1) + frame(TD3_B), [96, 97]),
        ],
        [doc(TD3), doc(replaced), doc(TD1), doc(TD3_B)],
    )


def rte(text):
    tail = b"OU\x02" + b"0" + text + b"\x03"
    n = len(tail) + 1  # the length word counts the bytes after it through the BCC (READERS.md)
    body = bytes([n & 0xFF, n >> 8]) + tail
    return b"\x01" + body + bytes([reduce(xor, body, 0)])


def rte_3m():
    two = lambda rows: rte(b"\r" + b(rows) + b"\r")  # noqa: E731
    padded = rte(b"\r" + TD3[0].encode() + b"\r" + TD3[1][:38].encode() + b"______\r")
    bad_bcc = bytearray(two(TD3_B))
    bad_bcc[-1] ^= 0x40
    write(
        "rte-3m",
        "framing=rte",
        "3M/Thales RTE6701 swipe reader, RTE native: SOH len_lo len_hi 'O' 'U' STX flag text ETX BCC.\n"
        "2-row documents start with an empty line. One swipe padded with '_' (a misread), one with a\n"
        "corrupted BCC (dropped); noise before a message.",
        [
            (0.0, two(TD3), [1, 3, 5, 60]),  # cut inside the length word and inside the header
            (2.0, rte(b"".join(r.encode() + b"\r" for r in TD1)), [50]),
            (4.0, padded, [70]),
            (5.0, bytes(bad_bcc), []),
            (6.0, b"\x00\x01\x7f" + two(MRVA), [2]),
        ],
        [
            doc(TD3),
            doc(TD1),
            misread("unreadable character '_' in a row"),
            misread("BCC mismatch: frame dropped"),
            doc(MRVA),
        ],
    )


def code_corp():
    send = lambda rows: b"]o1" + b(rows) + b"\r"  # noqa: E731
    write(
        "code-corp-prefixed",
        "framing=lines&prefix=]o1",
        "Code Corp / Honeywell imager with the passport OCR template: code identifier ]o1, one CR\n"
        "between rows and a CR suffix. One read sends only row 1 (row 2 failed its check digits): it\n"
        "must not pair with the next document. A Microscan-style GS candidate group is a misread.",
        [
            (0.0, send(TD3), [1, 2, 3, 47]),
            (2.0, b"]o1" + TD3_B[0].encode() + b"\r", [10]),
            (2.2, send(TD1), [33]),  # sooner than the idle time: only the row shapes can tell
            (
                4.0,
                b"]o1"
                + TD2[0].encode()
                + b"\r"
                + TD2[1][:9].encode()
                + b"\x1d8B"
                + TD2[1][10:].encode()
                + b"\r",
                [],
            ),
            (5.0, send(TD2), [39]),
        ],
        [
            doc(TD3),
            misread("unpaired row dropped"),
            doc(TD1),
            misread("GS candidate group in a row (uncertain characters)"),
            doc(TD2),
        ],
    )


def elyctis():
    msg = lambda kind, data: bytes([kind, len(data) >> 8, len(data) & 0xFF]) + data  # noqa: E731
    mrz = lambda rows: msg(0x49, b"".join(r.encode() + b"\r" for r in rows) + b"\r")  # noqa: E731
    write(
        "elyctis",
        "framing=tlv",
        "Elyctis ID BOX: type(1) length(2, big-endian) data. 'I' carries the MRZ (rows end CR, the\n"
        "payload ends CR CR); version 'V' and acknowledgement 'A' messages are ignored.",
        [
            (0.0, msg(0x56, b"IDBOX 2.4.1") + msg(0x41, b""), [5]),
            (1.0, mrz(TD3), [1, 2, 50]),  # cut inside the length word
            (3.0, mrz(TD1) + msg(0x41, b"\x00") + mrz(TD2), [95, 97]),
        ],
        [doc(TD3), doc(TD1), doc(TD2)],
    )


def plain_com():
    write(
        "plain-com-crlf",
        "framing=lines",
        "A reader in plain COM mode: rows end CR LF, no blank line, the next document follows at once.\n"
        "Reads cut between CR and LF. A truncated block (the reader lost the card) is followed by a\n"
        "blank line; a lone row 2 arrives before the next document.",
        [
            (0.0, b(TD3, b"\r\n") + b"\r\n", [44, 45, 60]),
            (1.0, b(TD3_B, b"\r\n") + b"\r\n" + b(TD1, b"\r\n") + b"\r\n", [91, 140]),
            (3.0, TD2[0].encode() + b"\r\n" + TD2[1][:20].encode() + b"\r\n\r\n", [37]),
            (4.0, TD3[1].encode() + b"\r\n", []),
            (4.2, b(MRVA, b"\r\n") + b"\r\n", [45]),
        ],
        [
            doc(TD3),
            doc(TD3_B),
            doc(TD1),
            misread("2 row(s) of length 36, 20 do not form a 2x44, 2x36 or 3x30 MRZ"),
            misread("unpaired row dropped"),
            doc(MRVA),
        ],
    )


def command_echo():
    write(
        "command-echo-lines",
        "framing=lines",
        "A reader polled with a read command that it echoes without a separator, so the echo is glued\n"
        "to row 1 ('RD', 'read', an AT command whose '+' ends the echo as noise). The framer cuts the\n"
        "echo; an echo longer than MAX_ECHO (32) makes the row oversize: a misread, the next read is fine.",
        [
            (0.0, b"RD" + b(TD3, b"\r\n") + b"\r\n", [1, 2, 30]),
            (1.0, b"read" + b(TD1, b"\r\n") + b"\r\n", [3, 20]),
            (2.0, b"AT+READ" + b(TD2, b"\r\n") + b"\r\n", [4]),
            (3.0, b"E" * 33 + b(TD3_B, b"\r\n") + b"\r\n\r\n", [40]),
            (4.0, b"RD" + b(MRVA, b"\r\n") + b"\r\n", []),
        ],
        [doc(TD3), doc(TD1), doc(TD2), misread("oversize row (> 76 characters)"), doc(MRVA)],
    )


def cooked_tty():
    write(
        "cooked-tty-lf",
        "framing=lines",
        "The same reader behind a cooked tty (ICRNL): every CR arrives as LF, blank line after each block.\n"
        "Trailing blanks and lower case are normalised; line noise between documents is dropped.",
        [
            (0.0, b(TD3, b"\n") + b"\n\n", [20]),
            (1.0, b"\x15\x06+++\x07", []),
            (
                1.2,
                (TD1[0] + "  ").encode()
                + b"\n"
                + TD1[1].lower().encode()
                + b"\n"
                + TD1[2].encode()
                + b"\n\n",
                [31, 62],
            ),
            (3.0, b(TD2, b"\n") + b"\n\n", [36]),
        ],
        [doc(TD3), doc(TD1), doc(TD2)],
    )


if __name__ == "__main__":
    for make in (access_is, desko_cute, rte_3m, code_corp, elyctis, plain_com, command_echo, cooked_tty):
        make()
