"""The family matrix: tiny random checkpoints of every video family, run end to end through
``mosseval run``; the frames must reach ``generate`` (pixel inputs present, the expected number of
visual placeholder tokens in the prompt), never silently dropped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mosseval.errors import ExitCode
from tests.support.cli import REPO, main_inprocess, mosseval_cli
from tests.support.families import (
    CORE,
    DEFAULT_SUBSET,
    EXPECTED_VISUAL_TOKENS,
    EXTENDED,
    FRAMES,
    write_matrix_task,
)

pytestmark = pytest.mark.hf
pytest.importorskip("transformers")

from mosseval.models.families import FAMILIES  # noqa: E402
from mosseval.models.tiny_families import FAMILIES as TINY  # noqa: E402
from mosseval.models.tiny_families import ensure_family  # noqa: E402

ARGS = "dtype=float32,device=cpu,num_threads=1"


@pytest.fixture(scope="session")
def family_dir(cache_dir):
    """Each tiny family is built once per test session (in the session cache)."""
    return lambda name: ensure_family(name, cache_dir)


@pytest.fixture(scope="module")
def matrix_tasks(tmp_path_factory) -> Path:
    return write_matrix_task(tmp_path_factory.mktemp("matrix-tasks"))


class GenerateSpy:
    """Records what every call of transformers' ``generate`` received."""

    def __init__(self, monkeypatch):
        from transformers.generation.utils import GenerationMixin

        self.calls: list[dict] = []
        real = GenerationMixin.generate
        spy = self

        def generate(model, *args, **kwargs):
            ids = kwargs.get("input_ids", args[0] if args else None)
            spy.calls.append({"model": type(model).__name__, "input_ids": ids.clone(),
                              "pixels": {k: tuple(v.shape) for k, v in kwargs.items() if k.startswith("pixel_values")},
                              "kwargs": {k: v for k, v in kwargs.items() if not hasattr(v, "shape")},
                              "mask": kwargs.get("video_compression_mask")})
            return real(model, *args, **kwargs)

        monkeypatch.setattr(GenerationMixin, "generate", generate)


def placeholder_count(ids, config) -> list[int]:
    from mosseval.models.hf import _placeholder_ids

    wanted = _placeholder_ids(config)
    return [sum(int((row == t).sum()) for t in wanted) for row in ids]


def run_inprocess(name, family_dir, tasks, out, capsys, limit=2):
    code, stdout, stderr = main_inprocess("run", "--model", family_dir(name), "--tasks", "family-matrix",
                                          "--tasks-dir", tasks, "--limit", str(limit), "-o", out, "-q",
                                          "--model-args", ARGS, capsys=capsys)
    return code, stdout, stderr


def records_of(stdout: str) -> list[dict]:
    run_dir = Path(stdout.strip().splitlines()[-1])
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def check_records(name: str, records: list[dict]) -> None:
    fam = FAMILIES[name]
    expected = EXPECTED_VISUAL_TOKENS[name]
    assert records, name
    for r in records:
        g = r["generation"]
        assert g["error"] is None, (name, g["error"])
        assert isinstance(g["text"], str) and g["usage"]["completion_tokens"] >= 1
        assert g["frames"]["model_input"] == fam.frames_as
        assert len(g["frames"]["indices"]) == FRAMES and (g["frames"]["width"], g["frames"]["height"]) == (32, 32)
        assert g["extra"]["pixel_inputs"], name
        if expected is not None:
            assert g["extra"]["visual_tokens"] == expected, name
        else:
            assert 0 < g["extra"]["visual_tokens"] <= FRAMES * 4, name


def check_generate_calls(name, spy, records, family_dir) -> None:
    """What reached ``generate``: one call per sample with pixel inputs and exactly the recorded (and, where
    derivable, the expected) number of visual placeholder tokens in its ``input_ids``."""
    import transformers

    assert len(spy.calls) == len(records) == 2  # batch size 1: one generate call per sample
    config = transformers.AutoConfig.from_pretrained(family_dir(name))
    for call, rec in zip(spy.calls, records):
        assert call["pixels"], f"{name}: no pixel input reached generate"
        counts = placeholder_count(call["input_ids"], config)
        assert counts == [rec["generation"]["extra"]["visual_tokens"]]
        if EXPECTED_VISUAL_TOKENS[name] is not None:
            assert counts == [EXPECTED_VISUAL_TOKENS[name]]
    if FAMILIES[name].generation == "omni-thinker":  # text from the thinker, with the thinker's token limit
        assert all(c["model"].endswith("ThinkerForConditionalGeneration") for c in spy.calls), spy.calls
        assert all(c["kwargs"]["max_new_tokens"] == 8 for c in spy.calls)
        assert all(r["generation"]["usage"]["completion_tokens"] <= 8 for r in records)


