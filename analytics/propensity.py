"""Purchase propensity: who is likely to buy, so reminders go where they pay off.

``session_features`` turns events into one row per session; ``train_and_evaluate`` fits a
scikit-learn pipeline on any session-level table (these features or a merchant's own CSV):

- columns: numeric and boolean ones are imputed (median) and scaled; text ones are one-hot
  encoded (missing as its own value, unknown values at scoring time ignored, at most 30
  categories per column); the target, the time column and id-like text columns (one distinct
  value per row, or named ``*_id``) are left out; other date-times are left out;
- model: histogram gradient boosting, calibrated (isotonic with 1,000+ training rows, else
  sigmoid, 3-fold) so that a 0.3 means about 30 % of such sessions buy;
- evaluation on a held-out *time* split: the latest ``test_fraction`` of rows by the time
  column (without one: the table's row order, taken as chronological). Reported: ROC-AUC,
  PR-AUC (average precision), base rate (share of buyers in the test rows: the PR-AUC of a
  coin), Brier score, and a reliability table (predicted vs observed by decile of score).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .schema import InputError

PRE_CHECKOUT = ["view_item_list", "view_item", "add_to_cart", "remove_from_cart", "view_cart",
                "chat_started", "handoff_requested"]
TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f"}
MAX_CATEGORIES = 30


def session_features(events: pl.LazyFrame) -> pl.DataFrame:
    """One row per session: what the shopper did before checkout (counts, cart value), where
    they came from, whether they chatted, when, whether they came back; ``purchased`` is the
    target (a purchase in the session)."""
    name, value = pl.col("name"), pl.col("value").fill_null(0)
    count = lambda event: (name == event).sum().cast(pl.Int32)  # noqa: E731
    sessions = (events.filter(pl.col("session_id").is_not_null()).sort("ts")
                .group_by("session_id").agg(
        pl.col("user_id").drop_nulls().first(),
        pl.col("ts").min().alias("started_at"),
        pl.col("channel").drop_nulls().first(), pl.col("source").drop_nulls().first(),
        pl.col("device").drop_nulls().first(),
        count("view_item_list").alias("searches"), count("view_item").alias("item_views"),
        count("add_to_cart").alias("adds"), count("remove_from_cart").alias("removes"),
        count("view_cart").alias("cart_views"),
        (value.filter(name == "add_to_cart").sum() - value.filter(name == "remove_from_cart")
         .sum()).alias("cart_value"),
        (pl.col("conversation_id").is_not_null().any() | (name == "chat_started").any())
        .alias("chat"),
        (name == "handoff_requested").any().alias("handoff"),
        pl.col("ts").filter(name.is_in(PRE_CHECKOUT)).max().alias("last_browse"),
        (name == "purchase").any().cast(pl.Int8).alias("purchased"),
    ))
    return (sessions.with_columns(
        pl.col("started_at").dt.hour().cast(pl.Int8).alias("hour"),
        pl.col("started_at").dt.weekday().cast(pl.Int8).alias("weekday"),
        ((pl.col("last_browse") - pl.col("started_at")).dt.total_seconds()
         .fill_null(0)).alias("browse_seconds"),
        (pl.col("started_at").rank("ordinal").over("user_id") > 1).fill_null(False)
        .alias("returning"))
        .drop("last_browse").sort("started_at", "session_id").collect())


@dataclass
class PropensityReport:
    target: str
    roc_auc: float
    pr_auc: float
    base_rate: float
    brier: float
    n_train: int
    n_test: int
    split: str
    numeric: list[str]
    categorical: list[str]
    calibration: list[dict[str, float]]
    model: Any = field(repr=False, default=None)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "model"}


def binary_target(column: pl.Series) -> pl.Series:
    """0/1 from booleans, 0/1 numbers or yes/no words; a clear error for anything else."""
    if column.dtype == pl.Boolean:
        return column.cast(pl.Int8)
    if column.dtype.is_numeric():
        values = set(column.drop_nulls().unique().to_list())
        if not values <= {0, 1}:
            raise InputError(f"target column {column.name!r} must be binary (0/1, true/false, "
                             f"yes/no); it holds {_sample(values)}")
        return column.cast(pl.Int8)
    text = column.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    values = set(text.drop_nulls().unique().to_list())
    if not values <= TRUE_WORDS | FALSE_WORDS:
        raise InputError(f"target column {column.name!r} must be binary (0/1, true/false, "
                         f"yes/no); it holds {_sample(values)}")
    return text.is_in(list(TRUE_WORDS)).cast(pl.Int8).alias(column.name)


def _sample(values: set) -> str:
    shown = sorted(map(str, values))[:6]
    return ", ".join(shown) + (" ..." if len(values) > 6 else "")


def _prepare(features: pl.DataFrame, target: str, time_column: str | None) -> pl.DataFrame:
    if target not in features.columns:
        raise InputError(f"there is no target column {target!r}; the columns are "
                         + ", ".join(features.columns))
    if time_column and time_column not in features.columns:
        raise InputError(f"there is no time column {time_column!r}; the columns are "
                         + ", ".join(features.columns))
    frame = features.filter(pl.col(target).is_not_null())
    frame = frame.with_columns(binary_target(frame[target]))
    if frame[target].n_unique() < 2:
        only = frame[target][0] if frame.height else "no rows"
        raise InputError(f"target column {target!r} is constant ({only}): the model needs "
                         "both buyers and non-buyers")
    if time_column:
        frame = frame.with_columns(_as_time(frame[time_column])).sort(time_column)
    return frame


def _as_time(column: pl.Series) -> pl.Series:
    if column.dtype in (pl.Date, pl.Datetime) or isinstance(column.dtype, pl.Datetime):
        return column
    if column.dtype.is_numeric():
        return column
    parsed = column.cast(pl.Utf8).str.to_datetime(strict=False, time_unit="us")
    if parsed.null_count() > column.null_count():
        raise InputError(f"time column {column.name!r} has values that are not dates or "
                         "times, e.g. " + repr(column.filter(parsed.is_null()
                                                             & column.is_not_null())[0]))
    return parsed


def feature_columns(frame: pl.DataFrame, skip: set[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns, detected from their types."""
    numeric, categorical = [], []
    for name, dtype in frame.schema.items():
        if name in skip:
            continue
        if dtype == pl.Boolean or dtype.is_numeric():
            numeric.append(name)
        elif dtype in (pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum):
            distinct = frame[name].n_unique()
            if name.lower().endswith("_id") or name.lower() == "id" or (
                    frame.height > 20 and distinct > 0.5 * frame.height):
                continue  # an identifier, not a trait that generalises
            categorical.append(name)
    if not numeric and not categorical:
        raise InputError("no usable feature columns: give numeric or text columns besides "
                         "the target")
    return numeric, categorical


