"""`sharaka-gate selftest`: pass/fail per device with the reason, exit code, JSON, config [devices]."""

import json
import subprocess
import sys

import pytest

from agent.cli import main


def selftest_json(capsys, *args):
    code = main(["selftest", "--json", "--step", "0", *args])
    out = json.loads(capsys.readouterr().out)
    return code, {d["device"]: d for d in out["devices"]}, out


def test_sim_devices_pass_with_register_read_back(capsys):
    code, devices, out = selftest_json(capsys, "--indicators", "sim://pca9685", "--camera", "sim://camera")
    assert code == 0 and out["ok"] is True
    assert devices["indicators"]["status"] == "pass"
    assert (
        "relay click" in devices["indicators"]["detail"] and "read back OK" in devices["indicators"]["detail"]
    )
    assert devices["camera"]["status"] == "pass" and "640x480" in devices["camera"]["detail"]
    assert devices["reader"] == {
        "device": "reader",
        "url": None,
        "status": "skipped",
        "detail": "not configured",
        "seconds": 0.0,
    }


def test_missing_devices_fail_with_reason_and_nonzero_exit(capsys):
    code, devices, out = selftest_json(
        capsys,
        "--indicators",
        "i2c://99/0x40",
        "--camera",
        "file:///nonexistent",
        "--reader",
        "serial:///dev/nonexistent",
    )
    assert code == 1 and out["ok"] is False
    assert devices["indicators"]["status"] == "fail" and "/dev/i2c-99" in devices["indicators"]["detail"]
    assert devices["camera"]["status"] == "fail" and "'/nonexistent' not found" in devices["camera"]["detail"]
    assert devices["reader"]["status"] == "fail"


def test_one_failing_device_does_not_hide_the_others(capsys):
    code, devices, _ = selftest_json(
        capsys, "--indicators", "sim://pca9685", "--camera", "file:///nonexistent"
    )
    assert code == 1
    assert devices["indicators"]["status"] == "pass" and devices["camera"]["status"] == "fail"


def test_board_without_buzzer_still_passes(capsys):
    code, devices, _ = selftest_json(
        capsys, "--indicators", "sim://pca9685?buzzer=none&relay=mcp23017@0x20:B0"
    )
    assert code == 0 and "no buzzer" in devices["indicators"]["detail"]


def test_bad_indicator_url_fails_naming_option(capsys):
    code, devices, _ = selftest_json(capsys, "--indicators", "sim://pca9685?colour=red")
    assert code == 1 and "unknown indicator option colour='red'" in devices["indicators"]["detail"]


def test_reader_checked_through_hal_open_reader(capsys):
    code, devices, _ = selftest_json(capsys, "--reader", "sim://reader")
    try:
        import hal.reader.sim  # noqa: F401  (lands with the readers work)
    except ImportError:
        assert code == 1 and "cannot load" in devices["reader"]["detail"]
    else:
        assert code == 0 and devices["reader"]["status"] == "pass"


GATE = """
[gate]
id = "uto-001"
site = "uto"
state_dir = "state"
[devices]
reader = "sim://reader"
indicators = "sim://pca9685"
camera = "file:///nonexistent"
[screening]
lab_gate = true
"""


def test_devices_read_from_config_and_overridden_by_flags(tmp_path, capsys):
    cfg = tmp_path / "gate.toml"
    cfg.write_text(GATE)
    code, devices, out = selftest_json(capsys, "--config", str(cfg))
    assert code == 1 and out["gate_id"] == "uto-001" and devices["camera"]["status"] == "fail"
    code, devices, _ = selftest_json(
        capsys, "--config", str(cfg), "--camera", "sim://camera?width=64&height=48"
    )
    assert code == 0 and devices["camera"]["url"] == "sim://camera?width=64&height=48"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[devices\n", "not valid TOML"),
        ("devices = 3\n" + GATE.replace("[devices]", "[other]"), "devices = 3: expected a table"),
        (GATE.replace('camera = "file:///nonexistent"', "camera = 7"), "[devices] camera = 7: expected a string"),
        (GATE.replace("[gate]", "gate_id = 'x'\n[gate]"), "[gate_id]: unknown section"),
    ],
    ids=["broken-toml", "devices-not-table", "url-not-string", "key-that-does-not-exist"],
)
def test_bad_config_exits_2_with_reason(tmp_path, capsys, text, message):
    cfg = tmp_path / "gate.toml"
    cfg.write_text(text)
    assert main(["selftest", "--config", str(cfg)]) == 2
    assert message in capsys.readouterr().err


def test_no_device_exits_2(capsys):
    assert main(["selftest"]) == 2
    assert "sharaka-gate selftest: no device to test" in capsys.readouterr().err


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main(["selftest", "--config", str(tmp_path / "none.toml")]) == 2
    assert "cannot read config" in capsys.readouterr().err


def test_console_command_prints_one_line_per_device():
    out = subprocess.run(
        [sys.executable, "-m", "agent", "selftest", "--indicators", "sim://pca9685", "--step", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0:2] for line in lines] == [
        ["SKIPPED", "reader"],
        ["PASS", "indicators"],
        ["SKIPPED", "camera"],
    ]
