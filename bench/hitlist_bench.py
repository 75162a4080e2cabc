"""Hit-list at scale: our store against a Python set of bytes and an indexed SQLite table, same
workload, same run. Prints one table with ratios (docs/hitlist.md "Numbers").

    python bench/hitlist_bench.py                 # 10 M entries
    python bench/hitlist_bench.py --entries 1M    # quick
    python bench/hitlist_bench.py --100m          # 10^8 entries (peers: SQLite only; a set would need ~10 GB)

Entries are synthetic travel documents ("UTO", "X000000001", ...) fingerprinted exactly as the
builder does; refs are 8 bytes. The delta is 100 k changes (half removals, half additions).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from nacl.signing import SigningKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.hitlist.fingerprint import FingerprintKeys, document_fingerprint  # noqa: E402
from agent.hitlist.store import HitListStore  # noqa: E402
from agent.hitlist.table import U64, bloom_may_contain  # noqa: E402
from tools.hitlist.build import Signer, build_delta, build_keyring, build_snapshot, make_entries  # noqa: E402

NOW = time.time()


def count(text: str) -> int:
    text = text.upper().replace("_", "")
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1], 1)
    return int(float(text.rstrip("KMG")) * scale)


def rss_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def fingerprints(keys: FingerprintKeys, numbers: range) -> np.ndarray:
    """The builder's document fingerprints, inlined for a tight loop (same bytes as document_fingerprint)."""
    key, blake = keys.document_key, hashlib.blake2b
    out = np.fromiter(
        (
            int.from_bytes(
                blake(b"UTO|X%09d" % i, digest_size=8, key=key, person=b"sharaka-doc").digest(), "little"
            )
            for i in numbers
        ),
        dtype=U64,
        count=len(numbers),
    )
    assert int(out[0]) == document_fingerprint(keys, "UTO", f"X{numbers[0]:09d}")
    return out


def refs(numbers: np.ndarray) -> np.ndarray:
    """8-byte refs: the record number as 8 hex digits."""
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    shifts = np.arange(28, -4, -4, dtype=np.uint64)
    return digits[(numbers.astype(np.uint64)[:, None] >> shifts) & np.uint64(15)]


def fresh_process_rss(state: Path, root_pub: bytes, first_miss: int, misses: int) -> int:
    """Anonymous memory a freshly started gate process adds by opening the store and answering misses."""
    import subprocess

    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from bench.hitlist_bench import rss_anon\n"
        "from agent.hitlist.store import HitListStore\n"
        f"base = rss_anon(); s = HitListStore({str(state)!r}, bytes.fromhex({root_pub.hex()!r}))\n"
        f"[s.lookup_document('UTO', 'X%09d' % i) for i in range({first_miss}, {first_miss + misses})]\n"
        "print(rss_anon() - base)"
    )
    return int(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )


