"""The page's data block is written one embedded sample at a time (``page_json``) and streamed into the page
file, as ``leaderboard.json`` is (``iter_board_json``); each must be exactly
``json_for_html`` of the page data (and the fixed-run golden ``leaderboard_page_data.json`` checks it
against what the page held before), with items and thumbnails only when a shown sample uses them, fewer
samples shown than the board holds, and untrusted text escaped."""

from __future__ import annotations

import json
import re

import pytest

from mosseval.leaderboard import build_leaderboard, render_html, write_leaderboard_json
from mosseval.leaderboard.build import iter_board_json
from mosseval.leaderboard.records import PackedRecord, SampleSet, Thumbnail
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


def test_board_json_streamed_is_the_one_shot_serialization(board, tmp_path):
    """leaderboard.json is written piece by piece; its bytes are exactly ``to_json(board, indent=1)``
    (thumbnails, shared items, a run without embedded samples, untrusted text and tiny floats included)."""
    b = board.model_copy(deep=True)
    b.samples.runs["no-samples"] = []
    want = b.__pydantic_serializer__.to_json(b, indent=1) + b"\n"
    got = write_leaderboard_json(b, tmp_path / "lb.json").read_bytes()
    assert got == want
    assert b"".join(iter_board_json(b)) == want
    assert json.loads(got)["samples"]["runs"]["no-samples"] == []
    assert b"\"t\": 0.00001" in got  # pydantic's float format (json.dumps would write 1e-05)
    empty = b.model_copy(update={"samples": SampleSet()})
    assert b"".join(iter_board_json(empty)) == empty.__pydantic_serializer__.to_json(empty, indent=1) + b"\n"


def test_page_streamed_into_the_file_is_the_template_with_the_data(board, tmp_path):
    out = render_html(board, tmp_path / "lb.html", 3)
    html = out.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="board-data">(.*?)</script>', html, re.S)
    assert block is not None and block.group(1) == page_json(board, 3)
    assert html.count('id="board-data"') == 1 and "\x00" not in html
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_page_write_keeps_the_old_page(board, tmp_path, monkeypatch):
    from mosseval.leaderboard import render

    out = tmp_path / "lb.html"
    out.write_text("old page")

    def broken(*_a, **_k):
        yield "{"
        raise RuntimeError("boom")

    monkeypatch.setattr(render, "iter_page_json", broken)
    with pytest.raises(RuntimeError, match="boom"):
        render_html(board, out, 3)
    assert out.read_text() == "old page"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("missing", ["leaderboard.css", "leaderboard.js", "leaderboard.html.j2"])
def test_a_missing_page_asset_is_an_incomplete_installation(board, tmp_path, monkeypatch, missing):
    import shutil

    import mosseval.paths
    from mosseval.errors import ExitCode, MissingDependencyError

    assets = tmp_path / "reports"
    shutil.copytree(mosseval.paths.resource_dir("reports"), assets)
    (assets / missing).unlink()
    monkeypatch.setattr(mosseval.paths, "resource_dir", lambda kind: assets)
    out = tmp_path / "board.html"
    with pytest.raises(MissingDependencyError, match=f"installation is incomplete: the leaderboard asset "
                                                     f"reports/{missing} is missing") as err:
        render_html(board, out)
    assert err.value.exit_code == ExitCode.MISSING_DEPENDENCY and "reinstall" in (err.value.hint or "")
    assert not out.exists()
