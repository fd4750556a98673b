"""``mosseval data check`` (preflight) and ``mosseval data build-moss-video``.

Registered on the lead's ``data`` sub-app through ``register_data(data_app)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from mosseval.cli.options import CacheDirOpt, DataDirOpt, JsonOutOpt, LimitOpt, QuietOpt, SeedOpt, TasksDirOpt
from mosseval.errors import ExitCode

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DATA = "Data"
ANNOT = "Annotator"
OUTPUT = "Output"


def data_check(
    task: Annotated[str, typer.Argument(metavar="TASK", show_default=False,
                                        help="Task or group (comma-separated allowed), e.g. mvbench, mmvu.")],
    data_dir: DataDirOpt = None,
    limit: LimitOpt = None,
    sample: Annotated[Optional[int], typer.Option("--sample", metavar="K", help="Open only K randomly chosen videos "
                                                  "per task (seeded).", rich_help_panel=DATA)] = None,
    seed: SeedOpt = 0,
    tasks_dir: TasksDirOpt = None,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOutOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every video (frames, fps, duration, "
                                          "codec, size), not only the problems.", rich_help_panel=OUTPUT)] = False,
) -> int:
    """Open every video a task references (before any model is loaded) and report problems.

    Lists missing, unreadable (damaged / not a video / a still image), truncated and escaping paths
    (symbolic links leading out of the data root included), bound problems
    (start/end beyond the video) and frame-selection failures, with durations and codecs.
    Exit status: 0 clean, 3 problems found, 6 dataset not found, 2 bad task name.
    """
    from mosseval.data.locate import resolve_data_root
    from mosseval.preflight import check_task
    from mosseval.tasks import load_registry, resolve_tasks

    if sample is not None and sample < 0:
        from mosseval.errors import UsageError

        raise UsageError(f"--sample must be >= 0, got {sample}")
    registry = load_registry(list(tasks_dir or []))
    leaves = resolve_tasks(task.split(","), registry)
    reports = []
    for spec, _group in leaves:
        root = resolve_data_root(spec, data_dir, cache_dir, seed=seed)
        rep = check_task(spec, root, limit=limit, sample_videos=sample, seed=seed)
        reports.append(rep)
    _print_reports(reports, verbose)
    if json_out is not None:
        from mosseval.rundir import write_json_atomic

        write_json_atomic(Path(json_out), {"ok": all(r.ok for r in reports),
                                           "tasks": [r.to_dict() for r in reports]})
    return int(ExitCode.OK) if all(r.ok for r in reports) else int(ExitCode.SAMPLE_ERRORS)


def _print_reports(reports, verbose: bool) -> None:
    summary = Table(title="preflight", show_lines=False)
    for col in ("task", "samples", "videos", "checked", "problems", "clamped"):
        summary.add_column(col, overflow="fold", no_wrap=col == "task")
    roots: dict[str, list[str]] = {}
    for r in reports:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r.counts().items())) or "[green]none[/]"
        checked = f"{r.n_checked}" + (" (sample)" if r.sampled else "")
        summary.add_row(r.task, str(r.n_samples), str(r.n_videos), checked, counts, str(r.clamped))
        roots.setdefault(r.root, []).append(r.task)
    out.print(summary)
    for root, names in roots.items():
        label = names[0] if len(names) == 1 else f"{len(names)} tasks"
        out.print(f"data root ({label}): {root}", highlight=False)
    if verbose:
        table = Table(title="videos", show_lines=False)
        for col in ("task", "path", "status", "frames", "fps", "duration (s)", "codec", "size", "samples"):
            table.add_column(col, overflow="fold")
        for r in reports:
            for v in r.videos:
                size = f"{v.width}x{v.height}" if v.width else ""
                table.add_row(r.task, v.path, v.status, _s(v.num_frames), _s(v.fps), _s(v.duration),
                              v.codec or "", size, str(len(v.samples)))
        out.print(table)
    problems = [(r.task, p) for r in reports for p in r.problems]
    if problems:
        # one problem per line (long paths and messages do not fit a table column)
        out.print(f"[bold red]{len(problems)} problem(s):[/]")
        for task, p in problems:
            out.print(f"  {task}: {p}", highlight=False, markup=False)
    else:
        out.print("[green]all video references are readable[/]")


def _s(x) -> str:
    return "" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def build_moss_video(
    captions: Annotated[Path, typer.Option("--captions", help="ShareGPT4Video captions (sharegpt4video_40k.jsonl).",
                                           rich_help_panel=DATA)],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (train.jsonl, test.jsonl, build.json).",
                                          rich_help_panel=OUTPUT)],
    annotator_model: Annotated[str, typer.Option("--annotator-model", help="Chat model that annotates "
                                                 "(any OpenAI-compatible endpoint).", rich_help_panel=ANNOT)],
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="Endpoint incl. /v1 (else $OPENAI_BASE_URL).",
                                                    rich_help_panel=ANNOT)] = None,
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the API key.",
                                             rich_help_panel=ANNOT)] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option("--concurrency", help="Requests in flight.",
                                             rich_help_panel=ANNOT)] = 4,
    rpm: Annotated[Optional[float], typer.Option("--rpm", help="Requests per minute limit.",
                                                 rich_help_panel=ANNOT)] = None,
    max_requests: Annotated[Optional[int], typer.Option("--max-requests", help="Stop after this many HTTP requests.",
                                                        rich_help_panel=ANNOT)] = None,
    temperature: Annotated[float, typer.Option("--temperature", rich_help_panel=ANNOT)] = 0.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", rich_help_panel=ANNOT)] = 2048,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/test split by video.",
                                      rich_help_panel=DATA)] = 0,
    test_fraction: Annotated[float, typer.Option("--test-fraction", help="Share of videos in the test split.",
                                                 rich_help_panel=DATA)] = 0.2,
    keyframe_interval: Annotated[float, typer.Option("--keyframe-interval", help="Seconds between keyframe "
                                                     "captions.", rich_help_panel=DATA)] = 2.0,
    items_per_video: Annotated[int, typer.Option("--items-per-video", help="Most questions per video.",
                                                 rich_help_panel=DATA)] = 3,
    max_attempts: Annotated[int, typer.Option("--max-attempts", help="Requests per video when replies fail "
                                              "validation.", rich_help_panel=ANNOT)] = 2,
    video_prefix: Annotated[str, typer.Option("--video-prefix", help="Folder (inside --out) prepended to each "
                                              "video_path.", rich_help_panel=DATA)] = "",
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", metavar="N", help="First N videos only.",
                                                 rich_help_panel=DATA)] = None,
    quiet: QuietOpt = False,
) -> int:
    """Build a MOSS-Video dataset from ShareGPT4Video captions with an LLM annotator.

    Resumable and cached: re-running the same command sends no request twice. Exit status 0 when
    every video was annotated (items may still be rejected by validation, see rejected.jsonl),
    3 when some requests failed (re-run to retry them), 7 when the endpoint refuses (auth, budget).
    """
    from mosseval.data.build_moss_video import BuildOptions, build

    opts = BuildOptions(captions=captions, out=out_dir, annotator_model=annotator_model, base_url=base_url,
                        api_key_env=api_key_env, concurrency=concurrency, seed=seed, test_fraction=test_fraction,
                        keyframe_interval=keyframe_interval, items_per_video=items_per_video,
                        max_attempts=max_attempts, limit=limit, video_prefix=video_prefix,
                        temperature=temperature, max_tokens=max_tokens, rpm=rpm, max_requests=max_requests)

    def progress(done: int, total: int) -> None:
        if not quiet and (done == total or done % 25 == 0):
            console.print(f"annotated {done}/{total} videos", highlight=False)

    report = build(opts, progress=progress)
    out.print(f"{report.n_items} items ({report.n_train} train, {report.n_test} test) from "
              f"{report.n_videos} videos; {report.n_rejected_items} rejected item(s), "
              f"{report.n_videos_without_items} video(s) without a valid item, {report.n_failed_videos} failed; "
              f"{report.requests_sent} request(s) sent, {report.cache_hits} cached")
    for f in report.failures[:10]:
        console.print(f"[yellow]failed[/] {f['video_id']}: {f['error']}", highlight=False)
    out.print(json.dumps(report.files))
    return int(ExitCode.OK) if report.ok else int(ExitCode.SAMPLE_ERRORS)


def register_data(data_app: typer.Typer) -> None:
    data_app.command("check")(data_check)
    data_app.command("build-moss-video")(build_moss_video)
