from __future__ import annotations

import pytest

from agent.hitlist.store import HitListStore
from tests.support.hitlist_central import T0, Central, doc


@pytest.fixture
def central() -> Central:
    return Central()


@pytest.fixture
def gate(tmp_path, central) -> HitListStore:
    """A gate with snapshot v1 (documents 0-19) installed."""
    store = HitListStore(tmp_path / "gate", central.root_pub)
    store.install(central.snapshot([doc(i) for i in range(20)], 1), now=T0)
    return store
