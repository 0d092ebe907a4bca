"""NAV against the SSE Composite, KPIs checked by hand, and the comparison page in a real headless Chromium."""

from __future__ import annotations

import math
import os
import re
import shutil
import statistics

import pandas as pd
import pytest

from aistock_core.data.synthetic import INDEX_CODES
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.nav import kpis, nav_frame
from aistock_core.preview.report import write_report
from aistock_core.preview.settle import settle
from tests.aistock_core.preview.conftest import DAYS, rotating_targets


def test_kpis_match_a_hand_computation():
    days = pd.bdate_range("2024-01-02", periods=4)
    nav = pd.DataFrame({"a": [1.01, 0.99, 1.02, 1.03], "000001.SH": [1.0, 1.01, 0.98, 1.02]}, index=days)
    row = kpis(nav).loc["a"]
    rets = [0.01, 0.99 / 1.01 - 1, 1.02 / 0.99 - 1, 1.03 / 1.02 - 1]
    assert row["total_return"] == pytest.approx(0.03)
    assert row["annual_return"] == pytest.approx(1.03 ** (238 / 4) - 1)
    assert row["volatility"] == pytest.approx(statistics.stdev(rets) * math.sqrt(238))
    assert row["sharpe"] == pytest.approx(statistics.mean(rets) / statistics.stdev(rets) * math.sqrt(238))
    assert row["max_drawdown"] == pytest.approx(0.99 / 1.01 - 1)
    assert row["excess_return"] == pytest.approx(0.03 - 0.02)
    assert row["win_days"] == pytest.approx(0.75)
    assert kpis(nav).loc["000001.SH", "total_return"] == pytest.approx(0.02)


@pytest.fixture
def settled(db, service):
    """Two instances traded and settled over DAYS."""
    assert "000001.SH" in INDEX_CODES  # the synthetic market provides the SSE Composite
    ids = [create_instance(db, name, cap).id for name, cap in (("alpha", 1e6), ("beta", 5e5))]
    engine = SignalPreviewEngine(db, service, rotating_targets(service))
    for day in DAYS:
        engine.run(day)
        settle(db, service, day)
    return ids


def test_nav_is_value_over_capital_and_the_index_starts_at_one(db, service, settled):
    nav = nav_frame(db, service, settled)
    assert list(nav.columns) == ["1:alpha", "2:beta", "000001.SH"]
    assert list(nav.index) == list(service.calendar.sessions_in_range(DAYS[0], DAYS[-1]))
    assert nav["000001.SH"].iloc[0] == 1.0
    close = service.get_panel(["000001.SH"], start=DAYS[0], end=DAYS[-1], fields=["close"], adjust=None)["close"][:, 0]
    assert nav["000001.SH"].iloc[-1] == pytest.approx(close[-1] / close[0])
    with db.engine.connect() as conn:
        totals = pd.read_sql("SELECT trading_day, total_value FROM preview_account WHERE preview_id = 2 "
                             "ORDER BY trading_day", conn)
    assert nav["2:beta"].to_numpy() == pytest.approx(totals["total_value"].to_numpy() / 5e5)


def _chrome():
    """A headless Chromium driver, or the reason there is none (fatal under CI)."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        reason = "Debian packages chromium and chromium-driver are not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_report_opens_in_chromium_without_errors_and_shows_every_series(db, service, settled, tmp_path):
    nav = nav_frame(db, service, settled)
    html, png = write_report(nav, kpis(nav), tmp_path / "report.html")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = html.read_text()
    # Self-contained: plotly.js inlined (megabytes), no script loaded from elsewhere.
    assert not re.search(r"<script[^>]*\bsrc=", text) and len(text) > 3_000_000
    browser = _chrome()
    try:
        browser.get(html.as_uri())
        names = browser.execute_script(
            "return document.getElementById('preview-nav').data.filter(t => t.type === 'scatter').map(t => t.name)")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        rows = browser.execute_script(
            "return document.getElementById('preview-nav').data.find(t => t.type === 'table').cells.values[0]")
    finally:
        browser.quit()
    assert errors == []
    assert names == list(nav.columns) and rows == list(nav.columns)
