"""The documents stay true as the code moves: every test and every file they cite exists, and every
property cited as "RELIABILITY n" has its entry in docs/reliability.md."""

from __future__ import annotations

import ast
import os
import re
from functools import cache
from pathlib import Path

import pytest

from tests.support.paths import DOCS, REPO

DOCUMENTS = sorted(DOCS.rglob("*.md")) + [REPO / "README.md"]
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
FILE_TEST = re.compile(r"\b((?:tests|bench)/[\w/.-]+\.py)::(\w+)")
BARE_TEST = re.compile(r"(?<![\w/:.])(test_\w*[a-z0-9])\b")
CODE_PATH = re.compile(r"`((?:agent|hal|tools|tests|bench|images|docs|models)/[^`\s:*…<>{]*[\w/])")  # up to a pattern


@cache
def defined_in(path: str) -> frozenset[str]:
    """Names of the functions and classes defined in a test file (what ``file::name`` can cite)."""
    tree = ast.parse((REPO / path).read_text())
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return frozenset(node.name for node in ast.walk(tree) if isinstance(node, kinds))


@cache
def every_test() -> frozenset[str]:
    return frozenset().union(*(defined_in(str(p.relative_to(REPO))) for p in (REPO / "tests").rglob("*.py")))


def prose(doc: Path) -> str:
    """The document without its fenced examples (they show a user's code, not ours)."""
    return FENCE.sub("", doc.read_text())


def rel(doc: Path) -> str:
    return str(doc.relative_to(REPO))


@pytest.mark.parametrize("doc", DOCUMENTS, ids=rel)
def test_every_cited_test_exists(doc):
    text = prose(doc)
    missing = [f"{path}::{name}" for path, name in FILE_TEST.findall(text)
               if not (REPO / path).is_file() or name not in defined_in(path)]
    tests = every_test()
    # a bare name is a test anywhere, or a family of them (`test_p18` for every test_p18_...)
    missing += [name for name in BARE_TEST.findall(FILE_TEST.sub("", text))
                if name not in tests and not any(t.startswith(name + "_") for t in tests)]
    assert not missing, f"{rel(doc)} cites tests that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=rel)
def test_every_cited_path_exists(doc):
    missing = [path for path in CODE_PATH.findall(prose(doc)) if not (REPO / path.rstrip("/")).exists()]
    assert not missing, f"{rel(doc)} cites files that do not exist: {missing}"


def test_every_cited_reliability_property_has_its_entry():
    entries = {int(n) for n in re.findall(r"^(\d+)\. ", (DOCS / "reliability.md").read_text(), re.M)}
    entries |= {50, 51, 52}  # one entry covers the central node's three
    assert entries == set(range(1, 55))
    cited = set()
    for path in [*REPO.glob("agent/**/*.py"), *REPO.glob("hal/**/*.py"), *REPO.glob("tools/**/*.py"),
                 *REPO.glob("tests/**/*.py"), *DOCUMENTS]:
        for ranges in re.findall(r"RELIABILITY ((?:\d+(?:[-–]\d+)?(?:, )?)+)", path.read_text()):
            for part in re.findall(r"\d+(?:[-–]\d+)?", ranges):
                bounds = [int(n) for n in re.split(r"[-–]", part)]
                cited |= set(range(bounds[0], bounds[-1] + 1))
    assert cited <= entries, f"RELIABILITY {sorted(cited - entries)} cited but not in docs/reliability.md"


CITED_FILE = re.compile(r"\b((?:docs|tests|images|bench|tools|agent|hal)/[\w/.-]*\w\.(?:md|py|toml|conf|sh))\b")


def test_every_file_the_code_cites_exists():
    """Comments and docstrings point at documents and tests (``docs/adr/0001-errors.md``): they exist."""
    missing = []
    for path in sorted([*REPO.glob("agent/**/*.py"), *REPO.glob("hal/**/*.py"), *REPO.glob("tools/**/*.py")]):
        for cited in CITED_FILE.findall(path.read_text()):
            if not (REPO / cited).exists():
                missing.append(f"{path.relative_to(REPO)}: {cited}")
    assert not missing, f"the code cites files that do not exist: {missing}"


TOKEN = re.compile(r"\b[0-9A-Z]{4}(?:-[0-9A-Z]{4}){5}-[0-9A-Z]{2}\b")  # agent/provision/token.py: format_token


@pytest.mark.parametrize("doc", DOCUMENTS, ids=rel)
def test_every_enrolment_token_shown_is_one_the_gate_accepts(doc):
    """A technician copies an example to try the command: docs/provisioning.md's token failed its own check
    characters, so the documented `provision` command stopped at exit 2 (mistyped)."""
    from agent.provision.token import TokenFormatError, parse_token

    bad = []
    for token in TOKEN.findall(doc.read_text()):
        try:
            parse_token(token)
        except TokenFormatError:
            bad.append(token)
    assert not bad, f"{rel(doc)} shows enrolment tokens the gate refuses as mistyped: {bad}"


