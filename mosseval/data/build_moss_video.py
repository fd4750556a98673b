"""Re-create the MOSS-Video construction (SPEC §4.1) from ShareGPT4Video caption files.

Input: ``sharegpt4video_40k.jsonl``-style lines ``{video_id, video_path, zip_folder, captions:
[{idx, content}]}`` where idx ``"-1"`` is the whole-video summary and the others are *differential*
captions of keyframes taken about every ``keyframe_interval`` seconds (default 2): keyframe ``k`` sits
at ``k * keyframe_interval`` seconds.

For each video an LLM annotator (any OpenAI-compatible endpoint, ``mosseval.openai_client``) turns
the caption timeline into ordered object states and writes future-state questions: for each it
picks ``masked_from``, the first hidden state; the video is cut at the time of the last visible
state (``end = states[masked_from - 1].t``), so the model sees only the earlier states and must
predict the next one. The annotator also writes four options, the answer and reference reasoning
steps over the visible part. Every item is validated here, never trusted:

* states: non-empty texts, times strictly increasing and inside the timeline;
* ``masked_from``: at least one visible state after time 0 and at least one hidden state;
* options: exactly ``A``–``D``, non-empty, pairwise different; the answer is one of them, and it
  is the option closest to the hidden state (otherwise the item is ambiguous);
* no leak: the hidden state's distinctive words (those not already in a visible state) appear in
  neither the question nor any reference step, no reference step lies after the cut, and the
  answer text is not in the question;
* reference steps: at least two, in time order; level ``coarse`` | ``fine``; a category.

Rejected items go to ``rejected.jsonl`` with their reasons; when a video yields no valid item the
annotator gets one more request carrying the reasons (``max_attempts``).

Determinism and cost: the split is by video (``sha256(seed:video_id)`` below ``test_fraction`` is
test), so a video's items never straddle train and test. Every successful reply is cached on disk
(``OUT/.cache/``) under a fingerprint of (annotator model, prompt version, the exact request:
caption content, feedback, generation settings) as soon as it arrives; a killed build re-run with
the same arguments sends no request twice. Output: ``train.jsonl`` and ``test.jsonl`` in the
MOSS-Video schema (read by the ``moss-video`` tasks), ``rejected.jsonl``, ``build.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mosseval.errors import ConfigError, DataNotFoundError, OutputError, RemoteError, UsageError
from mosseval.fileio import atomic_write_text
from mosseval.rundir import write_json_atomic

PROMPT_VERSION = "1"
"""Bump whenever the annotator prompt or schema changes: it enters every cache fingerprint."""

LETTERS = ("A", "B", "C", "D")
LEVELS = ("coarse", "fine")

SYSTEM_PROMPT = (
    "You build a benchmark of video temporal reasoning from time-stamped video captions. "
    "You answer with one JSON object and nothing else."
)

USER_TEMPLATE = """Below is the caption timeline of one video. Captions are differential: each one describes \
what changed since the previous keyframe; keyframes are about {interval:g} s apart. The summary describes \
the whole video.

Summary: {summary}
Timeline:
{timeline}

1. Choose the main object (or person) whose state changes over time and list its states in time order: \
"states": [{{"t": seconds, "state": one sentence describing the complete state at that time}}], one entry \
for each keyframe where its state changed.
2. Write up to {k} multiple-choice questions about what happens next. For each, choose "masked_from", \
the index (0-based) in "states" of the first hidden state: the video will be cut at the time of \
states[masked_from - 1], so the viewer sees only the earlier states, and the question asks for the state \
that comes next. masked_from must be at least 1, the last visible state must have t > 0, and at least one \
state must remain hidden. Give exactly four options "A", "B", "C", "D": one describes \
states[masked_from] (that letter is the "answer"), three are plausible but wrong. Never mention the \
hidden state in the question or in the reasoning steps.
3. For each question write "reference_steps": the reasoning of a careful viewer who sees only the visible \
part, one short sentence per visible state in time order, as [{{"t": seconds, "text": sentence}}], all with \
t at or before the cut.
4. "level": "coarse" for an obvious change (large motion, appearance, presence), "fine" for a subtle one \
(small motion, detail, attribute). "category": one lower-case word for the kind of change (position, \
action, appearance, count, interaction, ...).

