"""Officers' accounts (agent/web/accounts.py): Argon2id hashes in a 0600 file, lock-out that survives a restart,
no oracle for unknown names; sessions (agent/web/sessions.py): idle and absolute timeouts, CSRF tokens."""

from __future__ import annotations

import stat

import pytest

from agent.web.accounts import AccountError, Accounts, LockoutPolicy, SignInError
from agent.web.sessions import Sessions
from tests.support.clock import FakeClock


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    return FakeClock(1000.0)


def test_account_file_is_0600_and_holds_argon2id_hashes_not_passwords(tmp_path):
    path = tmp_path / "officers.sqlite3"
    accounts = Accounts(path)
    accounts.add("amina", "correct horse battery")
    accounts.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert b"correct horse battery" not in data
    assert b"$argon2id$" in data


def test_right_password_signs_in_and_wrong_one_is_refused(tmp_path):
    accounts = Accounts(tmp_path / "a.sqlite3")
    accounts.add("amina", "correct horse battery", "supervisor")
    assert accounts.authenticate("amina", "correct horse battery").role == "supervisor"
    with pytest.raises(SignInError) as exc:
        accounts.authenticate("amina", "Correct horse battery")
    assert exc.value.reason == "bad_credentials"


def test_unknown_name_gets_the_same_refusal_as_a_wrong_password(tmp_path):
    accounts = Accounts(tmp_path / "a.sqlite3")
    with pytest.raises(SignInError) as exc:
        accounts.authenticate("nobody", "correct horse battery")
    assert exc.value.reason == "bad_credentials"


def test_lockout_after_max_failures_refuses_even_the_right_password_and_survives_reopen(tmp_path, clock):
    path = tmp_path / "a.sqlite3"
    accounts = Accounts(path, policy=LockoutPolicy(max_failures=3, lockout_s=300), clock=clock)
    accounts.add("amina", "correct horse battery")
    for _ in range(2):
        with pytest.raises(SignInError, match="bad_credentials"):
            accounts.authenticate("amina", "guess guess guess")
    with pytest.raises(SignInError, match="locked"):
        accounts.authenticate("amina", "guess guess guess")
    accounts.close()
    reopened = Accounts(path, policy=LockoutPolicy(max_failures=3, lockout_s=300), clock=clock)
    with pytest.raises(SignInError, match="locked") as exc:
        reopened.authenticate("amina", "correct horse battery")
    assert 0 < exc.value.retry_after <= 300
    clock.advance(301)
    assert reopened.authenticate("amina", "correct horse battery").name == "amina"


