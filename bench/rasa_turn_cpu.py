"""CPU time of a chat turn inside one Rasa process, with and without Aisle's policy work
and graph runner.

    PYTHONPATH=/work/main .venv-bot/bin/python bench/rasa_turn_cpu.py [--rounds N]
        [--conversations N] [--turns N] [--variants rasa,states,rules,runner,sessions,json,copy,tail]
        [--py-spy SECONDS]

What it measures: the process CPU time (``time.process_time``, all threads of this process:
NLU, the policies, the tracker store's thread, the HTTP client of the action call) per turn
of a conversation handled by Rasa's ``Agent`` in this process, with the trained model
bot/models/aisle.tar.gz, Aisle's tracker store (bot/tracker_store.py) on an SQLite file
and Aisle's action server in a process of its own (its CPU is not counted). The
conversations are FAQs (answered by a custom action) and thank-yous after a greeting: no
product search, so no storefront_api is needed. Each round runs ``--conversations``
conversations (default 8, new ones each round) of ``--turns`` turns (default 30), taking
turns one message at a time, as concurrent shoppers do.

The variants, switched on the loaded model's own policy objects between rounds:

- ``rasa``: Rasa's own computation: each policy computes the dialogue states from the
  session's first event, and the rule policy matches and logs as Rasa's does;
- ``states``: the dialogue states kept between predictions (bot/dialogue_states.py), the
  rule policy as Rasa's (what the model did before the rule policy's own work);
- ``rules``: the states kept and the rule policy's matching work done once
  (bot/rule_matching.py): what config.yml ships;
- ``runner``: as ``rules``, the model's graph run by Aisle's plain runner
  (bot/graph_runner.py, over the same loaded components) instead of Rasa's
  DaskGraphRunner, which the other variants run with;
- ``sessions``: as ``runner``, the calls to the action server on kept HTTP sessions
  (bot/http_sessions.py; the other variants open a session a call, as Rasa does): what
  `rasa run` served through bot/rasa_server.py before the next variant;
- ``json``: as ``sessions``, each event of the tracker sent to the action server encoded
  once and its JSON kept (bot/action_call_json.py; the other variants encode the whole
  tracker at each call, as Rasa does);
- ``copy``: as ``json``, the tracker each action runs on copied from the conversation's
  state (bot/tracker_copy.py; the other variants replay every event, as Rasa does);
- ``tail``: as ``copy``, each policy's featurizer handed fresh copies of only the dialogue
  states it edits (``bot.dialogue_states.FeaturizerStates``; the variants from ``states`` to
  ``copy`` get fresh copies of every state at every call): what `rasa run` serves through
  bot/rasa_server.py.

TED's memory of predictions (CachedTEDPolicy) is on in every variant, and a warm-up round
of each variant runs first (TED's memory and the NLU's remembered vectors are then warm
for all). The rounds alternate the variants (A B C, C B A, ...), ``--rounds`` rounds each
(default 5); reported: each round's CPU per turn, each variant's median, the ratios of the
medians; and whether every turn of every conversation took the same action, under the same
policy name, with the same confidence (to 6 digits), and every message was parsed to the same
intent (confidence to 6 digits) and entities, in every round of every variant (the run fails
if not). Results also in bench/results/rasa_turn_cpu.json.

With ``--py-spy SECONDS`` and py-spy on the PATH (or PY_SPY=...), one more round per
variant runs under ``py-spy record --gil`` (for at most that long; only the thread holding
the GIL, so where the Python CPU goes; its samples, collapsed stacks
with their counts, in bench/results/rasa_turn_cpu_<variant>.txt), not counted in the
figures.

This machine has 2 shared cores: only the same run's medians and ratios compare. Run it
under the heavy-work lock: ``flock /work/notes/heavy.lock timeout 900 nice -n 5 ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = ROOT / "bot" / "models" / "aisle.tar.gz"
RESULTS = ROOT / "bench" / "results"

FAQS = ["what payment methods do you accept?", "how long does shipping take",
        "what is your return policy", "how can I contact you", "do you ship to canada?",
        "how much is delivery", "can I pay with paypal",
        "how long do I have to return something", "is there a size guide",
        "do you have a phone number", "when will it arrive if I order today",
        "are returns free?"]
THANKS = ["thanks", "thank you", "thanks a lot", "cheers", "thank you so much",
          "many thanks", "thanks!", "ok thank you"]
GREETINGS = ["hi", "hello", "hi there", "hey"]
VARIANTS = ("rasa", "states", "rules", "runner", "sessions", "json", "copy", "tail")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def messages(conversation: int, turns: int) -> list:
    """A greeting, then an FAQ and a thank-you in turn, each conversation its own order."""
    result = [GREETINGS[conversation % len(GREETINGS)]]
    for turn in range(1, turns):
        k = conversation * 5 + turn // 2
        result.append(FAQS[k % len(FAQS)] if turn % 2 else THANKS[k % len(THANKS)])
    return result


def policies_of(agent) -> dict:
    from bot.policies import CachedMemoizationPolicy, CachedRulePolicy, CachedTEDPolicy

    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    found = {}
    for kind in (CachedMemoizationPolicy, CachedRulePolicy, CachedTEDPolicy):
        objects = [node._component for node in nodes if type(node._component) is kind]
        assert len(objects) == 1, f"config.yml names bot.policies.{kind.__name__} once"
        found[kind.__name__] = objects[0]
    return found


def switch(policies: dict, variant: str, loaded: dict) -> None:
    """The loaded policies as the variant wants them (``loaded``: their featurizers'
    ``_create_states`` as the model loaded them)."""
    for name, policy in policies.items():
        policy.featurizer.__dict__.pop("_create_states", None)
        if variant != "rasa" and loaded[name] is not None:
            policy.featurizer._create_states = (
                loaded[name] if variant == "tail" else loaded[name].store.past_states)
    policies["CachedRulePolicy"].fast_rules = variant in ("rules", "runner", "sessions", "json",
                                                         "copy", "tail")


async def run_round(agent, senders: list, texts: list) -> tuple:
    """Every conversation's turns, one message of each in turn; (CPU s, wall s, actions)."""
    from rasa.shared.core.events import ActionExecuted, UserUttered

    wall, cpu = time.perf_counter(), time.process_time()
    for turn in range(len(texts[0])):
        for sender, conversation in zip(senders, texts):
            await agent.handle_text(conversation[turn], sender_id=sender)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    actions = []
    for sender in senders:
        tracker = await agent.tracker_store.retrieve(sender)
        actions.append([
            (event.action_name, event.policy, round(event.confidence or 0.0, 6))
            if isinstance(event, ActionExecuted) else
            (event.intent_name, round(event.intent.get("confidence") or 0.0, 6),
             [(entity.get("entity"), entity.get("value")) for entity in event.entities])
            for event in tracker.events if isinstance(event, (ActionExecuted, UserUttered))])
    return cpu, wall, actions


