"""NLU evaluation: 5-fold cross-validation on the training data, and the three held-out
sets (bot/tests/nlu/robustness*.yml), reported in docs/nlu-evaluation.md. For the held-out
sets it also reports, from bench/nlu_held_out.py, what the shopper meets: the answer chosen
(faq/<answer>), the fallback rate and out-of-scope messages that start a transaction.

    .venv/bin/python bench/nlu_cross_validation.py            # all (about 20 min on 2 cores)
    .venv/bin/python bench/nlu_cross_validation.py --skip-cv  # the held-out sets only

Needs the generated lookups (`make bot-lookups`): they are part of the training data. Runs
Rasa from .venv-bot; work files go to var/nlu-eval/. Any Python 3.10+ runs this script (it
uses only the standard library).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RASA = REPO / ".venv-bot" / "bin" / "rasa"
NLU_DIR = REPO / "bot" / "data" / "nlu"
LOOKUPS_DIR = REPO / "bot" / "data" / "lookups"
# Held-out sets, never trained on: file -> what it is.
HELD_OUT = {
    "robustness.yml": "Held-out robustness set (bot/tests/nlu/robustness.yml)",
    "robustness_unseen.yml": "Second held-out set, scored before any tuning "
                             "(bot/tests/nlu/robustness_unseen.yml)",
    "robustness_outside.yml": "Third held-out set, outside styles "
                              "(bot/tests/nlu/robustness_outside.yml)",
}
PYTHON_BOT = REPO / ".venv-bot" / "bin" / "python"
CONFUSED_PAIRS = 20
HELD_OUT_DIR = REPO / "bot" / "tests" / "nlu"
FALLBACK_THRESHOLD = 0.5  # config.yml's FallbackClassifier
REPORT = REPO / "docs" / "nlu-evaluation.md"
WORK = REPO / "var" / "nlu-eval"
GOAL_MACRO_F1 = 0.95


def run(command: list[str]) -> float:
    """Run a Rasa command from the repo root; returns the seconds it took."""
    print("$ " + " ".join(shlex.quote(str(c)) for c in command), flush=True)
    started = time.perf_counter()
    log = WORK / "rasa.log"
    with log.open("a") as out:
        done = subprocess.run([str(c) for c in command], cwd=REPO, stdout=out,
                              stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"rasa failed ({done.returncode}); see {log}")
    return time.perf_counter() - started


def training_data() -> Path:
    """NLU examples plus the generated lookups in one directory (rasa takes one --nlu)."""
    if not sorted(LOOKUPS_DIR.glob("*.yml")):
        sys.exit(f"no lookups in {LOOKUPS_DIR}: run `make bot-lookups` first")
    data = WORK / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(NLU_DIR, data / "nlu")
    shutil.copytree(LOOKUPS_DIR, data / "lookups")
    return data


def cross_validate(data: Path, folds: int) -> tuple[list[str], float]:
    out = WORK / "cv"
    shutil.rmtree(out, ignore_errors=True)
    command = [RASA, "test", "nlu", "--cross-validation", "--folds", str(folds),
               "--config", "config.yml", "--nlu", data, "--domain", "bot/domain", "--out", out]
    return [str(c) for c in command], run(command)


def train_nlu(data: Path) -> tuple[Path, float]:
    seconds = run([RASA, "train", "nlu", "--config", "config.yml", "--nlu", data,
                   "--domain", "bot/domain", "--out", WORK / "model",
                   "--fixed-model-name", "nlu"])
    return WORK / "model" / "nlu.tar.gz", seconds


def held_out(name: str, model: Path) -> tuple[list[str], float, Path]:
    out = WORK / Path(name).stem
    shutil.rmtree(out, ignore_errors=True)
    command = [RASA, "test", "nlu", "--nlu", HELD_OUT_DIR / name, "--model", model,
               "--out", out, "--successes"]
    return [str(c) for c in command], run(command), out


# ---------------------------------------------------------------------------------------------
# Reading Rasa's reports.

def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def user_intents(report: dict) -> dict[str, dict]:
    """Per-intent rows, without the summary rows and without EXTERNAL_ intents (those are
    sent by the shop, never typed, and would flatter the averages)."""
    return {name: row for name, row in report.items()
            if isinstance(row, dict) and "support" in row and "avg" not in name
            and not name.startswith("EXTERNAL_")}


def macro_f1(rows: dict[str, dict]) -> float:
    return sum(r["f1-score"] for r in rows.values()) / len(rows) if rows else 0.0


def weighted_f1(rows: dict[str, dict]) -> float:
    support = sum(r["support"] for r in rows.values())
    return sum(r["f1-score"] * r["support"] for r in rows.values()) / support if support else 0.0


def confusions(rows: dict[str, dict], least: int = 1) -> list[tuple[str, str, int]]:
    found = [(name, other, count) for name, row in rows.items()
             for other, count in (row.get("confused_with") or {}).items() if count >= least]
    return sorted(found, key=lambda c: (-c[2], c[0], c[1]))


def entity_rows(directory: Path) -> dict[str, dict[str, dict]]:
    """extractor -> entity -> row."""
    out = {}
    for path in sorted(directory.glob("*Extractor_report.json")) + sorted(
            directory.glob("DIETClassifier_report.json")):
        extractor = path.name.removesuffix("_report.json")
        out[extractor] = {name: row for name, row in load(path).items()
                          if isinstance(row, dict) and "support" in row}
    return out


# ---------------------------------------------------------------------------------------------
# Writing the report.

def intent_table(rows: dict[str, dict]) -> list[str]:
    lines = ["| intent | precision | recall | F1 | examples |", "|---|---:|---:|---:|---:|"]
    for name, row in sorted(rows.items(), key=lambda item: (item[1]["f1-score"], item[0])):
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{row['f1-score']:.3f} | {row['support']} |")
    return lines


def entity_table(extractors: dict[str, dict[str, dict]]) -> list[str]:
    lines = ["| extractor | entity | precision | recall | F1 | mentions |",
             "|---|---|---:|---:|---:|---:|"]
    for extractor, rows in extractors.items():
        for name, row in sorted(rows.items()):
            if name == "no_entity":
                continue
            # The rule-based extractors look for a few entities only (the regexes: e-mails,
            # order numbers, promo codes; the size rule: sizes): their rows for other
            # entities (and averages over them) would only say so.
            rule_based = extractor in ("RegexEntityExtractor", "SizeMentionExtractor")
            if rule_based and (name.endswith("avg") or row["precision"] == row["recall"] == 0):
                continue
            lines.append(f"| {extractor} | {name} | {row['precision']:.3f} | "
                         f"{row['recall']:.3f} | {row['f1-score']:.3f} | {row['support']} |")
    return lines


def section(title: str, directory: Path, command: list[str], seconds: float) -> list[str]:
    report = load(directory / "intent_report.json")
    rows = user_intents(report)
    lines = [f"## {title}", "", f"Command (from the repo root, {seconds / 60:.1f} min): "
             f"`{' '.join(shlex.quote(c.replace(str(REPO) + '/', '')) for c in command)}`", ""]
    macro = macro_f1(rows)
    lines += [f"- **Intent macro F1: {macro:.3f}** (goal {GOAL_MACRO_F1}: "
              f"{'met' if macro >= GOAL_MACRO_F1 else 'NOT met'}); weighted F1 "
              f"{weighted_f1(rows):.3f}; accuracy {report.get('accuracy', 0):.3f}; "
              f"{sum(r['support'] for r in rows.values())} messages, {len(rows)} intents "
              "(EXTERNAL_ intents left out: the shop sends them, nobody types them).",
              ]
    selection = load(directory / "response_selection_report.json")
    if selection:
        sub = user_intents(selection)
        lines.append(f"- Response selection (which FAQ / small-talk answer): accuracy "
                     f"{selection.get('accuracy', 0):.3f}, macro F1 {macro_f1(sub):.3f} over "
                     f"{len(sub)} answers.")
    successes = load(directory / "intent_successes.json")
    if successes:
        unsure = sum(1 for s in successes
                     if s["intent_prediction"]["confidence"] < FALLBACK_THRESHOLD)
        lines.append(f"- Understood but below the fallback threshold ({FALLBACK_THRESHOLD}: "
                     f"the bot asks to rephrase): {unsure} of {len(successes)} correct "
                     "predictions.")
    lines += ["", "### Per intent (worst first)", "", *intent_table(rows), "",
              "### Entities", "", *entity_table(entity_rows(directory)), "",
              "### Confusions (true intent → predicted, count)", ""]
    found = confusions(rows)
    lines += [f"- {name} → {other}: {count}"
              for name, other, count in found[:CONFUSED_PAIRS]] or ["- none"]
    if selection:
        lines += [f"- (answers) {name} → {other}: {count}"
                  for name, other, count in confusions(user_intents(selection))[:8]]
    return lines + [""]


def shopper_view(model: Path) -> dict:
    """bench/nlu_held_out.py's figures for every held-out set (runs under .venv-bot)."""
    out = WORK / "held_out.json"
    run([PYTHON_BOT, REPO / "bench" / "nlu_held_out.py", "--model", model, "--json", out])
    return load(out)


