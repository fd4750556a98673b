"""A small self-contained HTML training report: inline SVG line charts of ``metrics.jsonl``.

No scripts, no external assets; every piece of text (metric names, config values, sample
completions -- model output is untrusted) goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["write_report", "render_report", "CHARTS"]

CHARTS: list[tuple[str, list[str]]] = [
    ("Reward (total and components)", ["reward", "reward/accuracy", "reward/format", "reward/prr"]),
    ("PRR of correct vs incorrect completions", ["prr_correct", "prr_incorrect"]),
    ("Loss (SFT: every target token, and the answer's alone)", ["loss", "answer_nll"]),
    ("KL to the reference (k3)", ["kl"]),
    ("Completion length (tokens)", ["completion_length", "completion_length_max"]),
    ("Accuracy", ["accuracy"]),
    ("Gradient norm", ["grad_norm"]),
    ("Vision output: spread across visual tokens / RMS (near 0: the frames are lost)", ["vision_spread"]),
    ("Vision output RMS", ["vision_rms"]),
    ("Learning rate", ["lr"]),
    ("Clip fraction / zero-std groups", ["clip_fraction", "zero_std_groups", "truncated_fraction"]),
    ("Seconds per step", ["step_time_s", "generate_time_s"]),
]
_COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"]
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 460, 220, 56, 12, 14, 30


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000 or a < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def _chart(title: str, series: dict[str, list[tuple[float, float]]]) -> str:
    pts = [p for s in series.values() for p in s]
    e = html.escape
    if not pts:
        return ""
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 0.5
        y0, y1 = y0 - pad, y1 + pad
    pw, ph = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def sx(x: float) -> float:
        return _PAD_L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return _PAD_T + (1 - (y - y0) / (y1 - y0)) * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" '
             f'role="img" aria-label="{e(title)}">',
             f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{pw}" height="{ph}" fill="#fff" stroke="#d1d5db"/>']
    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        yy = sy(yv)
        parts.append(f'<line x1="{_PAD_L}" x2="{_PAD_L + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eef0f3"/>')
        parts.append(f'<text x="{_PAD_L - 4}" y="{yy + 4:.1f}" text-anchor="end" font-size="10">{e(_fmt(yv))}</text>')
    for xv in (x0, (x0 + x1) / 2, x1):
        parts.append(f'<text x="{sx(xv):.1f}" y="{_H - 12}" text-anchor="middle" font-size="10">'
                     f'{e(_fmt(round(xv, 2)))}</text>')
    parts.append(f'<text x="{_PAD_L + pw / 2:.1f}" y="{_H - 1}" text-anchor="middle" font-size="10" '
                 f'fill="#6b7280">step</text>')
    for i, (name, s) in enumerate(series.items()):
        color = _COLORS[i % len(_COLORS)]
        if len(s) == 1:
            x, y = s[0]
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>')
        else:
            d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{d}">'
                         f'<title>{e(name)}</title></polyline>')
    parts.append("</svg>")
    legend = " ".join(
        f'<span class="key"><i style="background:{_COLORS[i % len(_COLORS)]}"></i>{e(name)} '
        f'<b>{e(_fmt(s[-1][1]))}</b></span>'
        for i, (name, s) in enumerate(series.items()))
    return f'<figure><figcaption>{e(title)}</figcaption>{"".join(parts)}<div class="legend">{legend}</div></figure>'


def _series(records: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    out = []
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and "step" in r:
            out.append((float(r["step"]), float(v)))
    return out


def render_report(records: list[dict[str, Any]], *, config: dict[str, Any] | None = None,
                  summary: dict[str, Any] | None = None, completions: list[dict[str, Any]] | None = None,
                  title: str = "mosseval train") -> str:
    e = html.escape
    figures = []
    for chart_title, keys in CHARTS:
        series = {k: _series(records, k) for k in keys}
        series = {k: v for k, v in series.items() if v}
        if series:
            figures.append(_chart(chart_title, series))
    last = records[-1] if records else {}
    head = [("steps logged", str(len(records)))]
    if last:
        head += [("last step", str(last.get("step"))), ("last reward", _fmt(float(last.get("reward", 0.0))))]
    if summary:
        for k in ("world_size", "distributed_type", "step_time_median_s", "params_in_sync", "last_checkpoint"):
            if summary.get(k) is not None:
                v = summary[k]
                head.append((k.replace("_", " "), _fmt(v) if isinstance(v, float) else str(v)))
    cards = "".join(f"<div class=card><span>{e(k)}</span><b>{e(v)}</b></div>" for k, v in head)
    cfg_rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
                       for k, v in (config or {}).items())
    comp_rows = "".join(
        f"<tr><td>{e(str(c.get('step')))}</td><td>{e(str(c.get('sample_id')))}</td>"
        f"<td>{e(_fmt(float(c.get('reward', 0.0))))}</td><td><pre>{e(str(c.get('text', '')))}</pre></td></tr>"
        for c in (completions or [])[-12:])
    comp_html = (f"<h2>Last completions</h2><table class=comp><tr><th>step</th><th>sample</th><th>reward</th>"
                 f"<th>text</th></tr>{comp_rows}</table>") if comp_rows else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111827;background:#f9fafb}}
h1{{font-size:20px;margin:0 0 12px}} h2{{font-size:16px;margin:24px 0 8px}}
.cards{{display:flex;flex-wrap:wrap;gap:8px}} .card{{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:6px 10px}}
.card span{{display:block;font-size:11px;color:#6b7280}} .grid{{display:flex;flex-wrap:wrap;gap:12px}}
figure{{margin:0;background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:8px}}
figcaption{{font-weight:600;margin-bottom:4px}} .legend{{font-size:11px}} .key{{margin-right:10px}}
.key i{{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}}
table{{border-collapse:collapse;background:#fff}} th,td{{border:1px solid #e5e7eb;padding:3px 6px;text-align:left;vertical-align:top}}
pre{{margin:0;white-space:pre-wrap;max-width:720px;font-size:12px}}
</style></head><body>
<h1>{e(title)}</h1>
<div class="cards">{cards}</div>
<h2>Metrics</h2>
<div class="grid">{''.join(figures) or '<p>no metrics yet</p>'}</div>
{comp_html}
<h2>Configuration</h2><table>{cfg_rows}</table>
</body></html>
"""


def write_report(output_dir: str | Path, path: str | Path | None = None) -> Path:
    """Render ``OUTPUT_DIR/report.html`` from the run's metrics, config, summary and completions."""
    out = Path(output_dir)

    def jsonl(name: str) -> list[dict[str, Any]]:
        p = out / name
        rows = []
        if p.is_file():
            for line in p.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return rows

    config: dict[str, Any] = {}
    cfg_path = out / "train_config.yaml"
    if cfg_path.is_file():
        import yaml

        from mosseval.fileio import load_yaml

        try:
            config = load_yaml(cfg_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            config = {}
    summary = {}
    if (out / "summary.json").is_file():
        try:
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        except ValueError:
            summary = {}
    target = Path(path) if path else out / "report.html"
    text = render_report(jsonl("metrics.jsonl"), config=config, summary=summary,
                         completions=jsonl("completions.jsonl"),
                         title=f"mosseval train — {config.get('model', '')} on {config.get('data', '')}")
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
