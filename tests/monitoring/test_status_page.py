"""The status page reads at a glance at any magnitude: measured in a headless browser.

A real status of the monitored folder, taken 2,400 days after its last snapshot (ages of
57,600 h, the case that printed "57'"), with a feature view renamed to a long name, is rendered
and laid out by Chromium; every chart label must lie inside its chart and the threshold labels
must not overlap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from pitstop.monitoring import compute_status
from pitstop.monitoring.report import html_page
from tests.monitoring.conftest import Monitored
from tests.monitoring.test_api_monitoring import ARTIFACTS, CHROMIUM

LONG_VIEW = "user_activity_with_a_very_long_feature_view_name_from_a_real_repo"

# Each svg's text boxes and their overflow of the svg, and the threshold labels' boxes.
_LAYOUT = """
() => [...document.querySelectorAll('svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, left: r.left - box.left, right: r.right - box.left,
            top: r.top - box.top, bottom: r.bottom - box.top};
  });
  return {label: svg.getAttribute('aria-label'), width: box.width, height: box.height, texts};
})
"""


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def test_no_chart_label_is_cut_or_overlaps_at_huge_ages(monitored: Monitored) -> None:
    from playwright.sync_api import sync_playwright

    far = monitored.now + dt.timedelta(days=2400)
    status = compute_status(monitored.settings, now=far, with_skew=False)
    views = {
        (LONG_VIEW if name == "user_activity" else name): view
        for name, view in status.views.items()
    }
    page_html = html_page(dataclasses.replace(status, views=views))
    assert "d</text>" in page_html  # ages past two days in days: "2,400.5 d", not 57,612 h

    assert CHROMIUM.exists(), "Debian's chromium is missing: `make test` installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_content(page_html)
            charts = page.evaluate(_LAYOUT)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "status-huge-ages.png"), full_page=True)
        finally:
            browser.close()

    measured = [chart for chart in charts if chart["label"].startswith(("freshness", "PSI"))]
    assert len(measured) == 2
    for chart in measured:
        for text in chart["texts"]:
            assert text["right"] <= chart["width"] + 0.5, (chart["label"], text)
            assert text["bottom"] <= chart["height"] + 0.5, (chart["label"], text)
        bars_from = 230 if chart["label"].startswith("freshness") else 290
        names = [t for t in chart["texts"] if t["left"] < 1]
        assert any(LONG_VIEW[:20] in t["text"] for t in names)
        for name in names:
            assert name["right"] <= bars_from - 2, (chart["label"], name)
        marks = [t for t in chart["texts"] if t["text"].startswith(("warn ", "error "))]
        assert len(marks) == 2, chart["texts"]
        assert not _overlap(*marks), marks


def test_a_card_names_the_check_behind_its_status(monitored: Monitored) -> None:
    """Item cards were painted red "error" while their drift said "insufficient data": the
    error came from skew, which the card did not say."""
    from pitstop.monitoring.drift import Drift
    from pitstop.monitoring.skew import Skew

    status = compute_status(monitored.settings, now=monitored.now, with_skew=False)
    view = status.views["item_popularity"]
    feature = next(iter(view.features))
    item = dataclasses.replace(
        view.features[feature],
        drift=Drift(psi=None, status="insufficient_data"),
        skew=Skew(rows=40, stale=0, wrong=40),
    )
    assert item.status == "error"
    views = {
        **status.views,
        "item_popularity": dataclasses.replace(view, features={**view.features, feature: item}),
    }
    page = html_page(dataclasses.replace(status, views=views))
    card = page.split(f"title='item_popularity.{feature}'>")[1].split("</div>")[0]
    assert "error from skew · psi -" in card
    ok_card = page.split("title='user_profile.lifetime_revenue'>")[1].split("</div>")[0]
    assert "from" not in ok_card
