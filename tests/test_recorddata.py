"""Samples validated as plain data (``mosseval.recorddata``) and the answer checks that read it: every
extractor's ``check_data`` hook gives exactly what its check of the ``Sample`` gives, and the data validator
refuses what ``Sample`` refuses (issue 16: ``score`` reads samples as data)."""

from __future__ import annotations

import functools
import json

import pytest

from mosseval.recorddata import sample_cluster_key, sample_data_validator, sample_field
from mosseval.records import Sample
from mosseval.scoring import extractors
from mosseval.tasks import load_registry

SAMPLES = [
    {"id": "mc", "task": "t", "question": "q", "options": {"A": "2", "B": "1", "C": "7", "D": "13"}, "answer": "C"},
    {"id": "mc5", "task": "t", "question": "q", "options": {k: f"choice {k}" for k in "ABCDE"}, "answer": " e ",
     "question_type": "multiple-choice", "video": {"path": "v/1.mp4"}, "cluster": None},
    {"id": "oe", "task": "t", "question": "q", "answer": "Embryo Transfer", "question_type": "open-ended",
     "cluster": "c1"},
    {"id": "bare", "task": "t", "question": "q", "answer": "A"},  # no options, no question type: the defaults
    # VCR-Bench's answer kinds (vcrbench_rules reads metadata["answer_kind"]; the others ignore it)
    {"id": "vcr-choice", "task": "t", "question": "q", "options": {"A": "red", "B": "blue"}, "answer": "B",
     "metadata": {"answer_kind": "choice"}},
    {"id": "vcr-interval", "task": "t", "question": "q", "answer": "[1.5, 4.0]", "question_type": "open-ended",
     "metadata": {"answer_kind": "interval"}},
    {"id": "vcr-box", "task": "t", "question": "q", "answer": "[10, 20, 110, 220]", "question_type": "open-ended",
     "metadata": {"answer_kind": "box"}},
    {"id": "vcr-text", "task": "t", "question": "q", "answer": "two", "question_type": "open-ended",
     "metadata": {"answer_kind": "text", "duration_bucket": "short"}},
]
TEXTS = [None, "", "  ", "C", "(C) 7", "<think>x</think>\n<answer>B</answer>", "The answer is D.", "Best option:(A) 2",
         "(e) choice E", "A) yes, not B", "\\boxed{C}", "Embryo Transfer", "Therefore, the final answer is: embryo "
         "transfer", "<answer>7</answer>", "E", "It is either A or B.", "x" * 300 + " answer: C",
         "The answer is: Answer: B", "From 1.5 s to 4 s", "<answer>[1.0, 4.2]</answer>", "00:01 - 00:04",
         "<answer>[10, 20, 100, 200]</answer>", "box [0, 0, 5, 5] then [12, 22, 108, 215]", "<answer>two</answer>",
         "answer:\n\n", "the best answer is (b) blue"]
CHECKED = ["mc_strict", "mvbench_official", "mmvu_rules", "videomme_official", "vcrbench_rules"]


@pytest.fixture(scope="module")
def tasks():
    reg = load_registry()
    return {"mc_strict": reg["moss-video-mini"], "mvbench_official": reg[reg["mvbench"].subtasks[0]],
            "mmvu_rules": reg["mmvu"], "videomme_official": reg["videomme"], "vcrbench_rules": reg["vcr-bench"]}


@pytest.mark.parametrize("name", CHECKED)
def test_each_check_of_data_equals_the_check_of_the_sample(name, tasks):
    check, check_data = extractors.load(name), extractors.hook(name, "check_data")
    assert check_data is not None
    validate = sample_data_validator()
    task = tasks[name]
    prefill = task.prompt.prefill if task.prompt else None
    n = 0
    for raw in SAMPLES:
        sample, data = Sample.model_validate(raw), validate(json.loads(json.dumps(raw)))
        assert sample_cluster_key(data) == sample.cluster_key
        for text in TEXTS:
            assert check_data(text, data, task, prefill) == check(text, sample, task, prefill), (raw["id"], text)
            n += 1
    assert n == len(SAMPLES) * len(TEXTS)