def test_unknown_name_and_wrong_password_cost_one_verification_and_the_same_durable_write_and_a_lock_none(
        tmp_path, clock, monkeypatch):
    """No oracle for names: a sign-in under an unknown name and a wrong password for an account each verify one
    Argon2id hash, make the same statements and commit one write transaction to the file (``synchronous=FULL``:
    the same syncs; SQLite's file change counter, header offset 24, counts the commits); a client locked out of a
    name, one with an account or not, is refused before any verification, with the same reads and no write. The
    counts of made-up names are dropped once ``lockout_s`` old, at the next write."""
    import nacl.pwhash

    path = tmp_path / "a.sqlite3"
    accounts = Accounts(path, policy=LockoutPolicy(max_failures=3, lockout_s=300), clock=clock)
    accounts.add("amina", "correct horse battery")
    accounts.add("omar", "another passphrase")
    for name in ("omar", "ghost"):
        for _ in range(3):
            with pytest.raises(SignInError):
                accounts.authenticate(name, "guess guess guess", "192.0.2.1")
    real, verified = nacl.pwhash.argon2id.verify, []
    monkeypatch.setattr(nacl.pwhash.argon2id, "verify", lambda *a: verified.append(a) or real(*a))
    statements: list[str] = []
    accounts._db.set_trace_callback(lambda sql: statements.append(sql.split()[0]))

    def commits() -> int:
        return int.from_bytes(path.read_bytes()[24:28], "big")

    def cost(name: str, password: str, reason: str) -> tuple[int, list[str], int]:
        before = commits()
        with pytest.raises(SignInError, match=reason):
            accounts.authenticate(name, password, "192.0.2.1")
        try:
            return len(verified), list(statements), commits() - before
        finally:
            verified.clear(), statements.clear()

    assert cost("nobody", "correct horse battery", "bad_credentials") == cost(
        "amina", "guess guess guess", "bad_credentials")
    assert cost("amina", "guess guess guess", "bad_credentials")[::2] == (1, 1)
    locked = cost("omar", "another passphrase", "locked")
    assert locked == cost("omar", "guess guess guess", "locked") == cost("ghost", "another passphrase", "locked")
    assert locked[::2] == (0, 0) and "INSERT" not in locked[1] and "UPDATE" not in locked[1]
    accounts._db.set_trace_callback(None)
    for i in range(30):
        with pytest.raises(SignInError):
            accounts.authenticate(f"made-up-{i}", "correct horse battery", f"198.51.100.{i}")
    rows = lambda: accounts._db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]  # noqa: E731
    assert rows() == 34
    clock.advance(301)
    with pytest.raises(SignInError, match="bad_credentials"):
        accounts.authenticate("amina", "guess guess guess", "192.0.2.1")
    assert rows() == 1, "the counts of made-up names stayed in the file"


def test_a_client_locked_out_of_a_name_leaves_it_to_other_clients_and_one_failing_under_many_names_is_throttled(
        tmp_path, clock):
    """Lock-out is per name and client: the client that failed ``max_failures`` times in a row is refused that name,
    even with the right password, while another client signs in under it; a client failing ``client_failures``
    times within ``lockout_s`` under any names is refused every sign-in until the oldest of them are that old."""
    accounts = Accounts(tmp_path / "a.sqlite3", clock=clock,
                        policy=LockoutPolicy(max_failures=3, lockout_s=300, client_failures=7))
    accounts.add("amina", "correct horse battery")
    for _ in range(2):
        with pytest.raises(SignInError, match="bad_credentials"):
            accounts.authenticate("amina", "guess guess guess", "203.0.113.9")
    with pytest.raises(SignInError, match="locked"):
        accounts.authenticate("amina", "guess guess guess", "203.0.113.9")
    with pytest.raises(SignInError, match="locked"):
        accounts.authenticate("amina", "correct horse battery", "203.0.113.9")
    assert accounts.authenticate("amina", "correct horse battery", "192.0.2.1").name == "amina"
    assert accounts.list()[0].locked_until == 1300
    clock.advance(100)
    for name in ("omar", "omar", "yusuf", "zaid"):  # 3 + 4 = 7: the client's limit
        with pytest.raises(SignInError, match="bad_credentials|locked"):
            accounts.authenticate(name, "guess guess guess", "203.0.113.9")
    with pytest.raises(SignInError, match="throttled") as exc:
        accounts.authenticate("nadia", "correct horse battery", "203.0.113.9")
    assert exc.value.retry_after == 200, "the client's first three failures are 300 s old in 200 s"
    assert accounts.authenticate("amina", "correct horse battery", "192.0.2.1")
    clock.advance(200)
    assert accounts.authenticate("amina", "correct horse battery", "203.0.113.9").name == "amina"


def test_unlock_and_new_password_clear_a_lockout(tmp_path, clock):
    accounts = Accounts(tmp_path / "a.sqlite3", policy=LockoutPolicy(max_failures=1, lockout_s=300), clock=clock)
    accounts.add("amina", "correct horse battery")
    with pytest.raises(SignInError, match="locked"):
        accounts.authenticate("amina", "guess guess guess")
    accounts.unlock("amina")
    assert accounts.authenticate("amina", "correct horse battery")
    with pytest.raises(SignInError, match="locked"):
        accounts.authenticate("amina", "guess guess guess")
    accounts.set_password("amina", "a brand new passphrase")
    assert accounts.authenticate("amina", "a brand new passphrase")


