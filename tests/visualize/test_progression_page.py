"""The progression page: the pairs' table, what decided, and each pair's change map as a 3D view (the viewer itself
is checked in a browser by test_summary_page)."""

from __future__ import annotations

import json
import re

import numpy as np

from scripts.scoring.change import change_map
from scripts.visualize.progression_page import pair_view, write_progression_page


def _ellipsoid(dent: bool) -> tuple[np.ndarray, np.ndarray]:
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in (30, 26, 44)], indexing="ij"), axis=-1)
    inside = (((grid - [15, 13, 22]) / [9.0, 7.0, 18.0]) ** 2).sum(axis=-1) <= 1.0
    if dent:
        inside[20:, 8:18, 15:28] = False
    return inside, np.eye(4)


def test_the_page_has_every_pair_in_its_table_and_draws_the_maps_it_was_given(tmp_path):
    first, affine = _ellipsoid(False)
    mapped = change_map(first, affine, _ellipsoid(True)[0], affine)
    rows = [
        {"subject": "<b>P000</b>", "first": "P000_v0", "second": "P000_v1", "changed": True,
         "combined_change": 1.7, "combined_change_z": 3.2, "change_inward_mm": 4.1},
        {"subject": "S000", "first": "S000_v0", "second": "S000_v1", "changed": False, "combined_change": 0.1},
    ]  # fmt: skip
    views = [pair_view(rows[0], *mapped.lighter(2), "combined_change")]
    document = {"change_score": "combined_change", "level": 0.95, "stable_pairs": 20}
    page = write_progression_page(tmp_path / "progression.html", rows, views, document).read_text()
    assert "2 pair(s), 1 changed beyond the test-retest noise of combined_change at the 95% level" in page
    assert "3D views of 1 of the 2 pairs" in page
    assert page.count("<tr>") == 3 and "S000_v1" in page and "<b>P000" not in page  # names are escaped
    assert "<th>combined_change_z</th>" in page and "<td>3.2</td>" in page
    views_data = re.findall(r"<script type='application/json' id='view3d-\d+'>(.*?)</script>", page)
    assert len(views_data) == 1
    figure = json.loads(views_data[0].replace("<\\/", "</"))
    assert figure["caption"] == "combined_change 1.7 (3.20 test-retest SDs)"
    assert "&lt;b&gt;P000&lt;/b&gt;: changed" in page
    assert len(figure["data"]) == 1 and figure["data"][0]["type"] == "mesh3d"
    assert "Test-retest reliability" not in page  # a calibration learned before 0.8.3 has no table


def test_the_page_shows_the_calibrations_test_retest_table(tmp_path):
    reliability = {"combined": {"icc_3_1": 0.43, "within_subject_sd": 0.3, "mdc95": 0.82, "pairs": 20}}
    document = {"change_score": "combined_change", "level": 0.95, "stable_pairs": 20, "reliability": reliability}
    page = write_progression_page(tmp_path / "progression.html", [], [], document).read_text()
    assert "<h2>Test-retest reliability</h2>" in page and "<th>mdc95</th>" in page
    assert "<tr><td>combined</td><td>0.43</td><td>0.3</td><td>0.82</td><td>20</td></tr>" in page
