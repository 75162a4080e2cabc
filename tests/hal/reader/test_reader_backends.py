"""Reader backends over real pseudo-terminals: sim://, serial:// to a SimReaderDevice link, unplug."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from hal import open_reader
from hal.errors import BadUrlError, DeviceUnavailableError
from hal.reader import Misread, ReaderDocument
from hal.reader.serial import SerialDocumentReader
from hal.reader.sim import SimReaderDevice
from tests.support.reader_specimens import TD1, TD3, TD3_B

FAST = "reopen=0.005&reopen_max=0.02&idle=1"


def read_until(reader, predicate, timeout=2.0):
    """Call read() until ``predicate(reader, item)``; returns the items seen (bounded wait)."""
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        item = reader.read(timeout=0.01)
        if item is not None:
            seen.append(item)
        if predicate(reader, item):
            return seen
    raise AssertionError(f"condition not reached in {timeout} s; saw {seen!r}, fault {reader.fault!r}")


@pytest.mark.parametrize("framing", ["lines", "stx-etx", "stx-etx&bcc=xor", "rte", "tlv", "lines&prefix=]o1"])
def test_sim_reader_swipe_arrives_as_one_document(framing):
    with open_reader(f"sim://reader?framing={framing}") as reader:
        reader.device.swipe(TD3)
        reader.device.swipe(TD1)
        first, second = reader.read(timeout=1.0), reader.read(timeout=1.0)
    assert isinstance(first, ReaderDocument) and first.lines == TD3
    assert isinstance(second, ReaderDocument) and second.lines == TD1


def test_read_returns_when_mrz_complete_without_waiting_for_idle():
    with open_reader("sim://reader?framing=lines&idle=5") as reader:
        reader.device.write(("\r\n".join(TD3) + "\r\n").encode())  # no blank line after the block
        start = time.monotonic()
        item = reader.read(timeout=3.0)
        elapsed = time.monotonic() - start
    assert isinstance(item, ReaderDocument)
    assert elapsed < 0.5, f"read() waited {elapsed:.3f} s for a complete MRZ"


def test_command_echo_glued_to_row_1_over_a_real_pty_keeps_the_passport():
    with open_reader("sim://reader?framing=lines") as reader:
        reader.device.write(b"RD")  # the echo of the read command, no separator before row 1
        reader.device.swipe(TD3)
        item = reader.read(timeout=1.0)
    assert isinstance(item, ReaderDocument) and item.lines == TD3


def test_read_times_out_with_none_when_line_is_silent():
    with open_reader("sim://reader") as reader:
        assert reader.read(timeout=0.02) is None
        assert reader.fault is None


def test_unplug_mid_block_reopens_and_drops_partial_block(tmp_path):
    with open_reader(f"sim://reader?{FAST}") as reader:
        device = reader.device
        device.write((TD3[0] + "\r\n" + TD3[1][:20]).encode())
        assert reader.read(timeout=0.05) is None  # half a block: nothing yet
        device.unplug()
        read_until(reader, lambda r, _: r.fault is not None)
        assert reader.fault.startswith("absent: ")
        assert reader.read(timeout=0.05) is None and reader.fault  # still absent, nothing emitted
        device.replug()
        read_until(reader, lambda r, _: r.fault is None and r.is_open)
        device.write((TD3[1][20:] + "\r\n").encode())  # the rest of the old block: a lone fragment
        device.swipe(TD3_B)
        seen = read_until(reader, lambda r, item: isinstance(item, ReaderDocument))
    assert [s.lines for s in seen if isinstance(s, ReaderDocument)] == [TD3_B]
    assert all(isinstance(s, Misread) for s in seen[:-1])


def test_serial_url_on_link_follows_replug_like_by_id(tmp_path):
    link = tmp_path / "usb-Sharaka_SimReader-if00"
    device = SimReaderDevice("stx-etx", link, bcc="xor")
    try:
        with open_reader(f"serial://{link}?baud=115200&framing=stx-etx&bcc=xor&{FAST}") as reader:
            faults = []
            reader.on_fault = faults.append
            device.swipe(TD3)
            assert reader.read(timeout=1.0).lines == TD3
            old_target = link.resolve()
            device.unplug()
            device.replug()
            read_until(reader, lambda r, _: len(faults) >= 2 and r.fault is None)
            assert faults[0].startswith("absent: ") and faults[-1] is None
            assert link.resolve() != old_target
            device.swipe(TD1)
            seen = read_until(reader, lambda r, item: isinstance(item, ReaderDocument))
        assert seen[-1].lines == TD1
    finally:
        device.close()


def test_absent_device_reports_fault_and_keeps_retrying(tmp_path):
    link = tmp_path / "reader"
    with open_reader(f"serial://{link}?{FAST}") as reader:
        assert reader.fault is not None and reader.fault.startswith("absent: ")
        assert reader.read(timeout=0.03) is None
        device = SimReaderDevice("lines", link)
        try:
            read_until(reader, lambda r, _: r.fault is None)
            device.swipe(TD3)
            assert reader.read(timeout=1.0).lines == TD3
        finally:
            device.close()


def test_close_from_another_thread_wakes_blocked_read():
    reader = open_reader("sim://reader")
    result = []
    worker = threading.Thread(target=lambda: result.append(reader.read(timeout=None)))
    worker.start()
    time.sleep(0.02)
    reader.close()
    worker.join(timeout=2.0)
    assert not worker.is_alive() and result == [None]
    reader.close()  # idempotent
    with pytest.raises(DeviceUnavailableError, match="closed"):
        reader.read(timeout=0)


def test_sim_device_write_while_unplugged_is_an_error():
    device = SimReaderDevice()
    device.unplug()
    with pytest.raises(DeviceUnavailableError, match="unplugged"):
        device.swipe(TD3)
    device.close()


BAD_URLS = {
    "unknown-framing": ("sim://reader?framing=slip", "framing='slip'"),
    "option-of-other-framing": ("sim://reader?framing=lines&bcc=xor", "does not apply to framing=lines"),
    "bad-bcc": ("sim://reader?framing=stx-etx&bcc=crc", "bcc='crc'"),
    "bad-hex-start": ("sim://reader?framing=stx-etx&start=zz", "start='zz'"),
    "same-markers": ("sim://reader?framing=stx-etx&start=03", "must differ"),
    "unknown-option": ("sim://reader?speed=9600", "unknown reader option speed='9600'"),
    "bad-baud": ("sim://reader?baud=fast", "baud='fast'"),
    "bad-parity": ("sim://reader?parity=X", "parity='X'"),
    "twice": ("sim://reader?framing=lines&framing=tlv", "given 2 times"),
    "bad-idle": ("sim://reader?idle=-1", "idle='-1'"),
    "relative-serial-path": ("serial://ttyUSB0", "expected serial:///dev/serial/by-id/"),
    "nul-in-serial-path": ("serial:///dev/ttyUSB0%00", "expected serial:///dev/serial/by-id/"),  # was ValueError at open
    "sim-not-reader": ("sim://camera", "expected sim://reader"),
    "bad-tlv-type": ("sim://reader?framing=tlv&type=4949", "type='4949'"),
}


@pytest.mark.parametrize("url,message", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_bad_reader_url_names_the_offending_value(url, message):
    with pytest.raises(BadUrlError, match=message.replace("?", r"\?").replace("(", r"\(")):
        open_reader(url)


@pytest.mark.parametrize("framing", ["lines", "stx-etx&bcc=xor", "rte", "tlv", "lines&prefix=]o1"])
def test_unplug_mid_block_no_partial_frame_becomes_a_document_in_any_framing(framing):
    with open_reader(f"sim://reader?framing={framing}&{FAST}") as reader:
        device = reader.device
        faults = []
        reader.on_fault = faults.append
        frame = device.spec.encode(TD3)
        device.write(frame[: len(frame) // 2])
        assert reader.read(timeout=0.02) is None
        device.unplug()
        device.replug()
        read_until(reader, lambda r, _: len(faults) >= 2 and r.fault is None)
        device.write(frame[len(frame) // 2 :])  # the rest of the interrupted block, then a new one
        device.swipe(TD1)
        seen = read_until(reader, lambda r, item: isinstance(item, ReaderDocument))
    assert [s.lines for s in seen if isinstance(s, ReaderDocument)] == [TD1]
    assert faults[0].startswith("absent: ") and faults[-1] is None


class CountingSerialReader(SerialDocumentReader):
    """A serial backend that records when (by the reader's clock) it tries to open."""

    attempts: list[float]

    def _open(self):
        self.attempts = getattr(self, "attempts", [])
        self.attempts.append(self._clock())
        super()._open()


def test_reopen_backoff_doubles_up_to_its_ceiling(tmp_path):
    now = [0.0]
    reader = CountingSerialReader(
        f"serial://{tmp_path}/absent?reopen=0.01&reopen_max=0.04", clock=lambda: now[0]
    )
    for step in range(1, 200):  # 0.2 s of injected time in 1 ms steps; read(timeout=0) never sleeps
        now[0] = step / 1000
        assert reader.read(timeout=0) is None
    reader.close()
    assert reader.fault.startswith("absent: ")
    gaps = [round(b - a, 3) for a, b in zip(reader.attempts, reader.attempts[1:], strict=False)]
    assert gaps == pytest.approx([0.01, 0.02, 0.04, 0.04, 0.04, 0.04], abs=0.0015)  # 1 ms steps


def test_sim_device_in_another_process_serves_a_serial_url(tmp_path):
    link = tmp_path / "usb-Sharaka_SimReader-if00"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hal.reader.sim", "--link", str(link), "--framing", "stx-etx"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == str(link)
        with open_reader(f"serial://{link}?framing=stx-etx&{FAST}") as reader:
            proc.stdin.write("\n".join(TD3) + "\n\n" + "\n".join(TD1) + "\n\n")
            proc.stdin.flush()
            first, second = reader.read(timeout=2.0), reader.read(timeout=2.0)
            assert first.lines == TD3 and second.lines == TD1
            proc.stdin.close()  # the simulator exits: the reader is unplugged
            read_until(reader, lambda r, _: r.fault is not None)
    finally:
        proc.kill()
        proc.wait()


def test_line_noise_over_pty_then_document_comes_through_and_nothing_false():
    with open_reader("sim://reader?framing=lines&idle=0.03") as reader:
        reader.device.inject_noise(5000, seed=3)
        seen = []
        while (item := reader.read(timeout=0.2)) is not None:  # 0.2 s > idle: the noise is given up
            seen.append(item)
        reader.device.swipe(TD3)
        item = reader.read(timeout=1.0)
    assert all(isinstance(s, Misread) for s in seen)
    assert isinstance(item, ReaderDocument) and item.lines == TD3


def test_partial_block_given_up_when_line_goes_idle():
    with open_reader("sim://reader?framing=lines&idle=0.03") as reader:
        reader.device.write(TD3[0].encode() + b"\r\n")
        start = time.monotonic()
        item = reader.read(timeout=1.0)
        elapsed = time.monotonic() - start
    assert isinstance(item, Misread) and "1 row(s)" in item.reason
    assert 0.02 <= elapsed < 0.5


def test_sim_device_write_to_a_full_pty_fails_instead_of_hanging(monkeypatch):
    import hal.reader.sim as sim

    monkeypatch.setattr(sim, "WRITE_STALL_S", 0.05)
    device = SimReaderDevice()
    try:
        with pytest.raises(DeviceUnavailableError, match="pty full"):
            device.write(b"A" * 10_000_000)  # nobody reads the slave side
    finally:
        device.close()


def test_latency_timer_option_is_checked():
    with pytest.raises(BadUrlError, match="latency_timer='0'"):
        open_reader("sim://reader?latency_timer=0")
    with open_reader("sim://reader?latency_timer=keep") as reader:  # a pty has no latency timer
        reader.device.swipe(TD3)
        assert reader.read(timeout=1.0).lines == TD3


def test_lower_latency_timer_writes_sysfs_of_the_linked_tty(tmp_path):
    from hal.reader.serial import lower_latency_timer

    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "ttyUSB7").touch()
    link = tmp_path / "usb-FTDI_FT232R-if00-port0"
    link.symlink_to(tmp_path / "dev" / "ttyUSB7")
    attribute = tmp_path / "sysfs" / "ttyUSB7" / "latency_timer"
    attribute.parent.mkdir(parents=True)
    attribute.write_text("16\n")
    lower_latency_timer(str(link), 1, sysfs=str(tmp_path / "sysfs"))
    assert attribute.read_text().strip() == "1"
    lower_latency_timer(str(tmp_path / "dev" / "ttyACM0"), 1, sysfs=str(tmp_path / "sysfs"))  # none: no error


