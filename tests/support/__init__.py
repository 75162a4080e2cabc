"""The other side of every test, in one package: fakes and simulators the tests share.

``broker`` (a real Mosquitto per test, a test PKI, an MQTT test client), ``netproxy`` (a TCP proxy that
passes, blackholes, cuts or refuses), ``link`` (gates and the reference central node over a real broker),
``gate_proc`` (a gate process for kill -9 runs), ``hitlist_central`` (the centre's hit-list side: keys,
lists, heads), ``gatesim`` (a gate on simulated hardware with injected time), ``reader_specimens`` (specimen
MRZs and a framer driver for the reader tests), ``paths`` (where the
repository's files are). Tests import them as ``from tests.support.<module> import ...``, the one way (pytest runs with
``--import-mode=importlib``, so a test cannot import a sibling module by its bare name).
"""
