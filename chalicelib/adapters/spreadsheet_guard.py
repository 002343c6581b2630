"""The one formula guard for files that spreadsheet programs open (CSV injection, OWASP).

A cell whose text starts with = + - @ TAB or CR is run as a formula by Excel, LibreOffice
and others; such text from users or from the downstream (an error reason) gets a leading
apostrophe, which the program shows as text. Used by the order export (in its SQL, so a
million rows cost nothing in Python) and by the error-report CSV.
"""
from __future__ import annotations

FORMULA_START = "=+-@\t\r"
# ASCII(): the first byte, an integer compare, cheaper than a collated string IN.
_CODES = ", ".join(str(ord(c)) for c in FORMULA_START)


def guard_cell(text: str) -> str:
    return "'" + text if text[:1] in FORMULA_START and text else text


def sql_guard(expr: str) -> str:
    """The same guard as a MySQL/MariaDB expression over the text expression `expr`."""
    return f"IF(ASCII({expr}) IN ({_CODES}), CONCAT('''', {expr}), {expr})"
