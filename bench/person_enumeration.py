"""What a stolen gate costs an attacker who enumerates its person list, against what it costs a traveller.

    python bench/person_enumeration.py [--seconds 2]

Whoever holds a gate holds its list's person key, so every candidate (name key x birth date) can be
fingerprinted and looked up. Measured here, in CPU time (``time.process_time``, so other work on the
machine does not inflate the figures): guesses per second per core of the gate's person fingerprint
(``agent.hitlist.fingerprint.person_fingerprint``, PBKDF2-HMAC-SHA256) at several iteration counts,
of the document fingerprint (keyed BLAKE2b) and of Argon2id (libsodium, the memory-hard alternative);
for each, the CPU time one traveller costs the gate (``agent.hitlist.names.query_name_keys`` keys of
real specimen names, all evaluated on a miss) and the enumeration time of the candidate space on all
of this machine's cores and on one GPU at the published hashcat rate (docs/reliability.md cites it).

Printed: one row per function. The swipe-to-indicator latency with the real signed store and a person
list is ``bench/gate_latency.py --store --persons 10000 [--person-cost N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import nacl.pwhash

from agent.hitlist import names
from agent.hitlist.fingerprint import FingerprintKeys, person_fingerprint

CANDIDATES = 4e9  # plausible name keys x birth dates (docs/names.md "Privacy")
GPU_PBKDF2_999 = 8.87e6  # PBKDF2-HMAC-SHA256 999 iterations, one RTX 4090, hashcat 6.2.6 mode 10900 (H/s)
PI4_SLOWDOWN = 3.5  # a Raspberry Pi 4 (Cortex-A72, 1.5 GHz) core vs this machine's, for SHA-256 and Argon2 (docs)
PI4_CORES = 4
TRAVELLERS = [("ERIKSSON", "ANNA MARIA"), ("MUSTERMANN", "ERIKA"), ("NORDMANN", "OLA"),
              ("MEIKALAINEN", "MATTI JUHANI KALERVO SAKAR"), ("AL RASHID", "MOHAMMED ABDUL"), ("DOE", "JOHN")]


def cpu_per_call(fn: Callable[[int], object], seconds: float) -> float:
    """CPU seconds per call of ``fn(i)``, measured for about ``seconds`` of CPU time."""
    n, start = 0, time.process_time()
    while (spent := time.process_time() - start) < seconds:
        for _ in range(10):
            fn(n)
            n += 1
    return spent / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per measurement")
    args = ap.parse_args(argv)
    keys_per_traveller = [len(names.query_name_keys(s, g)) for s, g in TRAVELLERS]
    typical, most = statistics.median(keys_per_traveller), max(keys_per_traveller)
    cores = os.cpu_count() or 1
    key = os.urandom(32)
    rows: list[tuple[str, float, float | None]] = []  # name, CPU s per guess, GPU guesses/s (published) or None
    for cost in (100, 1000, 3000, 10000):
        fp = FingerprintKeys(os.urandom(32), key, cost)
        per = cpu_per_call(lambda i, fp=fp: person_fingerprint(fp, f"KEY{i}", "740812"), args.seconds)
        rows.append((f"PBKDF2-SHA256 x{cost}{' (default)' if cost == 1000 else ''}", per, GPU_PBKDF2_999 * 999 / cost))
    import hashlib

    per = cpu_per_call(lambda i: hashlib.blake2b(f"UTO|{i}".encode(), key=key, digest_size=8).digest(), args.seconds)
    rows.append(("BLAKE2b keyed (documents)", per, None))
    for ops, mem in ((1, 1 << 20), (1, 8 << 20), (3, 2 << 20)):
        per = cpu_per_call(lambda i, o=ops, m=mem: nacl.pwhash.argon2id.kdf(
            16, f"KEY{i}|740812".encode(), key[:16], opslimit=o, memlimit=m), args.seconds)
        rows.append((f"Argon2id t={ops} m={mem >> 20} MiB", per, None))
    print(f"person-list enumeration: {CANDIDATES:.0e} candidates; a traveller needs {typical:.0f} keys "
          f"(median of {len(TRAVELLERS)} specimens, most {most}); {cores} CPUs here, CPU time per guess")
    print(f"  {'function':32s} {'guesses/s/core':>15s} {'traveller ms':>13s} {'on {0} cores':>10s} "
          f"{'Pi 4 est.':>10s} {'enumerate here':>15s} {'one GPU':>12s}".format(cores))
    for name, per, gpu in rows:
        traveller_ms = per * typical * 1000
        here = CANDIDATES * per / cores
        gpu_s = f"{CANDIDATES / gpu / 60:,.0f} min" if gpu else "n/a"
        print(f"  {name:32s} {1 / per:15,.0f} {traveller_ms:13.2f} {traveller_ms / cores:10.2f} "
              f"{traveller_ms / PI4_CORES * PI4_SLOWDOWN:10.2f} {here / 86400:11,.1f} days {gpu_s:>12s}")
    print("  (traveller ms: all keys of a typical traveller on one core; 'on N cores': the store's thread pool;"
          " Pi 4: its 4 cores, each 3.5x slower; one GPU: published hashcat rate scaled by iterations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
