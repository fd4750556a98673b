"""`mosseval repro mini` end to end in its smallest form (e2e: a dozen subprocesses)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.hf, pytest.mark.e2e]

pytest.importorskip("transformers")


def test_repro_mini_smoke_run_writes_the_table_verdicts_and_leaderboard(cli, tmp_path):
    out = tmp_path / "repro"
    args = ("repro", "mini", "-o", str(out), "--seeds", "0", "--jobs", "2", "--train-size", "30",
            "--coldstart-steps", "2", "--grpo-steps", "1", "--limit", "6", "-q")
    p = cli(*args)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == str(out / "REPORT.md")
    d = json.loads((out / "repro.json").read_text())
    labels = [r["label"] for r in d["rows"]]
    assert labels == ["random (chance)", "oracle (ceiling)", "cold start (SFT)", "GRPO acc+fmt (seed 0)",
                      "GRPO acc+fmt+prr (seed 0)"]
    for r in d["rows"]:
        assert r["n"] == 6 and r["accuracy"]["value"] is not None
    oracle = d["rows"][1]
    assert oracle["accuracy"]["value"] == 1.0 and oracle["prr"]["value"] == pytest.approx(1.0)
    arms = [r for r in d["rows"] if r["arm"]]
    assert all(r["train"]["steps"] == 1 and r["blind_accuracy"] is not None and r["shuffled_accuracy"] is not None
               for r in arms)
    # equal budgets: both arms generated the same number of completions
    assert len({r["train"]["completions"] for r in arms}) == 1
    # the arms really differ in their rewards
    cfg = {r["arm"]: (out / "train" / f"grpo-{r['arm'].replace('+', '-')}-s0" / "train_config.yaml").read_text()
           for r in arms}
    assert "- prr" in cfg["acc+fmt+prr"] and "- prr" not in cfg["acc+fmt"]
    assert d["verdicts"]["0"]["exit_code"] in (0, 1) and d["verdicts"]["0"]["verdict"] is not None
    assert set(d["pooled"]) == {"accuracy", "prr"}
    assert d["option_bias_probe"]["n"] == 240
    report = (out / "REPORT.md").read_text()
    assert "Smoke run: only the first 6 test items" in report and "| oracle (ceiling) | 100.0" in report
    assert (out / "leaderboard.html").is_file() and (out / "commands.log").read_text().count("mosseval") >= 10
    # a second run reuses every finished step
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    jobs = json.loads((out / "repro.json").read_text())["jobs"]
    assert all(j["reused"] for j in jobs if j["name"].startswith(("coldstart", "grpo", "eval")))
