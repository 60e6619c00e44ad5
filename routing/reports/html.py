"""The cost report as one self-contained HTML page (`llm-router cost report --html`).

For people without Grafana: daily spend stacked by model key, routed spend against the
counterfactuals (`routing.reports.report`'s naive comparisons), budgets, the top model keys by
cost, and the same table `cost report` prints (`routing.reports.text`). The page works
offline: inline CSS and inline SVG (`routing.reports.svg`), no script, no font, no URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from routing.reports import svg, text
from routing.reports.svg import Bar, money

TOP_KEYS = 12
# Outside the model keys' palette, so each color on the page stands for one thing.
NAIVE_COLORS = {"routed": "#2e7d32", "most_expensive": "#c62828",
                "orchestration_default": "#ef6c00"}
STYLE = """
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#1d2939;
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:20px}
h1{font-size:24px;margin:0 0 2px}
h2{font-size:16px;margin:0 0 10px}
.sub{color:#667085;margin:0 0 16px}
section{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:16px 20px;
 margin:0 0 16px}
svg{display:block;max-width:100%;height:auto;font-family:inherit}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:16px;background:none;border:0;
 padding:0}
.card{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:12px 16px}
.card b{display:block;font-size:22px}
.card span{color:#667085}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:8px 0 0;padding:0;list-style:none}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;
 vertical-align:-1px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #e4e7ec;text-align:left;white-space:nowrap}
td.n,th.n{text-align:right}
tr.total td{font-weight:600;border-top:2px solid #98a2b3}
p.line{margin:6px 0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
 font-size:13px}
footer{color:#667085;font-size:12px}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, last_total: bool,
           table_id: str) -> str:
    numeric = [all(_is_number(r[i]) for r in rows) and bool(rows)
               for i in range(len(headers))]
    head = "".join(f'<th class="{"n" if numeric[i] else ""}">{escape(h)}</th>'
                   for i, h in enumerate(headers))
    body = []
    for n, row in enumerate(rows):
        total = last_total and n == len(rows) - 1
        cells = "".join(f'<td class="{"n" if numeric[i] else ""}">{escape(c)}</td>'
                        for i, c in enumerate(row))
        body.append(f'<tr class="{"total" if total else ""}">{cells}</tr>')
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _is_number(cell: str) -> bool:
    return cell == "" or cell.replace(".", "", 1).isdigit()


def key_spend(report: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(model key, micro-dollars, calls) over the report's span, dearest first."""
    spend: dict[str, list[int]] = {}
    for r in report["rows"]:
        into = spend.setdefault(r["model_key"], [0, 0])
        into[0] += r["spend_micros"]
        into[1] += r["calls"]
    return sorted(((k, m, c) for k, (m, c) in spend.items()), key=lambda x: (-x[1], x[0]))


def _cards(report: dict[str, Any]) -> str:
    t = report["totals"]
    dear = report["naive"]["most_expensive"]
    multiple = dear["cost_multiple"]
    saved = dear["savings_ratio"]
    cards = [
        (money(t["spend_micros"]), f"spent on {report['day']}" if len(report["days"]) == 1
         else f"spent in {len(report['days'])} days to {report['day']}"),
        (f"{t['calls']:,}", "provider calls"),
        (money(dear["cost_micros"]), f"all on {dear['model']}"
         + (f" ({multiple:.1f}x)" if multiple is not None else "")),
        ("-" if saved is None else f"{saved:.1%}", "saved by routing"),
    ]
    return '<section class="cards">' + "".join(
        f'<div class="card"><b>{escape(v)}</b><span>{escape(s)}</span></div>'
        for v, s in cards) + "</section>"


def _daily(report: dict[str, Any], colors: dict[str, str]) -> str:
    days = [d["day"] for d in report["trend"]]
    series = {k: [d["spend_micros_by_model_key"].get(k, 0) for d in report["trend"]]
              for k in colors}
    legend = "".join(f'<li><i style="background:{c}"></i>{escape(k)}</li>'
                     for k, c in colors.items())
    return (f'<section id="daily"><h2>Daily spend by model key</h2>'
            f"{svg.stacked_days(days, series, colors)}"
            f'<ul class="legend">{legend}</ul></section>')


def _naive(report: dict[str, Any]) -> str:
    actual = report["totals"]["spend_micros"]
    bars = [Bar("routed", "routed (actual spend)", actual, NAIVE_COLORS["routed"])]
    for basis, c in report["naive"].items():
        if c is None:
            continue
        multiple = c["cost_multiple"]
        note = "" if multiple is None else f"· {multiple:.1f}x the routed spend"
        label = f"all on {c['model']} ({text.NAIVE_LABELS.get(basis, basis)})"
        bars.append(Bar(basis, label, c["cost_micros"], NAIVE_COLORS.get(basis, "#9c755f"),
                        note))
    lines = "".join(f'<p class="line">{escape(text.naive_line(b, c))}</p>'
                    for b, c in report["naive"].items())
    return (f'<section id="naive"><h2>Routed spend against one model for everything</h2>'
            f'{svg.hbars("naive", bars)}{lines}</section>')


def _budgets(budgets: Sequence[dict[str, Any]]) -> str:
    if not budgets:
        return ""
    resets = budgets[0]["resets_at"]
    return (f'<section id="budgets"><h2>Budgets: current window (resets {escape(resets)})'
            f"</h2>{svg.budget_bars(budgets)}</section>")


def _top_keys(report: dict[str, Any], colors: dict[str, str]) -> str:
    ranked = key_spend(report)[:TOP_KEYS]
    total = report["totals"]["spend_micros"] or 1
    bars = [Bar(k, k, m, colors[k], f"· {c:,} call{'s' if c != 1 else ''} · "
                f"{m / total:.1%} of spend")
            for k, m, c in ranked]
    return (f'<section id="top-keys"><h2>Top model keys by cost</h2>'
            f'{svg.hbars("top-keys", bars, label_width=200)}</section>')


def _attribution(report: dict[str, Any]) -> str:
    """Who spent it (when the report has `attribution`): spend per agent, a section per
    agent with its dearest runs, and the dearest runs overall."""
    from routing.reports.attribution import rows_by

    att = report.get("attribution")
    if not att or not (att["agents"] or att["runs"]):
        return ""
    out = ['<section id="agents"><h2>Spend per agent</h2>']
    bars = [Bar("agents", a["name"], a["micros"], "#1565c0",
                f"{a['calls']} calls · {a['share']:.1%}") for a in att["agents"]]
    if bars:
        out.append(svg.hbars("agents-bars", bars, label_width=200))
    headers, rows = rows_by(att, "agent")
    out += [_table(headers, rows, last_total=False, table_id="agents-table"), "</section>"]
    runs = {r["run_id"]: r for r in att["runs"]}
    for a in att["agents"]:
        name = escape(a["name"])
        out.append(f'<section class="agent" id="agent-{name}"><h2>Agent {name}</h2>'
                   f'<p class="line">{a["calls"]} calls, {money(a["micros"])}, '
                   f'{a.get("errors", 0)} errors</p>')
        mine = [runs[r] for r in a.get("dearest_runs", []) if r in runs]
        if mine:
            sub = {**att, "runs": mine}
            h, r = rows_by(sub, "run")
            out.append(_table(h, r, last_total=False, table_id=f"agent-{name}-runs"))
        out.append("</section>")
    if att["runs"]:
        h, r = rows_by(att, "run")
        out += ['<section id="runs"><h2>Dearest runs</h2>',
                _table(h, r, last_total=False, table_id="runs-table"), "</section>"]
    return "".join(out)


def render_page(report: dict[str, Any], budgets: Sequence[dict[str, Any]], *,
                title: str = "llm-router cost report", subtitle: str = "") -> str:
    """The page for `report` (`routing.reports.report.build_report`) and `budgets`
    (`BudgetStatus.as_dict()` of each budget)."""
    colors = svg.colors_for([r["model_key"] for r in report["rows"]])
    sub = " · ".join(p for p in (subtitle, text.heading(report),
                                 f"generated {report['generated_at']}") if p)
    tables = [
        '<section id="report"><h2>Calls, tokens and spend</h2>',
        _table(text.TABLE_HEADERS, text.table_rows(report), last_total=True,
               table_id="cost-table"),
        f'<p class="line">{escape(text.events_line(report))}</p>',
    ]
    batches = text.batches_line(report)
    if batches is not None:
        tables.append(f'<p class="line" id="batches">{escape(batches)}</p>')
    trials = text.trials_line(report)
    if trials is not None:
        tables.append(f'<p class="line" id="trials">{escape(trials)}</p>')
    tables.append("</section>")
    if len(report["days"]) > 1:
        tables += ['<section id="trend"><h2>Per day</h2>',
                   _table(text.TREND_HEADERS, text.trend_rows(report), last_total=False,
                          table_id="trend-table"), "</section>"]
    return "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)} {escape(text.span_text(report))}</title>",
        f"<style>{STYLE}</style></head><body><main>",
        f'<h1>{escape(title)}</h1><p class="sub">{escape(sub)}</p>',
        _cards(report), _daily(report, colors), _naive(report), _budgets(budgets),
        _top_keys(report, colors), _attribution(report), *tables,
        f"<footer>{escape('Note: ' + report['pricing'])}. Money is counted in integer "
        "micro-dollars; amounts here are rounded for display.</footer>",
        "</main></body></html>\n",
    ])


def write_page(path: Path, report: dict[str, Any], budgets: Sequence[dict[str, Any]],
               **kwargs: str) -> None:
    """Write the page to `path` (UTF-8), through a temporary file renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_page(report, budgets, **kwargs), encoding="utf-8")
    tmp.replace(path)
