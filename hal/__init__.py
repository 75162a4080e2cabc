"""Hardware abstraction layer: one interface per device class, backends chosen by URL.

    >>> from hal import open_reader, open_indicators, open_camera
    >>> reader = open_reader("sim://reader")          # a real pty pair
    >>> leds = open_indicators("sim://pca9685")       # register-level PCA9685 model

The tables below are the one place that maps a URL scheme to a backend. Backends are imported
lazily so smbus2, OpenCV or the tflite runtime load only when a URL asks for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hal.errors import BackendImportError, BadUrlError

if TYPE_CHECKING:
    from hal.camera import Camera
    from hal.indicators import Indicators
    from hal.reader import DocumentReader

READERS = {
    "serial": "hal.reader.serial:SerialDocumentReader",
    "sim": "hal.reader.sim:SimDocumentReader",
    "replay": "hal.reader.replay:ReplayDocumentReader",
}
INDICATORS = {
    "i2c": "hal.indicators.i2c:open_i2c_indicators",
    "sim": "hal.indicators.sim:open_sim_indicators",
}
CAMERAS = {
    "file": "hal.camera.file:FileCamera",
    "v4l2": "hal.camera.v4l2:V4l2Camera",
    "sim": "hal.camera.file:SimCamera",
}


def _open(table: dict[str, str], kind: str, url: str, **kwargs: Any) -> Any:
    scheme = urlsplit(url).scheme
    target = table.get(scheme)
    if target is None:
        raise BadUrlError(f"unknown {kind} URL scheme {scheme!r} in {url!r}; known: {', '.join(sorted(table))}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendImportError(f"{kind} backend {scheme!r} cannot load: {exc}") from exc
    return getattr(module, attr)(url, **kwargs)


def open_reader(url: str, **kwargs: Any) -> DocumentReader:
    """Open a document reader by URL (``serial://…``, ``sim://reader``, ``replay://FILE``)."""
    return _open(READERS, "reader", url, **kwargs)


def open_indicators(url: str, **kwargs: Any) -> Indicators:
    """Open the indicator board (LED, buzzer, relay) by URL (``i2c://1/0x40?…``, ``sim://pca9685``)."""
    return _open(INDICATORS, "indicators", url, **kwargs)


def open_camera(url: str, **kwargs: Any) -> Camera:
    """Open a camera by URL (``file://DIR``, ``v4l2:///dev/video0``, ``sim://camera``)."""
    return _open(CAMERAS, "camera", url, **kwargs)
