"""Property: any chain of deltas applied to a snapshot (with compactions in between) gives the same
list as the snapshot built from the final records: same identity, same answers."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.hitlist.store import HitListStore
from tests.support.hitlist_central import T0, Central, doc

IDS = st.integers(min_value=0, max_value=60)
RECORD_SET = st.dictionaries(IDS, st.sampled_from(["stolen", "lost", "revoked"]), max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(versions=st.lists(RECORD_SET, min_size=2, max_size=5), compact_after=st.sets(st.integers(0, 4)))
def test_delta_chain_equals_snapshot_of_final_records(tmp_path_factory, versions, compact_after):
    central = Central()
    for v, records in enumerate(versions, 1):
        central.snapshot([doc(i, reason=r) for i, r in sorted(records.items())], v)
    chained = HitListStore(tmp_path_factory.mktemp("chained"), central.root_pub)
    chained.install(central.published[1], now=T0)
    for v in range(2, len(versions) + 1):
        chained.install(central.delta(v - 1, v), now=T0)
        if v - 2 in compact_after:
            chained.compact()
    direct = HitListStore(tmp_path_factory.mktemp("direct"), central.root_pub)
    direct.install(central.published[len(versions)], now=T0)
    assert chained.identity == direct.identity
    final = versions[-1]
    for i in range(61):
        a, b = chained.lookup_document("UTO", f"X{i:08d}"), direct.lookup_document("UTO", f"X{i:08d}")
        assert a == b
        assert (a.reason if a else None) == final.get(i)
    assert chained.verify()["ok"]
