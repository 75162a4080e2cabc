"""Fixtures of the fault-injection tests: the link tests' real Mosquitto and key sets."""

from tests.link.conftest import keys, mq  # noqa: F401 (fixtures)