Reply with JSON only: {{"object": str, "states": [...], "items": [{{"question": str, "options": \
{{"A": str, "B": str, "C": str, "D": str}}, "answer": "A"|"B"|"C"|"D", "masked_from": int, \
"reference_steps": [...], "level": "coarse"|"fine", "category": str}}]}}"""

FEEDBACK_TEMPLATE = """Your previous answer could not be used:
{errors}
Write the JSON again for the same timeline, fixing these problems."""

STEP_SCHEMA = {"type": "object", "properties": {"t": {"type": "number"}, "text": {"type": "string"}},
               "required": ["t", "text"]}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "object": {"type": "string"},
        "states": {"type": "array", "items": {
            "type": "object", "properties": {"t": {"type": "number"}, "state": {"type": "string"}},
            "required": ["t", "state"]}},
        "items": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "question": {"type": "string"},
                "options": {"type": "object", "properties": {k: {"type": "string"} for k in LETTERS},
                            "required": list(LETTERS)},
                "answer": {"type": "string", "enum": list(LETTERS)},
                "masked_from": {"type": "integer"},
                "reference_steps": {"type": "array", "items": STEP_SCHEMA},
                "level": {"type": "string", "enum": list(LEVELS)},
                "category": {"type": "string"},
            },
            "required": ["question", "options", "answer", "masked_from", "reference_steps", "level", "category"],
        }},
    },
    "required": ["states", "items"],
}

_STOP = {"a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "it", "its", "of", "to", "in",
         "on", "at", "and", "or", "with", "by", "for", "from", "as", "this", "that", "now", "still", "will",
         "has", "have", "had", "then", "there", "which", "who", "while", "into", "onto", "video", "frame",
         "previous", "compared", "scene", "shows", "seen", "visible", "appears", "next", "state"}


# ----------------------------------------------------------------------------- captions


@dataclass
class CaptionVideo:
    video_id: str
    video_path: str
    zip_folder: str | None
    summary: str
    timeline: list[tuple[float, str]]
    """(seconds, differential caption), in time order."""
    line: int

    def content_key(self) -> dict[str, Any]:
        return {"video_id": self.video_id, "summary": self.summary, "timeline": self.timeline}


def read_captions(path: Path, keyframe_interval: float = 2.0) -> list[CaptionVideo]:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"captions file {path} does not exist",
                                hint="download sharegpt4video_40k.jsonl from the ShareGPT4Video dataset "
                                     "(https://huggingface.co/datasets/ShareGPT4Video/ShareGPT4Video)")
    out: list[CaptionVideo] = []
    seen: set[str] = set()
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON list instead of JSON lines
        try:
            rows = [(i + 1, r) for i, r in enumerate(json.loads(text))]
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg})") from None
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
    for n, obj in rows:
        where = f"{path}:{n}"
        if not isinstance(obj, dict):
            raise ConfigError(f"{where}: each line must be a JSON object")
        missing = [k for k in ("video_id", "video_path", "captions") if k not in obj]
        if missing:
            raise ConfigError(f"{where}: missing field(s) {missing}",
                              hint="ShareGPT4Video lines carry video_id, video_path, zip_folder, captions")
        caps = obj["captions"]
        if not isinstance(caps, list):
            raise ConfigError(f"{where}: `captions` must be a list of {{idx, content}}")
        summary = ""
        timeline: list[tuple[float, str]] = []
        for c in caps:
            if not isinstance(c, dict) or "idx" not in c or "content" not in c:
                raise ConfigError(f"{where}: each caption must be {{idx, content}}")
            try:
                idx = int(str(c["idx"]).strip())
            except ValueError:
                raise ConfigError(f"{where}: caption idx {c['idx']!r} is not an integer") from None
            content = " ".join(str(c["content"]).split())
            if idx == -1:
                summary = content
            elif idx >= 0 and content:
                timeline.append((round(idx * keyframe_interval, 3), content))
        timeline.sort(key=lambda x: x[0])
        vid = str(obj["video_id"])
        if vid in seen:
            raise ConfigError(f"{where}: duplicate video_id {vid!r}")
        seen.add(vid)
        out.append(CaptionVideo(vid, str(obj["video_path"]), obj.get("zip_folder"), summary, timeline, n))
    return out


def timeline_text(video: CaptionVideo) -> str:
    return "\n".join(f"[t={t:g}s] {c}" for t, c in video.timeline)


def annotator_messages(video: CaptionVideo, *, items_per_video: int, keyframe_interval: float,
                       feedback: list[str] | None = None, previous: str | None = None) -> list[dict[str, Any]]:
    user = USER_TEMPLATE.format(interval=keyframe_interval, summary=video.summary or "(none)",
                                timeline=timeline_text(video), k=items_per_video)
    msgs: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    if feedback:
        msgs.append({"role": "assistant", "content": previous or ""})
        msgs.append({"role": "user", "content": FEEDBACK_TEMPLATE.format(
            errors="\n".join(f"- {e}" for e in feedback))})
    return msgs


# ----------------------------------------------------------------------------- validation


def _tokens(text: str) -> list[str]:
    return [w for w in re.sub(r"[^0-9a-z]+", " ", text.lower()).split() if w not in _STOP]


def _stem(w: str) -> str:
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def _content(text: str) -> set[str]:
    return {_stem(w) for w in _tokens(text)}


def _f1(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    if common == 0:
        return 0.0
    p, r = common / len(a), common / len(b)
    return 2 * p * r / (p + r)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def validate_annotation(obj: Any, video: CaptionVideo, keyframe_interval: float = 2.0
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Check an annotator reply. Returns (valid items, rejected items with reasons, reply-level errors).

    A valid item is a dict ready for the MOSS-Video JSONL (without id / video / split)."""
    if not isinstance(obj, dict):
        return [], [], ["the reply is not a JSON object"]
    states_raw = obj.get("states")
    if not isinstance(states_raw, list) or not states_raw:
        return [], [], ['"states" must be a non-empty list of {"t", "state"}']
    horizon = (video.timeline[-1][0] if video.timeline else 0.0) + keyframe_interval
    states: list[tuple[float, str]] = []
    errors: list[str] = []
    for i, s in enumerate(states_raw):
        t = _num(s.get("t")) if isinstance(s, dict) else None
        text = str(s.get("state", "")).strip() if isinstance(s, dict) else ""
        if t is None or not text:
            errors.append(f"states[{i}] needs a numeric t and a non-empty state")
            continue
        if t < 0 or t > horizon:
            errors.append(f"states[{i}].t = {t:g}s lies outside the video timeline (0-{horizon:g}s)")
        if states and t <= states[-1][0]:
            errors.append(f"states[{i}].t = {t:g}s is not after the previous state ({states[-1][0]:g}s)")
        states.append((t, text))
    if errors:
        return [], [], errors
    items_raw = obj.get("items")
    if not isinstance(items_raw, list) or not items_raw:
        return [], [], ['"items" must be a non-empty list of questions']
    valid: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for k, it in enumerate(items_raw):
        reasons = _check_item(it, states)
        if reasons:
            rejected.append({"index": k, "reasons": reasons, "item": it})
            continue
        m = int(it["masked_from"])
        end = states[m - 1][0]
        valid.append({
            "index": k,
            "start": 0.0,
            "end": end,
            "question": it["question"].strip(),
            "options": {L: str(it["options"][L]).strip() for L in LETTERS},
            "answer": str(it["answer"]).strip().upper(),
            "reference_steps": [{"t": float(s["t"]), "text": str(s["text"]).strip()} for s in it["reference_steps"]],
            "level": str(it["level"]).strip().lower(),
            "category": str(it["category"]).strip().lower(),
            "states": [{"t": t, "state": s} for t, s in states],
            "masked_from": m,
        })
    return valid, rejected, []


