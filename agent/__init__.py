"""Sharaka Gate agent: screening of travel documents at a border gate."""

__version__ = "0.1.0"
