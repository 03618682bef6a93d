"""The monitoring status for people: a terminal table and a single-file HTML page.

The page (``pitstop monitor --html FILE`` and ``GET /status``) is server-rendered HTML with
inline CSS and inline SVG charts and no script: no request leaves the page, and it stays far
under 150 KB (a few kB per feature). Charts: freshness per view against its thresholds, PSI per
feature against 0.1 and 0.25, baseline-vs-current histograms on the baseline's bins, and, when
the API renders it, serving latency and lookups per minute.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from pitstop.monitoring.drift import PSI_ERROR, PSI_WARN
from pitstop.monitoring.freshness import ERROR_FACTOR, WARN_FACTOR
from pitstop.monitoring.status import FeatureStatus, MonitoringStatus
from pitstop.monitoring.statuses import worst

COLORS = {
    "ok": "#1a7f37",
    "warn": "#b26b00",
    "error": "#c62828",
    "insufficient_data": "#6a5acd",
    "skipped": "#888888",
}
BASELINE_COLOR = "#9aa5b1"
CURRENT_COLOR = "#2f6fd6"


# ---- terminal ----------------------------------------------------------------------------------
def terminal_table(status: MonitoringStatus) -> str:
    """A plain-text table: one line per view's freshness, one per feature."""
    lines = [
        f"pitstop monitor: {status.status.upper()} at {status.generated_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"{'view':<18} {'freshness':<10} {'newest snapshot (UTC)':<22} {'age':>8}",
    ]
    for name, view in status.views.items():
        fresh = view.freshness
        newest = (
            f"{fresh.newest_event_timestamp:%Y-%m-%d %H:%M}"
            if fresh.newest_event_timestamp
            else "-"
        )
        lines.append(f"{name:<18} {fresh.status:<10} {newest:<22} {_hours(fresh.age_seconds):>8}")
        for store in fresh.stores:
            note = f"  ({store.reason})" if store.reason else ""
            lines.append(f"  {store.store:<16} {store.status:<10}{note}")
    lines += [""] + ([status.baseline_note] if status.baseline_note else [])
    lines += [
        f"{'view':<18} {'feature':<26} {'drift':<18} {'psi':>7} {'null':>7} "
        f"{'stale':>7} {'wrong':>7}",
    ]
    for name, view in status.views.items():
        for feature, item in view.features.items():
            lines.append(
                f"{name:<18} {feature:<26} {item.drift.status:<18} {_num(item.drift.psi):>7} "
                f"{_pct(item.null_rate):>7} {_pct(item.skew.stale_rate if item.skew else None):>7} "
                f"{_pct(item.skew.wrong_rate if item.skew else None):>7}"
            )
    dbt = status.dbt
    lines += [
        "",
        f"dbt source freshness: {dbt.source_status} ({dbt.source_detail})",
        f"dbt tests: {dbt.tests_status} ({dbt.tests_passed} passed, "
        f"{len(dbt.tests_failed)} failed, {len(dbt.tests_warned)} warned)",
        f"skew: {status.skew.lookups} sampled entity rows recomputed offline"
        + (f", {status.skew.unchecked} values not recomputed" if status.skew.unchecked else "")
        + (f" ({status.skew.note})" if status.skew.note else ""),
    ]
    return "\n".join(lines)