def test_every_check_data_hook_is_tested():
    """A built-in extractor that gains a ``check_data`` hook is added to the comparison above."""
    with_hook = [name for name in extractors.names() if extractors.hook(name, "check_data") is not None]
    assert sorted(with_hook) == sorted(CHECKED)


@pytest.mark.parametrize("change", [
    {"options": {"A": 1}}, {"question_type": "essay"}, {"reference_steps": [{"text": "s", "when": 1}]},
    {"reference_steps": [{"start": 1.0}]}, {"video": {"kind": "file"}}, {"surprise": 1}, {"answer": None},
    {"metadata": []}, {"cluster": 3},
])
def test_the_data_validator_refuses_what_sample_refuses(change):
    raw = {**SAMPLES[1], **change}
    with pytest.raises(ValueError):
        Sample.model_validate(raw)
    with pytest.raises(ValueError):
        sample_data_validator()(raw)


def test_the_data_validator_coerces_and_upgrades_as_sample_does():
    """An int in a float field becomes a float; a legacy single step time ``t`` is accepted; a field left out
    reads as its ``Sample`` default."""
    raw = {**SAMPLES[0], "video": {"path": "v.mp4", "start": 1, "end": 2}, "reference_steps": [{"text": "a", "t": 3}]}
    data, sample = sample_data_validator()(raw), Sample.model_validate(raw)
    assert type(data["video"]["start"]) is float and data["video"]["start"] == sample.video.start
    assert data["reference_steps"][0]["text"] == "a" and sample.reference_steps[0].start == 3.0
    for name in ("question_type", "options", "reference_steps", "category", "metadata", "cluster"):
        assert sample_field(data, name) == getattr(sample, name) or name == "reference_steps"


# --------------------------------------------------------------------------- msgspec's one-pass read of a line


