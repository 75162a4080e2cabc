"""Error roots of the hardware abstraction layer."""


class HalError(Exception):
    """Root of every error the HAL raises on purpose."""


class DeviceUnavailableError(HalError, OSError):
    """The device is absent or stopped answering: report a fault, retry with backoff."""


class BadUrlError(HalError, ValueError):
    """A device URL that no backend accepts; the message names the expected form."""


class BackendImportError(HalError, ImportError):
    """A backend's optional dependency is missing (not an unknown scheme)."""
