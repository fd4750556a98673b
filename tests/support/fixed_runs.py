"""A fixed set of run directories and the exact bytes every reader produced from them.

``tests/fixtures/fixed_runs/rundirs/`` holds four real run directories of moss-video-mini (40 samples
each), written once and never regenerated:

* ``oracle`` and ``random``: ``mosseval run --model oracle|random --tasks moss-video-mini --limit 40``;
* ``noisy``: the oracle run with deterministic damage (steps dropped, shuffled, padded with filler,
  broken format, no think block, errors, samples without reference steps, wrong answers), so that
  every PRR status and every counter is exercised;
* ``random_seed1``: the random baseline with seed 1 (a second, comparable run for ``compare``).

``tests/fixtures/fixed_runs/golden/`` holds what ``score``, ``errors``, ``leaderboard`` and
``compare`` wrote from them, captured before the readers were optimised (issue 16); the page's data
block (``leaderboard_page_data.json``) was captured before the board held its embedded samples packed, and
the whole page (``leaderboard.html``) before the command streamed its JSON and page into the file.
The regression test (``tests/test_fixed_runs.py``) recomputes every output and compares bytes.

When a change *deliberately* alters an output format, regenerate the goldens and review the diff:

    .venv/bin/python -m tests.support.fixed_runs --regen
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "fixed_runs"
RUNS = ROOT / "rundirs"
GOLDEN = ROOT / "golden"
RUN_NAMES = ("oracle", "random", "random_seed1", "noisy")

# Values that legitimately change at every invocation.
_VOLATILE = re.compile(rb'"(updated_at|generated_at|created)": ?"[^"]*"')


def _normalize(data: bytes, work: Path) -> bytes:
    data = data.replace(str(work).encode(), b"<WORK>")
    return _VOLATILE.sub(lambda m: b'"' + m.group(1) + b'": "<TIME>"', data)


def compute_outputs(work: Path) -> dict[str, bytes]:
    """Copy the fixed runs into ``work`` and run every reader over them; name -> normalised bytes."""
    import contextlib
    import io

    from mosseval.cli import main

    work = Path(work)
    runs = work / "runs"
    shutil.copytree(RUNS, runs)
    out: dict[str, bytes] = {}

    def cli(*args: str) -> tuple[int, str]:
        buf = io.StringIO()
        code: object = 0
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code
        return int(code) if isinstance(code, int) else 0, buf.getvalue()

    for name in RUN_NAMES:
        code, text = cli("errors", str(runs / name))
        out[f"errors_{name}.txt"] = f"exit {code}\n{text}".encode()
    # Leaderboard and compare read the runs as they were written...
    lb = work / "board"
    code, _ = cli("leaderboard", *(str(runs / n) for n in RUN_NAMES), "-o", str(lb / "leaderboard.html"),
                  "--csv", str(lb / "leaderboard.csv"), "--samples-per-run", "5", "-q")
    assert code == 0, code
    out["leaderboard.json"] = (lb / "leaderboard.json").read_bytes()
    out["leaderboard.csv"] = (lb / "leaderboard.csv").read_bytes()
    # the page's data block (the HTML around it is the template's, owned by the page's own tests)
    html = (lb / "leaderboard.html").read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="board-data">(.*?)</script>', html, re.S)
    assert block is not None, "the page has no board-data block"
    out["leaderboard_page_data.json"] = block.group(1).encode("utf-8") + b"\n"
    out["leaderboard.html"] = (lb / "leaderboard.html").read_bytes()  # the whole page, template included
    for base, cand in (("oracle", "noisy"), ("random", "random_seed1"), ("noisy", "oracle")):
        js, md = work / f"compare_{base}_{cand}.json", work / f"compare_{base}_{cand}.md"
        code, text = cli("compare", str(runs / base), str(runs / cand), "--margin", "2",
                         "--bootstrap", "400", "--json", str(js), "--summary", str(md))
        out[f"compare_{base}_{cand}.json"] = f"exit {code}\n".encode() + js.read_bytes()
        out[f"compare_{base}_{cand}.md"] = md.read_bytes()
    # ...and `score` re-scores each run in place (run.json results and samples.jsonl rewritten).
    for name in RUN_NAMES:
        code, _ = cli("score", str(runs / name))
        out[f"score_{name}_run.json"] = f"exit {code}\n".encode() + (runs / name / "run.json").read_bytes()
        out[f"score_{name}_samples.jsonl"] = (runs / name / "samples.jsonl").read_bytes()
    return {k: _normalize(v, work) for k, v in out.items()}


# --------------------------------------------------------------------------- one-time creation


def _damage(text: str, steps: list[str], i: int, rng: random.Random) -> str | None:
    filler = ["Let me look at the frames again.", "I should check whether anything else changed here.",
              "Hmm, the picture looks the same as before."]
    kind = i % 8
    s = list(steps)
    if kind == 1 and len(s) > 2:
        s.pop(rng.randrange(len(s)))
    elif kind == 2:
        rng.shuffle(s)
    elif kind == 3:
        s = [x for pair in zip(s, [rng.choice(filler) for _ in s]) for x in pair]
    elif kind == 4:
        return text.replace("</think>", "")  # broken format
    elif kind == 5:
        return re.sub(r"<think>.*?</think>", "", text, flags=re.S)  # no think block
    elif kind == 6:
        s = [w.replace("circles", "dots").replace("moves", "goes") for w in s]
    answer = re.search(r"<answer>(.*?)</answer>", text, re.S)
    letter = answer.group(1) if answer else "A"
    if i % 3 == 0:
        letter = "ABCD"[("ABCD".index(letter) + 1) % 4] if letter in "ABCD" else "A"
    return "<think>\n" + "\n".join(s) + "\n</think>\n<answer>" + letter + "</answer>"


def build_noisy(oracle_dir: Path, dest: Path) -> None:
    """The ``noisy`` run from the oracle run (used once, kept to document how it was made)."""
    from mosseval.records import ErrorInfo, RunLog, SampleRecord
    from mosseval.rundir import fingerprint, read_records, write_run_log
    from mosseval.runner import rescore

    log = RunLog.model_validate_json((oracle_dir / "run.json").read_text())
    identity = json.loads(json.dumps(log.identity))
    identity["model"]["name"] = "noisy"
    run_id = fingerprint(identity)
    spec = log.spec.model_copy(update={"model": "noisy", "model_identity": identity["model"]})
    log = log.model_copy(update={"identity": identity, "run_id": run_id, "spec": spec})
    rng = random.Random(16)
    out: list[SampleRecord] = []
    for i, rec in enumerate(read_records(oracle_dir)):
        sample, gen = rec.sample, rec.generation
        if i % 9 == 7:  # no reference steps: PRR not applicable
            sample = sample.model_copy(update={"reference_steps": []})
        if i % 13 == 12:
            gen = gen.model_copy(update={"text": None, "error": ErrorInfo(kind="model", message="timeout")})
        else:
            steps = [s.text for s in rec.sample.reference_steps]
            gen = gen.model_copy(update={"text": _damage(gen.text or "", steps, i, rng)})
        out.append(rec.model_copy(update={"sample": sample, "generation": gen}))
    dest.mkdir(parents=True)
    write_run_log(dest, log)
    with (dest / "samples.jsonl").open("w", encoding="utf-8") as fh:
        for rec in out:
            fh.write(rec.model_dump_json() + "\n")
    rescore(dest)


def regenerate() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        outputs = compute_outputs(Path(tmp))
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    GOLDEN.mkdir(parents=True)
    for name, data in sorted(outputs.items()):
        (GOLDEN / name).write_bytes(data)
    print(f"wrote {len(outputs)} files to {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--regen"]:
        regenerate()
    else:
        print(__doc__)
