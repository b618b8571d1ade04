"""The XEL progress report as one self-contained HTML page (inline CSS and inline SVG charts).

The page needs no network and no JavaScript to open: every chart is an SVG drawn here from the report
dict of :mod:`xentree_provider.reporting.data`, with a ``<title>`` for screen readers and the same
figures in text. Every piece of API text is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["render_report_html"]

_BLUE = "#2563eb"
_GREEN = "#16a34a"
_AMBER = "#d97706"
_GREY = "#cbd5e1"
_TRACK = "#eef2f7"
_INK = "#0f172a"
_MUTED = "#64748b"
_RED = "#dc2626"
DASH = "\u2013"  # en dash
MINUS = "\u2212"  # minus sign

_STATUS_COLOURS = {"completed": _GREEN, "in_progress": _BLUE, "not_started": _GREY}
_STATUS_LABELS = {"completed": "Completed", "in_progress": "In progress", "not_started": "Not started"}

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f8fafc;color:#0f172a;font:15px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,"DejaVu Sans",sans-serif}
main{max-width:1040px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 12px}
.meta{color:#64748b;margin:0 0 20px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:18px 20px;margin:0 0 18px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;background:none;
border:0;padding:0}
.kpi{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:14px 16px}
.kpi .label{display:block;color:#64748b;font-size:13px;text-transform:uppercase;letter-spacing:.04em}
.kpi .value{display:block;font-size:28px;font-weight:650;margin-top:2px}
.kpi .delta{display:block;font-size:13px;color:#64748b}
.up{color:#15803d}.down{color:#b91c1c}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef2f7;vertical-align:top}
th{color:#64748b;font-weight:600;font-size:13px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{max-height:460px;overflow:auto}
thead th{position:sticky;top:0;background:#fff}
details summary{cursor:pointer;font-weight:600}
.legend{display:flex;gap:16px;flex-wrap:wrap;color:#64748b;font-size:13px;margin:6px 0 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.empty{color:#64748b;font-style:italic}
footer{color:#64748b;font-size:13px}
svg text{font-family:inherit}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _pct(value: Any) -> str:
    return DASH if value is None else f"{float(value):.1f}%"


def _share(value: Any) -> str:
    return DASH if value is None else f"{float(value) * 100:.0f}%"


def _num(value: Any) -> str:
    if value is None:
        return DASH
    number = float(value)
    return f"{int(number):,}" if number.is_integer() else f"{number:,.1f}"


def _signed(value: float, unit: str = "") -> str:
    sign = "+" if value > 0 else (MINUS if value < 0 else "±")
    if unit == "%":
        return f"{sign}{abs(value):.0f}%"
    if unit == "" and float(value).is_integer():
        return f"{sign}{abs(int(value)):,}"
    return f"{sign}{abs(value):,.1f}{unit}"


def _delta_span(value: Any, unit: str, what: str = "since last report") -> str:
    if value is None:
        return ""
    number = float(value)
    css = "up" if number > 0 else ("down" if number < 0 else "")
    text = _signed(number * 100, "%") if unit == "share" else _signed(number, unit)
    return f'<span class="delta {css}">{_e(text)} {_e(what)}</span>'


# -- charts -------------------------------------------------------------------------------------------


def _bar_chart(
    bars: Sequence[Mapping[str, Any]], *, chart_id: str, title: str, label_width: int = 220
) -> str:
    """Horizontal progress bars (0-100 %); each bar: name, value, colour, note, previous (a marker)."""
    if not bars:
        return '<p class="empty">Nothing to show.</p>'
    row, top, width = 30, 6, 960
    track = width - label_width - 340
    height = top * 2 + row * len(bars)
    parts = [
        f'<svg id="{_e(chart_id)}" role="img" aria-labelledby="{_e(chart_id)}-title" '
        f'viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
    ]
    for index, bar in enumerate(bars):
        y = top + index * row
        value = max(0.0, min(100.0, float(bar.get("value") or 0.0)))
        filled = track * value / 100
        name = str(bar["name"])
        shown = name if len(name) <= 30 else name[:29] + "…"
        parts.append(
            f'<g class="bar"><title>{_e(name)}: {_pct(value)}</title>'
            f'<text x="{label_width - 10}" y="{y + 19}" text-anchor="end" font-size="13" '
            f'fill="{_INK}">{_e(shown)}</text>'
            f'<rect x="{label_width}" y="{y + 6}" width="{track}" height="16" rx="4" fill="{_TRACK}"/>'
            f'<rect x="{label_width}" y="{y + 6}" width="{filled:.1f}" height="16" rx="4" '
            f'fill="{_e(bar.get("colour") or _BLUE)}"/>'
        )
        previous = bar.get("previous")
        if previous is not None:
            px = label_width + track * max(0.0, min(100.0, float(previous))) / 100
            parts.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y + 2}" y2="{y + 26}" stroke="{_INK}" '
                'stroke-width="2"><title>previous report</title></line>'
            )
        parts.append(
            f'<text x="{label_width + track + 10}" y="{y + 19}" font-size="13" fill="{_INK}">'
            f'<tspan font-weight="600">{_pct(value)}</tspan>'
            f'<tspan fill="{_MUTED}"> {_e(bar.get("note") or "")}</tspan></text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _histogram(distribution: Sequence[Mapping[str, Any]], *, chart_id: str, title: str, noun: str) -> str:
    width, height, left, bottom, top = 960, 250, 40, 36, 24
    plot_h = height - bottom - top
    step = (width - left - 10) / max(1, len(distribution))
    peak = max([int(b["count"]) for b in distribution] + [1])
    parts = [
        f'<svg id="{_e(chart_id)}" role="img" aria-labelledby="{_e(chart_id)}-title" '
        f'viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
        f'<line x1="{left}" x2="{width - 10}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{_GREY}"/>',
    ]
    for index, bucket in enumerate(distribution):
        count = int(bucket["count"])
        bar_h = plot_h * count / peak
        x = left + index * step + 6
        y = top + plot_h - bar_h
        parts.append(
            f"<g><title>{_e(bucket['label'])}: {count} {_e(noun)}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step - 12:.1f}" height="{bar_h:.1f}" rx="3" '
            f'fill="{_BLUE}"/>'
            f'<text x="{x + (step - 12) / 2:.1f}" y="{y - 6:.1f}" text-anchor="middle" font-size="13" '
            f'fill="{_INK}">{count}</text>'
            f'<text x="{x + (step - 12) / 2:.1f}" y="{height - 12}" text-anchor="middle" font-size="12" '
            f'fill="{_MUTED}">{_e(bucket["label"])}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _stacked(parts_in: Sequence[tuple[str, int, str]], *, chart_id: str, title: str) -> str:
    total = sum(count for _, count, _ in parts_in)
    width, height = 960, 34
    svg = [
        f'<svg id="{_e(chart_id)}" role="img" aria-labelledby="{_e(chart_id)}-title" '
        f'viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
        f'<rect x="0" y="4" width="{width}" height="26" rx="5" fill="{_TRACK}"/>',
    ]
    x = 0.0
    for label, count, colour in parts_in:
        if not total or not count:
            continue
        w = width * count / total
        svg.append(
            f'<rect x="{x:.1f}" y="4" width="{w:.1f}" height="26" fill="{colour}">'
            f"<title>{_e(label)}: {count}</title></rect>"
        )
        if w > 90:
            ink = _INK if colour == _GREY else "#fff"
            svg.append(
                f'<text x="{x + 10:.1f}" y="22" font-size="13" fill="{ink}" font-weight="600">'
                f"{_e(label)} {count}</text>"
            )
        x += w
    svg.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{_e(label)}: {count}</span>'
        for label, count, colour in parts_in
    )
    return "".join(svg) + f'<div class="legend">{legend}</div>'


# -- sections -----------------------------------------------------------------------------------------


def _kpi(kpi_id: str, label: str, value: str, delta: str = "", note: str = "") -> str:
    extra = delta or (f'<span class="delta">{_e(note)}</span>' if note else "")
    return (
        f'<div class="kpi" id="kpi-{_e(kpi_id)}"><span class="label">{_e(label)}</span>'
        f'<span class="value" id="total-{_e(kpi_id)}">{_e(value)}</span>{extra}</div>'
    )


def _kpis(report: Mapping[str, Any]) -> str:
    totals = report["totals"]
    change = (report.get("comparison") or {}).get("totals_change") or {}
    organization = report["scope"] == "organization"
    cards = []
    if organization:
        cards.append(
            _kpi("members", "Members", _num(totals["members"]), _delta_span(change.get("members"), ""))
        )
    active_note = (
        f"{_num(totals['active_members'])} of {_num(totals['members'])}"
        if organization
        else f"{_num(totals['modules_active_in_window'])} module(s) worked on"
    )
    cards += [
        _kpi(
            "average-progress",
            "Average progress" if organization else "Overall progress",
            _pct(totals["average_progress"]),
            _delta_span(change.get("average_progress"), " pts"),
            note=f"median {_pct(totals.get('median_progress'))}" if organization else "",
        ),
        _kpi(
            "active-share",
            "Active in window",
            _share(totals["active_share"]),
            _delta_span(change.get("active_share"), "share"),
            note=active_note,
        ),
        _kpi("average-score", "Average score", _num(totals.get("average_score"))),
    ]
    if organization:
        cards.append(
            _kpi(
                "learning-hours",
                "Learning hours",
                _num(round(float(totals.get("learning_minutes") or 0) / 60, 1)),
                note="in the window",
            )
        )
        cards.append(_kpi("inactive", "Not active", _num(totals["inactive_members"]), note="in the window"))
    else:
        cards.append(
            _kpi(
                "modules-completed",
                "Modules completed",
                f"{_num(totals['modules_completed'])} / {_num(totals['modules_total'])}",
                note=f"{_num(totals['modules_in_progress'])} in progress",
            )
        )
        cards.append(
            _kpi(
                "streak",
                "Current streak",
                f"{_num(totals['current_streak'])} d",
                note=f"{_num(totals['xp_total'])} XP",
            )
        )
    return f'<section class="kpis" id="totals">{"".join(cards)}</section>'


def _groups_section(report: Mapping[str, Any]) -> str:
    organization = report["scope"] == "organization"
    bars = []
    if organization:
        for group in report["groups"]:
            change = group.get("progress_change")
            note = f"· {group['members']} members · {_share(group['active_share'])} active"
            if change is not None:
                note += f" · {_signed(float(change), ' pts')}"
            previous = None if change is None else float(group["average_progress"] or 0) - float(change)
            bars.append(
                {
                    "name": group["name"],
                    "value": group["average_progress"],
                    "note": note,
                    "previous": previous,
                }
            )
        chart = _bar_chart(bars, chart_id="chart-groups", title="Average progress by team")
        heading = "Progress by team"
    else:
        for row in report["rows"]:
            note = f"· {row['completed_tasks']}/{row['total_tasks']} tasks"
            if row.get("average_score") is not None:
                note += f" · score {_num(row['average_score'])}"
            change = row.get("progress_change")
            if change:
                note += f" · {_signed(float(change), ' pts')}"
            bars.append(
                {
                    "name": row["title"] or row["module_id"],
                    "value": row["progress_percent"],
                    "note": note,
                    "colour": _STATUS_COLOURS.get(row["status"], _BLUE),
                }
            )
        chart = _bar_chart(bars, chart_id="chart-groups", title="Progress by module", label_width=300)
        legend = "".join(
            f'<span><i style="background:{colour}"></i>{_STATUS_LABELS[status]}</span>'
            for status, colour in _STATUS_COLOURS.items()
        )
        chart += f'<div class="legend">{legend}</div>'
        heading = "Progress by module"
    marker = (
        '<p class="legend">The dark tick on a bar marks the previous report.</p>'
        if organization and report.get("comparison")
        else ""
    )
    return f'<section id="groups"><h2>{heading}</h2>{chart}{marker}</section>'


def _distribution_section(report: Mapping[str, Any]) -> str:
    totals = report["totals"]
    organization = report["scope"] == "organization"
    noun = "members" if organization else "modules"
    histogram = _histogram(
        report["distribution"],
        chart_id="chart-distribution",
        title=f"Number of {noun} by progress",
        noun=noun,
    )
    if organization:
        stacked = _stacked(
            [
                ("Active", int(totals["active_members"]), _GREEN),
                ("Not active", int(totals["inactive_members"]), _AMBER),
            ],
            chart_id="chart-activity",
            title="Members active in the window",
        )
        caption = "Members active in the window"
    else:
        stacked = _stacked(
            [
                (_STATUS_LABELS[s], sum(1 for r in report["rows"] if r["status"] == s), c)
                for s, c in _STATUS_COLOURS.items()
            ],
            chart_id="chart-activity",
            title="Modules by status",
        )
        caption = "Modules by status"
    return (
        f'<section id="distribution"><h2>Distribution of progress</h2>'
        f'<p class="meta">How many {noun} sit in each band of progress.</p>{histogram}'
        f"<h2>{caption}</h2>{stacked}</section>"
    )


def _inactive_section(report: Mapping[str, Any]) -> str:
    if report["scope"] != "organization":
        return ""
    inactive = report["inactive"]
    if not inactive:
        body = '<p class="empty">Every member was active in the window.</p>'
    else:
        rows = "".join(
            f"<tr><td>{_e(r['full_name'])}</td><td>{_e(r['email'])}</td><td>{_e(r['team'])}</td>"
            f'<td class="num">{_pct(r["progress_percent"])}</td></tr>'
            for r in inactive
        )
        body = (
            '<div class="scroll"><table><thead><tr><th>Name</th><th>E-mail</th><th>Team</th>'
            f'<th class="num">Progress</th></tr></thead><tbody>{rows}</tbody></table></div>'
        )
    return (
        f'<section id="inactive"><h2>Not active in the window '
        f'(<span id="inactive-count">{len(inactive)}</span>)</h2>{body}</section>'
    )


def _comparison_section(report: Mapping[str, Any]) -> str:
    comparison = report.get("comparison")
    if not comparison:
        return ""
    previous_window = comparison.get("previous_window") or {}
    since = (
        f"{previous_window.get('start_date')} {DASH} {previous_window.get('end_date')}"
        if previous_window
        else comparison.get("previous_generated_at") or "the previous report"
    )
    change = comparison["totals_change"]
    items = []
    for key, label, unit in (
        ("members", "Members", ""),
        ("average_progress", "Average progress", " pts"),
        ("active_share", "Active share", "share"),
        ("average_score", "Average score", ""),
    ):
        if change.get(key) is not None:
            items.append(f"<li>{_e(label)}: {_delta_span(change[key], unit, '')}</li>")
    organization = report["scope"] == "organization"
    noun = "member" if organization else "module"
    items.append(
        f"<li>New {noun}s: {len(comparison['new'])}; no longer listed: {len(comparison['gone'])}</li>"
    )
    if organization:
        items.append(f"<li>Active last time, not active now: {len(comparison['newly_inactive'])}</li>")
    movers = comparison.get("top_changes") or []
    table = ""
    if movers:
        rows = "".join(
            f'<tr><td>{_e(m["name"])}</td><td class="num">{_pct(m["progress_percent"])}</td>'
            f'<td class="num">{_delta_span(m["progress_change"], " pts", "")}</td></tr>'
            for m in movers
        )
        table = (
            f"<h2>Largest changes</h2><table><thead><tr><th>{noun.title()}</th>"
            '<th class="num">Progress</th><th class="num">Change</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return (
        f'<section id="comparison"><h2>Change since the previous report ({_e(since)})</h2>'
        f"<ul>{''.join(items)}</ul>{table}</section>"
    )


def _cells(*values: str) -> str:
    return "".join(f'<td class="num">{_e(v)}</td>' for v in values)


def _all_rows_section(report: Mapping[str, Any]) -> str:
    rows = report["rows"]
    if report["scope"] == "organization":
        head = ("Name", "Team", "Modules", "Progress", "Score", "Minutes", "Active", "Change")
        body = "".join(
            f"<tr><td>{_e(r['full_name'])}<br><small>{_e(r['email'])}</small></td><td>{_e(r['team'])}</td>"
            + _cells(
                _num(r["modules_completed"]),
                _pct(r["progress_percent"]),
                _num(r["average_score"]),
                _num(r["learning_minutes"]),
            )
            + f"<td>{'yes' if r['active_in_window'] else 'no'}</td>"
            + _cells("" if r["progress_change"] is None else _signed(r["progress_change"]))
            + "</tr>"
            for r in rows
        )
        summary = f"All members ({len(rows)})"
    else:
        head = ("Module", "Level", "Skill", "Status", "Tasks", "Progress", "Score", "Last activity")
        body = "".join(
            f"<tr><td>{_e(r['title'])}</td><td>{_e(r['level'])}</td><td>{_e(r['skill'])}</td>"
            f"<td>{_e(_STATUS_LABELS.get(r['status'], r['status']))}</td>"
            + _cells(
                f"{r['completed_tasks']}/{r['total_tasks']}",
                _pct(r["progress_percent"]),
                _num(r["average_score"]),
            )
            + f"<td>{_e(r['last_activity_at'] or DASH)}</td></tr>"
            for r in rows
        )
        summary = f"All modules ({len(rows)})"
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (
        f'<section id="rows"><details><summary>{_e(summary)}</summary>'
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></details></section>"
    )


def render_report_html(report: Mapping[str, Any]) -> str:
    """Render the report dict (:func:`~xentree_provider.reporting.data.build_report`) as one HTML page."""
    window = report.get("window")
    meta = []
    if window:
        meta.append(f"Window {window['start_date']} {DASH} {window['end_date']} (UTC days, both included)")
    if report.get("team_id"):
        meta.append(f"team {report['team_id']}")
    meta.append(f"generated {report['generated_at']}")
    if report["totals"]["members"] == 0:
        body = (
            '<section id="empty"><h2>No members</h2><p class="empty">The organization directory returned '
            "no members for this window and filter, so there is nothing to chart.</p></section>"
        )
    else:
        body = (
            _groups_section(report)
            + _distribution_section(report)
            + _comparison_section(report)
            + _inactive_section(report)
            + _all_rows_section(report)
        )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="airflow-provider-xentree"><title>{_e(report["title"])}</title>'
        f"<style>{_CSS}</style></head><body><main>"
        f'<header><h1 id="report-title">{_e(report["title"])}</h1>'
        f'<p class="meta" id="report-meta">{_e(" · ".join(meta))}</p></header>'
        f"{_kpis(report)}{body}"
        "<footer>Figures are also in <code>progress.csv</code> and <code>progress.json</code> beside this "
        "page.</footer></main></body></html>\n"
    )