def _check_item(it: Any, states: list[tuple[float, str]]) -> list[str]:
    if not isinstance(it, dict):
        return ["the item is not an object"]
    reasons: list[str] = []
    question = it.get("question")
    if not isinstance(question, str) or not question.strip():
        reasons.append("empty question")
        question = ""
    m = it.get("masked_from")
    if isinstance(m, bool) or not isinstance(m, int):
        return reasons + ["masked_from must be an integer index into states"]
    if m < 1 or m >= len(states):
        return reasons + [f"masked_from = {m} must leave at least one visible and one hidden state "
                          f"(1..{len(states) - 1})"]
    end = states[m - 1][0]
    if end <= 0:
        reasons.append("the last visible state is at t = 0: the observed window would be empty")
    options = it.get("options")
    if not isinstance(options, dict) or set(map(str, options)) != set(LETTERS):
        reasons.append("options must be exactly A, B, C, D")
        options = None
    else:
        texts = [str(options[L]).strip() for L in LETTERS]
        if any(not t for t in texts):
            reasons.append("an option is empty")
        if len({_norm(t) for t in texts}) < len(texts):
            reasons.append("two options say the same thing")
    answer = str(it.get("answer", "")).strip().upper()
    if answer not in LETTERS:
        reasons.append(f"answer {it.get('answer')!r} is not one of A, B, C, D")
    hidden = states[m][1]
    visible_words = set().union(*(_content(s) for _, s in states[:m]))
    distinctive = _content(hidden) - visible_words
    if options is not None and answer in LETTERS and not reasons:
        sims = {L: _f1(_content(str(options[L])), _content(hidden)) for L in LETTERS}
        best = max(sims.values())
        if sims[answer] <= 0 or sims[answer] < best:
            reasons.append(f"the answer option {answer} does not describe the hidden state "
                           f"(closest option: {max(sims, key=lambda x: sims[x])})")
        elif _norm(str(options[answer])) and _norm(str(options[answer])) in _norm(question):
            reasons.append("the question contains the answer")
    steps = it.get("reference_steps")
    if not isinstance(steps, list) or len(steps) < 2:
        reasons.append("reference_steps needs at least two steps")
        steps = []
    last_t = -1.0
    for j, s in enumerate(steps):
        t = _num(s.get("t")) if isinstance(s, dict) else None
        text = str(s.get("text", "")).strip() if isinstance(s, dict) else ""
        if not text:
            reasons.append(f"reference_steps[{j}] is empty")
            continue
        if t is None:
            reasons.append(f"reference_steps[{j}] has no numeric t")
            continue
        if t > end + 1e-6:
            reasons.append(f"reference_steps[{j}] at {t:g}s lies after the cut ({end:g}s): it shows the hidden part")
        if t < last_t:
            reasons.append(f"reference_steps[{j}] is out of time order")
        last_t = t
        if distinctive and distinctive <= _content(text):
            reasons.append(f"reference_steps[{j}] reveals the hidden state")
    if distinctive and question and distinctive <= _content(question):
        reasons.append("the question reveals the hidden state")
    level = str(it.get("level", "")).strip().lower()
    if level not in LEVELS:
        reasons.append(f"level {it.get('level')!r} must be coarse or fine")
    if not str(it.get("category", "")).strip():
        reasons.append("empty category")
    return reasons


