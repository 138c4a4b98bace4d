"""CSV exports quote what needs quoting and never carry a formula (issue #12)."""

from __future__ import annotations

import csv
import io

from appliance.csv_export import csv_text


def test_commas_quotes_and_line_breaks_survive_a_round_trip() -> None:
    text = csv_text(["name", "n"], [['Dupont, "Jo"\nCM2', 3]])
    assert list(csv.reader(io.StringIO(text))) == [["name", "n"], ['Dupont, "Jo"\nCM2', "3"]]


def test_a_formula_is_neutralised_and_numbers_stay_numbers() -> None:
    rows = [['=HYPERLINK("http://x")', -5], ["+33 1", 0], ["@SUM(A1)", 1.5], ["-1+1", 2]]
    parsed = list(csv.reader(io.StringIO(csv_text(["a", "b"], rows))))[1:]
    assert [cell for cell, _ in parsed] == [
        '\'=HYPERLINK("http://x")',
        "'+33 1",
        "'@SUM(A1)",
        "'-1+1",
    ]
    assert [number for _, number in parsed] == ["-5", "0", "1.5", "2"]