# ---- HTML --------------------------------------------------------------------------------------
def html_page(status: MonitoringStatus, serving: Mapping[str, Any] | None = None) -> str:
    """The status page as one self-contained HTML document."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        # An empty icon: otherwise the browser asks the server for /favicon.ico.
        "<link rel='icon' href='data:,'>",
        f"<title>pitstop status: {status.status}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>pitstop {_badge(status.status)}</h1>",
        f"<p>generated {status.generated_at:%Y-%m-%d %H:%M:%S} UTC · "
        f"{len(status.views)} feature views · drift window: last 7 daily snapshots vs the "
        "training-set baseline</p></header>",
        "<section><h2>Freshness</h2>",
        _freshness_chart(status),
        _dbt_block(status),
        "</section>",
        "<section><h2>Drift (PSI per feature)</h2>",
        f"<p class='muted'>{html.escape(status.baseline_note)}</p>" if status.baseline_note else "",
        _psi_chart(status),
        "</section>",
        "<section><h2>Serving</h2>",
        _serving_block(status, serving),
        "</section>",
        "<section><h2>Baseline vs current</h2><div class='grid'>",
    ]
    for view_name, view in status.views.items():
        for feature, item in view.features.items():
            parts.append(_histogram_card(view_name, feature, item))
    parts.append("</div></section>")
    parts.append(
        "<footer>ok: within every threshold · warn: worth a look · error: act now · "
        "insufficient data: fewer than 1,000 rows on a side, never ok</footer></body></html>"
    )
    return "".join(parts)


_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px;"
    "color:#1f2328;background:#fafbfc}h1{font-size:22px;margin:0}h2{font-size:17px;"
    "border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}"
    ".badge{color:#fff;border-radius:10px;padding:1px 9px;font-size:13px;vertical-align:middle}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:10px}"
    ".card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px}"
    ".card h3{font-size:13px;margin:0 0 4px;display:flex;justify-content:space-between;gap:4px}"
    ".card h3 span:first-child{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}"
    "table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left}"
    "svg text{font:11px system-ui,sans-serif;fill:#1f2328}.muted{color:#57606a}"
    "footer{margin-top:24px;color:#57606a;font-size:12px}"
)


def _badge(status: str) -> str:
    label = status.replace("_", " ")
    return f"<span class='badge' style='background:{COLORS[status]}'>{html.escape(label)}</span>"


# Below the bars: the threshold marks' labels, one row each, so they never overlap.
_AXIS_HEIGHT = 44
# Right of the longest bar: room for its label ("▸ 2,406.8 d", "▸ 4.912 (too few rows)").
_LABEL_ROOM = 140


def _threshold_marks(marks: list[tuple[float, str, str]], height: int) -> list[str]:
    """Dashed lines at each x, labelled below the bars on a row of their own."""
    parts = []
    for row, (x, label, value) in enumerate(marks):
        parts.append(
            f"<line x1='{x:.1f}' y1='2' x2='{x:.1f}' y2='{height - _AXIS_HEIGHT + 4}' "
            f"stroke='{COLORS[label]}' stroke-dasharray='4 3'/>"
            f"<text x='{x + 3:.1f}' y='{height - _AXIS_HEIGHT + 18 + 14 * row}' "
            f"fill='{COLORS[label]}'>{label} {value}</text>"
        )
    return parts


def _row_label(name: str, y: float, room: float) -> str:
    """A chart row's name cut to the room left of the bars (about 6.5 px a character at the
    charts' 11 px), the whole name in its tooltip."""
    shown = _cut_middle(name, max(int((room - 10) / 6.5), 8))
    return f"<text x='0' y='{y}'><title>{html.escape(name)}</title>{html.escape(shown)}</text>"


def _cut_middle(name: str, fits: int) -> str:
    """``name`` in at most ``fits`` characters, cut in the middle: both the view's start and
    the feature's name stay readable."""
    if len(name) <= fits:
        return name
    tail = (fits - 1) // 2
    return name[: fits - 1 - tail] + "…" + name[-tail:]


def _age(seconds: float) -> str:
    """An age that fits its label at any size: hours up to two days, then days."""
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:,.1f} d"


def _psi_text(value: float) -> str:
    return f"{value:.3f}" if value < 1000 else f"{value:,.0f}"


def _freshness_chart(status: MonitoringStatus) -> str:
    rows = [
        (name, store.store, store.status, store.age_seconds, store.reason)
        for name, view in status.views.items()
        for store in view.freshness.stores
    ]
    if not rows:
        return "<p class='muted'>no feature views</p>"
    interval_hours = status.freshness_hours
    error_hours = ERROR_FACTOR * interval_hours
    # The axis reaches past the error mark, and no further than 3x it: an older age is a full
    # bar whose label says how old (so the marks never crowd together at the left).
    ages = [age / 3600 for *_, age, _ in rows if age is not None]
    limit_hours = min(max([error_hours * 1.25, *ages]), error_hours * 3)
    width, left, bar = 760, 230, 18
    height = 24 * len(rows) + _AXIS_HEIGHT
    scale = (width - left - _LABEL_ROOM) / limit_hours
    svg = [_svg_open(width, height, "freshness: age of the newest snapshot per view and store")]
    marks = ((WARN_FACTOR, "warn"), (ERROR_FACTOR, "error"))
    svg += _threshold_marks(
        [
            (left + mark * interval_hours * scale, label, f"{mark * interval_hours:g} h")
            for mark, label in marks
        ],
        height,
    )
    for index, (view, store, state, age, reason) in enumerate(rows):
        y = 6 + 24 * index
        svg.append(_row_label(f"{view} · {store}", y + 13, left))
        if age is None:
            svg.append(
                f"<text x='{left}' y='{y + 13}' fill='{COLORS[state]}'>"
                f"{html.escape(state)}: {html.escape(reason[:90])}</text>"
            )
            continue
        length = max(min(age / 3600, limit_hours) * scale, 1)
        more = "▸ " if age / 3600 > limit_hours else ""
        svg.append(
            f"<rect x='{left}' y='{y}' width='{length:.1f}' height='{bar}' "
            f"fill='{COLORS[state]}'><title>{_age(age)}</title></rect>"
            f"<text x='{left + length + 4:.1f}' y='{y + 13}'>{more}{_age(age)}</text>"
        )
    svg.append("</svg>")
    return "".join(svg)