# ----------------------------------------------------------------------------- split / cache


def split_of(video_id: str, seed: int, test_fraction: float) -> str:
    h = hashlib.sha256(f"{seed}:{video_id}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2.0 ** 64
    return "test" if u < test_fraction else "train"


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_fingerprint(model: str, messages: list[dict[str, Any]], gen: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({"model": model, "prompt_version": PROMPT_VERSION, "messages": messages,
                                      "gen": gen}).encode("utf-8")).hexdigest()


class ResponseCache:
    """One JSON file per successful reply, written atomically the moment it arrives."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, fp: str) -> Path:
        return self.folder / fp[:2] / f"{fp}.json"

    def get(self, fp: str) -> dict[str, Any] | None:
        p = self._path(fp)
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None  # a damaged entry is simply asked again
        return data if isinstance(data, dict) and data.get("fingerprint") == fp else None

    def put(self, fp: str, data: dict[str, Any]) -> None:
        write_json_atomic(self._path(fp), {**data, "fingerprint": fp}, indent=None,
                          hint="choose a writable --out folder")


# ----------------------------------------------------------------------------- build


@dataclass
class BuildOptions:
    captions: Path
    out: Path
    annotator_model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    seed: int = 0
    test_fraction: float = 0.2
    keyframe_interval: float = 2.0
    items_per_video: int = 3
    max_attempts: int = 2
    limit: int | None = None
    video_prefix: str = ""
    temperature: float = 0.0
    max_tokens: int = 2048
    timeout: float = 120.0
    max_retries: int = 5
    rpm: float | None = None
    max_requests: int | None = None
    structured: bool = True
    """Ask for ``response_format=json_schema`` (the client falls back to a prompt instruction)."""


@dataclass
class BuildReport:
    out: str
    n_videos: int = 0
    n_items: int = 0
    n_train: int = 0
    n_test: int = 0
    n_rejected_items: int = 0
    n_videos_without_items: int = 0
    n_failed_videos: int = 0
    requests_sent: int = 0
    cache_hits: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.n_failed_videos == 0


@dataclass
class _VideoOutcome:
    video: CaptionVideo
    items: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    requests: int = 0
    cache_hits: int = 0


def _validate_options(opts: BuildOptions) -> None:
    if not 0.0 <= opts.test_fraction <= 1.0:
        raise UsageError(f"--test-fraction must be between 0 and 1, got {opts.test_fraction}")
    if opts.concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, got {opts.concurrency}")
    if opts.keyframe_interval <= 0:
        raise UsageError(f"--keyframe-interval must be > 0 seconds, got {opts.keyframe_interval}")
    if opts.items_per_video < 1:
        raise UsageError(f"--items-per-video must be >= 1, got {opts.items_per_video}")
    if opts.max_attempts < 1:
        raise UsageError(f"--max-attempts must be >= 1, got {opts.max_attempts}")
    prefix = opts.video_prefix.replace("\\", "/")
    if prefix.startswith("/") or ".." in prefix.split("/"):
        raise UsageError(f"--video-prefix {opts.video_prefix!r} must be a relative folder inside --out")


def _annotate(video: CaptionVideo, opts: BuildOptions, client: Any, cache: ResponseCache,
              gen: dict[str, Any]) -> _VideoOutcome:
    from mosseval.openai_client import parse_json_object

    outcome = _VideoOutcome(video)
    feedback: list[str] | None = None
    previous: str | None = None
    for attempt in range(opts.max_attempts):
        msgs = annotator_messages(video, items_per_video=opts.items_per_video,
                                  keyframe_interval=opts.keyframe_interval, feedback=feedback, previous=previous)
        fp = request_fingerprint(opts.annotator_model, msgs, gen)
        hit = cache.get(fp)
        if hit is not None:
            text = hit.get("text")
            outcome.cache_hits += 1
        else:
            kwargs = dict(gen)
            if opts.structured:
                kwargs["json_schema"] = SCHEMA
                kwargs["schema_name"] = "moss_video_annotation"
            res = client.complete(msgs, **kwargs)
            outcome.requests += res.attempts
            if res.text is None:
                outcome.error = res.error or "no reply"
                return outcome
            text = res.text
            cache.put(fp, {"model": opts.annotator_model, "prompt_version": PROMPT_VERSION,
                           "video_id": video.video_id, "attempt": attempt, "text": text,
                           "usage": res.usage.model_dump() if hasattr(res.usage, "model_dump") else None})
        obj = parse_json_object(text)
        valid, rejected, errors = validate_annotation(obj, video, opts.keyframe_interval)
        for r in rejected:
            r["attempt"] = attempt
        outcome.rejected += rejected
        if valid:
            outcome.items = valid[: opts.items_per_video]
            return outcome
        feedback = errors or [f"question {r['index']}: " + "; ".join(r["reasons"]) for r in rejected] or [
            "the reply held no usable question"]
        if obj is None:
            feedback = ["the reply was not a JSON object"]
        previous = text
    return outcome


def build(opts: BuildOptions, client: Any = None,
          progress: Callable[[int, int], None] | None = None) -> BuildReport:
    """Run the construction; ``client`` defaults to a ``ChatClient`` for ``opts``."""
    _validate_options(opts)
    videos = read_captions(opts.captions, opts.keyframe_interval)
    if opts.limit is not None:
        videos = videos[: opts.limit]
    out = Path(opts.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc.strerror or exc}") from None
    own_client = client is None
    if client is None:
        from mosseval.openai_client import ChatClient

        client = ChatClient(opts.annotator_model, base_url=opts.base_url, api_key_env=opts.api_key_env,
                            timeout=opts.timeout, max_retries=opts.max_retries, concurrency=opts.concurrency,
                            rpm=opts.rpm, budget_requests=opts.max_requests)
    cache = ResponseCache(out / ".cache")
    gen = {"temperature": opts.temperature, "max_tokens": opts.max_tokens}
    report = BuildReport(out=str(out), n_videos=len(videos))
    outcomes: list[_VideoOutcome | None] = [None] * len(videos)
    done = [0]
    lock = threading.Lock()

    def work(i: int) -> None:
        outcomes[i] = _annotate(videos[i], opts, client, cache, gen)
        with lock:
            done[0] += 1
            if progress:
                progress(done[0], len(videos))

    try:
        usable = [i for i, v in enumerate(videos) if len(v.timeline) >= 2]
        for i, v in enumerate(videos):
            if len(v.timeline) < 2:
                outcomes[i] = _VideoOutcome(v, rejected=[{"index": None, "reasons": [
                    "fewer than two keyframe captions: no timeline to mask"]}])
        stop: RemoteError | None = None
        with ThreadPoolExecutor(max_workers=max(1, min(opts.concurrency, len(usable) or 1))) as pool:
            futures = [pool.submit(work, i) for i in usable]
            for fut in futures:
                try:
                    fut.result()
                except RemoteError as exc:  # auth refused / budget spent: keep what is done, then stop
                    stop = stop or exc
    finally:
        if own_client:
            client.close()
    for i, oc in enumerate(outcomes):
        if oc is None:
            outcomes[i] = _VideoOutcome(videos[i], error=f"not annotated: {stop}" if stop else "not annotated")
    _write_outputs(out, opts, videos, outcomes, report, client)
    if stop is not None:
        raise stop
    return report


def _write_outputs(out: Path, opts: BuildOptions, videos: list[CaptionVideo], outcomes: list[_VideoOutcome | None],
                   report: BuildReport, client: Any) -> None:
    prefix = opts.video_prefix.strip("/")
    lines: dict[str, list[str]] = {"train": [], "test": []}
    rejected_lines: list[str] = []
    for v, oc in zip(videos, outcomes):
        assert oc is not None
        report.requests_sent += oc.requests
        report.cache_hits += oc.cache_hits
        for r in oc.rejected:
            rejected_lines.append(json.dumps({"video_id": v.video_id, **r}, ensure_ascii=False))
            report.n_rejected_items += 1
        if oc.error is not None:
            report.n_failed_videos += 1
            report.failures.append({"video_id": v.video_id, "error": oc.error})
            continue
        if not oc.items:
            report.n_videos_without_items += 1
            continue
        split = split_of(v.video_id, opts.seed, opts.test_fraction)
        video_rel = f"{prefix}/{v.video_path}" if prefix else v.video_path
        for it in oc.items:
            m = it["masked_from"]
            record = {
                "id": f"{v.video_id}-q{it['index']}",
                "video": video_rel,
                "start": it["start"],
                "end": it["end"],
                "question": it["question"],
                "options": it["options"],
                "answer": it["answer"],
                "reference_steps": it["reference_steps"],
                "level": it["level"],
                "category": it["category"],
                "split": split,
                "video_id": v.video_id,
                "zip_folder": v.zip_folder,
                "states": it["states"][:m],
                "masked_states": it["states"][m:],
                "annotator": opts.annotator_model,
                "prompt_version": PROMPT_VERSION,
            }
            lines[split].append(json.dumps(record, ensure_ascii=False))
            report.n_items += 1
            if split == "test":
                report.n_test += 1
            else:
                report.n_train += 1
    files = {"train": out / "train.jsonl", "test": out / "test.jsonl", "rejected": out / "rejected.jsonl"}
    _atomic_write(files["train"], "".join(x + "\n" for x in lines["train"]))
    _atomic_write(files["test"], "".join(x + "\n" for x in lines["test"]))
    _atomic_write(files["rejected"], "".join(x + "\n" for x in rejected_lines))
    report.files = {k: str(v) for k, v in files.items()}
    describe = client.describe() if hasattr(client, "describe") else {"model": opts.annotator_model}
    manifest = {
        "schema": "moss-video",
        "prompt_version": PROMPT_VERSION,
        "annotator": describe,
        "captions": str(opts.captions),
        "captions_sha256": hashlib.sha256(Path(opts.captions).read_bytes()).hexdigest(),
        "seed": opts.seed,
        "test_fraction": opts.test_fraction,
        "keyframe_interval": opts.keyframe_interval,
        "items_per_video": opts.items_per_video,
        "video_prefix": prefix,
        "generation": {"temperature": opts.temperature, "max_tokens": opts.max_tokens},
        "report": {k: v for k, v in asdict(report).items() if k not in ("files",)},
    }
    _atomic_write(out / "build.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    report.files["manifest"] = str(out / "build.json")


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_text(path, text, hint=None)
