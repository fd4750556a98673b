"""The leaderboard page in a real headless Chromium (file://, offline): sorting, filtering, units, chance
markers, the judge hint, the sample browser (the frames the model saw, the DTW alignment without
overprinted labels, blank outputs), no console errors, model output shown as text only, and a script that
reads only what leaderboard.schema.json declares.

Needs Debian's /usr/bin/chromium (Playwright's own browser download does not work offline).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from mosseval.leaderboard import build_leaderboard, render_html
from mosseval.records import PRRDetail
from tests.leaderboard.test_aggregate import (
    XSS_IMG,
    XSS_SCRIPT,
    make_record,
    task_spec,
    write_lmms_fixture,
    write_run,
    write_verdicts,
    xss_run,
)

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("MOSSEVAL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def real_oracle_run(root: Path) -> Path:
    """A real `mosseval run` on the generated moss-video-mini videos (so thumbnails can be decoded)."""
    from mosseval.runner import Runner, RunOptions

    opts = RunOptions(model="oracle", tasks=["moss-video-mini"], limit=6, output_dir=root, progress=False, workers=0,
                      fsync=False)
    return Runner(opts, None).execute().run_dir


def build_demo_board(root: Path):
    """Five models on a PRR task, an MVBench-style group and an approximate MMVU-style task, an XSS run,
    a real oracle run with thumbnails and an lmms-eval import: every feature of the page has something to
    show. One model has judge verdicts."""
    from mosseval.tasks import load_registry

    mini = load_registry()["moss-video-mini"]  # the real task, so the real oracle run shares its column
    skills = {"qwen2.5-vl-7b": 0.82, "moss-chatv-7b": 0.88, "llava-ov-7b": 0.71, "tiny-qwen2.5-vl": 0.31,
              "random": 0.25}
    dirs = []
    for k, (name, p) in enumerate(skills.items()):
        tasks = {}
        recs = []
        for i in range(120):
            ok = ((i * 7 + k * 3) % 100) / 100 < p
            prr = round(min(1.0, max(0.0, p + (((i * 13) % 40) - 20) / 100 - (0.0 if ok else 0.25))), 4)
            recs.append(make_record("moss-video-mini", i, ok, prr))
        if name == "qwen2.5-vl-7b":  # converging alignment paths: several distance labels meet at one step
            recs[0].score.prr_detail = PRRDetail(cost=0.9, normalized_cost=0.2, path=[(0, 0), (1, 0), (2, 0), (2, 1)],
                                                 step_distances=[0.11, 0.22, 0.33, 0.44])
        tasks["moss-video-mini"] = (mini, recs)
        for s_i, sub in enumerate(["action_sequence", "moving_direction", "scene_transition"]):
            rr = [make_record(sub, i, ((i * 11 + s_i * 5 + k) % 100) / 100 < p - 0.05 * s_i, None) for i in range(60)]
            tasks[sub] = (task_spec(sub, protocol="official", frames=16, prr=False), rr)
        tasks["mmvu"] = (task_spec("mmvu", protocol="official", frames=32, prr=False, approximate=True),
                         [make_record("mmvu", i, ((i * 3 + k) % 100) / 100 < p - 0.1, None) for i in range(80)])
        dirs.append(write_run(root / "runs" / name, name, tasks,
                              groups={"mvbench": ["action_sequence", "moving_direction", "scene_transition"]},
                              created=f"2025-03-0{k + 1}T09:30:00Z",
                              model_identity={"params": int(7.6e9) if "7b" in name else None}))
        if name == "moss-chatv-7b":
            write_verdicts(dirs[-1], "process-consistency", "score",
                           [(r, {"score": float(1 + i % 10), "rationale": "follows the timeline"})
                            for i, r in enumerate(recs) if i % 4 == 0], scale=(1.0, 10.0))
    dirs.append(xss_run(root / "runs" / "xss", spec=mini))
    dirs.append(real_oracle_run(root / "real"))
    write_lmms_fixture(root / "lmms")
    return build_leaderboard([str(d) for d in dirs], lmms=[str(root / "lmms")], samples_per_run=60, thumbnails=True)


# Records the property paths the page's script reads from BOARD (JSON.parse is wrapped before the page runs).
RECORD_READS = """
(() => {
  const parse = JSON.parse;
  window.__reads = new Set();
  const SKIP = new Set(["length", "map", "filter", "forEach", "slice", "some", "every", "indexOf", "join", "sort",
    "reduce", "concat", "push", "find", "toString", "valueOf", "constructor", "hasOwnProperty", "toJSON", "then"]);
  function wrap(v, path) {
    if (v === null || typeof v !== "object") return v;
    return new Proxy(v, { get(t, k, r) {
      const x = Reflect.get(t, k, r);
      if (typeof k !== "string" || (Array.isArray(t) && SKIP.has(k)) || (typeof x === "function")) return x;
      const key = Array.isArray(t) ? (/^[0-9]+$/.test(k) ? "[]" : k) : k;
      window.__reads.add(path.concat([key]).join("\u0001"));
      return wrap(x, path.concat([key]));
    }, ownKeys(t) { window.__reads.add(path.concat(["*"]).join("\u0001")); return Reflect.ownKeys(t); } });
  }
  JSON.parse = function (text, rev) {
    const out = parse.call(JSON, text, rev);
    return out && out.kind === "mosseval-leaderboard" ? wrap(out, []) : out;
  };
})();
"""


@pytest.fixture(scope="module")
def page_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lbpage")
    board = build_demo_board(root)
    return render_html(board, root / "leaderboard.html", samples_per_run=60)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium) — the browser test needs a real Chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        try:
            # Playwright gives every launch a fresh temporary profile (the --user-data-dir).
            br = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # noqa: BLE001
            pytest.skip(f"cannot launch {CHROMIUM}: {str(exc).splitlines()[0]}")
        yield br
        br.close()


def open_page(browser, page_file: Path, record_reads: bool = False):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    if record_reads:
        page.add_init_script(RECORD_READS)
    events = {"console": [], "errors": [], "dialogs": [], "requests": []}
    page.on("console", lambda m: events["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    page.on("request", lambda r: events["requests"].append(r.url))
    page.goto(page_file.as_uri())
    page.wait_for_selector("table#lb tbody tr")
    return page, events


def column_values(page, col_id: str) -> list[float | None]:
    return page.eval_on_selector_all(
        f'table#lb tbody tr:not([hidden]) td[data-col="{col_id}"]',
        "tds => tds.map(td => td.dataset.value === '' ? null : Number(td.dataset.value))")


def test_sorting_filtering_alignment_and_escaping(browser, page_file, tmp_path):
    page, events = open_page(browser, page_file)
    rows = page.locator("table#lb tbody tr")
    assert rows.count() == 8

    # default order: overall accuracy, best first
    overall = column_values(page, "overall")
    present = [v for v in overall if v is not None]
    assert present == sorted(present, reverse=True) and overall[-1] is None  # the lmms import has no overall
    # leader and tie markers exist
    assert page.locator('td[data-col="overall"] [data-mark="leader"]').count() == 1

    # click a task header: rows sort by that column, descending; click again: ascending
    col_id = page.get_attribute('th[data-sort^="moss-video-mini@"]', "data-sort")
    page.click(f'th[data-sort="{col_id}"]')
    vals = [v for v in column_values(page, col_id) if v is not None]
    assert len(vals) == 7 and vals == sorted(vals, reverse=True)
    page.click(f'th[data-sort="{col_id}"]')
    vals = [v for v in column_values(page, col_id) if v is not None]
    assert vals == sorted(vals)
    # sort by name
    page.click('th[data-sort="name"]')
    names = page.eval_on_selector_all("table#lb tbody tr", "trs => trs.map(t => t.dataset.name.toLowerCase())")
    assert names == sorted(names)

    # the filter hides rows
    page.fill("#filter", "qwen2.5")
    visible = page.eval_on_selector_all("table#lb tbody tr:not([hidden])", "trs => trs.map(t => t.dataset.name)")
    assert sorted(visible) == ["qwen2.5-vl-7b", "tiny-qwen2.5-vl"]
    assert "2 of 8" in page.text_content("#count")
    page.fill("#filter", "")
    assert page.locator("table#lb tbody tr:not([hidden])").count() == 8

    # one scale: accuracy and PRR both shown on 0-100 with one decimal (data-value keeps the fraction)
    def shown(metric_col: str) -> list[tuple[float, str]]:
        return page.eval_on_selector_all(
            f'table#lb tbody tr td[data-col="{metric_col}"]:not(.empty)',
            "tds => tds.map(td => [Number(td.dataset.value), td.querySelector('.val').textContent])")
    for value, text in shown(col_id):
        assert re.fullmatch(r"\d{1,3}\.\d", text) and float(text) == pytest.approx(100 * value, abs=0.051)
    page.click('button[data-metric="prr"]')
    prr = shown(col_id)
    assert prr and all(0 <= v <= 1 and float(t) == pytest.approx(100 * v, abs=0.051) for v, t in prr)
    assert "(0–100)" in page.text_content('th[data-sort="overall"]')
    page.click('button[data-metric="accuracy"]')
    # the tie legend says "≈" once (the badge), not twice
    legend = page.text_content(".legend")
    assert legend.count("≈") == 1 and "statistically tied with the leader" in legend
    # chance level: 4 options -> 25 %, marked on the CI bars and named in the header
    assert page.locator(f'td[data-col="{col_id}"] .cibar .chance').count() == 7
    assert "chance 25%" in page.text_content(f'th[data-sort="{col_id}"]')
    # params and checkpoint names are text, never "[object Object]"
    assert "[object Object]" not in page.text_content("table#lb")
    assert page.text_content("table#lb tbody tr[data-name='qwen2.5-vl-7b'] td:nth-child(3)") == "7.6B"

    # the Judge tab: values for the judged run, a hint naming the runs that were not judged
    page.click('button[data-metric="judge"]')
    note = page.locator("#metric-note")
    assert note.is_visible() and "mosseval judge" in note.text_content() and "qwen2.5-vl-7b" in note.text_content()
    judged = page.text_content(f"table#lb tbody tr[data-name='moss-chatv-7b'] td[data-col='{col_id}']")
    assert "/10" in judged
    page.click('button[data-metric="accuracy"]')
    assert not page.locator("#metric-note").is_visible()

    # charts are inline SVG; the scatter marks chance
    assert page.locator("#scatter svg circle.dot").count() == 7
    assert page.locator("#scatter svg line.chance-line").count() == 1
    assert page.locator("#drill svg rect.bar").count() >= 2

    # per-sample browser: pick the XSS run and its first sample; the alignment is drawn
    xss_id = page.eval_on_selector("table#lb tbody tr[data-name^='xss']", "t => t.dataset.run")
    page.select_option("#sample-run", xss_id)
    page.click("#sample-list button >> nth=0")
    page.wait_for_selector(".align svg.links line.align-line", state="attached")
    assert page.locator(".align svg.links line.align-line").count() == 3
    assert page.locator(".align li[data-ref]").count() == 3
    # the XSS payloads are visible as text and created no element
    detail = page.text_content("#sample-detail")
    assert XSS_SCRIPT in detail and XSS_IMG in detail
    assert XSS_SCRIPT in page.text_content(".options")
    assert page.locator("#sample-detail img").count() == 0
    assert page.locator("img[onerror]").count() == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 2
    name_cell = page.text_content("table#lb tbody tr[data-name^='xss'] .model-name")
    assert name_cell == "xss <b>model</b>"
    assert page.locator("table#lb b").count() == 0

    # an lmms-eval run's samples open too (no alignment, raw output shown)
    lmms_id = page.eval_on_selector("table#lb tbody tr[data-name*='llava-onevision']", "t => t.dataset.run")
    page.select_option("#sample-run", lmms_id)
    page.click("#sample-list button >> nth=0")
    assert "Question:" in page.text_content("#sample-detail")

    page.select_option("#sample-run", page.eval_on_selector("table#lb tbody tr[data-name='moss-chatv-7b']",
                                                            "t => t.dataset.run"))
    page.click('#sample-filter button[data-f="low-prr"]')
    page.click("#sample-list button >> nth=0")
    page.wait_for_selector(".align svg.links line.align-line", state="attached")
    assert page.locator(".align svg.links line.align-line").count() == 3
    chips = page.text_content("#sample-detail .chips")
    assert "picked: among the lowest PRR" in chips and "judge process-consistency" in chips

    # converging alignment lines: every distance is listed on its step, and no two labels overprint
    page.click('#sample-filter button[data-f="all"]')
    qwen = page.eval_on_selector("table#lb tbody tr[data-name='qwen2.5-vl-7b']", "t => t.dataset.run")
    page.select_option("#sample-run", qwen)
    page.click('#sample-list button[data-key="moss-video-mini/s0000"]')
    page.wait_for_selector(".align svg.links line.align-line", state="attached")
    assert page.locator(".align svg.links line.align-line").count() == 4
    assert page.text_content('.align li[data-gen="0"] .dists') == "R1 · 0.11R2 · 0.22R3 · 0.33"
    boxes = page.eval_on_selector_all(".align svg.links text.dlabel", "ts => ts.map(t => { const b = t.getBBox(); "
                                      "return [b.x, b.y, b.x + b.width, b.y + b.height]; })")
    assert boxes and all(not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
                         for i, a in enumerate(boxes) for b in boxes[i + 1:]), boxes
    assert "not judged" in page.text_content("#sample-detail .chips")
    # a whitespace-only output is called out, its characters made visible
    page.select_option("#sample-run", xss_id)
    page.click('#sample-list button[data-key="moss-video-mini/s0001"]')
    page.click("#sample-detail details summary >> text=Raw model output")
    assert "only whitespace (4 characters" in page.text_content('[data-note="blank-output"]')
    assert "⎵↵" in page.text_content("#sample-detail pre.raw")

    # the real run: thumbnails are exactly the frames the model saw
    real = page.eval_on_selector("table#lb tbody tr[data-name='oracle']", "t => t.dataset.run")
    page.select_option("#sample-run", real)
    page.click("#sample-list button >> nth=0")
    page.wait_for_selector("#sample-detail .frames img")
    captions = page.eval_on_selector_all("#sample-detail .frames figcaption", "fs => fs.map(f => f.textContent)")
    seen = page.eval_on_selector_all("#sample-detail .fchip", "fs => fs.map(f => f.textContent)")
    assert [c.split(" ")[0] for c in captions] == [x.split(" ")[0] for x in seen] and len(seen) == 8
    assert "all 8 frames the model saw" in page.text_content("#sample-detail")
    assert "picked: every sample of this run is embedded" in page.text_content("#sample-detail .chips")

    assert events["dialogs"] == [], events["dialogs"]
    assert events["errors"] == [], events["errors"]
    bad = [m for m in events["console"] if m[0] in ("error", "warning")]
    assert bad == [], bad
    assert all(u.startswith(("file:", "data:")) for u in events["requests"]), events["requests"]

    # screenshots for a human to look at
    shot = tmp_path / "leaderboard.png"
    page.screenshot(path=str(shot), full_page=True)
    keep = Path(tempfile.gettempdir()) / "mosseval-leaderboard-screenshot.png"
    shutil.copyfile(shot, keep)
    print(f"\nscreenshot: {shot}\ncopy: {keep}")
    assert shot.stat().st_size > 10_000
    page.close()


def _schema_allows(schema: dict, path: list[str]) -> bool:
    """Whether the property path (names, "[]" for an array element, "*" for listing keys) is declared."""
    defs = schema.get("$defs", {})

    def resolve(node: dict) -> list[dict]:
        if "$ref" in node:
            return resolve(defs[node["$ref"].split("/")[-1]])
        if "anyOf" in node or "oneOf" in node:
            return [r for sub in node.get("anyOf", node.get("oneOf", [])) for r in resolve(sub)]
        return [node]

    nodes = resolve(schema)
    for key in path:
        nxt = []
        for n in nodes:
            if key == "*" and (n.get("type") == "object"):
                nxt.append({})
            elif key == "[]" and n.get("type") == "array":
                nxt += resolve(n.get("items", {})) if "items" in n else [
                    r for it in n.get("prefixItems", []) for r in resolve(it)]
            elif n.get("type") == "object" and key in n.get("properties", {}):
                nxt += resolve(n["properties"][key])
            elif n.get("type") == "object" and isinstance(n.get("additionalProperties"), dict):
                nxt += resolve(n["additionalProperties"])
            elif n.get("type") == "object" and n.get("additionalProperties") is True:
                nxt.append({})
            elif n.get("type") == "array" and "prefixItems" in n and key.isdigit():
                nxt += resolve(n["prefixItems"][int(key)])
        if not nxt:
            return False
        nodes = nxt
    return True


def test_page_reads_only_what_the_schema_declares(browser, page_file):
    """Every property the script reads from the board (through every view: table, metrics, charts, drill-down,
    sample browser) is declared in leaderboard.schema.json."""
    from mosseval.schemas import schema

    board_schema = schema("leaderboard")
    page, events = open_page(browser, page_file, record_reads=True)
    for metric in ("prr", "format_rate", "parse_failure_rate", "judge", "accuracy"):
        page.click(f'button[data-metric="{metric}"]')
    page.check("#show-sub")
    page.click('th[data-sort="params"]')
    for run_id in page.eval_on_selector_all("#sample-run option", "os => os.map(o => o.value)"):
        page.select_option("#sample-run", run_id)
        for i in range(min(3, page.locator("#sample-list button").count())):
            page.click(f"#sample-list button >> nth={i}")
    page.click("table#lb tbody tr >> nth=0 >> td.cell >> nth=1")
    reads = [r.split("\u0001") for r in page.evaluate("Array.from(window.__reads)")]
    assert len(reads) > 100
    undeclared = sorted({"/".join(p) for p in reads if not _schema_allows(board_schema, p)})
    assert undeclared == [], undeclared
    assert events["errors"] == [], events["errors"]
    page.close()


def test_page_without_any_judge_shows_the_hint(browser, tmp_path):
    from tests.leaderboard.test_aggregate import simple_run

    run = simple_run(tmp_path / "a", "solo", [True, False] * 10)
    page_path = render_html(build_leaderboard([str(run)]), tmp_path / "lb.html")
    page, events = open_page(browser, page_path)
    page.click('button[data-metric="judge"]')
    assert "No judge has run on these runs" in page.text_content("#metric-note")
    page.click("#sample-list button >> nth=0")
    assert "not judged" in page.text_content("#sample-detail .chips")
    assert events["errors"] == []
    page.close()


def test_page_works_with_javascript_disabled_message(browser, page_file):
    ctx = browser.new_context(java_script_enabled=False)
    page = ctx.new_page()
    page.goto(page_file.as_uri())
    assert "needs JavaScript" in page.text_content("noscript") or page.locator("noscript").count() == 1
    ctx.close()
