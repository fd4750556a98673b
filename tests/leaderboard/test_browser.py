"""The leaderboard page in a real headless Chromium (file://, offline): sorting, filtering, the sample
browser with its DTW alignment, no console errors, and model output shown as text only.

Needs Debian's /usr/bin/chromium (Playwright's own browser download does not work offline).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mosseval.leaderboard import build_leaderboard, render_html
from tests.leaderboard.test_aggregate import (
    XSS_IMG,
    XSS_SCRIPT,
    make_record,
    task_spec,
    write_lmms_fixture,
    write_run,
    xss_run,
)

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("MOSSEVAL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def build_demo_board(root: Path) -> dict:
    """Five models on a PRR task, an MVBench-style group and an approximate MMVU-style task, an XSS run
    and an lmms-eval import: every feature of the page has something to show."""
    skills = {"qwen2.5-vl-7b": 0.82, "moss-chatv-7b": 0.88, "llava-ov-7b": 0.71, "tiny-qwen2.5-vl": 0.31,
              "random": 0.25}
    dirs = []
    for k, (name, p) in enumerate(skills.items()):
        tasks = {}
        recs = []
        for i in range(120):
            ok = ((i * 7 + k * 3) % 100) / 100 < p
            prr = round(min(1.0, max(0.0, p + (((i * 13) % 40) - 20) / 100 - (0.0 if ok else 0.25))), 4)
            recs.append(make_record("moss-video-mini", i, ok, prr, judge=round(1 + 4 * p, 1) if i % 4 == 0 else None))
        tasks["moss-video-mini"] = (task_spec("moss-video-mini"), recs)
        for s_i, sub in enumerate(["action_sequence", "moving_direction", "scene_transition"]):
            rr = [make_record(sub, i, ((i * 11 + s_i * 5 + k) % 100) / 100 < p - 0.05 * s_i, None) for i in range(60)]
            tasks[sub] = (task_spec(sub, protocol="official", frames=16, prr=False), rr)
        tasks["mmvu"] = (task_spec("mmvu", protocol="official", frames=32, prr=False, approximate=True),
                         [make_record("mmvu", i, ((i * 3 + k) % 100) / 100 < p - 0.1, None) for i in range(80)])
        dirs.append(write_run(root / "runs" / name, name, tasks,
                              groups={"mvbench": ["action_sequence", "moving_direction", "scene_transition"]},
                              created=f"2025-03-0{k + 1}T09:30:00Z",
                              model_identity={"params": int(7.6e9) if "7b" in name else None}))
    dirs.append(xss_run(root / "runs" / "xss"))
    write_lmms_fixture(root / "lmms")
    return build_leaderboard([str(d) for d in dirs], lmms=[str(root / "lmms")], samples_per_run=60)


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


def open_page(browser, page_file: Path):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
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
    assert rows.count() == 7

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
    assert len(vals) == 6 and vals == sorted(vals, reverse=True)
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
    assert "2 of 7" in page.text_content("#count")
    page.fill("#filter", "")
    assert page.locator("table#lb tbody tr:not([hidden])").count() == 7

    # metric switch: PRR view shows PRR values
    page.click('button[data-metric="prr"]')
    prr_vals = [v for v in column_values(page, col_id) if v is not None]
    assert prr_vals and all(0 <= v <= 1 for v in prr_vals)
    page.click('button[data-metric="accuracy"]')

    # charts are inline SVG
    assert page.locator("#scatter svg circle.dot").count() == 6
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


def test_page_works_with_javascript_disabled_message(browser, page_file):
    ctx = browser.new_context(java_script_enabled=False)
    page = ctx.new_page()
    page.goto(page_file.as_uri())
    assert "needs JavaScript" in page.text_content("noscript") or page.locator("noscript").count() == 1
    ctx.close()