def run_and_check(name, family_dir, matrix_tasks, tmp_path, capsys, monkeypatch) -> None:
    spy = GenerateSpy(monkeypatch)
    code, stdout, stderr = run_inprocess(name, family_dir, matrix_tasks, tmp_path, capsys)
    assert code == 0, stderr
    records = records_of(stdout)
    check_records(name, records)
    check_generate_calls(name, spy, records, family_dir)


@pytest.mark.parametrize("name", DEFAULT_SUBSET)
def test_family_frames_reach_generate(name, family_dir, matrix_tasks, tmp_path, capsys, monkeypatch):
    run_and_check(name, family_dir, matrix_tasks, tmp_path, capsys, monkeypatch)


def test_image_only_family_gets_frames_as_images(family_dir, matrix_tasks, tmp_path, capsys, monkeypatch):
    """Gemma 3 has no video processor: 8 frames -> 8 images x 4 soft tokens, recorded per sample."""
    spy = GenerateSpy(monkeypatch)
    code, stdout, stderr = run_inprocess("gemma3", family_dir, matrix_tasks, tmp_path, capsys, limit=1)
    assert code == 0, stderr
    rec = records_of(stdout)[0]
    assert rec["generation"]["frames"]["model_input"] == "images"
    assert spy.calls[0]["pixels"] == {"pixel_values": (FRAMES, 3, 32, 32)}  # one image per frame
    import transformers

    config = transformers.AutoConfig.from_pretrained(family_dir("gemma3"))
    assert placeholder_count(spy.calls[0]["input_ids"], config) == [FRAMES * config.mm_tokens_per_image]


TEXT_ONLY_TEMPLATES = {
    "qwen2.5-vl": ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}"
                   "{{ m['content'] }}{% else %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}"
                   "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"),
    "gemma3": ("{{ bos_token }}{% for m in messages %}<start_of_turn>user\n{% for c in m['content'] %}"
               "{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}<end_of_turn>\n{% endfor %}"
               "<start_of_turn>model\n"),
}


@pytest.mark.parametrize("name,why", [
    ("qwen2.5-vl", "<|video_pad|> tokens in the prompts should be the same as the number of videos"),
    ("gemma3", "<start_of_image> tokens in the prompts should be the same as the number of images"),
])
def test_frames_absent_from_processor_output_fail_the_sample(name, why, family_dir, matrix_tasks, tmp_path, capsys):
    """A chat template that renders no visual placeholder drops the video. The sample must fail with a
    clear error (ours, or the processor's own check), never be answered text-only as if it had seen it."""
    broken = tmp_path / f"{name}-no-placeholder"
    shutil.copytree(family_dir(name), broken)
    (broken / "chat_template.jinja").write_text(TEXT_ONLY_TEMPLATES[name])
    code, stdout, stderr = main_inprocess("run", "--model", broken, "--tasks", "family-matrix", "--tasks-dir",
                                          matrix_tasks, "--limit", "2", "-o", tmp_path / "runs", "-q",
                                          "--model-args", ARGS + ",batch_size=2", capsys=capsys)
    assert code == ExitCode.SAMPLE_ERRORS
    records = records_of(stdout)
    assert len(records) == 2
    for r in records:
        assert r["generation"]["text"] is None and r["score"]["correct"] is False
        assert why in r["generation"]["error"]["message"]


