"""A real transformers run (the embedded tiny Qwen2.5-VL, built locally) on the board: its checkpoint name,
parameter count and identity hash reach leaderboard.json and the page (issue 13's acceptance)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory):
    pytest.importorskip("transformers")
    import yaml

    from mosseval.runner import Runner, RunOptions
    from mosseval.tasks import load_registry

    out = tmp_path_factory.mktemp("hf-runs")
    # moss-video-mini with short generations (a random tiny model only babbles; 24 tokens keep it fast)
    spec = load_registry()["moss-video-mini"]
    short = spec.model_copy(update={"name": "mini-short", "generation": spec.generation.model_copy(
        update={"max_new_tokens": 24})})
    tasks = out / "tasks"
    tasks.mkdir()
    (tasks / "mini-short.yaml").write_text(yaml.safe_dump(short.model_dump(mode="json", exclude={"schema_version"})))
    opts = RunOptions(model="tiny-qwen2.5-vl", tasks=["mini-short"], limit=4, output_dir=out, progress=False,
                      workers=0, fsync=False, model_args={"device": "cpu"}, tasks_dirs=[tasks])
    return Runner(opts, None).execute()


def test_hf_run_on_the_board(hf_run, tmp_path, capsys):
    import torch

    from mosseval.models.registry import load_backend, resolve
    from tests.support.cli import main_inprocess

    log = hf_run.log
    # the runner recorded the model for people: checkpoint, weights digest, parameter count
    model = load_backend("hf")(resolve("tiny-qwen2.5-vl", {"device": "cpu"}))
    assert isinstance(model.model, torch.nn.Module)
    n_params = sum(p.numel() for p in model.model.parameters())  # counted independently of the adapter
    model.close()
    assert 100_000 < n_params < 300_000
    assert log.model is not None and log.model.params == n_params
    assert log.model.checkpoint == "builtin:tiny-qwen2.5-vl" and re.fullmatch(r"[0-9a-f]{12}", log.model.revision)
    assert log.model.hash == log.identity.model_hash()

    html = tmp_path / "lb.html"
    code, _, err = main_inprocess("leaderboard", str(hf_run.run_dir), "-o", html, "--thumbnails", capsys=capsys)
    assert code == 0, err
    board = json.loads(html.with_suffix(".json").read_text())
    run = board["runs"][0]
    assert run["checkpoint"] == "builtin:tiny-qwen2.5-vl" and run["params"] == n_params
    assert run["identity_hash"] == log.run_id and re.fullmatch(r"[0-9a-f]{64}", run["identity_hash"])
    assert run["model"]["backend"] == "hf" and run["model"]["dtype"] == "float32"
    assert "156k" in err or f"{n_params / 1e3:.0f}k" in err  # the terminal summary names the size
    text = html.read_text()
    assert "[object Object]" not in text
    # thumbnails of the frames the tiny model saw
    sample = board["samples"]["runs"][run["run_id"]][0]
    thumbs = board["samples"]["thumbnails"][sample["frames"]["thumbnails"]]
    assert [t["index"] for t in thumbs] == sample["frames"]["indices"]

    chromium = pytest.importorskip("playwright.sync_api")
    from tests.leaderboard.test_browser import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium for the page check")
    with chromium.sync_playwright() as pw:
        br = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = br.new_page()
        page.goto(html.as_uri())
        row = page.locator("table#lb tbody tr").first
        assert "builtin:tiny-qwen2.5-vl" in row.locator(".model-meta").text_content()
        assert row.locator("td").nth(2).text_content() == f"{n_params / 1e3:.0f}k"
        assert "[object Object]" not in page.text_content("body")
        br.close()
