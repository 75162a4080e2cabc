"""The other side of every test, in one package: the fakes and simulators tests share.

- ``broker``: a real Mosquitto per test, a test PKI, an MQTT test client;
- ``netproxy``: a TCP proxy that passes, blackholes, cuts or refuses;
- ``link``: gates and the reference central node over a real broker;
- ``gate_proc``: a gate process for kill -9 runs;
- ``rawgate``: an enrolled gate that sends what the attack tests craft;
- ``hitlist_central``: the centre's hit-list side (keys, lists, heads) with injected time, in-process;
- ``lists``: signed lists and keyrings made with the real ``sharaka-hitlist``, as the centre serves them;
- ``gatesim``: a gate on simulated hardware with injected time, specimens, its gate.toml;
- ``reader_specimens``: specimen MRZs and a framer driver for the reader tests;
- ``nft``: the image's firewall ruleset checked by ``nft -c``;
- ``clock``: a fake clock for injected time;
- ``paths``: where the repository's files are.

Tests import them as ``from tests.support.<module> import ...``, the one way: pytest runs with
``--import-mode=importlib``, so a test cannot import a sibling module by its bare name.
"""