@pytest.mark.parametrize(("name", "password", "role"), [
    ("Amina", "correct horse battery", "officer"),
    ("a" * 33, "correct horse battery", "officer"),
    ("amina", "short", "officer"),
    ("amina", "correct horse battery", "root"),
], ids=["upper_case_name", "name_too_long", "password_too_short", "unknown_role"])
def test_bad_account_is_refused(tmp_path, name, password, role):
    accounts = Accounts(tmp_path / "a.sqlite3")
    with pytest.raises(AccountError):
        accounts.add(name, password, role)
    assert accounts.list() == []


def test_taken_name_and_missing_account_are_errors(tmp_path):
    accounts = Accounts(tmp_path / "a.sqlite3")
    accounts.add("amina", "correct horse battery")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("amina", "another password!")
    accounts.remove("amina")
    assert not accounts.exists("amina")
    for op in (accounts.remove, accounts.unlock):
        with pytest.raises(AccountError, match="no account"):
            op("amina")


def test_session_ends_after_idle_time_and_after_max_age_even_when_active(clock):
    sessions = Sessions(idle_s=60, max_s=300, clock=clock)
    s = sessions.create("amina", "officer", "en")
    clock.advance(59)
    assert sessions.get(s.token) is s
    clock.advance(59)
    assert sessions.get(s.token, touch=False) is s
    clock.advance(2)
    assert sessions.get(s.token) is None, "an idle session stayed open (a passive request touched it)"
    s = sessions.create("amina", "officer", "en")
    for _ in range(7):
        clock.advance(50)
        sessions.get(s.token)
    assert sessions.get(s.token) is None, "an active session outlived max_s"


def test_csrf_token_is_per_session(clock):
    sessions = Sessions(clock=clock)
    a, b = sessions.create("amina", "officer", "en"), sessions.create("omar", "officer", "en")
    assert Sessions.check_csrf(a, a.csrf)
    assert not Sessions.check_csrf(a, b.csrf)
    assert not Sessions.check_csrf(a, "")
    assert not Sessions.check_csrf(a, None)


def test_an_account_file_of_the_version_before_signs_in_and_counts_per_client(tmp_path):
    """A gate updated in the field keeps its officers' file, written with account-wide failure columns and a decoy
    table (before 2026-12-07): its accounts sign in, add and list, and a lock is per client as now."""
    import sqlite3

    import nacl.pwhash

    path = tmp_path / "officers.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE accounts (name TEXT PRIMARY KEY, role TEXT NOT NULL, hash BLOB NOT NULL, created REAL NOT NULL,
                               failures INTEGER NOT NULL DEFAULT 0, locked_until REAL NOT NULL DEFAULT 0);
        CREATE TABLE decoy (id INTEGER PRIMARY KEY CHECK (id = 1), failures INTEGER NOT NULL DEFAULT 0);
        INSERT INTO decoy (id) VALUES (1);""")
    digest = nacl.pwhash.argon2id.str(b"correct horse battery", opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
                                      memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE)
    old.execute("INSERT INTO accounts VALUES ('amina', 'supervisor', ?, 900, 4, 0)", (digest,))
    old.commit()
    old.close()
    accounts = Accounts(path, policy=LockoutPolicy(max_failures=2, lockout_s=300))
    assert accounts.authenticate("amina", "correct horse battery", "192.0.2.7").role == "supervisor"
    accounts.add("badr", "another long password")
    for _ in range(2):
        with pytest.raises(SignInError):
            accounts.authenticate("amina", "guess guess guess", "192.0.2.66")
    with pytest.raises(SignInError, match="locked"):
        accounts.authenticate("amina", "correct horse battery", "192.0.2.66")
    assert accounts.authenticate("amina", "correct horse battery", "192.0.2.7").name == "amina"
    assert [a.name for a in accounts.list()] == ["amina", "badr"]
