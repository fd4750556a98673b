"""``mosseval score``'s reads of a line give the same scores: the plain read (the line parsed as JSON, only its
sample validated: as plain data with ``Sample``'s checks where the task's answer check and breakdowns read data,
else as a ``Sample``) and the full record reader (every field validated, legacy layouts upgraded), which takes
every line the plain read does not (issue 16)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import mosseval.rescore as rescore_mod
from mosseval.errors import MossevalError, UsageError
from mosseval.rescore import rescore
from mosseval.rundir import SAMPLES_FILE, read_records
from tests.support.fixed_runs import RUNS


@pytest.fixture
def noisy(tmp_path) -> Path:
    """The fixed ``noisy`` run (every PRR status, errors, wrong answers, broken formats), scored once by
    the current code (the fixture was written by an older one: its lines are rewritten once)."""
    run = tmp_path / "noisy"
    shutil.copytree(RUNS / "noisy", run)
    rescore(run)
    return run


def _full_reads(monkeypatch) -> list[int]:
    """Record the line numbers ``score`` reads through the full record reader."""
    seen: list[int] = []
    real = rescore_mod.validate_record

    def spy(path, lineno, line):
        seen.append(lineno)
        return real(path, lineno, line)

    monkeypatch.setattr(rescore_mod, "validate_record", spy)
    return seen


class _NoPlainRead:
    """Stands in for ``Sample`` in the plain read (which calls its validator): every line goes to the full
    reader."""

    class __pydantic_validator__:  # noqa: N801 (pydantic's name)
        @staticmethod
        def validate_python(data):
            raise TypeError("plain read disabled")


def _data_reads(monkeypatch) -> list[dict]:
    """Record the samples ``score`` reads as validated data (``mosseval.recorddata``), not as records."""
    import mosseval.recorddata as recorddata

    seen: list[dict] = []
    real = recorddata.sample_data_validator

    def validator():
        validate = real()

        def spy(data):
            out = validate(data)
            seen.append(out)
            return out
        return spy

    monkeypatch.setattr(recorddata, "sample_data_validator", validator)
    return seen


def _fast_reads(monkeypatch) -> list[int]:
    """Record the lines ``score`` reads through msgspec (``recorddata.sample_line_decoder``): their indices in
    the order read."""
    import mosseval.recorddata as recorddata

    seen: list[int] = []
    real = recorddata.sample_line_decoder()
    assert real is not None

    def decoder():
        def spy(line):
            out = real(line)
            if out is not None:
                seen.append(out[2])
            return out
        return spy

    monkeypatch.setattr(recorddata, "sample_line_decoder", decoder)
    return seen


def _no_fast_read(monkeypatch) -> None:
    """No line decoded by msgspec: each parsed by orjson and its sample validated by pydantic."""
    import mosseval.recorddata as recorddata

    monkeypatch.setattr(recorddata, "sample_line_decoder", lambda: None)


def _no_data_read(monkeypatch) -> None:
    """Every task's samples read as ``Sample`` records (as for an extractor without a ``check_data`` hook)."""
    from mosseval.scoring import SampleFacts

    monkeypatch.setattr(SampleFacts, "reads_data", property(lambda self: False))


def test_plain_read_and_full_reader_write_the_same_bytes(noisy, tmp_path, monkeypatch):
    """Every line of the fixed noisy run: scoring it through msgspec's one-pass read, through the plain read with
    its sample validated as data, through the plain read with its sample validated as a ``Sample``, and through
    the full record reader writes byte-identical samples.jsonl and run.json (none rewrites a current score)."""
    twins = [tmp_path / "as_data", tmp_path / "as_sample", tmp_path / "full"]
    for twin in twins:
        shutil.copytree(noisy, twin)
    # stale results in all, so that each rewrites run.json from what it scored
    for run in (noisy, *twins):
        log = json.loads((run / "run.json").read_text())
        log["results"] = {}
        (run / "run.json").write_text(json.dumps(log))
    before = (noisy / SAMPLES_FILE).read_bytes()
    n = len(before.splitlines())
    seen = _full_reads(monkeypatch)
    data = _data_reads(monkeypatch)
    fast = _fast_reads(monkeypatch)
    decoded = rescore(noisy)
    # every line of a run score wrote itself is decoded by msgspec, its sample validated as data on the way
    assert seen == [] and data == [] and len(fast) == n
    _no_fast_read(monkeypatch)
    plain = rescore(twins[0])
    assert seen == [] and len(data) == n and len(fast) == n  # ...here parsed by orjson, validated as data
    _no_data_read(monkeypatch)
    as_sample = rescore(twins[1])
    assert seen == [] and len(data) == n  # ...here plain, each sample validated as a Sample
    monkeypatch.setattr(rescore_mod, "Sample", _NoPlainRead)
    full = rescore(twins[2])
    assert seen == list(range(1, n + 1))  # ...and here every line went through the full reader
    assert len(data) == n
    assert (noisy / SAMPLES_FILE).read_bytes() == (twins[0] / SAMPLES_FILE).read_bytes() == \
        (twins[1] / SAMPLES_FILE).read_bytes() == (twins[2] / SAMPLES_FILE).read_bytes() == before
    assert decoded.results == plain.results == as_sample.results == full.results
    assert plain.results["moss-video-mini"].n == n
    assert decoded.model_dump(exclude={"updated_at"}) == plain.model_dump(exclude={"updated_at"}) == \
        as_sample.model_dump(exclude={"updated_at"}) == full.model_dump(exclude={"updated_at"})


