"""The page's data block is written one embedded sample at a time (``page_json``); it must be exactly
``json_for_html`` of the page data (and the fixed-run golden ``leaderboard_page_data.json`` checks it
against what the page held before), with items and thumbnails only when a shown sample uses them, fewer
samples shown than the board holds, and untrusted text escaped."""

from __future__ import annotations

import json

import pytest

from mosseval.leaderboard import build_leaderboard
from mosseval.leaderboard.records import PackedRecord, Thumbnail
from mosseval.leaderboard.render import json_for_html, page_data, page_json
from tests.support.fixed_runs import RUN_NAMES, RUNS

NASTY = "</script><!-- & \u2028 \u2029 é ✓ <img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def board():
    b = build_leaderboard([str(RUNS / n) for n in RUN_NAMES], samples_per_run=10)
    # thumbnails on some samples (two runs share one set, one set is used by no sample), untrusted text in one
    b.samples.thumbnails = {
        "t1": [Thumbnail(src="data:image/jpeg;base64,AAAA", index=0, t=0.0),
               Thumbnail(src="data:image/jpeg;base64,BBBB", index=7, t=1e-05)],
        "unused": [Thumbnail(src="data:image/jpeg;base64,CCCC", index=1)],
    }
    for views in b.samples.runs.values():
        for i in (0, 4):
            v = views[i].view()
            assert v.frames is not None
            v.frames.thumbnails = "t1"
            if i == 4:
                v.text = NASTY
            views[i] = PackedRecord.of(v)
    return b


@pytest.mark.parametrize("k", [0, 1, 3, 10, 100])
def test_page_json_equals_the_whole_page_data_escaped(board, k):
    got = page_json(board, k)
    assert got == json_for_html(page_data(board, k))
    data = json.loads(got)
    shown = [s for lst in data["samples"]["runs"].values() for s in lst]
    assert len(shown) == min(k, 10) * len(RUN_NAMES)
    assert set(data["samples"]["items"]) == {s["item"] for s in shown}
    assert list(data["samples"]["thumbnails"]) == (["t1"] if k >= 1 else [])
    assert ("</script" in got, "<" in got, "\u2028" in got) == (False, False, False)
    if k >= 5:
        assert any(s["text"] == NASTY for s in shown)