CENTRAL_TOKEN = re.compile(r"^(sharaka-central token .*?)(?:`|$| {2,}#)", re.M)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=rel)
def test_every_token_command_shown_runs_as_written(doc):
    """Each `sharaka-central token ...` the documents show gets past the command line as written (optional
    parts in [brackets] left out): README's left out the required --db."""
    import shlex

    from tools.central.cli import build_parser

    text = doc.read_text().replace("`sharaka-central token", "\nsharaka-central token")
    for command in CENTRAL_TOKEN.findall(text):
        argv = shlex.split(re.sub(r"\s*\[[^\]]*\]", "", command))[1:]
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{rel(doc)}: {command!r} is refused by sharaka-central's command line")


BENCH_COMMAND = re.compile(r"python (-m bench\.\w+|bench/\w+\.py)")
BENCHES = sorted({c for text in [d.read_text() for d in DOCUMENTS] + [(REPO / "tools/dev").read_text()]
                  for c in BENCH_COMMAND.findall(text)})


@pytest.mark.parametrize("bench", BENCHES)
def test_every_bench_the_documents_run_starts(bench):
    """Each benchmark a document (or ``tools/dev``) runs, run as it shows, gets as far as its ``--help``:
    bench/link_bench.py and bench/central_flood.py imported helpers that had moved, so the README's commands failed
    at once."""
    import shlex
    import subprocess
    import sys

    result = subprocess.run([sys.executable, *shlex.split(bench), "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-2000:]


# bench -> arguments small enough to run in a few seconds, and a line its full run prints (its headline)
QUICK_BENCH_RUNS = {
    "bench/mrz_bench.py": (["--docs", "5", "--rounds", "1"], "ours doc/s"),
    "bench/mrz_cli_bench.py": (["--docs", "5", "--rounds", "1"], "doc/s"),
    "bench/reader_framing.py": (["--docs", "5"], "pty swipe->read()"),
    "bench/gate_latency.py": (["--count", "20", "--warmup", "2", "--dir", "{tmp}"], "swipe-to-indicator"),
    "bench/indicators_apply.py": (["--n", "20", "--recoveries", "1"], "bus healed -> desired state re-applied"),
    "bench/hitlist_bench.py": (["--entries", "1k", "--delta", "100", "--lookups", "100", "--dir", "{tmp}"],
                               "| miss p99 us |"),
    "bench/names_bench.py": (["--identities", "5", "--pairs", "20"], "keys per traveller"),
    "bench/person_enumeration.py": (["--seconds", "0.02"], "PBKDF2-SHA256 x150 (default)"),
    "bench/screen_latency.py": (["--count", "2"], "swipe to screen"),
    "bench/vision_small_pages.py": (["--first", "61", "--count", "1"], "5 pages, right"),
}


@pytest.mark.parametrize("bench", sorted(QUICK_BENCH_RUNS))
def test_every_quick_bench_the_documents_run_completes(bench, tmp_path):
    """The benchmarks that finish in seconds on small arguments run to their figures, not only to ``--help``:
    bench/screen_latency.py waited on the page with a JavaScript predicate the screen's CSP forbids (eval), so
    it failed on its first officer's sign-in. The others (PostgreSQL, Mosquitto, fleets) take too long here;
    README.md "Longer runs" lists them."""
    import subprocess
    import sys

    assert bench in BENCHES, f"{bench} is not run by any document: drop it here"
    args, headline = QUICK_BENCH_RUNS[bench]
    if bench == "bench/gate_latency.py" and os.geteuid() != 0:  # the unit's negative nice needs root
        args = [*args, "--priority", "inherited"]
    result = subprocess.run([sys.executable, bench, *(a.format(tmp=tmp_path) for a in args)], cwd=REPO,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0 and headline in result.stdout, (result.stdout + result.stderr)[-3000:]


@pytest.mark.parametrize("bench", ["bench/gate_latency.py", "bench/online_query_bench.py"])
def test_bench_without_the_privilege_for_the_units_nice_says_what_to_do(bench):
    """README's gate_latency command, run as a user without CAP_SYS_NICE, ended in a PermissionError traceback
    (the default --priority unit sets the appliance unit's negative nice)."""
    import subprocess
    import sys

    drop = ["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", "--"] if os.geteuid() == 0 else []
    result = subprocess.run([*drop, sys.executable, bench, "--count", "5", "--warmup", "1"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "--priority inherited" in result.stderr
