"""The one registry: lazy declared entries, decorator registration, dependency checks with the exact
pip command, and third-party providers from a fake installed distribution (entry points), end to end."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mosseval.errors import ExitCode, MissingDependencyError, PluginError, UsageError
from mosseval.registry import Registry
from tests.support.cli import mosseval_cli
from tests.support.plugins import write_distribution
from tests.support.videos import write_mp4

# --------------------------------------------------------------------------- the fake plugin

BACKEND = """
from mosseval.models.base import ModelAdapter, Response


class FrameCounter(ModelAdapter):
    backend = "acme"
    needs_frames = True

    def __init__(self, spec):
        self.name = spec.name
        self.target = spec.target

    def identity(self):
        return {"name": self.name, "backend": self.backend, "target": self.target}

    def generate(self, requests):
        out = []
        for r in requests:
            n = 0 if r.frames is None else int(r.frames.array.shape[0])
            letter = r.sample.answer if self.target == "gold" else "A"
            out.append(Response(text=f"<think>I saw {n} frames of the clip.</think><answer>{letter}</answer>",
                                extra={"acme_frames": n}))
        return out


def factory(spec):
    return FrameCounter(spec)
"""

LOADER = """
import json
from pathlib import Path

from mosseval.data import register_holds_data, register_loader
from mosseval.records import Sample, VideoRef


@register_loader("acme_lines")
def load(task, root):
    rows = [json.loads(line) for line in (Path(root) / "acme.jsonl").read_text().splitlines() if line.strip()]
    return [Sample(id=str(r["id"]), task=task.name, video=VideoRef(path=r["video"]), question=r["q"],
                   options={"A": "left", "B": "right"}, answer=r["a"]) for r in rows]


@register_holds_data("acme_lines")
def holds(task, path):
    return (Path(path) / "acme.jsonl").is_file()
"""

EXTRAS = """
def reward_len(prompts, completions, **columns):
    return [float(len(c)) for c in completions]


def check_last_letter(text, sample, task, prefill):
    from mosseval.extract import AnswerResult

    letter = (text or "").strip()[-1:] or None
    return AnswerResult(letter, letter == sample.answer, letter is None)


from pathlib import Path

RUBRICS = Path(__file__).parent / "rubrics"
"""

RUBRIC_YAML = """
name: acme-consistency
version: "1"
kind: score
description: acme's own rubric
scale: {min: 1, max: 5}
templates: {user: "Rate {{ response }}"}
schema: {type: object, properties: {score: {type: integer}, justification: {type: string}}}
"""

COMMAND = """
import typer


def register(app):
    @app.command("acme-hello")
    def hello(name: str = "world") -> None:
        print(f"hello {name} from acme")
"""

GPU_BACKEND = """
import acme_gpu_runtime_that_is_not_installed  # noqa: F401


def factory(spec):
    raise AssertionError("never reached")