def _psi_chart(status: MonitoringStatus) -> str:
    rows = [
        (view, feature, item)
        for view, view_status in status.views.items()
        for feature, item in view_status.features.items()
    ]
    if not rows:
        return "<p class='muted'>no features with a baseline</p>"
    # as the freshness axis: past the error mark, at most 3x it; larger values are full bars
    limit = min(max([PSI_ERROR * 2] + [item.drift.psi or 0 for *_, item in rows]), PSI_ERROR * 3)
    width, left, bar = 760, 290, 12
    height = 16 * len(rows) + _AXIS_HEIGHT
    scale = (width - left - _LABEL_ROOM) / limit
    svg = [_svg_open(width, height, "PSI per feature with the warn and error thresholds")]
    svg += _threshold_marks(
        [
            (left + mark * scale, label, f"{mark}")
            for mark, label in ((PSI_WARN, "warn"), (PSI_ERROR, "error"))
        ],
        height,
    )
    for index, (view, feature, item) in enumerate(rows):
        y = 4 + 16 * index
        svg.append(_row_label(f"{view}.{feature}", y + 10, left))
        value = item.drift.psi
        color = COLORS[item.drift.status]
        if value is None:
            svg.append(
                f"<text x='{left}' y='{y + 10}' fill='{color}'>"
                f"{item.drift.status.replace('_', ' ')}</text>"
            )
            continue
        length = max(min(value, limit) * scale, 1)
        more = "▸ " if value > limit else ""
        svg.append(
            f"<rect x='{left}' y='{y}' width='{length:.1f}' height='{bar}' fill='{color}'/>"
            f"<text x='{left + length + 4:.1f}' y='{y + 10}'>{more}{_psi_text(value)}"
            f"{'' if item.drift.status in ('ok', 'warn', 'error') else ' (too few rows)'}</text>"
        )
    svg.append("</svg>")
    return "".join(svg)


def _histogram_card(view: str, feature: str, item: FeatureStatus) -> str:
    # the card names the check that sets its status: an error card whose drift has too few
    # rows says "from skew", not a bare red "error" beside "insufficient data"
    checks = [("drift", item.drift.status)] + ([("skew", item.skew.status)] if item.skew else [])
    why = [
        name if state == item.status else f"{name} ({state.replace('_', ' ')})"
        for name, state in checks
        if worst([state]) == item.status
    ]
    reason = f"{item.status} from {', '.join(why)} · " if item.status != "ok" and why else ""
    name = f"{view}.{feature}"
    head = (
        f"<div class='card'><h3><span title='{html.escape(name)}'>"
        f"{html.escape(_cut_middle(name, 24))}</span>{_badge(item.status)}</h3>"
    )
    facts = (
        f"<div class='muted'>{html.escape(reason)}psi {_num(item.drift.psi)} · "
        f"null {_pct(item.null_rate)}"
        + (
            f" · stale {_pct(item.skew.stale_rate)} · wrong {_pct(item.skew.wrong_rate)}"
            if item.skew
            else ""
        )
        + "</div>"
    )
    if not (item.bins and item.baseline and item.current and item.current.counts):
        return head + facts + "<p class='muted'>no baseline histogram</p></div>"
    base, now = item.baseline.counts, item.current.counts
    base_total, now_total = sum(base) or 1, sum(now) or 1
    shares = [(b / base_total, c / now_total) for b, c in zip(base, now, strict=True)]
    top = max(max(pair) for pair in shares) or 1.0
    width, height, pad = 232, 90, 12
    step = width / len(shares)
    labels = item.bins.labels()
    svg = [_svg_open(width, height + pad, f"{feature}: baseline (grey) vs current (blue)")]
    for index, (b, c) in enumerate(shares):
        x = index * step
        for offset, share, color, who in (
            (0.1, b, BASELINE_COLOR, "baseline"),
            (0.5, c, CURRENT_COLOR, "current"),
        ):
            h = share / top * height
            svg.append(
                f"<rect x='{x + offset * step:.1f}' y='{height - h:.1f}' width='{step * 0.4:.1f}' "
                f"height='{h:.1f}' fill='{color}'><title>{html.escape(labels[index])} {who} "
                f"{share:.1%}</title></rect>"
            )
    svg.append(
        f"<text x='0' y='{height + pad - 1}'>{html.escape(labels[0])}</text>"
        f"<text x='{width}' y='{height + pad - 1}' text-anchor='end'>null</text></svg>"
    )
    return head + facts + "".join(svg) + "</div>"