def fresh_process_compaction(state: Path, root_pub: bytes) -> tuple[float, int]:
    """(seconds, peak anonymous memory added) of a fresh process folding the overlay into a new base."""
    import subprocess

    code = (
        f"import sys, threading, time; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from bench.hitlist_bench import rss_anon\n"
        "from agent.hitlist.store import HitListStore\n"
        f"s = HitListStore({str(state)!r}, bytes.fromhex({root_pub.hex()!r})); base = rss_anon(); peak = [0]\n"
        "done = threading.Event()\n"
        "def watch():\n"
        "    while not done.wait(0.01): peak[0] = max(peak[0], rss_anon() - base)\n"
        "threading.Thread(target=watch, daemon=True).start()\n"
        "t = time.perf_counter(); s.compact(); t = time.perf_counter() - t; done.set()\n"
        "assert s.view().overlay_size == 0\n"
        "print(t, max(peak[0], rss_anon() - base))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    arr = np.sort(np.array(samples_ns)) / 1000
    return float(arr[len(arr) // 2]), float(arr[int(len(arr) * 0.99)])


def timed(fn, *args):
    t = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t


def time_each(fn, queries) -> tuple[float, float]:
    samples = []
    clock = time.perf_counter_ns
    for q in queries:
        t = clock()
        fn(q)
        samples.append(clock() - t)
    return percentiles(samples)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", default="10M")
    parser.add_argument("--100m", dest="hundred_m", action="store_true", help="10^8 entries")
    parser.add_argument("--delta", default="100k", help="changes in the delta")
    parser.add_argument("--lookups", default="100k", help="single lookups timed per case")
    parser.add_argument(
        "--dir", default=None, help="work directory (default: a temporary one under /var/tmp)"
    )
    parser.add_argument("--no-set", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    n = 10**8 if args.hundred_m else count(args.entries)
    changes, lookups = count(args.delta), count(args.lookups)
    no_set = args.no_set or n > 3 * 10**7
    work = Path(args.dir or tempfile.mkdtemp(prefix="hitlist-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"# hit-list bench: {n:,} entries, delta {changes:,} changes, {lookups:,} timed lookups, cpus={os.cpu_count()}, dir={work}"
    )
    rows: dict[str, dict[str, float | str]] = {"store": {}, "set": {}, "sqlite": {}}

    root, list_key = SigningKey.generate(), SigningKey.generate()
    keyring = build_keyring(
        version=1, root_keys=[bytes(root.verify_key)], threshold=1, epoch=1, revoked=[], signers=[root],
        grants=[{"pub": bytes(list_key.verify_key), "roles": ["list"], "not_before": NOW - 60, "not_after": NOW + 86400}],
    )  # fmt: skip
    signer = Signer(list_key, keyring, 1)
    keys = FingerprintKeys(os.urandom(32), os.urandom(32), 1000)

    # --- build (central side): fingerprint every record, sort, sign ---------------------------
    t0 = time.perf_counter()
    fps = fingerprints(keys, range(n))
    numbers = np.arange(n, dtype=np.uint64)
    entries = make_entries(fps, (numbers % 3).astype(np.uint8), refs(numbers), ("stolen", "lost", "revoked"))
    blob1 = build_snapshot(
        entries, signer=signer, list_id="sltd", version=1, fp_keys=keys, created=NOW, expires=NOW + 86400
    )
    rows["store"]["build s"] = time.perf_counter() - t0
    print(f"built snapshot: {len(blob1) / 1e6:,.0f} MB in {rows['store']['build s']:.1f} s", flush=True)

    # the delta: remove changes/2 listed entries, add changes/2 new ones
    half = changes // 2
    rng = np.random.default_rng(1)
    removed = np.sort(rng.choice(n, half, replace=False))
    keep = np.ones(n, bool)
    keep[np.searchsorted(entries.fp, fps[removed])] = False
    new_numbers = np.arange(n, n + half, dtype=np.uint64)
    added = make_entries(
        fingerprints(keys, range(n, n + half)), np.zeros(half, np.uint8), refs(new_numbers), entries.reasons
    )
    from agent.hitlist.table import merge_entries

    entries2 = merge_entries(entries.take(np.flatnonzero(keep)), added)
    from tools.hitlist.build import read_list

    blob2 = build_snapshot(entries2, signer=signer, list_id="sltd", version=2, fp_keys=keys, created=NOW, expires=NOW + 86400,
                           previous=read_list(blob1)[0])  # fmt: skip
    delta, delta_build = timed(partial(build_delta, blob1, blob2, signer=signer, created=NOW))
    print(f"built delta: {len(delta) / 1e6:.1f} MB in {delta_build:.1f} s", flush=True)
    del blob2, entries2
    gc.collect()

    # --- our store ------------------------------------------------------------------------------
    state = work / "gate"
    shutil.rmtree(state, ignore_errors=True)
    store = HitListStore(state, bytes(root.verify_key))
    _, rows["store"]["install s"] = timed(partial(store.install, blob1, now=NOW))
    del blob1
    gc.collect()
    _, rows["store"]["delta s"] = timed(partial(store.install, delta, now=NOW))
    view = store.view()
    rows["store"]["disk B/entry"] = du(state) / n
    rows["store"]["RAM B/entry (miss path)"] = (
        view.filter.nbytes + view.buckets.nbytes + 8 * view.overlay_size
    ) / n

    listed = rng.choice(np.flatnonzero(keep), lookups, replace=True)
    hit_q = [f"X{int(i):09d}" for i in listed]
    miss_q = [f"X{int(i):09d}" for i in rng.integers(2 * n, 3 * n, lookups)]
    store.lookup_document("UTO", hit_q[0])
    rows["store"]["miss p50 us"], rows["store"]["miss p99 us"] = time_each(
        lambda q: store.lookup_document("UTO", q), miss_q
    )
    rows["store"]["hit p50 us"], rows["store"]["hit p99 us"] = time_each(
        lambda q: store.lookup_document("UTO", q), hit_q
    )
    miss_fps = [document_fingerprint(keys, "UTO", q) for q in miss_q]
    fp_rate = sum(bloom_may_contain(memoryview(view.filter), view.nblocks, f) for f in miss_fps) / len(
        miss_fps
    )  # type: ignore[arg-type]
    batch = np.concatenate([fps[listed[: lookups // 100]], np.array(miss_fps, U64)])
    _, t = timed(view.contains_many, batch)
    rows["store"]["batched M/s"] = len(batch) / t / 1e6
    rows["store"]["RSS anon MB"] = fresh_process_rss(state, bytes(root.verify_key), 2 * n, 10000) / 1e6
    rows["store"]["filter false pos. %"] = 100 * fp_rate
    secs, peak = fresh_process_compaction(state, bytes(root.verify_key))
    rows["store"]["compact s"], rows["store"]["compact peak anon MB"] = secs, peak / 1e6
    print(f"store done: {rows['store']}", flush=True)

    # --- peer: Python set of fingerprint bytes ---------------------------------------------------
    if not no_set:
        anon0 = rss_anon()
        t = time.perf_counter()
        listed_set = set(fps.astype("<u8").view("S8").tolist())
        rows["set"]["install s"] = time.perf_counter() - t
        rows["set"]["RAM B/entry (miss path)"] = (rss_anon() - anon0) / n
        rows["set"]["RSS anon MB"] = (rss_anon() - anon0) / 1e6
        rem = set(fps[removed].astype("<u8").view("S8").tolist())
        add = set(added.fp.astype("<u8").view("S8").tolist())
        _, rows["set"]["delta s"] = timed(lambda: (listed_set.difference_update(rem), listed_set.update(add)))
        rows["set"]["disk B/entry"] = "-"

        def set_lookup(q: str) -> bool:
            return document_fingerprint(keys, "UTO", q).to_bytes(8, "little") in listed_set

        rows["set"]["miss p50 us"], rows["set"]["miss p99 us"] = time_each(set_lookup, miss_q)
        rows["set"]["hit p50 us"], rows["set"]["hit p99 us"] = time_each(set_lookup, hit_q)
        as_bytes = batch.astype("<u8").view("S8").tolist()
        _, t = timed(lambda: [b in listed_set for b in as_bytes])
        rows["set"]["batched M/s"] = len(batch) / t / 1e6
        del listed_set
        gc.collect()

    # --- peer: indexed SQLite table -------------------------------------------------------------
    if not args.no_sqlite:
        path = work / "peer.sqlite"
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE hits (fp INTEGER PRIMARY KEY, reason INTEGER, ref BLOB)")
        signed = fps.view(np.int64)
        t = time.perf_counter()
        step = 1_000_000
        for lo in range(0, n, step):
            chunk = np.sort(signed[lo : lo + step])
            db.executemany("INSERT INTO hits VALUES (?, 0, ?)", ((int(f), b"0000abcd") for f in chunk))
        db.commit()
        rows["sqlite"]["install s"] = time.perf_counter() - t
        t = time.perf_counter()
        with db:
            db.executemany("DELETE FROM hits WHERE fp = ?", ((int(f),) for f in signed[removed]))
            db.executemany(
                "INSERT INTO hits VALUES (?, 0, ?)", ((int(f), b"0000abcd") for f in added.fp.view(np.int64))
            )
        rows["sqlite"]["delta s"] = time.perf_counter() - t
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows["sqlite"]["disk B/entry"] = path.stat().st_size / n
        rows["sqlite"]["RAM B/entry (miss path)"] = "page cache"
        cur = db.cursor()

        def sql_lookup(q: str):
            fp = document_fingerprint(keys, "UTO", q)
            return cur.execute(
                "SELECT reason, ref FROM hits WHERE fp = ?", (fp - (1 << 64) if fp >= 1 << 63 else fp,)
            ).fetchone()

        rows["sqlite"]["miss p50 us"], rows["sqlite"]["miss p99 us"] = time_each(sql_lookup, miss_q)
        rows["sqlite"]["hit p50 us"], rows["sqlite"]["hit p99 us"] = time_each(sql_lookup, hit_q)
        qs = [(int(f),) for f in batch.view(np.int64)]
        _, t = timed(lambda: [cur.execute("SELECT 1 FROM hits WHERE fp = ?", q).fetchone() for q in qs])
        rows["sqlite"]["batched M/s"] = len(batch) / t / 1e6
        db.close()

    report(rows, n)
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(rows: dict[str, dict[str, float | str]], n: int) -> None:
    metrics = ["build s", "install s", "delta s", "disk B/entry", "RAM B/entry (miss path)", "RSS anon MB",
               "miss p50 us", "miss p99 us", "hit p50 us", "hit p99 us", "batched M/s", "filter false pos. %",
               "compact s", "compact peak anon MB"]  # fmt: skip
    peers = [p for p in ("set", "sqlite") if rows[p]]
    header = (
        "| " + " | ".join([f"metric ({n:,} entries)", "store", *(f"{p} | store/{p}" for p in peers)]) + " |"
    )
    print()
    print(header)
    print("|" + "---|" * (2 + 2 * len(peers)))
    for m in metrics:
        ours = rows["store"].get(m, "-")
        cells = [fmt(ours)]
        for p in peers:
            theirs = rows[p].get(m, "-")
            ratio = (
                f"{ours / theirs:.2f}x"
                if isinstance(ours, float) and isinstance(theirs, float) and theirs
                else "-"
            )
            cells += [fmt(theirs), ratio]
        print(f"| {m} | " + " | ".join(cells) + " |")


def fmt(v) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    sys.exit(main())