def test_a_tty_node_that_has_a_stable_name_is_named_for_the_log_hint(tmp_path):
    """docs/readers.md: a URL naming /dev/ttyUSBn, which changes after a replug, is logged with the by-id name to use."""
    from hal.reader.serial import stable_name

    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "ttyUSB0").touch()
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-ACME_OCR-if00").symlink_to(tmp_path / "dev" / "ttyUSB0")
    assert stable_name(str(tmp_path / "dev" / "ttyUSB0"), str(by_id)) == str(by_id / "usb-ACME_OCR-if00")
    assert stable_name(str(tmp_path / "dev" / "ttyUSB1"), str(by_id)) is None  # no link to it
    assert stable_name("/dev/serial/by-id/usb-ACME_OCR-if00", str(by_id)) is None  # already the stable name


def test_reader_that_fails_as_soon_as_it_opens_backs_off_instead_of_reopening_at_the_first_interval(tmp_path):
    """A failing cable or hub: the port opens, then the first read finds it gone, every time. Each open used to
    reset the backoff, so it reopened every ``reopen`` seconds for ever, logging two warnings each time."""
    link = tmp_path / "reader"
    device = SimReaderDevice("lines", link)
    opens = []

    def on_fault(fault):
        if fault is None:  # opened: the link drops again at once
            opens.append(time.monotonic())
            device.unplug()
            device.replug()

    try:
        with open_reader(f"serial://{link}?reopen=0.02&reopen_max=0.32&idle=1") as reader:
            reader.on_fault = on_fault
            device.unplug()
            device.replug()
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                reader.read(timeout=0.01)
        assert 3 <= len(opens) <= 10, f"{len(opens)} opens in 1.5 s"  # 0.02 s apart, it was about 50
        gaps = [b - a for a, b in zip(opens, opens[1:], strict=False)]
        assert max(gaps) >= 0.3
    finally:
        device.close()


def test_a_baud_rate_the_port_refuses_is_a_fault_and_the_reader_opens_once_it_is_accepted(tmp_path, monkeypatch):
    """pyserial raises ValueError when the tty driver refuses a custom rate (TCSETS2): it escaped ``read()``,
    which ended the gate's reader thread (and at start, the start). No tty here refuses one (a pty takes any
    rate), so pyserial's own refusal is stood in for, on a real pty."""
    import serial

    device = SimReaderDevice("lines", tmp_path / "reader")

    def refused(port, baudrate):
        raise ValueError(f"Failed to set custom baud rate ({baudrate}): [Errno 22] Invalid argument")

    monkeypatch.setattr(serial.Serial, "_set_special_baudrate", refused)
    try:
        with open_reader(f"serial://{tmp_path / 'reader'}?baud=250000&{FAST}") as reader:
            assert reader.fault is not None and "refused its settings" in reader.fault and "250000" in reader.fault
            assert reader.read(timeout=0.05) is None  # no exception: the fault stands, retried
            monkeypatch.undo()  # a port that takes the rate (the adapter replaced)
            read_until(reader, lambda r, _: r.fault is None)
            device.swipe(TD3)
            assert reader.read(timeout=1.0).lines == TD3
    finally:
        device.close()