@pytest.mark.parametrize(("where", "value"), [
    ("options", {"A": 1}),  # not a string
    ("question_type", "essay"),  # not one of the Literal's values
    ("reference_steps", [{"text": "a step", "when": 1.0}]),  # a field ReferenceStep does not declare
    ("reference_steps", [{"start": 1.0}]),  # no text
    ("video", {"kind": "file"}),  # no path
    ("surprise", 1),  # a field Sample does not declare
    ("answer", None),
])
def test_a_sample_that_does_not_validate_as_data_gets_the_records_one_line_error(noisy, monkeypatch, where, value):
    """The plain read validates each sample as data with ``Sample``'s own checks: a sample that ``Sample`` would
    refuse is refused (by the full reader, with the file, line number and what is wrong) and nothing is
    rewritten."""
    path = noisy / SAMPLES_FILE
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    recs[5]["sample"][where] = value
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    before = path.read_bytes(), (noisy / "run.json").read_bytes()
    seen = _full_reads(monkeypatch)
    with pytest.raises(UsageError, match=r"samples.jsonl:6: invalid sample record: field 'sample\."):
        rescore(noisy)
    assert seen == [6]
    assert (path.read_bytes(), (noisy / "run.json").read_bytes()) == before


def test_a_line_the_plain_read_cannot_take_goes_through_the_full_reader(noisy, monkeypatch):
    """A wrong JSON type (index "3", a number as the text) is read in full, and only that line; a legacy
    step time ``t`` is read plain (the sample is validated by its own record, which upgrades it); a legacy
    judge field in the score makes the line differ from its new score, so it is rewritten from the full
    record. The scores are those of the fully validated records."""
    from mosseval.scoring import score_samples

    path = noisy / SAMPLES_FILE
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    recs[3]["index"] = "3"
    step = next(r for r in recs if r["sample"]["reference_steps"])["sample"]["reference_steps"][0]
    step["t"] = step.pop("start")
    with_t = next(i for i, r in enumerate(recs) if r["sample"]["reference_steps"] and "t" in
                  r["sample"]["reference_steps"][0])
    assert with_t not in (3, 7, 8)
    recs[7]["score"]["judge"] = {"legacy": True}
    recs[8]["generation"]["text"] = 5  # not a string: the full reader refuses it with its line number
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    seen = _full_reads(monkeypatch)
    with pytest.raises(UsageError, match=r"samples.jsonl:9: invalid sample record"):
        rescore(noisy)
    assert seen == [4, 9]  # line 8's judge field is in the score (compared, not read); t: read plain
    recs[8]["generation"]["text"] = None
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    seen.clear()
    full = read_records(noisy)
    log = rescore(noisy)
    # 4: read in full; 8 (legacy judge: the score differs) and 9 (its score changed): read to be rewritten
    assert seen == [4, 8, 9]
    got = read_records(noisy)
    task = log.task_specs["moss-video-mini"]
    assert [r.score for r in got] == score_samples(task, [(r.sample, r.generation) for r in full])
    assert got[3].index == 3 and b'"judge"' not in path.read_bytes()
    assert got[with_t].sample.reference_steps[0].start == step["t"]


