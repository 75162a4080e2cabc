"""Versioned name dictionary: spellings whose vowels or elisions defeat the skeleton rules.

The rules of `agent.hitlist.names` merge most spellings by themselves; this table only maps the
known exceptions (Maghreb elisions such as BRAHIM for IBRAHIM, abbreviations such as MOHD, forms whose
first vowel differs such as TOUFIK for TAWFIK) onto one spelling the rules then reduce. Changing any
entry changes keys: bump `DICTIONARY_VERSION` (it is part of the signed list metadata, docs/names.md).
"""

from __future__ import annotations

DICTIONARY_VERSION = 1

# canonical spelling -> variant spellings (upper case A-Z, one component, after article removal)
_GROUPS: dict[str, tuple[str, ...]] = {
    "MOHAMED": ("MHD", "MOHD", "MUHD", "MOHAMMADOU", "MAHAMAT", "MAHAMMAT", "MOHAMADOU"),
    "AHMED": ("HMED", "HMAD", "HMIDA"),
    "IBRAHIM": ("BRAHIM", "BRAHEEM", "BRAHIMI"),
    "ISMAIL": ("SMAIL", "SMAEL"),
    "IDRIS": ("DRISS", "DRIS"),
    "SULEIMAN": ("SLIMANE", "SLIMAN", "SLEIMAN"),
    "HASSAN": ("LAHCEN", "LAHSEN", "LAHCENE", "LAHSSEN"),
    "HUSSEIN": ("LHOUSSAINE", "LHOUSSINE", "LHOUCINE", "LHUSSEIN"),
    "AMIN": ("LAMINE", "LAMIN"),
    "MUBARAK": ("MBAREK", "MBARK", "MBARAK"),
    "AMR": ("AMRO", "AMROU", "AMRU", "AMROO"),
    "TAWFIK": ("TOUFIK", "TOUFIQ", "TOFIK", "TOFIQ", "TOUFIQUE"),
    "AISHA": ("AYESHA", "AYESHAH"),
    "ABDULLAH": ("ABDOULAYE", "ABDOULAY", "ABDULAI", "ABDULAYE", "ABDOULLAHI", "ABDULLAHI"),
}

NAME_DICTIONARY: dict[str, str] = {
    variant: canonical for canonical, variants in _GROUPS.items() for variant in variants
}
