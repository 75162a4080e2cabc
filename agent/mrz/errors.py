"""Errors of the MRZ engine."""

from agent.errors import BadDataError


class MrzFormatError(BadDataError):
    """The text is not an MRZ of a known layout (line count, line length or characters are wrong).

    Raised before any field is read; the message names the offending line, position and value and the
    expected form. A text that *is* an MRZ but fails check digits is not an error: it parses to an
    ``MrzResult`` with ``valid=False``.
    """