def _same(a, b) -> bool:
    """Equal values of the same types, dict keys in the same order, floats with the same bits."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is float:
        return repr(a) == repr(b)
    return a == b


def _compare(decode, oracle, variants) -> tuple[int, int]:
    """Lines msgspec decodes (each exactly as ``oracle`` reads it, which must take it) and lines it refuses."""
    decoded = refused = 0
    for v in variants:
        got = decode(v)
        if got is None:
            refused += 1
            continue
        want = oracle(v)
        assert want is not None and _same(got, want), v
        decoded += 1
    return decoded, refused


def _usual_read(line: bytes):
    """What ``score`` reads of a line without msgspec (orjson, then the sample validated as data), or None
    where it would read the line through the full record reader."""
    import orjson

    try:
        d = orjson.loads(line)
        key, task, index, g = d["key"], d["task"], d["index"], d["generation"]
        text, err = g.get("text"), g.get("error")
        if not (type(key) is str and type(task) is str and type(index) is int
                and (text is None or type(text) is str) and (err is None or type(err) is dict)):
            raise TypeError
        return key, task, index, text, err is not None, sample_data_validator()(d["sample"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


_BIG = 2 ** 64 + 1
_SAMPLE_CHANGES = [
    {}, {"schema_version": 1.0}, {"schema_version": True}, {"schema_version": "1"}, {"schema_version": _BIG},
    {"schema_version": 2 ** 63}, {"schema_version": -(2 ** 63)}, {"id": 5}, {"id": None}, {"question": ""},
    {"options": {"A": 1}}, {"options": {"B": "b", "A": "a"}}, {"options": []}, {"options": None},
    {"question_type": "essay"}, {"question_type": "open-ended"}, {"category": 3}, {"category": None},
    {"level": "fine"}, {"split": True}, {"cluster": "c"}, {"cluster": 1.5}, {"surprise": 1},
    {"metadata": {"n": _BIG}}, {"metadata": {"n": -_BIG, "m": [1, 1.0, True, None, "x", {"k": 2 ** 63}]}},
    {"metadata": {"deep": {"a": [{"b": 1e-300}]}}}, {"metadata": []}, {"metadata": None}, {"metadata": "x"},
    {"video": None}, {"video": {"path": "v.mp4"}}, {"video": {"path": "v.mp4", "start": 1, "end": _BIG}},
    {"video": {"path": "v.mp4", "fps": "25"}}, {"video": {"path": "v.mp4", "kind": "frames", "first_index": 0}},
    {"video": {"path": "v.mp4", "kind": "stream"}}, {"video": {"kind": "file"}}, {"video": {"path": "v", "x": 1}},
    {"video": {"path": "v.mp4", "first_index": 1.0}}, {"video": {"path": "v.mp4", "start": True}},
    {"reference_steps": []}, {"reference_steps": [{"text": "a", "t": 3}]}, {"reference_steps": [{"text": "a", "t": 3, "start": 1.5}]},
    {"reference_steps": [{"text": "a", "start": None, "end": 2}]}, {"reference_steps": [{"start": 1.0}]},
    {"reference_steps": [{"text": "a", "when": 1}]}, {"reference_steps": [{"text": 1}]}, {"reference_steps": {}},
    {"reference_steps": [{"text": "a", "start": 9007199254740993}]}, {"answer": None}, {"answer": ["A"]},
]
_LINE_CHANGES = [
    {}, {"index": 1.0}, {"index": True}, {"index": _BIG}, {"index": 2 ** 63}, {"index": "3"}, {"key": 1},
    {"task": None}, {"generation": []}, {"generation": {"text": 3}}, {"generation": {"error": []}},
    {"generation": {"text": None, "error": {"kind": "x", "message": "m"}}}, {"generation": {"extra": {"n": _BIG}}},
    {"generation": {"text": "B", "error": {"kind": "media", "message": "m"}}}, {"generation": {"text": "B", "latency_s": 1}},
    {"generation": {"text": "B", "surprise": 1}}, {"generation": {}}, {"generation": {"text": "B", "usage": {"x": 1}}},
    {"generation": {"text": "B", "frames": {"indices": [1], "decoder": "pyav", "timestamps": [0]}}},
    {"surprise": 1}, {"schema_version": "x"}, {"score": None},
]
_RAW_CHANGES = [  # (find, replace) on the line's bytes: JSON orjson refuses, duplicate keys, escapes
    (b'"generation":{', b'"generation":{"latency_s":1e400,'), (b'"generation":{', b'"generation":{"x":"\xff",'),
    (b'"generation":{', b'"generation":{"x":"\\ud800",'), (b'"sample":{', b'"sample":{"id":"first","id":"last",'),
    (b'"sample":{', b'"sample":{"metadata":{"a":1},'), (b'"sample":{', b'"sample":{"question":"\\u00e9\\n\\"",'),
    (b'"key":', b'"key":"dup","key":'), (b'"sample":{', b'"sample":{"metadata":{"x":1e400},'),
    (b'"sample":{', b'"sample":{"metadata":{"x":1' + b"0" * 30 + b'},'), (b'{"', b' \t{"'),
]


def test_the_msgspec_read_of_a_line_is_the_usual_read_or_none():
    """``sample_line_decoder`` is an accelerator: on lines of the fixed runs changed in 70 ways (coercions, wrong
    types, unknown and missing fields, legacy fields, integers beyond 64 bits where integers and floats are
    declared and in free-form metadata, duplicate keys, escapes, JSON orjson refuses) it gives exactly what
    orjson + the data validator give (same keys in the same order, same types, same float bits), or None and
    the caller reads the line the usual way; it never reads a line that way refuses. Lines as mosseval writes
    them are all decoded."""
    import orjson

    from mosseval.recorddata import sample_line_decoder
    from tests.support.fixed_runs import RUNS

    decode = sample_line_decoder()
    assert decode is not None
    lines = [line for run in sorted(RUNS.iterdir()) if (run / "samples.jsonl").is_file()
             for line in (run / "samples.jsonl").read_bytes().splitlines()[:12]]
    n = decoded = refused = 0
    for line in lines:
        if b'"t":' not in line:  # a line mosseval writes today: decoded
            assert decode(line) is not None
        base = orjson.loads(line)
        dumps = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=False)  # (integers beyond 64 bits)
        variants = [dumps({**base, "sample": {**base["sample"], **c}}).encode() for c in _SAMPLE_CHANGES]
        variants += [dumps({**base, **c}).encode() for c in _LINE_CHANGES]
        variants += [line.replace(a, b, 1) for a, b in _RAW_CHANGES]
        variants += [line.replace(b'"score":', b'"score":{"correct":true},"score":', 1),
                     line.replace(b'"score":', b'"score" : ', 1),
                     # a first score member orjson refuses, the last one valid: the usual read refuses the line
                     line.replace(b'"score":', b'"score":{"x":1e400},"score":', 1),
                     line.replace(b'"score":', b'"score":"\xff","score":', 1),
                     # the same with the first member's key escaped (the bytes hold one '"score"')
                     line.replace(b'"score":', b'"sc\\u006fre":{"x":1e400},"score":', 1),
                     line.replace(b'"score":', b'"sc\\u006fre":"\xff","score":', 1),
                     line.replace(b'"score":', b'"\\u0073core":{"correct":true},"score":', 1)]
        if base.get("score") is not None:  # a stored score of any content: its bytes decide (rescore._same_score)
            variants += [dumps({**base, "score": {**base["score"], **c}}).encode() for c in _SCORE_CHANGES]
        took, left = _compare(decode, _usual_read, variants)
        n, decoded, refused = n + len(variants), decoded + took, refused + left
    assert n > 1000 and decoded > 300 and refused > 300


_GENERATION_CHANGES = [
    {}, {"frames": None}, {"frames": {"indices": [1, 2], "decoder": "pyav"}}, {"frames": {"indices": [1.0], "decoder": "x"}},
    {"frames": {"indices": [1], "decoder": "x", "timestamps": [1, 2.5, _BIG]}}, {"frames": {"indices": [], "decoder": 3}},
    {"frames": {"indices": [1], "decoder": "x", "model_input": "audio"}}, {"frames": {"indices": [1], "decoder": "x",
                                                                                   "model_input": "images", "width": 2}},
    {"error": {"kind": "media", "message": "m"}}, {"error": {"kind": "other", "message": "m"}}, {"error": {"kind": "api"}},
    {"usage": {"completion_tokens": 3}}, {"usage": {"completion_tokens": "3"}}, {"usage": {"total_tokens": _BIG}},
    {"latency_s": 1}, {"latency_s": _BIG}, {"latency_s": None}, {"extra": {"n": _BIG, "m": [1, {"k": -_BIG}]}},
    {"extra": []}, {"text": 5}, {"surprise": 1}, {"schema_version": 2}, {"schema_version": 1.5},
]
_SCORE_CHANGES = [
    {}, {"prr_detail": {"cost": 1, "normalized_cost": 0.5, "path": [[0, 0], [1, 2]], "step_distances": [0, 0.5]}},
    {"prr_detail": {"cost": 1.0, "normalized_cost": 0.5, "path": [[0, 0, 0]], "step_distances": []}},
    {"prr_detail": {"cost": 1.0, "normalized_cost": 0.5, "path": [["0", 0]], "step_distances": []}},
    {"prr_detail": {"cost": 1.0, "normalized_cost": 0.5, "path": [[0.0, 1]], "step_distances": []}},
    {"prr_detail": None}, {"prr_status": "weird"}, {"prr_status": "no_steps", "prr": 0}, {"steps": [1]}, {"steps": []},
    {"judge": {"x": _BIG}}, {"judge": {"gpt-4o": {"judge": "gpt-4o", "rubric": "r", "rubric_version": "1", "fingerprint": "f",
                                        "score": 4.0, "rationale": "ok", "usage": {"prompt_tokens": 3}}}}, {"correct": 1}, {"correct": "true"}, {"prr": True}, {"extracted": None}, {"surprise": 0},
]


def test_the_msgspec_reads_step_aside_under_a_raised_recursion_limit():
    """msgspec nests as deep as Python's recursion limit lets it: under a limit of 20,000 it took a line whose first
    ``metadata`` member nests 1,100 levels (orjson refuses it; the kept member is flat). Above
    ``MSGSPEC_RECURSION_LIMIT`` both msgspec reads give None for every line (the usual reads decide); at the
    default limit they refuse that line and take the plain one."""
    import sys

    from mosseval.recorddata import MSGSPEC_RECURSION_LIMIT, record_struct_decoder, sample_line_decoder
    from tests.support.fixed_runs import RUNS

    plain = (sorted(RUNS.iterdir())[0] / "samples.jsonl").read_bytes().splitlines()[0]
    deep = plain.replace(b'"sample":{', b'"sample":{"metadata":{"a":' + b"[" * 1_100 + b"]" * 1_100 + b"},", 1)
    assert deep != plain
    old = sys.getrecursionlimit()
    try:
        for limit in (old, MSGSPEC_RECURSION_LIMIT, MSGSPEC_RECURSION_LIMIT + 1, 20_000):
            sys.setrecursionlimit(limit)
            for decode in (sample_line_decoder(), record_struct_decoder()):
                assert decode(deep) is None
                assert (decode(plain) is not None) is (limit <= MSGSPEC_RECURSION_LIMIT), (limit, decode)
    finally:
        sys.setrecursionlimit(old)


def test_the_record_structs_are_pydantics_data_or_none():
    """The leaderboard's embedded samples and its columns read a line decoded by msgspec into the record's structs
    (``record_struct_decoder``). On fixed-run lines changed in 110 ways (the sample's changes above; frame,
    error, usage, latency and free-form extra values; PRR details with pairs of other lengths and types; Literal
    values; legacy fields; integers beyond 64 bits) the structs hold exactly what pydantic's validation of the
    record's data gives (``to_builtins`` of them: types, key order, float bits), or msgspec refuses the line and
    the record decides; it never takes a line pydantic refuses. Lines as mosseval writes them are all decoded."""
    import msgspec

    from mosseval.recorddata import _adapter, record_struct_decoder
    from mosseval.records import SampleRecord
    from tests.support.fixed_runs import RUNS

    structs = record_struct_decoder()
    assert structs is not None

    def decode(line: bytes):
        got = structs(line)
        return None if got is None else msgspec.to_builtins(got)

    validate = _adapter(SampleRecord).validate_json

    def validated(line: bytes):
        try:
            return validate(line)
        except ValueError:
            return None

    lines = [line for run in sorted(RUNS.iterdir()) if (run / "samples.jsonl").is_file()
             for line in (run / "samples.jsonl").read_bytes().splitlines()[:10]]
    dumps = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
    n = decoded = refused = 0
    for line in lines:
        assert decode(line) is not None
        base = json.loads(line)
        variants = [dumps({**base, "sample": {**base["sample"], **c}}).encode() for c in _SAMPLE_CHANGES]
        variants += [dumps({**base, "generation": {**base["generation"], **c}}).encode() for c in _GENERATION_CHANGES]
        if base.get("score") is not None:
            variants += [dumps({**base, "score": {**base["score"], **c}}).encode() for c in _SCORE_CHANGES]
        variants += [dumps({**base, **c}).encode() for c in _LINE_CHANGES]
        variants += [line.replace(a, b, 1) for a, b in _RAW_CHANGES]
        took, left = _compare(decode, validated, variants)
        n, decoded, refused = n + len(variants), decoded + took, refused + left
    assert n > 2000 and decoded > 700 and refused > 700


@pytest.mark.parametrize("keys", [[], ["category"], ["category", "level"], ["level", "cluster", "metadata.answer_kind"],
                                  ["question_type", "split", "category"]])
def test_breakdown_facts_of_data_equal_those_of_the_sample(keys):
    """``SampleFacts.of_data`` (one C-level read where every field is given, else each field or its default)
    gives what ``SampleFacts`` gives for the ``Sample``, on samples that give and leave out the fields."""
    from mosseval.scoring import SampleFacts

    validate = sample_data_validator()
    for raw in [*SAMPLES, {**SAMPLES[0], "category": "count", "level": "fine", "split": "test", "cluster": "c"}]:
        facts = SampleFacts(keys)
        assert facts.of_data(validate(json.loads(json.dumps(raw)))) == facts(Sample.model_validate(raw)), (keys, raw)