def shopper_lines(result: dict) -> list[str]:
    lines = ["### As the shopper meets it (bench/nlu_held_out.py: fallback applied)", "",
             f"- Answer chosen (faq/chitchat by answer; a fallback is a miss): macro F1 "
             f"{result['skill_macro_f1']:.3f}, accuracy {result['skill_accuracy']:.3f}.",
             f"- Fallback (\"please rephrase\"): {result['fallback_rate']:.1%} of the messages.",
             f"- Out-of-scope messages that start a transaction or a lookup: "
             f"{len(result['oos_to_transaction'])} of {result['oos_messages']} "
             f"({result['oos_to_transaction_rate']:.1%})"
             + (": " + "; ".join(f"\"{t}\" → {p}" for t, p in result["oos_to_transaction"])
                if result["oos_to_transaction"] else "") + ".",
             "", f"Most confused (true → what the shopper got, top {CONFUSED_PAIRS}):", ""]
    lines += [f"- {g} → {p}: {n}" for g, p, n in result["confused_pairs"]] or ["- none"]
    return lines + [""]


def write_report(parts: list[list[str]], notes: str) -> None:
    head = [
        "# NLU evaluation", "",
        f"Measured {dt.date.today().isoformat()} by `bench/nlu_cross_validation.py` on this "
        "machine (2 cores, shared), Rasa 3.6 with `config.yml`, training data "
        "`bot/data/nlu/` plus the lookups generated from the demo catalog "
        "(`bot/data/lookups/`, `make bot-lookups`).", ""]
    text = "\n".join(head + [line for part in parts for line in part]) + "\n" + notes
    REPORT.write_text(text, encoding="utf-8")
    print(f"wrote {REPORT}")