def py_spy() -> str | None:
    found = os.environ.get("PY_SPY") or shutil.which("py-spy")
    local = Path(sys.executable).parent / "py-spy"
    return found or (str(local) if local.exists() else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--py-spy", type=float, default=0.0, dest="spy_seconds")
    args = parser.parse_args()
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    assert set(variants) <= set(VARIANTS), variants
    if not MODEL.exists():
        raise SystemExit("bot/models/aisle.tar.gz is missing: train the model first")

    # As `rasa run` at its default level: structlog and logging at INFO (the rule policy's
    # debug line is then not printed), then quiet.
    from rasa.utils.log_utils import configure_structlog
    configure_structlog(logging.INFO)
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("rasa", "bot", "sanic", "aiohttp"):
        logging.getLogger(name).setLevel(logging.WARNING)

    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    from bot import action_call_json, http_sessions, tracker_copy
    from bot.tests.action_server_process import running_action_server
    from bot.tests.test_resilience import free_port
    from bot.tracker_store import CachedSQLTrackerStore
    import bot.dialogue_states as dialogue_states

    texts = [messages(index, args.turns) for index in range(args.conversations)]
    with tempfile.TemporaryDirectory(prefix="rasa-turn-cpu-") as folder, \
            running_action_server(Path(folder), "bot.actions",
                                  {"STOREFRONT_URL": f"http://127.0.0.1:{free_port()}"}) as url:
        store = CachedSQLTrackerStore(None, dialect="sqlite", db=str(Path(folder) / "rasa.db"))
        agent = Agent.load(str(MODEL), action_endpoint=EndpointConfig(url + "/webhook"),
                           tracker_store=store)
        store.domain = agent.domain
        assert http_sessions.install(), "AISLE_HTTP_SESSIONS=new: the sessions variant needs them"
        assert action_call_json.install(), "AISLE_ACTION_CALL_JSON=rasa: the json variant needs it"
        assert tracker_copy.install(), "AISLE_TRACKER_COPY=replay: the copy variant needs it"
        from bot.graph_runner import PlainGraphRunner
        from rasa.engine.runner.dask import DaskGraphRunner
        runners = {"dask": agent.processor.graph_runner}
        assert type(runners["dask"]) is DaskGraphRunner  # Agent.load as Rasa ships it
        runners["plain"] = PlainGraphRunner.sharing_nodes(
            runners["dask"]._graph_schema, runners["dask"]._instantiated_nodes,
            runners["dask"]._execution_context)
        policies = policies_of(agent)
        loaded = {name: policy.featurizer.__dict__.get("_create_states")
                  for name, policy in policies.items()}
        loop = asyncio.new_event_loop()
        counter = iter(range(10 ** 6))

        def one_round(variant: str) -> tuple:
            switch(policies, variant, loaded)
            agent.processor.graph_runner = runners[
                "plain" if variant in ("runner", "sessions", "json", "copy", "tail") else "dask"]
            http_sessions.enabled = variant in ("sessions", "json", "copy", "tail")
            action_call_json.enabled = variant in ("json", "copy", "tail")
            tracker_copy.enabled = variant in ("copy", "tail")
            senders = [f"{variant}-{next(counter)}" for _ in texts]
            try:
                return loop.run_until_complete(run_round(agent, senders, texts))
            finally:
                switch(policies, "rules", loaded)
                agent.processor.graph_runner = runners["dask"]

        reference = None
        mismatches = []

        def check(variant: str, actions: list) -> None:
            nonlocal reference
            if reference is None:
                reference = actions
            for index, (expected, got) in enumerate(zip(reference, actions)):
                if expected != got:
                    mismatches.append((variant, index, expected, got))

        for variant in variants:  # warm-up
            cpu, wall, actions = one_round(variant)
            check(variant, actions)
            log(f"warm-up {variant}: {1000 * cpu / len(texts) / args.turns:.2f} ms CPU a turn")
        cpu_per_turn = {variant: [] for variant in variants}
        wall_per_turn = {variant: [] for variant in variants}
        store_before = (dialogue_states.SHARED.appended, dialogue_states.SHARED.recomputed)
        for number in range(args.rounds):
            for variant in (variants if number % 2 == 0 else variants[::-1]):
                cpu, wall, actions = one_round(variant)
                check(variant, actions)
                turns = len(texts) * args.turns
                cpu_per_turn[variant].append(round(1000 * cpu / turns, 3))
                wall_per_turn[variant].append(round(1000 * wall / turns, 3))
                log(f"round {number + 1} {variant}: {1000 * cpu / turns:.2f} ms CPU a turn, "
                    f"{1000 * wall / turns:.2f} ms wall")
        spy = py_spy()
        profiles = {}
        if args.spy_seconds > 0 and spy:
            RESULTS.mkdir(parents=True, exist_ok=True)
            for variant in variants:
                output = RESULTS / f"rasa_turn_cpu_{variant}.txt"
                recorder = subprocess.Popen(
                    [spy, "record", "--pid", str(os.getpid()), "--duration",
                     str(int(args.spy_seconds)), "--rate", "200", "--nonblocking", "--gil",
                     "--format", "raw", "--output", str(output)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                time.sleep(1.0)
                one_round(variant)
                recorder.wait(timeout=args.spy_seconds + 60)
                profiles[variant] = str(output.relative_to(ROOT))
        elif args.spy_seconds > 0:
            log("py-spy not found (PATH, PY_SPY or the venv's bin): no profile")
        loop.close()

    medians = {variant: statistics.median(values) for variant, values in cpu_per_turn.items()}
    result = {
        "conversations": args.conversations, "turns": args.turns, "rounds": args.rounds,
        "cpu_ms_per_turn": cpu_per_turn, "wall_ms_per_turn": wall_per_turn,
        "median_cpu_ms_per_turn": medians,
        "ratios": {f"{a}/{b}": round(medians[a] / medians[b], 3)
                   for a in variants for b in variants if a != b},
        "identical_actions": not mismatches,
        "turns_compared": len(texts) * args.turns * (len(variants) * (args.rounds + 1)),
        "dialogue_states_appended_recomputed": [
            dialogue_states.SHARED.appended - store_before[0],
            dialogue_states.SHARED.recomputed - store_before[1]],
        "rule_index_fallbacks": policies["CachedRulePolicy"].rule_index_fallbacks,
        "load_average": os.getloadavg(),
        "profiles": profiles,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rasa_turn_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if mismatches:
        for variant, index, expected, got in mismatches[:5]:
            log(f"MISMATCH {variant} conversation {index}:\n  {expected}\n  {got}")
        raise SystemExit("the variants did not take the same actions")


if __name__ == "__main__":
    main()