"""

BROKEN = """
raise ValueError("acme plugin misconfigured: ACME_HOME unset")
"""


@pytest.fixture(scope="module")
def plugin_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    write_distribution(
        root, "acme-mosseval", "1.2.0",
        modules={"acme_mosseval.backend": BACKEND, "acme_mosseval.loader": LOADER,
                 "acme_mosseval.extras": EXTRAS, "acme_mosseval.cli": COMMAND,
                 "acme_mosseval.gpu": GPU_BACKEND, "acme_mosseval.broken": BROKEN},
        entry_points={
            "mosseval.backends": {"acme": "acme_mosseval.backend:factory",
                                  "acme-gpu": "acme_mosseval.gpu:factory [gpu]",
                                  "acme-nomod": "acme_mosseval.gpu:factory",
                                  "acme-broken": "acme_mosseval.broken:factory",
                                  "hf": "acme_mosseval.backend:factory"},
            "mosseval.loaders": {"acme_lines": "acme_mosseval.loader"},
            "mosseval.rewards": {"acme_len": "acme_mosseval.extras:reward_len"},
            "mosseval.extractors": {"acme_last": "acme_mosseval.extras:check_last_letter"},
            "mosseval.rubrics": {"acme": "acme_mosseval.extras:RUBRICS"},
            "mosseval.commands": {"acme-hello": "acme_mosseval.cli:register",
                                  "acme-gpu-cmd": "acme_mosseval.gpu:factory [gpu]"},
        },
        requires=["acme-gpu-runtime-not-installed>=1; extra == 'gpu'"],
        summary="Acme's mosseval plugins",
    )
    (root / "acme_mosseval" / "rubrics").mkdir()
    (root / "acme_mosseval" / "rubrics" / "acme.yaml").write_text(RUBRIC_YAML)
    return root


@pytest.fixture
def installed(plugin_root):
    """The fake distribution on sys.path for this process, registries re-discovered, then undone."""
    from mosseval.registry import all_registries

    sys.path.insert(0, str(plugin_root))
    regs = all_registries().values()
    for reg in regs:
        reg.refresh()
    yield plugin_root
    sys.path.remove(str(plugin_root))
    for name in [m for m in sys.modules if m.startswith("acme_mosseval")]:
        del sys.modules[name]
    for reg in regs:
        reg.refresh()
        for name in [n for n in list(reg._objects) if n.startswith("acme")]:
            del reg._objects[name]
            reg._declared.pop(name, None)


@pytest.fixture(scope="module")
def acme_data(tmp_path_factory) -> tuple[Path, Path]:
    data = tmp_path_factory.mktemp("acme-data")
    for i in range(3):
        write_mp4(data / f"clip{i}.mp4", n=30 + 10 * i, fps=10)
    rows = [{"id": i, "video": f"clip{i}.mp4", "q": f"Where does object {i} go?", "a": "AB"[i % 2]}
            for i in range(3)]
    (data / "acme.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tasks = tmp_path_factory.mktemp("acme-tasks")
    (tasks / "acme.yaml").write_text(
        "name: acme-task\nversion: '1'\nloader: acme_lines\n"
        "prompt: {template: '{{ question }}\\n{{ options_block }}'}\n"
        "frames: {strategy: uniform, num_frames: 5}\n"
        "scoring: {extractor: mc_strict, require_format: true}\n")
    return data, tasks


def _env(root: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}


# --------------------------------------------------------------------------- unit: the pattern


def test_declared_entries_are_lazy_and_checked():
    reg: Registry = Registry("widgets", "mosseval.test-widgets", "widget")
    reg.declare("json", "json", attr="dumps", description="stdlib json")
    reg.declare("gpu", "acme_not_here.widget", requires=("acme_not_here",), extra="gpu")
    assert reg.names() == ["json", "gpu"] and not reg.is_loaded("json")
    assert reg.load("json") is json.dumps and reg.is_loaded("json")
    assert reg.missing("gpu") == ["acme_not_here"]
    with pytest.raises(MissingDependencyError) as exc:
        reg.load("gpu")
    assert exc.value.exit_code == ExitCode.MISSING_DEPENDENCY
    assert "'gpu' widget needs acme_not_here" in exc.value.message
    assert exc.value.hint == "install with: pip install 'mosseval[gpu]' -c constraints.txt"
    with pytest.raises(UsageError, match=r"unknown widget 'jsn'; did you mean 'json'"):
        reg.entry("jsn")


def test_decorator_extends_the_registry_and_keeps_hooks():
    reg: Registry = Registry("widgets", "mosseval.test-widgets", "widget")

    def companion(x):
        return x + 1

    @reg.register("new", companion=companion)
    def new_widget():
        """A widget nobody declared."""

    assert "new" in reg and reg.load("new") is new_widget
    assert reg.entry("new").module == __name__ and reg.entry("new").description == "A widget nobody declared."
    assert reg.hook("new", "companion") is companion and reg.hook("new", "other") is None


def test_module_that_does_not_register_is_a_plugin_error():
    reg: Registry = Registry("widgets", "mosseval.test-widgets", "widget")
    reg.declare("silent", "json")
    with pytest.raises(PluginError, match="did not register the widget 'silent'"):
        reg.load("silent")


def test_builtin_kinds_are_all_declared_without_importing_heavy_modules():
    import subprocess

    code = ("import sys\nfrom mosseval.registry import all_registries\n"
            "regs = all_registries()\n"
            "print(sorted(regs), 'torch' in sys.modules, 'mosseval.models.hf' in sys.modules,"
            " 'mosseval.data.mvbench' in sys.modules)\n"
            "print(regs['backends'].names(), regs['loaders'].names())")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = p.stdout.splitlines()
    assert first == ("['backends', 'commands', 'extractors', 'judge_aggregators', 'judge_parsers', 'loaders', "
                     "'rewards', 'rubrics'] False False False")
    assert "'hf'" in second and "'vllm'" in second and "'mvbench'" in second and "'mmvu'" in second


# --------------------------------------------------------------------------- third-party, in process


def test_entry_points_add_every_kind(installed):
    from mosseval.cli.plugins import commands
    from mosseval.data import get_loader, loaders
    from mosseval.judge.rubrics import load_rubrics
    from mosseval.models.registry import backends, resolve
    from mosseval.rewards import rewards
    from mosseval.scoring import extractors, get_answer_check

    acme = backends.entry("acme")
    assert acme.distribution == "acme-mosseval" and acme.description == "Acme's mosseval plugins"
    assert resolve("acme:gold").backend == "acme"  # the entry-point name is the --model prefix
    assert loaders.entry("acme_lines").module == "acme_mosseval.loader"
    assert get_loader("acme_lines").__module__ == "acme_mosseval.loader"
    assert rewards.load("acme_len")(None, ["ab", "abcd"]) == [2.0, 4.0]
    check = get_answer_check("acme_last")
    assert "acme_last" in extractors and check.__name__ == "check_last_letter"
    rubric = load_rubrics()["acme-consistency"]
    assert rubric.scale == (1, 5) and rubric.source.endswith("acme.yaml")
    assert "acme-hello" in commands
    # a built-in name wins; the plugin's entry is reported as shadowed, not silently dropped
    assert backends.entry("hf").builtin
    assert [(e.name, e.distribution) for e in backends.shadowed()] == [("hf", "acme-mosseval")]


def test_plugin_extras_are_checked_before_import(installed):
    from mosseval.models.registry import backends

    entry = backends.entry("acme-gpu")
    assert entry.requires_dists == ("acme-gpu-runtime-not-installed",) and entry.extra == "gpu"
    with pytest.raises(MissingDependencyError) as exc:
        backends.load("acme-gpu")
    assert "provided by acme-mosseval" in exc.value.message
    assert exc.value.hint == "install with: pip install 'acme-mosseval[gpu]'"
    assert "acme_mosseval.gpu" not in sys.modules  # checked from metadata, nothing imported


def test_missing_module_and_broken_plugin(installed):
    from mosseval.models.registry import backends

    with pytest.raises(MissingDependencyError) as exc:
        backends.load("acme-nomod")
    assert "needs the module 'acme_gpu_runtime_that_is_not_installed'" in exc.value.message
    assert exc.value.hint == "install with: pip install 'acme-mosseval'"
    with pytest.raises(PluginError) as exc:
        backends.load("acme-broken")
    assert "from acme-mosseval failed to import (ValueError: acme plugin misconfigured" in exc.value.message


def test_task_yaml_may_name_a_plugin_extractor(installed):
    from mosseval.records import ScoringSpec

    assert ScoringSpec(extractor="acme_last").extractor == "acme_last"
    with pytest.raises(ValueError, match="unknown extractor 'acme_lats'"):
        ScoringSpec(extractor="acme_lats")


def test_train_config_accepts_a_plugin_reward(installed):
    from mosseval.train.config import TrainConfig

    fields = TrainConfig.model_fields
    assert "rewards" in fields
    cfg = TrainConfig.model_validate({"model": "tiny-qwen2.5-vl", "rewards": ["accuracy", "acme_len"]})
    assert cfg.rewards == ["accuracy", "acme_len"]
    with pytest.raises(ValueError, match="unknown reward 'acme_lne'"):
        TrainConfig.model_validate({"model": "tiny-qwen2.5-vl", "rewards": ["acme_lne"]})


# --------------------------------------------------------------------------- third-party, end to end


def test_plugin_backend_and_loader_end_to_end(plugin_root, acme_data, tmp_path):
    data, tasks = acme_data
    env = _env(plugin_root)
    p = mosseval_cli("run", "--model", "acme:gold", "--tasks", "acme-task", "--tasks-dir", tasks,
                     "--data-dir", data, "-o", tmp_path, "-q", env=env)
    assert p.returncode == 0, p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert [r["sample"]["question"] for r in records] == [f"Where does object {i} go?" for i in range(3)]
    # the plugin loader's videos were decoded by mosseval and reached the plugin backend
    assert [r["generation"]["extra"]["acme_frames"] for r in records] == [5, 5, 5]
    assert [r["generation"]["frames"]["num_source_frames"] for r in records] == [30, 40, 50]
    assert all(r["score"]["correct"] for r in records)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["spec"]["backend"] == "acme" and run["results"]["acme-task"]["accuracy"]["value"] == 1.0

    listing = mosseval_cli("plugins", "--json", env=env)
    assert listing.returncode == 0
    kinds = json.loads(listing.stdout)
    status = {(k, e["name"], e["distribution"]): (e["status"], e["install"])
              for k, v in kinds.items() for e in v["entries"]}
    assert status[("backends", "acme", "acme-mosseval")] == ("available", None)
    assert status[("backends", "acme-gpu", "acme-mosseval")][1] == "pip install 'acme-mosseval[gpu]'"
    assert status[("backends", "hf", "acme-mosseval")][0] == "shadowed"
    assert status[("backends", "hf", "mosseval")][0] == "available"
    for key in (("loaders", "acme_lines"), ("rewards", "acme_len"), ("extractors", "acme_last"),
                ("rubrics", "acme")):
        assert status[(*key, "acme-mosseval")][0] == "available", key
    assert status[("commands", "acme-hello", "acme-mosseval")][0] == "loaded"  # the CLI attached it
    text = mosseval_cli("plugins", "backends", env={**env, "COLUMNS": "250"}).stdout
    assert "acme-mosseval (acme_mosseval.backend)" in text and "shadowed (name already taken)" in text


def test_plugin_errors_at_the_command_line(plugin_root, acme_data, tmp_path):
    data, tasks = acme_data
    env = _env(plugin_root)
    p = mosseval_cli("run", "--model", "acme-gpu:x", "--tasks", "acme-task", "--tasks-dir", tasks,
                     "--data-dir", data, "-o", tmp_path, env=env)
    assert p.returncode == ExitCode.MISSING_DEPENDENCY and "Traceback" not in p.stderr
    assert "pip install 'acme-mosseval[gpu]'" in p.stderr
    p = mosseval_cli("run", "--model", "acme-broken:x", "--tasks", "acme-task", "--tasks-dir", tasks,
                     "--data-dir", data, "-o", tmp_path, env=env)
    assert p.returncode == ExitCode.USAGE and "Traceback" not in p.stderr
    assert "acme plugin misconfigured" in p.stderr
    assert not list(tmp_path.glob("*/samples.jsonl"))  # failed before any work


def test_plugin_commands(plugin_root):
    env = _env(plugin_root)
    p = mosseval_cli("acme-hello", "--name", "lab", env=env)
    assert p.returncode == 0 and p.stdout.strip() == "hello lab from acme"
    help_text = mosseval_cli("--help", env=env).stdout
    assert "acme-hello" in help_text and "acme-gpu-cmd" in help_text  # listed, never silently dropped
    p = mosseval_cli("acme-gpu-cmd", "anything", env=env)
    assert p.returncode == ExitCode.MISSING_DEPENDENCY and "Traceback" not in p.stderr
    assert "pip install 'acme-mosseval[gpu]'" in p.stderr
    assert mosseval_cli("models", env=env).returncode == 0  # the rest of the CLI is unaffected