def build_pipeline(numeric: list[str], categorical: list[str], n_train: int, seed: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    columns = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                              ("scale", StandardScaler())]), numeric),
        ("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
            ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                      max_categories=MAX_CATEGORIES))]), categorical),
    ])
    booster = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1,
                                             random_state=seed)
    method = "isotonic" if n_train >= 1000 else "sigmoid"
    return Pipeline([("columns", columns),
                     ("model", CalibratedClassifierCV(booster, method=method, cv=3))])


def _inputs(frame: pl.DataFrame, numeric: list[str], categorical: list[str]) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(pl.Float64) for c in numeric]
                        + [pl.col(c).cast(pl.Utf8) for c in categorical])


def _calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    table = (pl.DataFrame({"y": y, "p": p})
             .with_columns((pl.col("p").rank("ordinal") * bins // (len(p) + 1)).alias("bin"))
             .group_by("bin").agg(pl.len().alias("rows"),
                                  pl.col("p").mean().round(4).alias("predicted"),
                                  pl.col("y").mean().round(4).alias("observed")).sort("bin"))
    return table.drop("bin").to_dicts()


def train_and_evaluate(features: pl.DataFrame, target: str, *, time_column: str | None = None,
                       test_fraction: float = 0.25, seed: int = 0) -> PropensityReport:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
    if not 0 < test_fraction < 1:
        raise InputError("test_fraction must be between 0 and 1")
    frame = _prepare(features, target, time_column)
    numeric, categorical = feature_columns(frame, {target, time_column} - {None}
                                           | _datetime_columns(frame))
    cut = int(round(frame.height * (1 - test_fraction)))
    train, test = frame[:cut], frame[cut:]
    for part, label in ((train, "training"), (test, "test")):
        if part[target].n_unique() < 2:
            raise InputError(f"the {label} rows ({part.height}, by time) hold only one outcome; "
                             "more data or another --test-fraction is needed")
    pipeline = build_pipeline(numeric, categorical, train.height, seed)
    pipeline.fit(_inputs(train, numeric, categorical), train[target].to_numpy())
    y = test[target].to_numpy()
    p = pipeline.predict_proba(_inputs(test, numeric, categorical))[:, 1]
    split = (f"latest {test_fraction:.0%} by {time_column}" if time_column
             else f"last {test_fraction:.0%} of rows (row order taken as time order)")
    return PropensityReport(
        target=target, roc_auc=round(float(roc_auc_score(y, p)), 4),
        pr_auc=round(float(average_precision_score(y, p)), 4),
        base_rate=round(float(y.mean()), 4), brier=round(float(brier_score_loss(y, p)), 4),
        n_train=train.height, n_test=test.height, split=split, numeric=numeric,
        categorical=categorical, calibration=_calibration(y, p), model=pipeline)


def _datetime_columns(frame: pl.DataFrame) -> set[str]:
    return {n for n, t in frame.schema.items() if t in (pl.Date, pl.Time)
            or isinstance(t, (pl.Datetime, pl.Duration))}


def score(report: PropensityReport, features: pl.DataFrame) -> pl.Series:
    """Calibrated purchase probability for each row of ``features``."""
    inputs = _inputs(features, report.numeric, report.categorical)
    return pl.Series("propensity", report.model.predict_proba(inputs)[:, 1])


def worth_a_reminder(features: pl.DataFrame, report: PropensityReport, *, top: int = 20,
                     recent: timedelta = timedelta(days=7)) -> pl.DataFrame:
    """Current sessions (started within ``recent`` of the latest one) with a cart and no
    purchase, by expected value: calibrated probability x cart value."""
    latest = features["started_at"].max()
    open_carts = features.filter((pl.col("purchased") == 0) & (pl.col("cart_value") > 0)
                                 & (pl.col("started_at") >= latest - recent))
    if open_carts.is_empty():
        return open_carts.select("session_id", "user_id", "cart_value")
    scored = open_carts.with_columns(score(report, open_carts))
    return (scored.with_columns((pl.col("propensity") * pl.col("cart_value")).round(0)
                                .cast(pl.Int64).alias("expected_value"))
            .sort("expected_value", descending=True).head(top)
            .select("session_id", "user_id", "started_at", "channel", "cart_value",
                    pl.col("propensity").round(4), "expected_value"))


def read_feature_table(path: str) -> pl.DataFrame:
    file = Path(path)
    if not file.exists():
        raise InputError(f"there is no file {path}")
    try:
        if file.suffix == ".parquet":
            return pl.read_parquet(file)
        return pl.read_csv(file, infer_schema_length=10_000, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} could not be read as CSV: {exc}") from None


def register(subparsers) -> None:
    parser = subparsers.add_parser("propensity", help="train and evaluate the purchase "
                                   "propensity model (time split: ROC-AUC, PR-AUC)")
    parser.add_argument("--features", metavar="FILE.csv",
                        help="a session-level feature table of your own (CSV or Parquet)")
    parser.add_argument("--target", help="its 0/1 outcome column (with --features)")
    parser.add_argument("--time-column", help="its time column for the time split")
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--top", type=int, default=20,
                        help="sessions worth a reminder to list (events only)")
    parser.set_defaults(handler=_command)


def _command(args) -> dict:
    if args.features:
        if not args.target:
            raise InputError("--features needs --target COLUMN (the 0/1 outcome)")
        table = read_feature_table(args.features)
        return train_and_evaluate(table, args.target, time_column=args.time_column,
                                  test_fraction=args.test_fraction).as_dict()
    from .cli import events_from_args
    features = session_features(events_from_args(args))
    report = train_and_evaluate(features, "purchased", time_column="started_at",
                                test_fraction=args.test_fraction)
    ranked = worth_a_reminder(features, report, top=args.top)
    return {**report.as_dict(), "worth_a_reminder": ranked}
