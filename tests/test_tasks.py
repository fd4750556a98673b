"""Task registry: packaged tasks, groups, user folders, clear errors."""

from __future__ import annotations

import pytest

from mosseval.errors import ConfigError, UsageError
from mosseval.tasks import load_registry, parse_task_file, resolve_tasks


def test_packaged_tasks_load():
    reg = load_registry()
    assert {"moss-video-mini", "moss-video-mini-train"} <= set(reg)
    mini = reg["moss-video-mini"]
    assert mini.data.synthetic and mini.scoring.prr is not None and mini.scoring.prr.jump == 2
    assert mini.scoring.prr.alpha == 2.0 and mini.frames.num_frames == 8


def test_unknown_task_suggests(tmp_path):
    reg = load_registry()
    with pytest.raises(UsageError) as e:
        resolve_tasks(["moss-vidoe-mini"], reg)
    assert "did you mean 'moss-video-mini'" in str(e.value)


def test_group_expansion_and_defaults(tmp_path):
    (tmp_path / "g.yaml").write_text("""
defaults:
  version: "2"
  loader: moss_video_jsonl
  prompt: {template: "{{ question }}"}
  frames: {num_frames: 4}
tasks:
  - {name: g-a, loader_args: {file: a.jsonl}}
  - {name: g-b, frames: {strategy: segment}}
  - {name: g, subtasks: [g-a, g-b], loader: null, prompt: null}
""")
    reg = load_registry([tmp_path])
    leaves = resolve_tasks(["g", "g-a"], reg)
    assert [(t.name, grp) for t, grp in leaves] == [("g-a", "g"), ("g-b", "g")]
    assert reg["g-b"].frames.num_frames == 4 and reg["g-b"].frames.strategy == "segment"
    assert reg["g-a"].version == "2"


@pytest.mark.parametrize("text,needle", [
    ("name: x\nversion: '1'\nloader: moss_video_jsonl\nprompt: {template: t}\nframes: {strategy: zigzag}\n",
     "frames.strategy"),
    ("name: x\nversion: '1'\nloader: moss_video_jsonl\n", "key `prompt`"),
    ("name: x\nversion: '1'\nloader: l\nprompt: {template: t}\nbogus: 1\n", "key `bogus`"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("name: x\n  version: [1\n", "line"),
])
def test_invalid_yaml_names_file_key_problem(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        parse_task_file(path)
    msg = str(e.value)
    assert "bad.yaml" in msg and needle in msg


def test_duplicate_and_dangling_subtask(tmp_path):
    (tmp_path / "a.yaml").write_text("name: moss-video-mini\nversion: '1'\nloader: l\nprompt: {template: t}\n")
    with pytest.raises(ConfigError, match="defined twice"):
        load_registry([tmp_path])
    (tmp_path / "a.yaml").write_text("name: grp\nversion: '1'\nsubtasks: [nope]\n")
    with pytest.raises(ConfigError, match="unknown subtask 'nope'"):
        load_registry([tmp_path])


def test_tasks_command_lists_counts(cli, tmp_path):
    p = cli("tasks")
    assert p.returncode == 0, p.stderr
    assert "moss-video-mini" in p.stdout


def test_frame_plans_are_described_by_what_decides_the_count():
    """`mosseval tasks` and the docs' task table: a rate-based plan shows its rate and cap, not the unused
    ``num_frames`` (mmvu-1fps used to read "linspace_fps 32")."""
    from mosseval.docgen import tasks_table
    from mosseval.records import FrameSpec
    from mosseval.tasks import load_registry

    reg = load_registry()
    assert reg["mmvu-1fps"].frames.describe() == "linspace_fps 1 fps ≤64"
    assert reg["vcr-bench"].frames.describe() == "bin_start 64"
    assert FrameSpec(strategy="fps", fps=0.5, max_frames=32).describe() == "0.5 fps ≤32"
    assert FrameSpec(recipe="qwen2.5-vl").describe() == "recipe qwen2.5-vl"
    assert "| `mmvu-1fps` | 2 | mmvu-cot | linspace_fps 1 fps ≤64 |" in tasks_table()
