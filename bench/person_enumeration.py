"""What a stolen gate costs an attacker who enumerates its person list, against what it costs a traveller.

    python bench/person_enumeration.py [--seconds 2]

Whoever holds a gate holds its list's person key, so every candidate (name key x birth date) can be
fingerprinted and looked up. Measured here, in CPU time (``time.process_time``, so other work on the
machine does not inflate the figures): guesses per second per core of the gate's person fingerprint
(``agent.hitlist.fingerprint.person_fingerprint``, PBKDF2-HMAC-SHA256) at several iteration counts, of
the document fingerprint (keyed BLAKE2b) and of Argon2id (libsodium, the memory-hard alternative). For
each: the keying time of one traveller on the gate (the ``agent.hitlist.keying.person_lookup_keys`` keys of
the travellers ``bench/gate_latency.py`` screens, all computed on a miss, spread over the cores as the
store does), the same on a Raspberry Pi 4, and the time to enumerate the candidate space on all of this
machine's cores and on one GPU at a published hashcat rate.

Sources (docs/hitlist.md "Privacy" cites them):
- GPU: hashcat 6.2.6 ``-b``, mode 10900 (PBKDF2-HMAC-SHA256, 999 iterations), one RTX 4090 at stock clocks:
  8,865.7 kH/s (github.com/dosoos/hashcat_speeds, benchmarks/RTX4090.txt, Chick3nman's run), scaled by the
  iteration count. The RTX 5090 file in the same repository gives 11,157.2 kH/s.
- Pi 4: SHA-256 of 64 MB buffers with OpenSSL 3.4.1 on one Cortex-A72 core at 1.8 GHz (no SHA instructions):
  0.804 Gbit/s (github.com/lelegard/shabench, RESULTS.txt), against this CPU's ``openssl speed sha256`` at
  16 KiB blocks, measured in the same run. Applying that ratio to a whole PBKDF2 iteration is an upper
  bound: part of each iteration here is call overhead that does not slow down as much as SHA-256.

The swipe-to-indicator latency with the real signed store and a person list is
``bench/gate_latency.py --store --persons 10000 [--person-cost N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable

import nacl.pwhash

from agent.hitlist.fingerprint import FingerprintKeys, person_fingerprint
from agent.hitlist.keying import person_lookup_keys
from agent.mrz import parse_mrz
from tools.hitlist.build import DEFAULT_PERSON_COST
from tools.specimens import stream

CANDIDATES = 4e9  # plausible name keys x birth dates (docs/names.md "Privacy")
GPU_PBKDF2_999 = 8_865.7e3  # H/s, hashcat 6.2.6 mode 10900 (999 iterations), one RTX 4090 (module docstring)
PI4_SHA256_BITS = 0.804e9  # bit/s, one Cortex-A72 core at 1.8 GHz, OpenSSL 3.4.1 (module docstring)
PI4_CORES = 4
COSTS = (1, DEFAULT_PERSON_COST, 1000, 10_000)


def cpu_per_call(fn: Callable[[int], object], seconds: float) -> float:
    """CPU seconds per call of ``fn(i)``, measured for about ``seconds`` of CPU time."""
    n, start = 0, time.process_time()
    while (spent := time.process_time() - start) < seconds:
        for _ in range(10):
            fn(n)
            n += 1
    return spent / n


def keys_per_traveller(count: int = 1000) -> list[int]:
    """Sorted person-key counts of the travellers bench/gate_latency.py screens (same specimens, same seed): the
    lookups the store keys for each (``keying.person_lookup_keys``: name keys, a few with day and month swapped, a few with the
    date masked as YYMM<< and YY<<<<)."""
    today = dt.date.today()
    out = []
    for line1, line2 in stream(count, seed=7):
        mrz = parse_mrz([line1, line2], today=today)
        out.append(len(person_lookup_keys(mrz.surname, mrz.given_names, mrz.birth_date, truncated=mrz.name_truncated,
                                          issuing_state=mrz.issuing_state)))
    return sorted(out)


def sha256_bits_per_s() -> float | None:
    """This CPU's SHA-256 throughput on one core, ``openssl speed sha256`` at 16 KiB blocks (None: no openssl)."""
    try:
        out = subprocess.run(["openssl", "speed", "-seconds", "1", "-bytes", "16384", "sha256"],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"^sha256\s+([\d.]+)k", out, re.MULTILINE)
    return float(found.group(1)) * 1000 * 8 if found else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per measurement")
    args = ap.parse_args(argv)
    counts = keys_per_traveller()
    median, p99 = counts[len(counts) // 2], counts[int(0.99 * len(counts))]
    cores = os.cpu_count() or 1
    here_bits = sha256_bits_per_s()
    pi4 = here_bits / PI4_SHA256_BITS if here_bits else None
    key = os.urandom(32)
    rows: list[tuple[str, float, float | None]] = []  # name, CPU s per guess, GPU guesses/s (published) or None
    for cost in COSTS:
        fp = FingerprintKeys(os.urandom(32), key, cost)
        per = cpu_per_call(lambda i, fp=fp: person_fingerprint(fp, f"F|KEY{i}|", "740812"), args.seconds)
        label = f"PBKDF2-SHA256 x{cost}{' (default)' if cost == DEFAULT_PERSON_COST else ''}"
        rows.append((label, per, GPU_PBKDF2_999 * 999 / cost))
    per = cpu_per_call(lambda i: hashlib.blake2b(f"UTO|{i}".encode(), key=key, digest_size=8).digest(), args.seconds)
    rows.append(("BLAKE2b keyed (documents)", per, None))
    for ops, mem in ((1, 1 << 20), (1, 8 << 20)):
        per = cpu_per_call(lambda i, o=ops, m=mem: nacl.pwhash.argon2id.kdf(
            16, f"KEY{i}|740812".encode(), key[:16], opslimit=o, memlimit=m), args.seconds)
        rows.append((f"Argon2id t={ops} m={mem >> 20} MiB", per, None))

    print(f"person-list enumeration: {CANDIDATES:.0e} candidates; person keys per traveller (gate_latency's "
          f"specimens) median {median}, p99 {p99}, max {counts[-1]}; {cores} CPUs here; load average "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if pi4:
        print(f"  SHA-256 one core: {here_bits / 1e9:.2f} Gbit/s here (openssl speed), "
              f"{PI4_SHA256_BITS / 1e9:.3f} Gbit/s on a Pi 4 (published): {pi4:.1f}x")
    print(f"  {'function':32s} {'guesses/s/core':>15s} {'keying here, median / p99 traveller':>37s} "
          f"{'Pi 4 est., median / p99':>25s} {'enumerate here':>15s} {'one RTX 4090':>13s}")
    for name, per, gpu in rows:
        here = [n * per / min(cores, n) * 1000 for n in (median, p99)]
        pi = [n * per * pi4 / min(PI4_CORES, n) * 1000 for n in (median, p99)] if pi4 else None
        gpu_s = CANDIDATES / gpu if gpu else None
        gpu_text = "n/a" if gpu_s is None else f"{gpu_s:,.1f} s" if gpu_s < 600 else f"{gpu_s / 3600:,.1f} h"
        print(f"  {name:32s} {1 / per:15,.0f} {here[0]:17.2f} / {here[1]:7.2f} ms     "
              + (f"{pi[0]:11.2f} / {pi[1]:7.2f} ms" if pi else f"{'n/a':>23s}")
              + f" {CANDIDATES * per / cores / 86400:10,.2f} days {gpu_text:>13s}")
    print(f"  (keying: every key of a traveller, spread over {cores} threads here and {PI4_CORES} on a Pi 4 as the "
          "store does; a targeted check of one known person costs the attacker one traveller's keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
