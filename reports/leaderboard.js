/* mosseval leaderboard page. Inlined into one self-contained HTML file.
 * Data: BOARD is leaderboard.json (the Board record, JSON Schema `leaderboard.schema.json`); this script
 * reads only fields that schema declares. Rates are fractions in [0, 1] and shown as percentages (one
 * decimal); judge scores are shown on their rubric's scale.
 * Security: every string that comes from runs (model names, questions, model output, ...) reaches
 * the DOM through textContent / createTextNode / setAttribute on a fixed whitelist — never innerHTML.
 */
(function () {
  "use strict";

  var BOARD = JSON.parse(document.getElementById("board-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var SAFE_ATTRS = /^(class|title|id|type|value|href|src|alt|role|tabindex|colspan|rowspan|width|height|viewBox|x|y|x1|x2|y1|y2|cx|cy|r|d|rx|ry|points|transform|fill|stroke|stroke-width|stroke-opacity|fill-opacity|text-anchor|dominant-baseline|placeholder|for|name|checked|selected|disabled|open|preserveAspectRatio|data-[a-z0-9-]+|aria-[a-z-]+)$/;

  // ------------------------------------------------------------------ DOM helpers
  function setAttrs(node, attrs) {
    if (!attrs) return node;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (!SAFE_ATTRS.test(k)) throw new Error("attribute not allowed: " + k);
      if ((k === "href" || k === "src") && !/^(#|data:image\/(jpeg|png);base64,)/.test(String(v))) return;
      node.setAttribute(k, v === true ? "" : String(v));
    });
    return node;
  }
  function append(node, kids) {
    kids.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) { append(node, c); return; }
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
    return node;
  }
  function el(tag, attrs) {
    var node = setAttrs(document.createElement(tag), attrs);
    return append(node, Array.prototype.slice.call(arguments, 2));
  }
  function svg(tag, attrs) {
    var node = setAttrs(document.createElementNS(SVGNS, tag), attrs);
    return append(node, Array.prototype.slice.call(arguments, 2));
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function $(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ formatting
  function pct(v, d) { return v === null || v === undefined ? "–" : (100 * v).toFixed(d === undefined ? 1 : d); }
  function num(v, d) { return v === null || v === undefined ? "–" : Number(v).toFixed(d === undefined ? 3 : d); }
  function fmtP(p) { return p === null || p === undefined ? "n/a" : (p < 0.001 ? "<0.001" : p.toFixed(3)); }
  function shortDate(s) { return s ? String(s).replace("T", " ").slice(0, 16) : ""; }
  function fmtParams(p) {
    if (p === null || p === undefined) return "";
    if (p >= 1e9) return (p / 1e9).toFixed(p >= 1e10 ? 0 : 1) + "B";
    if (p >= 1e6) return (p / 1e6).toFixed(p >= 1e7 ? 0 : 1) + "M";
    if (p >= 1e3) return (p / 1e3).toFixed(0) + "k";
    return String(p);
  }

  function has(v) { return v !== null && v !== undefined; }
  // metric definitions: how a cell is read and shown. Every rate is a percentage on 0–100.
  function judgeGet(c) {
    var j = c && c.judge_primary;
    if (!j || !j.value || !has(j.value.value)) return null;
    return { value: j.value.value, ci_low: j.value.ci_low, ci_high: j.value.ci_high, n: j.value.n,
             n_clusters: j.value.n_clusters, method: j.value.method, judge: j };
  }
  var METRICS = {
    accuracy: { label: "Accuracy", unit: "%", get: function (c) { return c && c.accuracy; }, kind: "pct", higher: true, tie: "accuracy" },
    prr: { label: "PRR", unit: "0–100", get: function (c) { return c && c.prr; }, kind: "pct", higher: true, tie: "prr" },
    format_rate: { label: "Format", unit: "%", get: function (c) { return c && has(c.format_rate) ? { value: c.format_rate } : null; }, kind: "pct", higher: true },
    parse_failure_rate: { label: "Parse fail", unit: "%", get: function (c) { return c && has(c.parse_failure_rate) ? { value: c.parse_failure_rate } : null; }, kind: "pct", higher: false },
    judge: { label: "Judge", unit: "% or scale", get: judgeGet, kind: "judge", higher: true }
  };
  // a judge value: judged accuracy in %, or a mean score on the rubric's scale ("6.2/10")
  function judgeText(j, v) {
    if (!has(v)) return "–";
    if (j.kind === "correctness") return pct(v);
    return Number(v).toFixed(1);
  }
  function judgeScale(j) { return j.kind === "score" && j.scale ? "/" + j.scale[1] : ""; }

  var state = {
    metric: "accuracy",
    sortKey: "overall",
    sortDir: -1,
    filter: "",
    showSub: false,
    chartCol: null,
    drillCol: null,
    drillKind: null,
    drillRun: null,
    picked: false,
    sampleRun: null,
    sampleFilter: "all",
    sampleTask: "",
    sampleKey: null
  };

  var runs = BOARD.runs;
  var runById = {};
  runs.forEach(function (r) { runById[r.run_id] = r; });
  var colById = {};
  BOARD.columns.forEach(function (c) { colById[c.id] = c; });

  function visibleColumns() {
    return BOARD.columns.filter(function (c) { return c.top_level || state.showSub; });
  }
  function cellOf(run, colId) {
    if (colId === "overall") return run.overall;
    return run.cells[colId] || null;
  }

  // ------------------------------------------------------------------ header + warnings
  function renderHeader() {
    var nTop = BOARD.columns.filter(function (c) { return c.top_level; }).length;
    $("subtitle").textContent = runs.length + " run" + (runs.length === 1 ? "" : "s") + " · " + nTop +
      " task column" + (nTop === 1 ? "" : "s") + " · generated " + shortDate(BOARD.generated_at) + " UTC";
    var w = $("warnings");
    if (!BOARD.warnings || !BOARD.warnings.length) { w.hidden = true; return; }
    w.hidden = false;
    append(clear(w), [el("strong", null, "Read before comparing"),
      el("ul", null, BOARD.warnings.map(function (t) { return el("li", null, t); }))]);
  }

  // ------------------------------------------------------------------ table
  function ciBar(e, chance) {
    if (!e || e.value === null || e.value === undefined) return null;
    var lo = e.ci_low, hi = e.ci_high;
    var bar = el("span", { class: "cibar", "aria-hidden": "true" });
    var clamp = function (x) { return Math.max(0, Math.min(1, x)); };
    if (has(chance)) {
      var ch = el("span", { class: "chance", title: "chance level " + pct(chance) + "%" });
      ch.style.left = "calc(" + (100 * clamp(chance)) + "% - 1px)";
      bar.appendChild(ch);
    }
    if (lo !== null && lo !== undefined && hi !== null && hi !== undefined) {
      var ci = el("span", { class: "ci" });
      ci.style.left = (100 * clamp(lo)) + "%";
      ci.style.width = Math.max(0.5, 100 * (clamp(hi) - clamp(lo))) + "%";
      bar.appendChild(ci);
    }
    var pt = el("span", { class: "pt" });
    pt.style.left = "calc(" + (100 * clamp(e.value)) + "% - 1px)";
    bar.appendChild(pt);
    return bar;
  }

  function describeTie(t, metric) {
    if (!t) return "";
    if (t.leader) return "leader on " + metric;
    if (t.tied === null || t.tied === undefined) return "no test possible";
    var s = (t.tied ? "statistically tied with the leader" : "significantly below the leader") +
      " (" + (t.test || "?") + ", p=" + fmtP(t.p_value);
    if (t.n_paired) s += ", " + t.n_paired + " paired samples";
    if (t.discordant) s += ", discordant " + t.discordant[0] + "/" + t.discordant[1];
    if (has(t.diff)) s += ", " + (t.diff >= 0 ? "+" : "−") + pct(Math.abs(t.diff)) + " pts";
    return s + ")";
  }

  function cellTitle(run, col, c, m, e) {
    var lines = [run.display_name + " — " + (col ? col.label : "Overall")];
    if (e && m.kind === "judge") {
      var j = e.judge;
      lines.push("judge " + j.rubric + (j.kind === "correctness" ? " (judged accuracy): " + pct(e.value) + "%" :
        " (mean score): " + judgeText(j, e.value) + judgeScale(j)) +
        (has(e.ci_low) ? " [" + judgeText(j, e.ci_low) + ", " + judgeText(j, e.ci_high) + "]" : ""));
      if (e.n) lines.push("n = " + e.n + (j.n_errors ? " · " + j.n_errors + " judge error(s) excluded" : "") + (j.n_pending ? " · " + j.n_pending + " not judged yet" : ""));
      if (has(j.agreement)) lines.push("agreement with the rule-based score " + pct(j.agreement) + "%" +
                 (has(j.kappa) ? " (Cohen's kappa " + num(j.kappa, 2) + ")" : ""));
    } else if (e) {
      lines.push(m.label + ": " + pct(e.value) + (m.unit === "%" ? "%" : " (0–100)") + (has(e.ci_low) ? " [" + pct(e.ci_low) + ", " + pct(e.ci_high) + "]" : ""));
      if (e.n) lines.push("n = " + e.n + (e.n_clusters ? " (" + e.n_clusters + " clusters)" : "") + (e.method ? " · " + e.method : ""));
    }
    if (c && c.tie && m.tie && c.tie[m.tie]) lines.push(describeTie(c.tie[m.tie], m.label.toLowerCase()));
    if (c && c.approximate) lines.push("approximate score (offline stand-in for the official protocol)");
    if (col && has(col.chance) && m.tie === "accuracy") lines.push("chance level " + pct(col.chance) + "%");
    if (c && state.metric === "accuracy") {
      if (c.prr) lines.push("PRR " + pct(c.prr.value) + (c.prr_correct ? " · on correct " + pct(c.prr_correct.value) : "") + (c.prr_incorrect ? " · on wrong " + pct(c.prr_incorrect.value) : "") + " (0–100)");
      if (has(c.parse_failure_rate)) lines.push("parse failures " + pct(c.parse_failure_rate) + "%");
      if (c.error_rate) lines.push("errors " + pct(c.error_rate) + "%");
      if (has(c.reported_accuracy) && c.accuracy && Math.abs(c.reported_accuracy - c.accuracy.value) > 5e-4) lines.push("lmms-eval reported " + pct(c.reported_accuracy) + "%");
    }
    return lines.join("\n");
  }

  function renderCell(run, colId) {
    var col = colId === "overall" ? null : colById[colId];
    var c = cellOf(run, colId);
    var m = METRICS[state.metric];
    var e = m.get(c);
    var cls = "cell" + (colId === "overall" ? " overall" : "");
    if (!e || e.value === null || e.value === undefined) {
      return el("td", { class: cls + " empty", "data-col": colId, "data-value": "" }, "–");
    }
    var tie = c && c.tie && m.tie ? c.tie[m.tie] : null;
    if (tie && tie.leader) cls += " leader";
    if (state.picked && state.drillCol === colId && state.drillRun === run.run_id) cls += " selected";
    var main = m.kind === "judge" ? judgeText(e.judge, e.value) : pct(e.value);
    var half = null;
    if (has(e.ci_low) && has(e.ci_high)) {
      var f = function (x) { return m.kind === "judge" ? judgeText(e.judge, x) : pct(x); };
      var h = (e.ci_high - e.ci_low) / 2, up = e.ci_high - e.value, down = e.value - e.ci_low;
      // Wilson intervals are asymmetric near 0 and 1: show both sides when "±" would mislead.
      half = Math.abs(up - down) > 0.25 * h ? "−" + f(down) + " +" + f(up) : "±" + f(h);
    }
    var td = el("td", { class: cls, "data-col": colId, "data-value": e.value, "data-run": run.run_id,
                        title: cellTitle(run, col, c, m, e) },
      c && c.approximate ? el("span", { class: "badge approx", title: "approximate" }, "~") : null,
      el("span", { class: "val" }, main),
      m.kind === "judge" && judgeScale(e.judge) ? el("span", { class: "pm" }, judgeScale(e.judge)) : null,
      half ? el("span", { class: "pm" }, half) : null,
      tie && tie.leader ? el("span", { class: "badge leader", "data-mark": "leader" }, "★") : null,
      tie && !tie.leader && tie.tied ? el("span", { class: "badge tie", "data-mark": "tied" }, "≈") : null,
      (m.tie ? ciBar(e, m.tie === "accuracy" && col ? col.chance : null) : null));
    return td;
  }

  function sortValue(run, key) {
    if (key === "name") return run.display_name.toLowerCase();
    if (key === "date") return run.date || "";
    if (key === "params") return run.params === null || run.params === undefined ? null : run.params;
    var e = METRICS[state.metric].get(cellOf(run, key));
    return e && e.value !== null && e.value !== undefined ? e.value : null;
  }

  function sortedRuns() {
    var key = state.sortKey, dir = state.sortDir;
    return runs.slice().sort(function (a, b) {
      var va = sortValue(a, key), vb = sortValue(b, key);
      if (va === null && vb === null) return a.order - b.order;
      if (va === null) return 1;  // missing values always last
      if (vb === null) return -1;
      if (va < vb) return -dir;
      if (va > vb) return dir;
      return a.order - b.order;
    });
  }

  function matchesFilter(run) {
    if (!state.filter) return true;
    var hay = [run.display_name, run.name, run.backend, run.checkpoint, run.origin, run.status, run.run_id]
      .filter(Boolean).join(" ").toLowerCase();
    return state.filter.toLowerCase().split(/\s+/).filter(Boolean).every(function (t) { return hay.indexOf(t) >= 0; });
  }

  function headerCell(key, label, sub, cls, title) {
    var active = state.sortKey === key;
    var th = el("th", { class: cls || "", "data-sort": key, title: title || ("sort by " + label),
                        "aria-sort": active ? (state.sortDir < 0 ? "descending" : "ascending") : "none" },
      el("span", { class: "sort" }, active ? (state.sortDir < 0 ? "▼" : "▲") : ""), label,
      sub ? el("span", { class: "col-sub" }, sub) : null);
    th.addEventListener("click", function () {
      if (state.sortKey === key) state.sortDir = -state.sortDir;
      else {
        state.sortKey = key;
        var higher = key === "name" ? false : (METRICS[state.metric].higher !== false);
        state.sortDir = higher ? -1 : 1;
      }
      renderTable();
    });
    return th;
  }

  function colSub(c) {
    var parts = [];
    if (c.frames_label) parts.push(c.frames_label);
    if (c.protocol) parts.push(c.protocol);
    if (has(c.chance) && state.metric === "accuracy") parts.push("chance " + pct(c.chance, 0) + "%");
    return parts.join(" · ");
  }

  function renderTable() {
    var cols = visibleColumns();
    var table = clear($("lb"));
    var overallTitle = BOARD.overall && BOARD.overall.columns && BOARD.overall.columns.length ?
      "Overall = unweighted mean over: " + BOARD.overall.columns.map(function (id) { return colById[id] ? colById[id].label : id; }).join(", ") :
      "no task is shared by every run";
    var head = el("tr", null,
      el("th", { class: "rank", title: "rank by overall accuracy" }, "#"),
      headerCell("name", "Model", "backend · checkpoint", "left model"),
      headerCell("params", "Params", null, ""),
      headerCell("date", "Date", null, "left"),
      headerCell("overall", "Overall", METRICS[state.metric].label.toLowerCase() + " (" + METRICS[state.metric].unit + ")", "overall", overallTitle),
      cols.map(function (c) {
        var label = [c.label];
        var th = headerCell(c.id, c.label, colSub(c), c.top_level ? "" : "sub",
          c.label + "\n" + (c.notes || []).join("\n") + (c.split ? "\nsplit: runs differ in " + c.split_differs.join(", ") : ""));
        if (c.approximate) th.appendChild(el("span", { class: "badge approx", title: "approximate scores" }, "~"));
        if (c.external) th.appendChild(el("span", { class: "badge ext", title: "imported from lmms-eval; not comparable with mosseval columns" }, "ext"));
        if (c.split) th.appendChild(el("span", { class: "badge split", title: "this task was run under incompatible settings; see warnings" }, "split"));
        return th;
      }));
    table.appendChild(el("thead", null, head));
    var rankOf = {};
    runs.slice().sort(function (a, b) {
      var va = a.overall && a.overall.accuracy ? a.overall.accuracy.value : -1;
      var vb = b.overall && b.overall.accuracy ? b.overall.accuracy.value : -1;
      return vb - va || a.order - b.order;
    }).forEach(function (r, i) { rankOf[r.run_id] = r.overall && r.overall.accuracy ? i + 1 : "–"; });
    var body = el("tbody");
    sortedRuns().forEach(function (run) {
      var metaBits = [];
      if (run.checkpoint && run.checkpoint !== run.name) metaBits.push(run.checkpoint);
      if (run.revision) metaBits.push("rev " + run.revision.slice(0, 12));
      if (run.git_revision) metaBits.push("git " + run.git_revision.slice(0, 8));
      var tr = el("tr", { "data-run": run.run_id, "data-name": run.display_name },
        el("td", { class: "rank" }, String(rankOf[run.run_id])),
        el("td", { class: "left model", title: run.run_dir + "\nidentity " + run.identity_hash.slice(0, 16) },
          el("span", { class: "model-name" }, run.display_name),
          el("span", { class: "badge backend" }, run.backend || "?"),
          run.origin !== "mosseval" ? el("span", { class: "badge ext" }, run.origin) : null,
          run.status && run.status !== "completed" ? el("span", { class: "badge status" }, run.status.replace(/_/g, " ")) : null,
          run.stale ? el("span", { class: "badge status", title: run.stale.reason, "data-mark": "stale" }, run.stale.recomputed ? "recomputed" : "stale") : null,
          metaBits.length ? el("span", { class: "model-meta" }, metaBits.join(" · ")) : null,
          run.published.map(function (p) {
            return el("span", { class: "published " + p.status, title: p.score.source }, p.score.task + ": " + p.line);
          })),
        el("td", { "data-value": run.params === null || run.params === undefined ? "" : run.params }, fmtParams(run.params)),
        el("td", { class: "left muted small" }, shortDate(run.date)),
        renderCell(run, "overall"),
        cols.map(function (c) { return renderCell(run, c.id); }));
      tr.hidden = !matchesFilter(run);
      body.appendChild(tr);
    });
    table.appendChild(body);
    body.addEventListener("click", function (ev) {
      var td = ev.target.closest ? ev.target.closest("td.cell") : null;
      if (!td || td.classList.contains("empty")) return;
      var colId = td.getAttribute("data-col");
      var runId = td.getAttribute("data-run");
      if (colId === "overall") colId = BOARD.overall.columns[0] || null;
      if (colId) { state.drillCol = colId; state.drillKind = null; }
      state.drillRun = runId;
      state.sampleRun = runId;
      state.picked = true;
      if (colId && colById[colId] && colById[colId].has_prr) state.chartCol = colId;
      renderTable(); renderCharts(); renderBrowserList();
    });
    var shown = body.querySelectorAll("tr:not([hidden])").length;
    renderMetricNote();
    $("count").textContent = shown === runs.length ? runs.length + " runs" : shown + " of " + runs.length + " runs shown";
  }

  // a hint when the chosen metric has nothing to show (e.g. the Judge tab before any judge ran)
  function renderMetricNote() {
    var note = $("metric-note");
    var text = null;
    if (state.metric === "judge") {
      var judged = runs.filter(function (r) { return r.judged; });
      if (!judged.length) {
        text = "No judge has run on these runs. `mosseval judge RUN_DIR` adds LLM-judge verdicts (MMVU's official " +
          "answer judge; a reasoning-process rubric for tasks with reference steps) to a run; then rebuild this page.";
      } else if (judged.length < runs.length) {
        text = "Runs without judge verdicts show –: " + runs.filter(function (r) { return !r.judged; })
          .map(function (r) { return r.display_name; }).join(", ") + ". Judge them with `mosseval judge RUN_DIR`.";
      }
    }
    note.hidden = text === null;
    note.textContent = text || "";
  }

  function applyFilter() {
    var rows = $("lb").querySelectorAll("tbody tr");
    var shown = 0;
    Array.prototype.forEach.call(rows, function (tr) {
      var run = runById[tr.getAttribute("data-run")];
      tr.hidden = !matchesFilter(run);
      if (!tr.hidden) shown++;
    });
    $("count").textContent = shown === runs.length ? runs.length + " runs" : shown + " of " + runs.length + " runs shown";
    renderCharts();
  }

  function renderToolbar() {
    var seg = clear($("metric-switch"));
    Object.keys(METRICS).forEach(function (k) {
      var b = el("button", { type: "button", "data-metric": k, "aria-pressed": state.metric === k ? "true" : "false" }, METRICS[k].label);
      b.addEventListener("click", function () {
        state.metric = k;
        if (["name", "date", "params"].indexOf(state.sortKey) < 0) state.sortDir = METRICS[k].higher === false ? 1 : -1;
        renderToolbar(); renderTable();
      });
      seg.appendChild(b);
    });
  }

  // ------------------------------------------------------------------ charts
  function visibleRuns() { return sortedRuns().filter(matchesFilter); }

  function niceRange(lo, hi) {
    var pad = Math.max(0.02, (hi - lo) * 0.12);
    return [Math.max(0, lo - pad), Math.min(1, hi + pad)];
  }

  function axisTicks(lo, hi, n) {
    var step = (hi - lo) / n, out = [];
    var mag = Math.pow(10, Math.floor(Math.log10(step)));
    var nice = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).filter(function (s) { return s >= step; })[0] || step;
    for (var v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(+v.toFixed(6));
    return out;
  }

  function renderScatter() {
    var host = clear($("scatter"));
    var prrCols = BOARD.columns.filter(function (c) { return c.has_prr; });
    var sel = clear($("scatter-col"));
    if (!prrCols.length) { host.appendChild(el("p", { class: "empty-note" }, "No task with a process reward (PRR) on this board.")); sel.hidden = true; return; }
    sel.hidden = false;
    if (!state.chartCol || !colById[state.chartCol] || !colById[state.chartCol].has_prr) state.chartCol = prrCols[0].id;
    prrCols.forEach(function (c) { sel.appendChild(el("option", { value: c.id, selected: c.id === state.chartCol }, c.label)); });
    var pts = visibleRuns().map(function (r) {
      var c = r.cells[state.chartCol];
      return c && c.accuracy && c.prr ? { run: r, a: c.accuracy, p: c.prr } : null;
    }).filter(Boolean);
    if (!pts.length) { host.appendChild(el("p", { class: "empty-note" }, "No visible run has both accuracy and PRR here.")); return; }
    var W = 560, H = 360, L = 52, R = 16, T = 14, B = 44;
    var xs = [], ys = [];
    pts.forEach(function (d) { xs.push(d.a.ci_low !== null && d.a.ci_low !== undefined ? d.a.ci_low : d.a.value, d.a.ci_high !== null && d.a.ci_high !== undefined ? d.a.ci_high : d.a.value);
      ys.push(d.p.ci_low !== null && d.p.ci_low !== undefined ? d.p.ci_low : d.p.value, d.p.ci_high !== null && d.p.ci_high !== undefined ? d.p.ci_high : d.p.value); });
    var ch0 = colById[state.chartCol].chance;
    if (has(ch0)) xs.push(ch0);
    var xr = niceRange(Math.min.apply(null, xs), Math.max.apply(null, xs));
    var yr = niceRange(Math.min.apply(null, ys), Math.max.apply(null, ys));
    var X = function (v) { return L + (v - xr[0]) / (xr[1] - xr[0]) * (W - L - R); };
    var Y = function (v) { return H - B - (v - yr[0]) / (yr[1] - yr[0]) * (H - T - B); };
    var g = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "accuracy versus PRR" });
    var grid = svg("g", { class: "grid" });
    axisTicks(xr[0], xr[1], 6).forEach(function (v) {
      grid.appendChild(svg("line", { x1: X(v), x2: X(v), y1: T, y2: H - B }));
      g.appendChild(svg("text", { x: X(v), y: H - B + 16, "text-anchor": "middle" }, (100 * v).toFixed(0)));
    });
    axisTicks(yr[0], yr[1], 5).forEach(function (v) {
      grid.appendChild(svg("line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v) }));
      g.appendChild(svg("text", { x: L - 6, y: Y(v) + 4, "text-anchor": "end" }, (100 * v).toFixed(0)));
    });
    g.insertBefore(grid, g.firstChild);
    var ax = svg("g", { class: "axis" });
    ax.appendChild(svg("text", { class: "title", x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle" }, "accuracy (%) — " + colById[state.chartCol].label));
    ax.appendChild(svg("text", { class: "title", x: 12, y: (T + H - B) / 2, "text-anchor": "middle", transform: "rotate(-90 12 " + ((T + H - B) / 2) + ")" }, "PRR (0–100)"));
    var chance = colById[state.chartCol].chance;
    if (has(chance) && chance >= xr[0] && chance <= xr[1]) {
      ax.appendChild(svg("line", { class: "chance-line", x1: X(chance), x2: X(chance), y1: T, y2: H - B }));
      ax.appendChild(svg("text", { class: "title", x: X(chance) + 4, y: T + 10 }, "chance " + pct(chance) + "%"));
    }
    g.appendChild(ax);
    var labelAll = pts.length <= 14;
    var placed = pts.map(function (d) { var x = X(d.a.value), y = Y(d.p.value); return [x - 5, y - 5, x + 5, y + 5]; });
    function overlaps(b) {
      return placed.some(function (p) { return b[0] < p[2] && b[2] > p[0] && b[1] < p[3] && b[3] > p[1]; });
    }
    // Greedy label placement: try four spots around the dot, skip the label if all collide
    // (the dot's tooltip still names the run).
    function placeLabel(text, cx, cy) {
      var w = 6.2 * text.length, h = 12;
      var spots = [[cx + 8, cy - 7, "start"], [cx - 8, cy - 7, "end"], [cx + 8, cy + 15, "start"], [cx - 8, cy + 15, "end"]];
      for (var i = 0; i < spots.length; i++) {
        var x = spots[i][0], y = spots[i][1], anchor = spots[i][2];
        var box = anchor === "start" ? [x, y - h + 2, x + w, y + 2] : [x - w, y - h + 2, x, y + 2];
        if (box[0] < L || box[2] > W - R + 4 || box[1] < 0 || box[3] > H - B) continue;
        if (overlaps(box)) continue;
        placed.push(box);
        g.appendChild(svg("text", { class: "label", x: x, y: y, "text-anchor": anchor }, text));
        return;
      }
    }
    pts.forEach(function (d) {
      var cx = X(d.a.value), cy = Y(d.p.value);
      if (d.a.ci_low !== null && d.a.ci_low !== undefined) g.appendChild(svg("line", { class: "whisker", x1: X(d.a.ci_low), x2: X(d.a.ci_high), y1: cy, y2: cy }));
      if (d.p.ci_low !== null && d.p.ci_low !== undefined) g.appendChild(svg("line", { class: "whisker", x1: cx, x2: cx, y1: Y(d.p.ci_low), y2: Y(d.p.ci_high) }));
      var dot = svg("circle", { class: "dot" + (d.run.origin !== "mosseval" ? " lmms" : ""), cx: cx, cy: cy, r: 5, "data-run": d.run.run_id },
        svg("title", null, d.run.display_name + "\naccuracy " + pct(d.a.value) + "%  PRR " + pct(d.p.value) + " (0–100)"));
      dot.addEventListener("click", function () { state.sampleRun = d.run.run_id; state.drillRun = d.run.run_id; renderBrowserList(); renderCharts(); });
      g.appendChild(dot);
      if (labelAll) placeLabel(d.run.display_name.length > 28 ? d.run.display_name.slice(0, 27) + "…" : d.run.display_name, cx, cy);
    });
    host.appendChild(g);
  }

  function breakdownColumns() {
    return BOARD.columns.filter(function (c) {
      return runs.some(function (r) { var x = r.cells[c.id]; return x && x.breakdowns && Object.keys(x.breakdowns).some(function (k) { return Object.keys(x.breakdowns[k] || {}).length > 1; }); });
    });
  }

  function heatColor(v) {
    // light red → light green, readable in both themes (alpha blended)
    var h = Math.round(120 * Math.max(0, Math.min(1, v)));
    return "hsla(" + h + ", 65%, 45%, " + (0.18 + 0.5 * Math.abs(v - 0.5)) + ")";
  }

  function renderDrill() {
    var host = clear($("drill"));
    var colSel = clear($("drill-col")), kindSel = clear($("drill-kind"));
    var bcols = breakdownColumns();
    if (!bcols.length) { host.appendChild(el("p", { class: "empty-note" }, "No per-category results on this board.")); colSel.hidden = kindSel.hidden = true; return; }
    colSel.hidden = kindSel.hidden = false;
    if (!state.drillCol || bcols.every(function (c) { return c.id !== state.drillCol; })) {
      state.drillCol = (bcols.filter(function (c) { return c.kind === "group" && !c.external; })[0] || bcols[0]).id;
    }
    bcols.forEach(function (c) { colSel.appendChild(el("option", { value: c.id, selected: c.id === state.drillCol }, c.label)); });
    var kinds = {};
    runs.forEach(function (r) { var x = r.cells[state.drillCol]; if (x && x.breakdowns) Object.keys(x.breakdowns).forEach(function (k) { if (Object.keys(x.breakdowns[k] || {}).length) kinds[k] = true; }); });
    var kindList = Object.keys(kinds).sort(function (a, b) {
      var order = ["subtask", "discipline", "category", "level"];
      return (order.indexOf(a) < 0 ? 9 : order.indexOf(a)) - (order.indexOf(b) < 0 ? 9 : order.indexOf(b)) || (a < b ? -1 : 1);
    });
    if (!state.drillKind || !kinds[state.drillKind]) state.drillKind = kindList[0];
    kindList.forEach(function (k) { kindSel.appendChild(el("option", { value: k, selected: k === state.drillKind }, k)); });
    var vr = visibleRuns().filter(function (r) { var x = r.cells[state.drillCol]; return x && x.breakdowns && x.breakdowns[state.drillKind]; });
    if (!vr.length) { host.appendChild(el("p", { class: "empty-note" }, "No visible run has this breakdown.")); return; }
    if (!state.drillRun || vr.every(function (r) { return r.run_id !== state.drillRun; })) state.drillRun = vr[0].run_id;
    var cats = {};
    vr.forEach(function (r) { Object.keys(r.cells[state.drillCol].breakdowns[state.drillKind]).forEach(function (k) { cats[k] = true; }); });
    var catList = Object.keys(cats).sort();

    // bars for the selected run
    var run = runById[state.drillRun];
    var bd = run.cells[state.drillCol].breakdowns[state.drillKind];
    var rowH = 22, L = 190, R = 70, W = 560, T = 8;
    var H = T + rowH * catList.length + 24;
    var g = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "per-category accuracy" });
    var X = function (v) { return L + v * (W - L - R); };
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      g.appendChild(svg("line", { x1: X(v), x2: X(v), y1: T, y2: H - 20, stroke: "currentColor", "stroke-opacity": 0.12 }));
      g.appendChild(svg("text", { x: X(v), y: H - 6, "text-anchor": "middle" }, String(v * 100)));
    });
    var dch = colById[state.drillCol] ? colById[state.drillCol].chance : null;
    if (has(dch) && state.drillKind !== "subtask") {
      g.appendChild(svg("line", { class: "chance-line", x1: X(dch), x2: X(dch), y1: T, y2: H - 20 },
        svg("title", null, "chance level " + pct(dch) + "% (whole column)")));
    }
    catList.forEach(function (cat, i) {
      var y = T + i * rowH;
      var e = bd[cat];
      g.appendChild(svg("text", { x: L - 8, y: y + rowH / 2 + 4, "text-anchor": "end" }, cat.length > 30 ? cat.slice(0, 29) + "…" : cat));
      g.appendChild(svg("rect", { class: "bar-bg", x: X(0), y: y + 4, width: X(1) - X(0), height: rowH - 8, rx: 3 }));
      if (!e) return;
      g.appendChild(svg("rect", { class: "bar", x: X(0), y: y + 4, width: Math.max(1, X(e.value) - X(0)), height: rowH - 8, rx: 3 },
        svg("title", null, cat + ": " + pct(e.value) + "% (n=" + e.n + ")")));
      if (e.ci_low !== null && e.ci_low !== undefined) {
        g.appendChild(svg("line", { x1: X(e.ci_low), x2: X(e.ci_high), y1: y + rowH / 2, y2: y + rowH / 2, stroke: "currentColor", "stroke-width": 1.5, "stroke-opacity": 0.6 }));
      }
      g.appendChild(svg("text", { x: X(1) + 6, y: y + rowH / 2 + 4 }, pct(e.value) + "  n=" + e.n));
    });
    host.appendChild(el("div", { class: "small muted" }, "Accuracy (%) of " + run.display_name + " (click a model below to switch) — lines show 95% CIs" + (has(dch) ? "; dashed: chance level" : "")));
    host.appendChild(g);

    // heat table: runs × categories
    var table = el("table", { class: "heat" });
    table.appendChild(el("thead", null, el("tr", null, el("th", null, ""),
      catList.map(function (cat) { return el("th", { class: catList.length > 6 ? "rot" : "", title: cat }, cat.length > 24 ? cat.slice(0, 23) + "…" : cat); }))));
    var tb = el("tbody");
    vr.forEach(function (r) {
      var b = r.cells[state.drillCol].breakdowns[state.drillKind];
      var tr = el("tr", { class: r.run_id === state.drillRun ? "sel" : "", "data-run": r.run_id },
        el("td", { class: "name" }, r.display_name),
        catList.map(function (cat) {
          var e = b[cat];
          if (!e) return el("td", { class: "muted" }, "–");
          var td = el("td", { title: r.display_name + " · " + cat + ": " + pct(e.value, 2) + "%" +
            (e.ci_low !== null && e.ci_low !== undefined ? " [" + pct(e.ci_low) + ", " + pct(e.ci_high) + "]" : "") + " n=" + e.n }, pct(e.value, 0));
          td.style.background = heatColor(e.value);
          return td;
        }));
      tr.addEventListener("click", function () { state.drillRun = r.run_id; renderDrill(); });
      tb.appendChild(tr);
    });
    table.appendChild(tb);
    host.appendChild(el("div", { class: "table-scroll", style: null }, table));
  }

  function renderCharts() { renderScatter(); renderDrill(); }

  // ------------------------------------------------------------------ sample browser
  var SAMPLES = (BOARD.samples && BOARD.samples.runs) || {};
  var ITEMS = (BOARD.samples && BOARD.samples.items) || {};
  var THUMBS = (BOARD.samples && BOARD.samples.thumbnails) || {};
  var WHY = { wrong: "a wrong answer", "low-prr": "among the lowest PRR (below 100)", random: "hash-ranked draw shared by all runs",
              all: "every sample of this run is embedded" };

  function samplesOf(runId) { return SAMPLES[runId] || []; }

  function renderBrowserList() {
    var runSel = clear($("sample-run"));
    var withSamples = runs.filter(function (r) { return samplesOf(r.run_id).length; });
    if (!withSamples.length) {
      clear($("sample-list")).appendChild(el("p", { class: "empty-note" }, "No per-sample data embedded (samples per run = 0)."));
      return;
    }
    if (!state.sampleRun || !samplesOf(state.sampleRun).length) state.sampleRun = withSamples[0].run_id;
    withSamples.forEach(function (r) { runSel.appendChild(el("option", { value: r.run_id, selected: r.run_id === state.sampleRun }, r.display_name)); });
    var list = samplesOf(state.sampleRun);
    var taskSel = clear($("sample-task"));
    var tasks = {};
    list.forEach(function (s) { tasks[s.task] = true; });
    taskSel.appendChild(el("option", { value: "" }, "all tasks"));
    Object.keys(tasks).sort().forEach(function (t) { taskSel.appendChild(el("option", { value: t, selected: t === state.sampleTask }, t)); });
    if (state.sampleTask && !tasks[state.sampleTask]) state.sampleTask = "";
    var filtered = list.filter(function (s) {
      if (state.sampleTask && s.task !== state.sampleTask) return false;
      if (state.sampleFilter === "wrong") return s.correct === false;
      if (state.sampleFilter === "low-prr") return has(s.prr);
      return true;
    });
    if (state.sampleFilter === "low-prr") filtered.sort(function (a, b) { return a.prr - b.prr; });
    var host = clear($("sample-list"));
    if (!filtered.length) host.appendChild(el("p", { class: "empty-note" }, "No sample matches."));
    if (!filtered.some(function (s) { return s.key === state.sampleKey; })) state.sampleKey = filtered.length ? filtered[0].key : null;
    filtered.forEach(function (s) {
      var item = ITEMS[s.item] || {};
      var b = el("button", { type: "button", "data-key": s.key, "aria-selected": s.key === state.sampleKey ? "true" : "false", title: item.question || "" },
        el("span", { class: "dot " + (s.correct === true ? "ok" : s.correct === false ? "bad" : "") }),
        el("span", { class: "sid" }, s.task + " · " + (item.id || s.key)),
        el("span", { class: "sprr" }, has(s.prr) ? "PRR " + pct(s.prr) : (s.error ? "error" : "")));
      b.addEventListener("click", function () { state.sampleKey = s.key; renderBrowserList(); });
      host.appendChild(b);
    });
    $("sample-count").textContent = filtered.length + " of " + list.length + " embedded samples";
    renderSample();
  }

  function chip(text, cls, title) { return el("span", { class: "chip " + (cls || ""), title: title || null }, text); }

  function distColor(d) {
    var v = Math.max(0, Math.min(1, d));
    return "hsl(" + Math.round(120 * (1 - v)) + ", 60%, 45%)";
  }

  function verdictText(j) {
    if (j.error) return "error";
    if (has(j.score) && j.correct === null) return String(j.score);
    return j.correct === true ? "correct" : j.correct === false ? "wrong" : (has(j.score) ? String(j.score) : "?");
  }

  function renderFrames(host, s, item) {
    var fr = s.frames;
    var thumbs = fr && fr.thumbnails ? (THUMBS[fr.thumbnails] || []) : [];
    if (!fr && !item.video) return;
    host.appendChild(el("h3", null, "Frames the model saw"));
    if (thumbs.length) {
      var fbox = el("div", { class: "frames" });
      thumbs.forEach(function (t) {
        fbox.appendChild(el("figure", null, el("img", { src: t.src, alt: "frame " + t.index }),
          el("figcaption", null, "#" + t.index + (has(t.t) ? " · " + Number(t.t).toFixed(1) + "s" : ""))));
      });
      host.appendChild(fbox);
    }
    if (fr && fr.indices) {
      var cbox = el("div", { class: "frames chips-row", title: "frames the model saw: index @ timestamp" });
      fr.indices.forEach(function (ix, i) {
        var t = fr.timestamps && has(fr.timestamps[i]) ? " @" + Number(fr.timestamps[i]).toFixed(2) + "s" : "";
        cbox.appendChild(el("span", { class: "fchip" }, "#" + ix + t));
      });
      host.appendChild(cbox);
    }
    var meta = [];
    if (item.video) meta.push(item.video.path + (has(item.video.start) ? " [" + item.video.start + "–" + (has(item.video.end) ? item.video.end : "end") + "s]" : ""));
    if (fr && fr.decoder) meta.push("decoder " + fr.decoder);
    if (fr && fr.sampled_fps) meta.push("sampled " + Number(fr.sampled_fps).toFixed(2) + " fps");
    if (thumbs.length) meta.push(thumbs.length === fr.indices.length ? "thumbnails: all " + thumbs.length + " frames the model saw" :
      "thumbnails: " + thumbs.length + " of the " + fr.indices.length + " frames the model saw, evenly spread");
    else if (fr) meta.push("no thumbnails embedded (rebuild with --thumbnails and the task data)");
    if (meta.length) host.appendChild(el("div", { class: "small muted" }, meta.join(" · ")));
  }

  function renderRaw(host, s, open) {
    var body;
    if (s.text === null || s.text === undefined) body = s.error ? s.error.message : "(no output)";
    else body = s.text;
    var blank = has(s.text) && s.text.trim() === "";
    var det = el("details", { open: open }, el("summary", null, "Raw model output" + (s.text_truncated ? " (truncated)" : "")),
      blank ? el("p", { class: "small warn-note", "data-note": "blank-output" },
        s.text.length === 0 ? "The model returned an empty string." :
          "The model returned only whitespace (" + s.text.length + " character" + (s.text.length === 1 ? "" : "s") + ", shown as ⎵/↵ below).") : null,
      el("pre", { class: "raw" }, blank ? s.text.replace(/ /g, "⎵").replace(/\n/g, "↵\n").replace(/\t/g, "→") : body));
    host.appendChild(det);
  }

  function renderSample() {
    var host = clear($("sample-detail"));
    var s = samplesOf(state.sampleRun).filter(function (x) { return x.key === state.sampleKey; })[0];
    if (!s) { host.appendChild(el("p", { class: "empty-note" }, "Pick a sample on the left.")); return; }
    var item = ITEMS[s.item] || {};
    var run = runById[state.sampleRun];
    host.appendChild(el("h3", { style: null }, item.task + " · " + item.id));
    var chips = el("div", { class: "chips" });
    if (s.error) chips.appendChild(chip("error: " + s.error.kind, "bad"));
    else if (s.correct === true) chips.appendChild(chip("correct", "ok"));
    else if (s.correct === false) chips.appendChild(chip("wrong", "bad"));
    chips.appendChild(chip("gold " + (has(item.answer) ? item.answer : "?")));
    chips.appendChild(chip("extracted " + (has(s.extracted) ? s.extracted : "none"), s.parse_failed ? "warn" : ""));
    if (s.parse_failed) chips.appendChild(chip("parse failed", "warn"));
    if (s.format_ok === true) chips.appendChild(chip("format ok", "ok"));
    if (s.format_ok === false) chips.appendChild(chip("format broken", "bad"));
    if (has(s.prr)) chips.appendChild(chip("PRR " + pct(s.prr), "", "process reasoning reward, 0–100"));
    else if (s.prr_status && s.prr_status !== "disabled") chips.appendChild(chip("PRR " + s.prr_status.replace(/_/g, " "), ""));
    if (s.approximate) chips.appendChild(chip("approximate score", "warn"));
    var jnames = Object.keys(s.judge || {});
    jnames.forEach(function (name) {
      var j = s.judge[name];
      chips.appendChild(chip("judge " + name + ": " + verdictText(j), j.error ? "warn" : ""));
    });
    if (!jnames.length && run && !run.judged) chips.appendChild(chip("not judged", "", "no LLM judge has run on this run (mosseval judge RUN_DIR)"));
    if (item.category) chips.appendChild(chip("category " + item.category));
    if (item.level) chips.appendChild(chip("level " + item.level));
    chips.appendChild(chip("picked: " + (WHY[s.why] || s.why), "", "why this sample is embedded in the page"));
    host.appendChild(chips);

    host.appendChild(el("div", { class: "question" }, item.question || ""));
    var letters = Object.keys(item.options || {});
    if (letters.length) {
      host.appendChild(el("ul", { class: "options" }, letters.map(function (L) {
        var gold = L === item.answer, picked = L === s.extracted;
        return el("li", { class: (gold ? "gold " : "") + (picked ? "picked" : "") },
          el("span", { class: "letter" }, L), el("span", { class: "otext" }, item.options[L]),
          gold ? el("span", { class: "tag" }, "GOLD") : null, picked ? el("span", { class: "tag" }, "MODEL") : null);
      })));
    }
    renderFrames(host, s, item);
    // alignment
    var refs = item.reference_steps || [];
    var steps = s.steps || [];
    if (refs.length || steps.length) {
      host.appendChild(el("h3", null, "Reasoning vs reference (SDTW alignment)"));
      renderAlignment(host, refs, steps, s.alignment);
      if (s.alignment) {
        host.appendChild(el("div", { class: "small muted" }, "step distance: 0 = same wording, 1 = nothing in common · alignment cost " +
          num(s.alignment.cost) + " · normalised " + num(s.alignment.normalized_cost) + " over " + s.alignment.path.length +
          " matched cells · PRR " + pct(s.prr) + " (0–100)" + (s.steps_truncated ? " · steps truncated at the cap" : "")));
      }
    }
    renderRaw(host, s, !(refs.length || steps.length));
    var jn = jnames.filter(function (n) { return s.judge[n].rationale || s.judge[n].error; });
    if (jn.length) {
      host.appendChild(el("details", null, el("summary", null, "Judge rationale"),
        jn.map(function (n) { return el("pre", { class: "raw" }, n + ": " + (s.judge[n].error || s.judge[n].rationale)); })));
    }
    // the same item in other runs
    var others = runs.filter(function (r) { return r.run_id !== run.run_id; }).map(function (r) {
      var o = samplesOf(r.run_id).filter(function (x) { return x.item === s.item; })[0];
      return o ? { run: r, s: o } : null;
    }).filter(Boolean);
    if (others.length) {
      host.appendChild(el("h3", null, "Same item in other runs"));
      var t = el("table", { class: "others" }, el("thead", null, el("tr", null, el("th", null, "run"), el("th", null, "extracted"), el("th", null, "result"), el("th", null, "PRR"))));
      var tb = el("tbody");
      others.forEach(function (o) {
        var tr = el("tr", { "data-run": o.run.run_id }, el("td", null, o.run.display_name), el("td", null, has(o.s.extracted) ? o.s.extracted : "none"),
          el("td", null, o.s.correct ? "✓" : "✗"), el("td", null, has(o.s.prr) ? pct(o.s.prr) : "–"));
        tr.addEventListener("click", function () { state.sampleRun = o.run.run_id; state.sampleKey = o.s.key; state.sampleTask = ""; state.sampleFilter = "all"; syncSampleFilter(); renderBrowserList(); });
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      host.appendChild(t);
    }
  }

  var alignRedraw = null;
  function renderAlignment(host, refs, steps, alignment) {
    var path = alignment ? alignment.path : [];
    var dist = alignment && alignment.distances ? alignment.distances : [];
    var byGen = {};  // model step -> [[ref, distance], ...] along the path
    path.forEach(function (p, k) { (byGen[p[1]] = byGen[p[1]] || []).push([p[0], has(dist[k]) ? dist[k] : null]); });
    var refList = el("ol", null, refs.map(function (r, i) {
      return el("li", { "data-ref": i }, el("span", { class: "si" }, "R" + (i + 1)),
        has(r[0]) ? el("span", { class: "st" }, Number(r[0]).toFixed(1) + "s") : null, r[1]);
    }));
    var genList = el("ol", null, steps.map(function (t, j) {
      var m = byGen[j];
      return el("li", { "data-gen": j, class: alignment && !m ? "unmatched" : "", title: alignment && !m ? "not on the alignment path (skipped)" : "" },
        el("span", { class: "si" }, "G" + (j + 1)), t,
        m ? el("span", { class: "dists" }, m.map(function (x) {
          return el("span", { class: "dchip", "data-ref": x[0], title: "distance to R" + (x[0] + 1) + (has(x[1]) ? ": " + x[1].toFixed(3) : "") },
            "R" + (x[0] + 1) + (has(x[1]) ? " · " + x[1].toFixed(2) : ""));
        })) : null);
    }));
    var links = svg("svg", { class: "links", "data-pairs": path.length });
    var box = el("div", { class: "align" },
      el("div", null, el("div", { class: "col-h" }, "Reference steps"), refList),
      el("div", null, el("div", { class: "col-h" }, " "), links),
      el("div", null, el("div", { class: "col-h" }, "Model steps (distance to the matched reference)"), genList.childNodes.length ? genList : el("p", { class: "muted small" }, "no steps (format broken or empty)")));
    host.appendChild(box);
    function draw() {
      clear(links);
      var top = links.getBoundingClientRect().top;
      var h = Math.max(refList.getBoundingClientRect().bottom, genList.getBoundingClientRect().bottom) - top;
      links.setAttribute("height", Math.max(10, h));
      links.setAttribute("viewBox", "0 0 130 " + Math.max(10, h));
      links.style.height = Math.max(10, h) + "px";
      var refNodes = refList.children, genNodes = genList.children;
      var placed = [];  // y of the distance labels drawn so far: a label that would overprint is left out
      path.forEach(function (p, k) {
        var a = refNodes[p[0]], b = genNodes[p[1]];
        if (!a || !b) return;
        var ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
        var y1 = ra.top + ra.height / 2 - top, y2 = rb.top + rb.height / 2 - top;
        var d = has(dist[k]) ? dist[k] : null;
        links.appendChild(svg("line", { class: "align-line", x1: 4, y1: y1, x2: 126, y2: y2, stroke: d === null ? "#888" : distColor(d), "data-ref": p[0], "data-gen": p[1] },
          svg("title", null, "R" + (p[0] + 1) + " ↔ G" + (p[1] + 1) + (d === null ? "" : "  distance " + d.toFixed(3)))));
        if (d === null) return;
        var ly = (y1 + y2) / 2 - 3;
        if (placed.some(function (y) { return Math.abs(y - ly) < 12; })) return;
        placed.push(ly);
        links.appendChild(svg("text", { class: "dlabel", x: 65, y: ly, "text-anchor": "middle" }, d.toFixed(2)));
      });
    }
    draw();
    alignRedraw = draw;
  }
  window.addEventListener("resize", function () { if (alignRedraw && document.body.contains(document.querySelector(".align"))) alignRedraw(); });

  function syncSampleFilter() {
    Array.prototype.forEach.call($("sample-filter").querySelectorAll("button"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-f") === state.sampleFilter ? "true" : "false");
    });
  }

  // ------------------------------------------------------------------ wiring
  function init() {
    document.title = BOARD.title || "mosseval leaderboard";
    $("title").textContent = BOARD.title || "mosseval leaderboard";
    renderHeader();
    renderToolbar();
    renderTable();
    $("filter").addEventListener("input", function (ev) { state.filter = ev.target.value; applyFilter(); });
    $("show-sub").addEventListener("change", function (ev) { state.showSub = ev.target.checked; renderTable(); });
    $("scatter-col").addEventListener("change", function (ev) { state.chartCol = ev.target.value; renderScatter(); });
    $("drill-col").addEventListener("change", function (ev) { state.drillCol = ev.target.value; state.drillKind = null; renderDrill(); });
    $("drill-kind").addEventListener("change", function (ev) { state.drillKind = ev.target.value; renderDrill(); });
    $("sample-run").addEventListener("change", function (ev) { state.sampleRun = ev.target.value; renderBrowserList(); });
    $("sample-task").addEventListener("change", function (ev) { state.sampleTask = ev.target.value; renderBrowserList(); });
    Array.prototype.forEach.call($("sample-filter").querySelectorAll("button"), function (b) {
      b.addEventListener("click", function () { state.sampleFilter = b.getAttribute("data-f"); syncSampleFilter(); renderBrowserList(); });
    });
    if (!BOARD.columns.some(function (c) { return !c.top_level; })) $("show-sub-wrap").hidden = true;
    $("tie-legend").textContent = "statistically tied with the leader (α = " + BOARD.settings.alpha + "; " + BOARD.settings.tie_test.accuracy + ")";
    renderCharts();
    renderBrowserList();
  }
  init();
})();
