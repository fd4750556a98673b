"""One definition of comparable: the runner's identity, `mosseval compare` and the leaderboard agree, both
ways, on the same pairs of real runs (a help-text change is comparable; a frame-count or seed change is not).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mosseval.comparability import run_differences, task_key
from mosseval.compare import compare_paths
from mosseval.errors import NotComparableError
from mosseval.leaderboard import build_leaderboard
from mosseval.rundir import load_run
from mosseval.runner import Runner, RunOptions
from mosseval.tasks import load_registry
from tests.support.cli import main_inprocess


def task_folder(root: Path, name: str, **changes) -> Path:
    """A user task folder holding moss-video-mini as task ``mini``, with ``changes`` applied."""
    spec = load_registry()["moss-video-mini"]
    data = spec.model_dump(mode="json", exclude={"schema_version"})
    data["name"] = "mini"
    for dotted, value in changes.items():
        node = data
        *head, last = dotted.split("__")
        for k in head:
            node = node[k]
        node[last] = value
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "mini.yaml").write_text(yaml.safe_dump(data))
    return folder


def run(tmp: Path, model: str, tasks_dir: Path, seed: int = 0) -> Path:
    opts = RunOptions(model=model, tasks=["mini"], tasks_dirs=[tasks_dir], limit=24, output_dir=tmp / "runs",
                      seed=seed, progress=False, workers=0, fsync=False)
    return Runner(opts, None).execute().run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("comparability")
    base = task_folder(tmp, "base", data__obtain="generated on first use", description="the mini benchmark")
    helptext = task_folder(tmp, "help", data__obtain="ask a colleague for the files", description="other words",
                           breakdowns=["level"])
    frames = task_folder(tmp, "frames", frames__num_frames=4)
    return {
        "oracle": run(tmp, "oracle", base),
        "random_help": run(tmp, "random", helptext),
        "random_frames": run(tmp, "random", frames),
        "random_seed": run(tmp, "random", base, seed=1),
        "oracle_help": run(tmp, "oracle", helptext),
    }


def board_columns(*dirs: Path):
    board = build_leaderboard([str(d) for d in dirs])
    cols = [c for c in board.columns if c.task == "mini"]
    return board, cols


def test_help_text_only_is_comparable_everywhere(runs, capsys):
    a, b = runs["oracle"], runs["random_help"]
    # compare: accepted (a regression, exit 1, not "not comparable", exit 2)
    assert run_differences(load_run(a).log, load_run(b).log) == []
    assert compare_paths(a, b).verdict == "regression"
    assert main_inprocess("compare", a, b, capsys=capsys)[0] == 1
    # leaderboard: one column, both runs in it, paired McNemar between them
    board, cols = board_columns(a, b)
    assert len(cols) == 1 and not cols[0].split
    cells = [r.cells[cols[0].id] for r in board.runs]
    assert [c.tie["accuracy"].leader for c in cells] == [True, False]
    assert cells[1].tie["accuracy"].test == "mcnemar-exact" and cells[1].tie["accuracy"].n_paired == 24
    # the runner: the same model on the help-text variant is the same run (same identity, same directory)
    assert runs["oracle_help"] == runs["oracle"]


@pytest.mark.parametrize("other, field", [("random_frames", "frames.num_frames differs: 8 vs 4"),
                                          ("random_seed", "seed differs: 0 vs 1")])
def test_a_real_difference_is_not_comparable_anywhere(runs, capsys, other, field):
    a, b = runs["oracle"], runs[other]
    with pytest.raises(NotComparableError, match=field.replace(".", r"\.")):
        compare_paths(a, b)
    code, _, err = main_inprocess("compare", a, b, capsys=capsys)
    assert code == 2 and field in " ".join(err.split())
    board, cols = board_columns(a, b)
    assert len(cols) == 2 and all(c.split for c in cols)
    assert all(len(r.cells) == 1 for r in board.runs) and board.runs[0].cells.keys() != board.runs[1].cells.keys()
    assert field.split(" ")[0] in cols[0].split_differs
    assert any("incompatible settings" in w for w in board.warnings)
    # the same rule, stated once
    la, lb = load_run(a).log, load_run(b).log
    assert task_key(la, "mini") != task_key(lb, "mini")
