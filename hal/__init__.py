"""Hardware abstraction layer: one interface per device class, backends chosen by URL.

    >>> from hal import open_reader, open_indicators, open_camera
    >>> reader = open_reader("sim://reader")          # a real pty pair
    >>> leds = open_indicators("sim://pca9685")       # register-level PCA9685 model
    >>> plates = open_plate_reader("sim://plate")     # ANPR camera model

The tables below are the one place that maps a URL scheme to a backend. Backends are imported
lazily so smbus2, OpenCV or the tflite runtime load only when a URL asks for them. Every backend
declares its URL grammar with ``hal.url.UrlGrammar`` (one query parser for all), and
``check_url(kind, url)`` checks a URL against it without opening anything (the config uses it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

from hal.errors import BackendImportError, BadUrlError
from hal.url import split_url

if TYPE_CHECKING:
    from hal.camera import Camera
    from hal.indicators import Indicators
    from hal.plate import PlateReader
    from hal.reader import DocumentReader

class Backend(NamedTuple):
    """Where a backend lives: its module, the opener (``opener(url, **kwargs)``) and the pure URL check."""

    module: str
    opener: str
    check: str  # dotted attribute of the module: ``check(url)`` raises BadUrlError, opens nothing


READERS = {
    "serial": Backend("hal.reader.serial", "SerialDocumentReader", "SerialDocumentReader.check_url"),
    "sim": Backend("hal.reader.sim", "SimDocumentReader", "SimDocumentReader.check_url"),
    "replay": Backend("hal.reader.replay", "ReplayDocumentReader", "ReplayDocumentReader.check_url"),
}
INDICATORS = {
    "i2c": Backend("hal.indicators.i2c", "open_i2c_indicators", "check_i2c_url"),
    "sim": Backend("hal.indicators.sim", "open_sim_indicators", "check_sim_url"),
}
CAMERAS = {
    "file": Backend("hal.camera.file", "FileCamera", "FileCamera.check_url"),
    "v4l2": Backend("hal.camera.v4l2", "V4l2Camera", "V4l2Camera.check_url"),
    "sim": Backend("hal.camera.file", "SimCamera", "SimCamera.check_url"),
}
PLATE_READERS = {
    "sim": Backend("hal.plate.sim", "SimPlateReader", "SimPlateReader.check_url"),
    "file": Backend("hal.plate.file", "ReplayPlateReader", "ReplayPlateReader.check_url"),
}
KINDS = {"reader": READERS, "indicators": INDICATORS, "camera": CAMERAS, "plate": PLATE_READERS}


def _backend(kind: str, url: str) -> tuple[Backend, Any]:
    table = KINDS[kind]
    scheme = split_url(url).scheme
    backend = table.get(scheme)
    if backend is None:
        raise BadUrlError(f"unknown {kind} URL scheme {scheme!r} in {url!r}; known: {', '.join(sorted(table))}")
    try:
        module = importlib.import_module(backend.module)
    except ImportError as exc:
        raise BackendImportError(f"{kind} backend {scheme!r} cannot load: {exc}") from exc
    return backend, module


def check_url(kind: str, url: str) -> None:
    """Raise BadUrlError unless ``url`` is a valid ``kind`` URL (``reader``, ``indicators``, ``camera``, ``plate``).

    Checks the scheme and everything the backend's grammar fixes (location, options, values) without
    opening a device, so a config can be refused before anything starts. The message names the bad
    part and the expected form.
    """
    backend, module = _backend(kind, url)
    check: Any = module
    for name in backend.check.split("."):
        check = getattr(check, name)
    check(url)


def _open(kind: str, url: str, **kwargs: Any) -> Any:
    backend, module = _backend(kind, url)
    return getattr(module, backend.opener)(url, **kwargs)


def open_reader(url: str, **kwargs: Any) -> DocumentReader:
    """Open a document reader by URL (``serial://…``, ``sim://reader``, ``replay://FILE``)."""
    return _open("reader", url, **kwargs)


def open_indicators(url: str, **kwargs: Any) -> Indicators:
    """Open the indicator board (LED, buzzer, relay) by URL (``i2c://1/0x40?…``, ``sim://pca9685``)."""
    return _open("indicators", url, **kwargs)


def open_camera(url: str, **kwargs: Any) -> Camera:
    """Open a camera by URL (``file://DIR``, ``v4l2:///dev/video0``, ``sim://camera``)."""
    return _open("camera", url, **kwargs)


def open_plate_reader(url: str, **kwargs: Any) -> PlateReader:
    """Open a plate reader (ANPR camera) by URL (``sim://plate``, ``file://CAPTURE``)."""
    return _open("plate", url, **kwargs)