def _serving_block(status: MonitoringStatus, serving: Mapping[str, Any] | None) -> str:
    skew = status.skew
    text = (
        f"<p>{skew.lookups:,} sampled entity rows in the window recomputed offline"
        + (
            f"; {skew.unchecked:,} values not recomputed (lookups by feature refs, "
            "on-demand features)"
            if skew.unchecked
            else ""
        )
        + (f" · {html.escape(skew.note)}" if skew.note else "")
        + "</p>"
    )
    if not serving:
        return (
            text
            + "<p class='muted'>latency and lookup counts: shown when the API serves this page</p>"
        )
    counts = list(serving.get("latency_counts", []))
    buckets = list(serving.get("latency_buckets_ms", []))
    labels = [f"≤{b:g}" for b in buckets] + [f">{buckets[-1]:g}" if buckets else "more"]
    total = sum(counts) or 1
    width, height = 500, 80
    step = width / max(len(counts), 1)
    svg = [_svg_open(width, height + 16, "lookup latency histogram (ms)")]
    for index, count in enumerate(counts):
        h = count / total * height
        svg.append(
            f"<rect x='{index * step + 2:.1f}' y='{height - h:.1f}' width='{step - 4:.1f}' "
            f"height='{h:.1f}' fill='{CURRENT_COLOR}'><title>{labels[index]} ms: {count}"
            f"</title></rect><text x='{index * step + step / 2:.1f}' y='{height + 13}' "
            f"text-anchor='middle'>{labels[index]}</text>"
        )
    svg.append("</svg>")
    minutes = list(serving.get("per_minute", []))
    spark = ""
    if minutes:
        peak = max(count for _, count in minutes) or 1
        first = minutes[0][0]
        bars = [_svg_open(500, 44, "lookups per minute over the last hour")]
        for minute, count in minutes:
            h = max(count / peak * 40, 1)
            x = (minute - first) * 500 / 61
            bars.append(
                f"<rect x='{x:.1f}' y='{42 - h:.1f}' width='{500 / 61 - 1:.1f}' height='{h:.1f}' "
                f"fill='{CURRENT_COLOR}'><title>{count} lookups</title></rect>"
            )
        spark = "".join(bars) + "</svg>"
    return (
        text
        + f"<p>{serving.get('lookups', 0):,} lookups ({serving.get('entity_rows', 0):,} entity "
        "rows) since the API started · latency (ms):</p>"
        + "".join(svg)
        + ("<p>lookups per minute (last hour):</p>" + spark if spark else "")
    )


def _dbt_block(status: MonitoringStatus) -> str:
    dbt = status.dbt
    failed = "".join(f"<li>{html.escape(name)}</li>" for name in dbt.tests_failed[:20])
    return (
        "<table>"
        f"<tr><th>dbt source freshness</th><td>{_badge(dbt.source_status)}</td>"
        f"<td class='muted'>{html.escape(dbt.source_detail)}</td></tr>"
        f"<tr><th>dbt tests (last run)</th><td>{_badge(dbt.tests_status)}</td>"
        f"<td class='muted'>{dbt.tests_passed} passed, {len(dbt.tests_failed)} failed, "
        f"{len(dbt.tests_warned)} warned</td></tr></table>"
        + (f"<ul>{failed}</ul>" if failed else "")
    )


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{html.escape(label)}'>"
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f} h"