NOTES_MARKER = "<!-- notes: kept when the report is regenerated -->"


def kept_notes() -> str:
    if REPORT.exists() and NOTES_MARKER in REPORT.read_text():
        return REPORT.read_text().split(NOTES_MARKER, 1)[1].join([NOTES_MARKER, ""])
    return NOTES_MARKER + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-cv", action="store_true")
    parser.add_argument("--model", type=Path,
                        help="a model for the held-out sets (default: train an NLU model)")
    args = parser.parse_args()
    if not RASA.exists():
        sys.exit(f"{RASA} is missing: run `make bot-venv` first")
    WORK.mkdir(parents=True, exist_ok=True)
    data = training_data()
    parts = []
    if not args.skip_cv:
        command, seconds = cross_validate(data, args.folds)
        parts.append(section(f"{args.folds}-fold cross-validation (training data)",
                             WORK / "cv", command, seconds))
    model, train_seconds = (args.model, 0.0) if args.model else train_nlu(data)
    shopper = shopper_view(model)
    for name, title in HELD_OUT.items():
        command, seconds, out = held_out(name, model)
        part = section(title, out, command, seconds)
        if name in shopper:
            part += shopper_lines(shopper[name])
        if train_seconds:
            part.insert(2, f"Model: trained on all the training data "
                           f"({train_seconds / 60:.1f} min).")
            part.insert(3, "")
        parts.append(part)
    write_report(parts, kept_notes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