@pytest.mark.parametrize("unknown_key", [True, False])
def test_breakdowns_from_the_kept_facts_equal_those_from_the_records(noisy, monkeypatch, unknown_key):
    """``score`` lets each sample go once its answer is checked and keeps only the values its task breaks down
    by (``SampleFacts``): sample fields, ``metadata.<key>`` paths (list-valued, nested, missing) and a key no
    sample has give the same results as aggregating the full records. Without the unknown key the samples are
    read as validated data (``SampleFacts.of_data``), with it as ``Sample`` records."""
    from mosseval.rescore import finalize_log

    data = _data_reads(monkeypatch)
    fast = _fast_reads(monkeypatch)

    path = noisy / SAMPLES_FILE
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    for i, r in enumerate(recs):
        r["sample"]["metadata"] = ({"skill": ["counting", "colour"] if i % 3 else "counting", "deep": {"x": i // 2 % 2}}
                                   if i % 4 else {})
        if i % 2 == 0:  # equal values, different labels (1, 1.0, True) on rows alike in every other key
            r["sample"]["metadata"] = {"n": [1, 1.0, True, "1", 1, True][i // 2 % 6]}
        r["sample"]["cluster"] = f"c{i % 5}" if i % 2 else None
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    log = json.loads((noisy / "run.json").read_text())
    spec = log["task_specs"]["moss-video-mini"]
    spec["breakdowns"] = ["category", "metadata.skill", "metadata.deep.x", "metadata.none",
                          *(["no_such_field"] if unknown_key else []), "cluster", "question_type", "level",
                          "metadata.n"]
    (noisy / "run.json").write_text(json.dumps(log))
    got = rescore(noisy)
    # as data, each line decoded by msgspec; as records, each parsed by orjson (the first line was decoded by
    # msgspec before its task showed it is read as records)
    assert (len(data), len(fast)) == ((0, 1) if unknown_key else (0, len(recs)))
    res = got.results["moss-video-mini"]
    assert set(res.breakdowns) == {"category", "skill", "deep.x", "cluster", "question_type", "level", "n"}
    assert set(res.breakdowns["n"]) == {"1", "1.0", "True"}
    assert set(res.breakdowns["skill"]) == {"counting", "colour"} and set(res.breakdowns["deep.x"]) == {"0", "1"}
    assert res.breakdowns["skill"]["counting"].value is not None
    specs = got.task_specs
    leaves = [(specs[t.name], t.group) for t in got.spec.tasks]
    want = finalize_log(got, leaves, read_records(noisy))  # rows keeping their samples
    assert want.results == got.results and want.groups == got.groups


def test_a_superseded_line_is_not_scored(noisy, monkeypatch):
    """An earlier line of a sample that a later line replaces (last wins) has its answer checked as it streams
    past, but its PRR leaves the batch: every completion PRR-scored is a live line's, each once."""
    from mosseval.prr import score as prr_score

    path = noisy / SAMPLES_FILE
    lines = path.read_bytes().splitlines()
    old = json.loads(lines[0])
    old["generation"]["text"] = "<think>\nA superseded first try of this sample.\n</think>\n<answer>A</answer>"
    path.write_bytes(b"\n".join([json.dumps(old).encode()] + lines) + b"\n")
    scored: list[str] = []
    real = prr_score.score_batch

    def spy(items, config=None, *, require_format=True, detail_data=False, consume=False):
        scored.extend(text for text, _ in items)
        return real(items, config, require_format=require_format, detail_data=detail_data, consume=consume)

    monkeypatch.setattr(prr_score, "score_batch", spy)
    rescore(noisy)
    texts = [json.loads(line)["generation"]["text"] for line in lines]
    assert old["generation"]["text"] not in scored
    assert sorted(scored) == sorted(t for t in texts if t is not None)
    assert path.read_bytes() == b"\n".join(lines) + b"\n"  # the duplicate is gone, the rest unchanged


def test_a_scorer_drops_only_what_it_queued(noisy, monkeypatch):
    """``TaskScorer.drop`` of a sample's fields takes its PRR out of the batch; fields that were never queued (a
    failed generation, whose PRR is set at once) are not marked, so a later sample's fields, which may reuse their
    memory address, stay queued."""
    from mosseval.prr import score as prr_score
    from mosseval.rundir import read_run_log_text
    from mosseval.scoring import TaskScorer

    log = read_run_log_text(noisy)[1]
    recs = [r for r in read_records(noisy) if log.task_specs[r.task].scoring.prr is not None
            and r.generation.text and r.sample.reference_steps]
    assert len(recs) >= 3
    scorer = TaskScorer(log.task_specs[recs[0].task])
    batches: list[list[str]] = []
    real = prr_score.score_batch

    def spy(items, config=None, **kw):
        batches.append([text for text, _ in items])
        return real(items, config, **kw)

    monkeypatch.setattr(prr_score, "score_batch", spy)
    failed = scorer.add(recs[0].sample, None, True)
    assert failed["prr"] == 0.0 and failed["prr_status"] == "no_steps"
    scorer.drop(failed)
    assert not scorer._dropped
    a, b, c = (scorer.add(r.sample, r.generation.text, False) for r in recs[:3])
    scorer.drop(b)
    assert scorer._dropped == {id(b)}
    scorer.finish()
    assert batches == [[recs[0].generation.text, recs[2].generation.text]]
    assert "prr" not in b and a["prr_status"] and c["prr_status"]
    scorer.finish()  # nothing queued: no batch
    assert len(batches) == 1 and not scorer._dropped


def test_the_stored_score_is_compared_where_it_is_in_the_line():
    """``_same_score`` takes a line whose last member is the new score's JSON at its word; any other line is
    parsed and its score compared: another layout or spacing of the same score is the same, a ``score`` nested
    deeper (or superseded by a later duplicate key) is not the record's score."""
    import orjson

    from mosseval.rescore import _SCORE_JSON, _same_score

    new = {"extracted": "B", "correct": True, "parse_failed": False, "format_ok": True, "prr": 0.25,
           "prr_status": "scored", "steps": ["a", "b"], "approximate": False}
    want = {**_SCORE_JSON, **new}
    other = {**want, "prr": 0.5}
    head = {"key": "t/1", "task": "t", "index": 0}
    assert _same_score(orjson.dumps({**head, "score": want}), new)
    assert _same_score(json.dumps({**head, "score": want}, indent=1).encode(), new)  # other spacing: parsed
    assert not _same_score(orjson.dumps({**head, "score": other}), new)
    assert not _same_score(orjson.dumps({**head, "score": {**want, "prr": 1}}), {**new, "prr": 1.0})  # 1 is not 1.0
    assert not _same_score(orjson.dumps({**head, "score": other, "sample": {"metadata": {"score": want}}}), new)
    assert not _same_score(orjson.dumps({**head, "score": {**want, "judge": {}}}), new)  # a legacy field
    # duplicate keys: the last one is the record's (as the parse reads it)
    line = orjson.dumps({**head, "score": want})[:-1] + b',"score":' + orjson.dumps(other) + b"}"
    assert not _same_score(line, new) and _same_score(line, {**new, "prr": 0.5})
    assert not _same_score(b"not json", new) and not _same_score(orjson.dumps({**head}), new)


def test_a_line_with_two_scores_is_judged_by_the_last(noisy):
    """A line whose first ``score`` member is current and whose last is stale is rewritten (the parse keeps the
    last one); with the members the other way round it is left as it is; a first one that no reader takes is
    reported, however its key is written (an escaped key passed the msgspec read until round 13)."""
    path = noisy / SAMPLES_FILE
    lines = path.read_bytes().splitlines()
    rec = json.loads(lines[0])
    stale = {**rec["score"], "correct": not rec["score"]["correct"]}
    body = json.dumps({k: v for k, v in rec.items() if k != "score"}, separators=(",", ":"))[:-1]
    current = json.dumps(rec["score"], separators=(",", ":"))
    lines[0] = (body + ',"score":' + current + ',"score":' + json.dumps(stale, separators=(",", ":")) + "}").encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    rescore(noisy)
    fixed = path.read_bytes().splitlines()
    assert fixed[1:] == lines[1:] and fixed[0].count(b'"score"') == 1 and json.loads(fixed[0])["score"] == rec["score"]
    lines[0] = (body + ',"score":' + json.dumps(stale, separators=(",", ":")) + ',"score":' + current + "}").encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    rescore(noisy)
    assert path.read_bytes().splitlines() == lines
    # a first member that is not UTF-8, its key spelled out or escaped (the line's bytes then hold one '"score"'):
    # the line is reported, as every reader reports it
    for first in (b'"score":"\xff"', b'"sc\\u006fre":"\xff"', b'"\\u0073core":{"extracted":"\xff"}'):
        lines[0] = body.encode() + b"," + first + b',"score":' + current.encode() + b"}"
        path.write_bytes(b"\n".join(lines) + b"\n")
        with pytest.raises(MossevalError, match=r"samples\.jsonl:1: "):
            rescore(noisy)
        assert path.read_bytes().splitlines() == lines  # nothing rewritten


def test_the_run_log_checked_before_the_lock_is_read_again_under_it(noisy, monkeypatch):
    """``score`` checks run.json before taking the lock and reads it again under the lock: the same text is not
    validated twice, a text another writer changed in between is the one used."""
    import contextlib

    from mosseval.records import RunLog

    parsed: list[int] = []
    real_parse = RunLog.model_validate_json.__func__  # type: ignore[attr-defined]

    def counting(cls, text, *args, **kwargs):
        parsed.append(len(text))
        return real_parse(cls, text, *args, **kwargs)

    monkeypatch.setattr(RunLog, "model_validate_json", classmethod(counting))
    before = (noisy / "run.json").read_bytes()
    rescore(noisy)
    assert len(parsed) == 1 and (noisy / "run.json").read_bytes() == before  # unchanged: not rewritten either
    real_lock = rescore_mod.run_lock

    @contextlib.contextmanager
    def lock_after_a_change(run_dir, **kwargs):
        log = json.loads((noisy / "run.json").read_text())
        log["results"] = {}  # another writer left stale results between the check and the lock
        (noisy / "run.json").write_text(json.dumps(log))
        with real_lock(run_dir, **kwargs):
            yield

    monkeypatch.setattr(rescore_mod, "run_lock", lock_after_a_change)
    parsed.clear()
    got = rescore(noisy)
    assert len(parsed) == 2 and got.results["moss-video-mini"].n == 40
    assert json.loads((noisy / "run.json").read_text())["results"] == json.loads(before)["results"]


def test_a_line_nested_too_deep_for_msgspec_is_read_the_usual_way(noisy):
    """A sample's metadata nested 1,000 deep (msgspec recurses in C and raises RecursionError; orjson reads it): the
    line goes the usual way and is scored, not an internal error (exit 70, found in round 10)."""
    from mosseval.recorddata import sample_line_decoder

    path = noisy / SAMPLES_FILE
    lines = path.read_text().splitlines()
    data = json.loads(lines[2])
    data["sample"]["metadata"] = {"deep": None}
    lines[2] = json.dumps(data).replace('"deep": null', '"deep": ' + "[" * 1000 + "]" * 1000)
    assert sample_line_decoder()(lines[2].encode()) is None
    path.write_text("\n".join(lines) + "\n")
    log = rescore(noisy)
    assert log.n_done == len(lines) and path.read_text().splitlines()[2] == lines[2]


def test_how_deep_msgspec_reads_does_not_depend_on_the_recursion_limit():
    """msgspec nests as deep as Python's recursion limit lets it; orjson reads 1,024 levels. Free-form metadata
    nested past ``FREE_FORM_LEVELS`` goes the usual way (found by a hypothesis test in round 10), and a line the
    msgspec read takes is one orjson reads, whatever is nested where: in the kept metadata, or in the first of two
    ``score`` members (msgspec decodes every member of a duplicate key, however the key is written). Above
    ``MSGSPEC_RECURSION_LIMIT`` (a raised limit let msgspec read 1,100 levels) every line goes the usual way."""
    import sys

    import orjson

    from mosseval.recorddata import FREE_FORM_LEVELS, MSGSPEC_RECURSION_LIMIT, sample_line_decoder
    from tests.support.fixed_runs import RUNS

    line = (sorted(RUNS.iterdir())[0] / "samples.jsonl").read_text().splitlines()[0]
    data = json.loads(line)
    data["sample"]["metadata"] = {"deep": None}
    text = json.dumps(data)
    body, current = json.dumps({k: v for k, v in data.items() if k != "score"})[:-1], json.dumps(data["score"])
    decode = sample_line_decoder()
    old = sys.getrecursionlimit()
    try:
        for limit in (old, 20_000):
            sys.setrecursionlimit(limit)
            assert (decode(text.encode()) is not None) is (limit <= MSGSPEC_RECURSION_LIMIT)
            for depth in (FREE_FORM_LEVELS - 1, FREE_FORM_LEVELS + 1, 900, 1_020, 1_100):
                nested = "[" * depth + "]" * depth
                deep = [text.replace('"deep": null', '"deep": ' + nested)]
                deep += [f'{body}, {first}: {{"judge": {nested}}}, "score": {current}}}'
                         for first in ('"score"', '"sc\\u006fre"')]
                for variant in deep:
                    got = decode(variant.encode())
                    if got is not None:
                        orjson.loads(variant)  # (raises where orjson refuses it)
                    if limit > MSGSPEC_RECURSION_LIMIT or variant is deep[0] and depth > FREE_FORM_LEVELS:
                        assert got is None, (limit, depth)
                    elif depth < FREE_FORM_LEVELS:
                        assert got is not None, (limit, depth)
    finally:
        sys.setrecursionlimit(old)


def test_a_line_is_read_again_only_where_its_score_is_not_its_end(noisy, monkeypatch):
    """``score`` keeps only the hash of each line's end from its last ``"score":`` (``_score_end``) and reads the
    file again only where that end is not the new score: a run it wrote itself is read once; a current score that
    is not the line's last member is found by reading the line again (and the file is left as it is); a stale one
    is rewritten from the record, the other lines kept byte for byte."""
    path = noisy / SAMPLES_FILE
    reads = []
    real = rescore_mod.iter_jsonl

    def counting(p):
        reads.append(p)
        return real(p)

    monkeypatch.setattr(rescore_mod, "iter_jsonl", counting)
    before = path.read_bytes()
    rescore(noisy)
    assert len(reads) == 1 and path.read_bytes() == before
    lines = before.splitlines()
    rec = json.loads(lines[2])
    moved = {"score": rec["score"], **{k: v for k, v in rec.items() if k != "score"}}  # the score first
    lines[2] = json.dumps(moved, separators=(",", ":"), ensure_ascii=False).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    reads.clear()
    rescore(noisy)
    assert len(reads) == 2 and path.read_bytes() == b"\n".join(lines) + b"\n"  # read again, and the same
    stale = {**moved, "score": {**rec["score"], "correct": not rec["score"]["correct"]}}
    lines[2] = json.dumps(stale, separators=(",", ":"), ensure_ascii=False).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    reads.clear()
    rescore(noisy)
    fixed = path.read_bytes().splitlines()
    assert len(reads) == 2 and fixed[:2] == lines[:2] and fixed[3:] == lines[3:]
    assert json.loads(fixed[2]) == rec and fixed[2].endswith(b'"score":' + json.dumps(
        rec["score"], separators=(",", ":"), ensure_ascii=False).encode() + b"}")


def test_the_hash_kept_of_a_line_is_its_scores_wherever_the_line_ends_with_it():
    """``_score_end`` of a line that ends with its score member is the hash of that score's JSON, whatever the
    score's texts hold (quotes, backslashes, ``"score":`` itself, non-ASCII), and of a line that does not, it is
    not (the line is then read again and parsed)."""
    import orjson
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from mosseval.rescore import _score_end, _score_json

    text = st.text(alphabet=st.sampled_from(list('ab "\\:{}[],score\u00e9\u2028')), max_size=20)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(text, max_size=4), st.one_of(st.none(), text), st.floats(0, 1), st.booleans(), text)
    def check(steps, extracted, prr, correct, other):
        new = {"extracted": extracted, "correct": correct, "parse_failed": False, "format_ok": True, "prr": prr,
               "prr_status": "scored", "steps": steps, "approximate": False}
        wanted = _score_json(new)
        head = {"key": "t/1", "task": "t", "index": 0, "sample": {"question": other}}
        assert _score_end(orjson.dumps({**head, "score": orjson.loads(wanted)})) == hash(wanted)
        # the score not the line's last member, or another score: not taken by the hash
        assert _score_end(orjson.dumps({"score": orjson.loads(wanted), **head})) != hash(wanted)
        assert _score_end(orjson.dumps({**head, "score": {**orjson.loads(wanted), "correct": not correct}})) \
            != hash(wanted)

    check()


def test_a_file_cut_short_while_score_reads_it_is_a_one_line_error(noisy, monkeypatch):
    """A writer that ignores the run's lock and cuts ``samples.jsonl`` short between ``score``'s read and its
    reading a line again: a one-line usage error naming the file and the line, nothing rewritten."""
    path = noisy / SAMPLES_FILE
    lines = path.read_bytes().splitlines()
    rec = json.loads(lines[-1])
    rec["score"]["correct"] = not rec["score"]["correct"]  # a stale score: its line is read again
    lines[-1] = json.dumps(rec, separators=(",", ":")).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    real = rescore_mod._read_scored

    def then_cut(*a):
        out = real(*a)
        path.write_bytes(b"\n".join(lines[:-1]) + b"\n")
        return out

    monkeypatch.setattr(rescore_mod, "_read_scored", then_cut)
    with pytest.raises(UsageError, match=rf"samples\.jsonl changed while `mosseval score` was reading it \(line "
                                         rf"{len(lines)} is gone\)"):
        rescore(noisy)
    assert path.read_bytes() == b"\n".join(lines[:-1]) + b"\n"
