"""``mosseval families``: every supported family with its recipe, or why it has none."""

from __future__ import annotations

import json

from mosseval.errors import ExitCode
from tests.support.cli import main_inprocess


def test_families_json_lists_every_family_with_its_recipe_or_why_not(capsys):
    code, out, err = main_inprocess("families", "--json", capsys=capsys)
    assert code == 0, err
    rows = {r["family"]: r for r in json.loads(out)}
    from mosseval.models.families import FAMILIES

    assert list(rows) == list(FAMILIES) and len(rows) == 41
    assert rows["glm-4.5v"]["recipe"] == "glm-4.1v" and rows["glm-4.5v"]["model_types"] == ["glm4v_moe"]
    assert rows["qwen2.5-omni-thinker"]["recipe"] == "qwen2.5-omni"
    assert rows["gemma3"]["recipe"] is None and rows["gemma3"]["recipe_label"] == "none published"
    assert rows["molmo2"]["recipe"] is None and rows["molmo2"]["recipe_label"] == "none recorded yet"
    assert rows["qwen3-omni-moe"]["auto_class"] == "AutoModelForMultimodalLM"
    assert rows["dots3-note"]["auto_class"] == "AutoModelForMultimodalLM"
    assert rows["gemma4-unified"]["recipe"] == "gemma4"


def test_families_table_shows_both_kinds_of_missing_recipe(capsys):
    code, out, err = main_inprocess("families", capsys=capsys)
    assert code == 0, err
    line = {name: next(x for x in out.splitlines() if x.lstrip("│ ").startswith(name))
            for name in ("Gemma 3", "Kimi-K2.5", "GLM-4.5V")}
    assert "none published" in line["Gemma 3"]
    assert "none recorded yet" in line["Kimi-K2.5"]
    assert "glm-4.1v" in line["GLM-4.5V"]


def test_frames_from_model_refuses_a_family_without_a_recorded_recipe(tmp_path, capsys):
    """A checkpoint of a supported family whose recipe mosseval has not recorded: refused with that reason
    (not "publishes no recipe"), before anything is loaded or written."""
    ckpt = tmp_path / "kimi"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "kimi_k25"}))
    code, out, err = main_inprocess("run", "--model", ckpt, "--frames-from", "model", "--limit", "1", "-o",
                                    tmp_path / "runs", capsys=capsys)
    assert code == ExitCode.USAGE, err
    assert "the Kimi-K2.5 family has no video recipe recorded in mosseval yet" in err and "Traceback" not in err
    assert not list(tmp_path.glob("runs/*/run.json"))
