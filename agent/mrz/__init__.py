"""ICAO Doc 9303 machine-readable-zone engine: layout detection, check digits, OCR repair, names, dates.

    >>> r = parse_mrz(["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    ...                "L898902C36UTO7408122F1204159ZE184226B<<<<<10"])
    >>> r.valid, r.surname, r.given_names, r.document_number
    (True, 'ERIKSSON', 'ANNA MARIA', 'L898902C3')

See docs/mrz.md for the layouts, the repair policy and the known differences with other parsers.
"""

from agent.mrz.errors import MrzFormatError
from agent.mrz.parser import parse_mrz
from agent.mrz.result import MrzResult

__all__ = ["MrzFormatError", "MrzResult", "parse_mrz"]
