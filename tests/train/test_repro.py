"""`mosseval repro mini` end to end in its smallest form (e2e: a dozen subprocesses)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.hf
@pytest.mark.e2e
def test_repro_mini_smoke_run_writes_the_table_verdicts_and_leaderboard(cli, tmp_path):
    out = tmp_path / "repro"
    args = ("repro", "mini", "-o", str(out), "--seeds", "0", "--jobs", "2", "--train-size", "30",
            "--coldstart-steps", "2", "--answer-steps", "1", "--grpo-steps", "1", "--limit", "6", "-q")
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
    # the cold start's two stages: traces, then the answer weighted, the second from the first's checkpoint
    cold = d["rows"][2]["train"]
    assert cold["steps"] == 3 and cold["stage_steps"] == [2, 1] and len(cold["reports"]) == 2
    stage2 = (out / "train" / "coldstart" / "train_config.yaml").read_text()
    assert "sft_answer_weight: 30.0" in stage2 and str(out / "train" / "coldstart-traces" / "checkpoint-2") in stage2
    assert "| 2 + 1 |" in (out / "REPORT.md").read_text()
    for metric in ("PRR", "Accuracy"):  # where GRPO took each arm from the cold start
        assert f"{metric} after GRPO relative to the cold start" in (out / "REPORT.md").read_text()
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


def _est(value, low, high):
    return {"value": value, "ci_low": low, "ci_high": high}


def test_learning_caveats_read_the_controls_plainly():
    from mosseval.train.repro import learning_caveats

    rnd = {"run": "random", "accuracy": _est(0.267, 0.211, 0.330)}

    def model(acc, blind, unparsed):
        return {"label": "m", "train": {}, "accuracy": acc, "blind_accuracy": blind, "blind_unparsed": unparsed}

    learned = learning_caveats([rnd, model(_est(0.60, 0.54, 0.66), _est(0.25, 0.20, 0.31), 0.0)])[0]
    assert learned.startswith("m: accuracy 60.0 %") and "above chance" in learned and "the video helps" in learned
    # below chance blind because blank frames break the output: not evidence that the video is read
    broken = learning_caveats([rnd, model(_est(0.25, 0.199, 0.309), _est(0.058, 0.035, 0.097), 0.725)])[0]
    assert broken.startswith("**not learned** m:") and "72.5 % of the blind answers do not parse" in broken
    assert "the video helps" not in broken
    same = learning_caveats([rnd, model(_est(0.25, 0.199, 0.309), _est(0.25, 0.199, 0.309), 0.0)])[0]
    assert "**not** clearly above its blind control" in same


def test_states_stated_counts_the_observed_keyframes_written_exactly():
    from mosseval.train.repro import states_stated

    ref = ["At 0 s the square is red.", "At 1 s the square is blue.", "Next, the square will be red."]
    good = "<think>\nAt 0 s the square is red.\n At 1 s the square is blue. \nNext, the square will be red.\n</think>"
    assert states_stated(good + "<answer>A</answer>", ref) == (2, 2)  # the prediction is not an observed state
    assert states_stated("<think>At 0 s the square is red.\nAt 1 s the square is green.</think>", ref) == (1, 2)
    # a right state on the wrong line is not read off that keyframe
    assert states_stated("<think>At 1 s the square is blue.\nAt 0 s the square is red.</think>", ref) == (0, 2)
    assert states_stated(None, ref) == (0, 2) and states_stated("no think block", ref) == (0, 2)


def test_report_says_whether_the_traces_read_the_frames():
    from mosseval.train.repro import learning_caveats, reads_frames

    rnd = {"run": "random", "accuracy": _est(0.267, 0.211, 0.330)}
    row = {"label": "cold", "train": {}, "accuracy": _est(0.333, 0.274, 0.399),
           "blind_accuracy": _est(0.242, 0.191, 0.300), "blind_unparsed": 0.0,
           "states": 0.523, "blind_states": 0.067, "shuffled_states": 0.287}
    line = learning_caveats([rnd, row])[0]
    assert line.startswith("**not learned** cold:")
    assert "states 52.3 % of the observed keyframes exactly (6.7 % with blank frames, 28.7 % shuffled): it reads the " \
           "frames" in line
    assert reads_frames(row) and not reads_frames({**row, "states": 0.12})
    assert "no sign that it reads the frames" in learning_caveats([rnd, {**row, "states": 0.08}])[0]