def test_processor_that_silently_ignores_the_frames_is_caught(family_dir):
    """The original Gemma 3 failure: frames sent as ``videos=`` to a processor without a video processor
    are silently ignored (no pixels, no tokens). Our check turns that into a per-sample error."""
    from mosseval.models.registry import load_model, resolve
    from tests.models.test_hf import make_frames, make_request

    model = load_model(resolve(str(family_dir("gemma3")), {"dtype": "float32", "device": "cpu", "batch_size": 2}))
    try:
        assert model.frames_as == "images"
        model.frames_as = "video"  # what mosseval did before: Gemma3Processor drops videos= without a word
        reqs = [make_request(i, frames=make_frames(i, n=4, h=32, w=32)) for i in range(2)]
        out = model.generate(reqs)
        assert [r.text for r in out] == [None, None]
        for r in out:
            assert r.error.kind == "model"
            assert r.error.message.startswith("frames were given but the Gemma 3 processor produced no pixel inputs")
        text_only = model.generate([make_request(9, frames=None, video=False)])[0]
        assert text_only.error is None and text_only.text is not None  # text-only requests are unaffected
    finally:
        model.close()


def test_no_double_bos(family_dir):
    """Gemma's template writes {{ bos_token }}; the tokenizer adds BOS too unless told not to."""
    from mosseval.models.registry import load_model, resolve
    from tests.models.test_hf import make_frames, make_request

    model = load_model(resolve(str(family_dir("gemma3")), {"dtype": "float32", "device": "cpu"}))
    try:
        req = make_request(0, frames=make_frames(0, n=2, h=32, w=32))
        inputs, _ = model.prepare_inputs([req])
        bos = model.tokenizer.bos_token_id
        ids = inputs["input_ids"][0].tolist()
        assert ids[0] == bos and ids.count(bos) == 1
        # the control: the same prompt with special tokens added again starts with two BOS
        text = model._prompt(req)
        again = model.tokenizer(text)["input_ids"]
        assert again[:2] == [bos, bos]
    finally:
        model.close()


def test_missing_processor_package_names_the_family(family_dir, matrix_tasks, tmp_path):
    """SmolVLM2's processor imports num2words: a missing one is exit 5 with the exact pip command."""
    code = ("import sys; sys.modules['num2words'] = None\n"
            "from mosseval.cli import main; main()\n")
    p = subprocess.run([sys.executable, "-c", code, "run", "--model", str(family_dir("smolvlm2")), "--tasks",
                        "family-matrix", "--tasks-dir", str(matrix_tasks), "--limit", "1", "-o", str(tmp_path)],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert p.returncode == ExitCode.MISSING_DEPENDENCY, p.stderr
    assert "SmolVLM2 processor" in p.stderr and "pip install num2words" in p.stderr
    assert "Traceback" not in p.stderr
    assert not list(tmp_path.glob("*/samples.jsonl"))


def test_hf_extra_installs_every_family_requirement():
    import tomllib

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["hf"]
    names = {req.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower() for req in extra}
    for fam in FAMILIES.values():
        for _, pip in fam.requires:
            assert pip.lower() in names, (fam.name, pip)


def test_every_family_has_a_tiny_build_and_vice_versa():
    assert set(TINY) == set(FAMILIES) == set(EXPECTED_VISUAL_TOKENS) == set(CORE) | set(EXTENDED)
    assert not set(CORE) & set(EXTENDED) and set(DEFAULT_SUBSET) <= set(CORE)
    for name, fam in FAMILIES.items():
        tiny = TINY[name]
        assert tiny.model_type in fam.model_types
        assert (fam.frames_as == "video") == tiny.video
        assert tiny.auto_class == fam.auto_class


# --------------------------------------------------------------------------- the full matrix


@pytest.mark.e2e
@pytest.mark.parametrize("name", CORE)
def test_family_matrix_subprocess(name, family_dir, matrix_tasks, tmp_path):
    """Every family, through the real console entry point in its own process."""
    p = mosseval_cli("run", "--model", family_dir(name), "--tasks", "family-matrix", "--tasks-dir", matrix_tasks,
                     "--limit", "2", "-o", tmp_path, "-q", "--model-args", ARGS)
    assert p.returncode == 0, p.stderr
    check_records(name, records_of(p.stdout))


@pytest.mark.e2e
@pytest.mark.parametrize("name", EXTENDED)
def test_family_matrix_extended(name, family_dir, matrix_tasks, tmp_path, capsys, monkeypatch):
    """The other video families transformers ships, in process (a process each would add its start-up to
    every family): the same assertions on what reached ``generate`` as the default subset's."""
    run_and_check(name, family_dir, matrix_tasks, tmp_path, capsys, monkeypatch)
