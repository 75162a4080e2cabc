import subprocess
import sys


def test_cli_reports_version():
    out = subprocess.run([sys.executable, "-m", "agent", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("sharaka-gate ")


def test_unknown_hal_scheme_lists_known_ones():
    import pytest

    from hal import open_reader
    from hal.errors import BadUrlError

    with pytest.raises(BadUrlError, match="known: replay, serial, sim"):
        open_reader("usb://x")
