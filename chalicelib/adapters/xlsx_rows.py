"""Fast plain rows for XlsxWriter's constant_memory mode.

XlsxWriter spends ~4 µs per cell (type dispatch, cell objects, per-cell escaping), which
is a minute for a million 14-column rows. `RowStreamWorksheet.write_text_row` writes a
whole row of plain cells (inline strings and numbers, no formats) to the worksheet's
row-data file in one string, the same XML XlsxWriter writes for such cells, and falls
back to XlsxWriter's own writers for any row that needs escaping (&, <, >, control
characters, leading/trailing spaces, literal `_xHHHH_`). Everything else — the header
row with its format, column widths, the package, zip64 — is XlsxWriter's.

It relies on two internals of constant_memory mode (the pinned XlsxWriter version):
rows are written in order to `self.fh`, and `previous_row`/`_check_dimensions` track
the row held in memory and the sheet's extent. tests/unit/test_xlsx_rows.py checks
that a fast row reads back exactly like a row written through the public API.
"""
from __future__ import annotations

import re
from typing import Sequence

from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

# A row needs XlsxWriter's careful path when any field has XML specials, control
# characters (Excel's _xHHHH_ escapes, which also catch a literal "_xHHHH_"), the two
# non-characters, or leading/trailing whitespace (xml:space="preserve").
_NEEDS_CARE = re.compile(r"[&<>\x00-\x08\x0b-\x1e\ufffe\uffff]|_x[0-9a-fA-F]{4}_"
                         r"|(?:^|\x1f)[^\S\x1f]|[^\S\x1f](?:\x1f|$)")
SEPARATOR = "\x1f"


class RowStreamWorksheet(Worksheet):
    """A worksheet that takes rows of text fields joined by SEPARATOR."""

    def set_row_layout(self, numeric: Sequence[bool]) -> None:
        """Which columns hold numbers (their text is a decimal like 12.50)."""
        self._numeric = list(numeric)
        cells = []
        for col, is_number in enumerate(numeric):
            ref = f"{xl_col_to_name(col)}{{0}}"
            cells.append(f'<c r="{ref}"><v>{{{col + 1}}}</v></c>' if is_number else
                         f'<c r="{ref}" t="inlineStr"><is><t>{{{col + 1}}}</t></is></c>')
        self._template = '<row r="{0}">' + "".join(cells) + "</row>"
        self._last_col = len(numeric) - 1

    def write_text_row(self, row: int, line: str) -> None:
        """Write one row (0-based) from SEPARATOR-joined fields, after any earlier row."""
        fields = line.split(SEPARATOR)
        if len(fields) != len(self._numeric):
            raise ValueError(f"row {row}: {len(fields)} fields, expected {len(self._numeric)}")
        if _NEEDS_CARE.search(line):
            self._write_careful(row, fields)
            return
        if self._check_dimensions(row, self._last_col):
            raise ValueError(f"row {row} is outside the worksheet")
        if self.table:
            self._write_single_row(row)     # flush a row held by the public API
        self.previous_row = row
        self.fh.write(self._template.format(row + 1, *fields))

    def _write_careful(self, row: int, fields: list[str]) -> None:
        for col, (value, is_number) in enumerate(zip(fields, self._numeric)):
            if is_number:
                self._write_number(row, col, float(value))
            else:
                self._write_string(row, col, value)
