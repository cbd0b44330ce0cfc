"""What one policy call's dialogue states cost, handed out whole or with fresh copies of only
the tail the featurizer edits (bot/dialogue_states.py, ``FeaturizerStates``).

    PYTHONPATH=. .venv-bot/bin/python bench/dialogue_state_copies.py [--turns 100] [--calls 300]

A conversation of ``--turns`` FAQ turns (two states each) is put in a ``DialogueStates``
store; then, for the three featurizers the policies predict with (memoization: max_history
5; rules: none; TED: 5, with its rule-only turns left out), ``--calls`` calls each way, the
ways alternated over 5 rounds. Printed (and in bench/results/dialogue_state_copies.json):
the median microseconds a call, and the ratio. A turn makes about seven such calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, DefinePrevUserUtteredFeaturization,
                                     SessionStarted, UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.dialogue_states import DialogueStates

ROOT = Path(__file__).resolve().parents[1]


def conversation(domain: Domain, turns: int) -> DialogueStateTracker:
    tracker = DialogueStateTracker("bench", domain.slots)
    for event in (ActionExecuted("action_session_start"), SessionStarted()):
        tracker.update(event)
    for _ in range(turns):
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered("what is your return policy",
                                   {"name": "faq", "confidence": 1.0}))
        tracker.update(DefinePrevUserUtteredFeaturization(False))
        tracker.update(ActionExecuted("action_answer_faq"))
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("thanks", {"name": "thank", "confidence": 1.0}))
    return tracker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    domain = Domain.load(str(ROOT / "bot" / "domain"))
    tracker = conversation(domain, args.turns)
    store = DialogueStates()
    result: dict = {"turns": args.turns, "calls": args.calls, "featurizers": {}}
    for name, history, ignore in (("memoization", 5, False), ("rules", None, False),
                                  ("ted", 5, True)):
        tail = store.for_featurizer(MaxHistoryTrackerFeaturizer(max_history=history))
        ways = {"whole": lambda: store.past_states(tracker, domain,
                                                   ignore_rule_only_turns=ignore),
                "tail": lambda: tail(tracker, domain, ignore_rule_only_turns=ignore)}
        states = len(ways["whole"]())
        assert len(ways["tail"]()) == states
        timings: dict = {way: [] for way in ways}
        for round_number in range(5):
            for way in (ways if round_number % 2 == 0 else reversed(list(ways))):
                started = time.perf_counter()
                for _ in range(args.calls):
                    ways[way]()
                timings[way].append(1e6 * (time.perf_counter() - started) / args.calls)
        medians = {way: round(statistics.median(values), 1) for way, values in timings.items()}
        result["featurizers"][name] = {"states": states, "us_a_call": medians,
                                       "whole_over_tail": round(medians["whole"]
                                                                / medians["tail"], 1)}
        print(f"{name}: {states} states, {medians['whole']} µs a call whole, "
              f"{medians['tail']} µs with the tail fresh "
              f"({result['featurizers'][name]['whole_over_tail']}x)")
    out = ROOT / "bench" / "results" / "dialogue_state_copies.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
