"""The propensity model: real signal on synthetic traffic, any merchant table, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analytics.propensity import session_features, train_and_evaluate, worth_a_reminder
from analytics.schema import InputError
from analytics.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def features():
    return session_features(generate(80_000, seed=5).lazy())


def test_synthetic_sessions_are_ranked_well_above_chance(features):
    report = train_and_evaluate(features, "purchased", time_column="started_at")
    assert report.n_train + report.n_test == features.height
    assert report.roc_auc > 0.7
    assert report.pr_auc > 2 * report.base_rate  # a coin's PR-AUC is the base rate
    assert 0 <= report.brier < report.base_rate  # better than always predicting zero
    assert {"channel", "source", "device"} <= set(report.categorical)
    assert "session_id" not in report.numeric + report.categorical
    # the test rows are the latest sessions
    cut = features.sort("started_at")["started_at"][report.n_train]
    assert cut >= features.sort("started_at")["started_at"][report.n_train - 1]
    ranked = worth_a_reminder(features, report, top=5)
    assert ranked.height <= 5 and ranked["expected_value"].is_sorted(descending=True)


def _merchant_table(n: int = 3000, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], n)
    visits = rng.poisson(3, n)
    country = rng.choice(["DE", "FR", "GB", None], n)
    logit = -2.5 + 2.0 * (plan == "pro") + 0.4 * visits
    bought = rng.random(n) < 1 / (1 + np.exp(-logit))
    start = datetime(2026, 1, 1)
    return pl.DataFrame({
        "customer_ref": [f"id-{i}" for i in range(n)], "plan": plan, "visits": visits,
        "country": country, "seen_at": [start + timedelta(hours=i) for i in range(n)],
        "bought": np.where(bought, "yes", "no")})


def test_merchant_csv_with_categorical_columns_through_the_cli(tmp_path):
    path = tmp_path / "sessions.csv"
    _merchant_table().write_csv(path)
    done = subprocess.run([sys.executable, "-m", "analytics", "propensity", "--features",
                           str(path), "--target", "bought", "--time-column", "seen_at"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["roc_auc"] > 0.7 and report["pr_auc"] > report["base_rate"]
    assert set(report["categorical"]) == {"plan", "country"}  # customer_ref is an id
    assert report["numeric"] == ["visits"]
    assert report["n_test"] == 750 and "seen_at" in report["split"]


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop("bought"), "no target column 'bought'"),
    (lambda t: t.with_columns(pl.lit("yes").alias("bought")), "constant"),
    (lambda t: t.with_columns(pl.Series("bought", np.arange(t.height) % 3)), "must be binary"),
    (lambda t: t.with_columns(pl.lit("maybe").alias("bought")), "must be binary"),
])
def test_bad_targets_get_clear_errors(change, message):
    with pytest.raises(InputError, match=message):
        train_and_evaluate(change(_merchant_table(300)), "bought", time_column="seen_at")


def test_unknown_time_column_and_cli_errors(tmp_path):
    with pytest.raises(InputError, match="no time column 'when'"):
        train_and_evaluate(_merchant_table(300), "bought", time_column="when")
    path = tmp_path / "t.csv"
    _merchant_table(300).write_csv(path)
    done = subprocess.run([sys.executable, "-m", "analytics", "propensity", "--features",
                           str(path), "--target", "plan"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "must be binary" in done.stderr
