"""bot/graph_runner.py: the plain runner returns and raises what Rasa's DaskGraphRunner does,
runs only the nodes a run's targets need, and is what the trained model runs with once
installed (AISLE_GRAPH_RUNNER=dask keeps Rasa's).

On a small graph of our own both runners are compared run by run (targets, inputs, errors);
on the trained model, the two runners over the same loaded components parse every NLU
example the same, predict the same at every step of every story, rule and test story, and
take a conversation through the same events."""

from __future__ import annotations

import asyncio
import glob
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Text

import pytest
from rasa.engine.exceptions import GraphComponentException, GraphRunError
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.exceptions import RasaException

import bot.graph_runner as graph_runner
from bot.graph_runner import PlainGraphRunner
from bot.tests.conversations import conversation

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "bot" / "models" / "aisle.tar.gz"

CALLS: list = []


class Probe(GraphComponent):
    """A node that records its call and returns its name with what it was given."""

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = config

    @classmethod
    def create(cls, config, model_storage, resource, execution_context) -> Probe:
        return cls(config)

    def run(self, **given: Any) -> Any:
        CALLS.append(self.config["name"])
        if self.config.get("fail") == "value":
            raise ValueError("boom")
        if self.config.get("fail") == "rasa":
            raise RasaException("a Rasa error")
        return self.config["name"], sorted(given.items(), key=lambda item: item[0])


def node(name: str, needs: Optional[dict] = None, target: bool = False, eager: bool = True,
         **config: Any) -> SchemaNode:
    return SchemaNode(needs=needs or {}, uses=Probe, constructor_name="create", fn="run",
                      config={"name": name, **config}, eager=eager, is_target=target)


SCHEMA = GraphSchema({
    "a": node("a"),
    "b": node("b", {"x": "a"}, eager=False),
    "c": node("c", {"x": "a", "y": "b"}, target=True),
    "d": node("d", {"m": "__message__", "x": "b"}, target=True),
    "e": node("e", {"x": "c"}),  # nothing needs it
    "fails": node("fails", {"x": "a"}, fail="value"),
    "rasa_fails": node("rasa_fails", {"x": "a"}, fail="rasa"),
})


@pytest.fixture
def runners(tmp_path):
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(graph_schema=SCHEMA, model_id="probe")
    return (DaskGraphRunner.create(SCHEMA, storage, context),
            PlainGraphRunner.create(SCHEMA, storage, context))


def outcome(runner, inputs=None, targets=None) -> tuple:
    """(result or the error's type, message and cause's type, the nodes called)."""
    CALLS.clear()
    try:
        result: Any = runner.run(inputs=inputs, targets=targets)
    except Exception as error:  # noqa: BLE001 (compared between the runners)
        cause = error.__cause__
        result = (type(error), str(error), type(cause) if cause else None)
    return result, sorted(CALLS)


RUNS = [
    ({"__message__": [1, 2]}, ["c"]),
    ({"__message__": [1, 2]}, ["d"]),
    ({"__message__": [1, 2]}, ["c", "d"]),
    ({"__message__": [1, 2]}, ["d", "c", "d"]),
    ({"__message__": [1, 2]}, None),  # the schema's targets
    ({"__message__": [1, 2]}, []),  # also the schema's targets
    ({"__message__": "text"}, ["e"]),
    ({"__message__": [1]}, ["b"]),
    ({"__message__": [1], "other": 3}, ["__message__", "a"]),  # an input as a target
    ({"b": ("given", 5)}, ["c"]),  # an input named as a node stands for it
    ({"__message__": "b"}, ["c"]),  # clashes with a node of the run
    ({"__message__": "e"}, ["c"]),  # a node, but not one of the run: no clash
    ({"first": 1, "__message__": "first"}, ["c"]),  # clashes with an input before it
    (None, ["d"]),  # the placeholder is missing
    (None, ["fails"]),
    (None, ["rasa_fails", "c"]),
    (None, ["nowhere"]),
]


@pytest.mark.parametrize("inputs,targets", RUNS)
def test_each_run_returns_raises_and_calls_what_dask_does(runners, inputs, targets):
    dask, plain = runners
    expected, expected_calls = outcome(dask, inputs, targets)
    got, calls = outcome(plain, inputs, targets)
    assert got == expected
    assert len(calls) == len(set(calls))  # each node at most once
    if isinstance(expected, dict):
        assert calls == expected_calls
    else:  # the nodes run before the error depend on the order of independent nodes
        assert set(calls) <= set(SCHEMA.minimal_graph_schema(targets).nodes)


def test_only_the_nodes_the_targets_need_run(runners):
    _, plain = runners
    assert outcome(plain, {"__message__": [1]}, ["c"])[1] == ["a", "b", "c"]
    assert outcome(plain, None, ["b"])[1] == ["a", "b"]
    result, calls = outcome(plain, {"b": 5}, ["c"])
    assert calls == ["a", "c"] and result["c"] == ("c", [("x", ("a", [])), ("y", 5)])
    assert outcome(plain, {"__message__": [1]})[1] == ["a", "b", "c", "d"]


def test_errors_surface_as_rasas(runners):
    _, plain = runners
    with pytest.raises(GraphComponentException) as raised:
        plain.run(targets=["fails"])
    assert isinstance(raised.value.__cause__, ValueError)
    with pytest.raises(RasaException, match="a Rasa error"):
        plain.run(targets=["rasa_fails"])
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        plain.run(inputs={"__message__": "a"}, targets=["d"])
    with pytest.raises(GraphRunError, match="Missing input"):
        plain.run(targets=["d"])


def test_a_runtime_error_of_the_run_is_a_graph_run_error(runners, monkeypatch):
    """What DaskGraphRunner wraps (a RuntimeError out of the run: a hook's, a cycle's)."""
    dask, plain = runners

    def failing(self, *inputs):
        raise RuntimeError("a hook failed")

    from rasa.engine.graph import GraphNode
    monkeypatch.setattr(GraphNode, "__call__", failing)
    for runner in (dask, plain):
        with pytest.raises(GraphRunError, match="Error running runner") as raised:
            runner.run(targets=["c"])
        assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_cycle_is_a_graph_run_error(tmp_path):
    schema = GraphSchema({"a": node("a", {"x": "b"}), "b": node("b", {"x": "a"}),
                          "c": node("c", target=True)})
    runner = PlainGraphRunner.create(schema, LocalModelStorage(tmp_path),
                                     ExecutionContext(graph_schema=schema, model_id="cycle"))
    with pytest.raises(GraphRunError, match="Error running runner") as raised:
        runner.run(targets=["a"])
    assert "Cycle" in str(raised.value.__cause__)
    assert outcome(runner, None, ["c"])[1] == ["c"]  # the rest still runs


# --- the trained model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The trained model loaded as `rasa run` loads it with the runner installed (plain),
    Aisle's tracker store and action server; and Rasa's runner over the same components."""
    if not MODEL.exists():
        pytest.fail("bot/models/aisle.tar.gz is missing: run `make train`", pytrace=False)
    import rasa.core.processor as processor
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    from bot.tests.action_server_process import running_action_server
    from bot.tests.test_resilience import free_port
    from bot.tracker_store import CachedSQLTrackerStore

    saved = processor.DaskGraphRunner
    environment = os.environ.pop(graph_runner.ENV, None)
    folder = tmp_path_factory.mktemp("graph-runner")
    try:
        assert graph_runner.install() is True
        with running_action_server(folder, "bot.actions",
                                   {"STOREFRONT_URL": f"http://127.0.0.1:{free_port()}"}) as url:
            store = CachedSQLTrackerStore(None, dialect="sqlite", db=str(folder / "rasa.db"))
            agent = Agent.load(str(MODEL), action_endpoint=EndpointConfig(url + "/webhook"),
                               tracker_store=store)
            store.domain = agent.domain
            plain = agent.processor.graph_runner
            dask = DaskGraphRunner.__new__(DaskGraphRunner)
            dask._graph_schema = plain._graph_schema
            dask._instantiated_nodes = plain._instantiated_nodes
            dask._execution_context = plain._execution_context
            yield agent, dask, plain
    finally:
        processor.DaskGraphRunner = saved
        if environment is not None:
            os.environ[graph_runner.ENV] = environment


def test_the_installed_runner_loads_the_model(model):
    agent, _, plain = model
    assert type(plain) is PlainGraphRunner
    schema = agent.processor.model_metadata.predict_schema
    metadata = agent.processor.model_metadata
    for target in (metadata.nlu_target, metadata.core_target):
        needed = set(schema.minimal_graph_schema([target]).nodes)
        assert {name for name, _, _ in plain._plan((target,)).steps} == needed


def nlu_examples() -> list:
    from rasa.shared.nlu.training_data.loading import load_data
    texts = set()
    for path in sorted(glob.glob(str(ROOT / "bot" / "data" / "nlu" / "*.yml"))):
        texts.update(example.get("text") for example in load_data(path).intent_examples)
    return sorted(text for text in texts if text)


def comparable(value: Any) -> Any:
    """Parse data with numpy values made plain (== on arrays is elementwise)."""
    import numpy as np
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [comparable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def test_every_nlu_example_parses_the_same(model):
    from rasa.core.channels.channel import UserMessage
    agent, dask, plain = model
    examples = nlu_examples()  # thousands (typos generated): every 20th
    texts = examples[::20] + ["", "what is your return policy??", "asdf qwer", "🙂 thanks"]
    assert len(texts) > 300
    failed = []
    loop = asyncio.new_event_loop()
    try:
        for index, text in enumerate(texts):
            parsed = {}
            for runner in ((dask, plain) if index % 2 else (plain, dask)):
                agent.processor.graph_runner = runner
                try:
                    parsed[runner] = comparable(loop.run_until_complete(
                        agent.processor.parse_message(UserMessage(text))))
                except Exception as error:  # noqa: BLE001 (the same error from both)
                    parsed[runner] = (type(error), str(error), type(error.__cause__))
                    failed.append(text)
            assert parsed[dask] == parsed[plain], text
    finally:
        agent.processor.graph_runner = plain
        loop.close()
    assert failed == []  # an empty text too is parsed (nlu_fallback), by either runner


def story_trackers(domain) -> list:
    """Every story, rule and test story of the bot as a tracker's events (as
    bot/tests/policies/test_dialogue_states.py reads them)."""
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.core.training_data.structures import StoryGraph
    files = sorted(glob.glob(str(ROOT / "bot" / "data" / "stories" / "*.yml"))
                   + glob.glob(str(ROOT / "bot" / "data" / "rules" / "*.yml"))
                   + glob.glob(str(ROOT / "bot" / "tests" / "stories" / "*.yml")))
    steps = [step for path in files for step in YAMLStoryReader(domain).read_from_file(path)]
    return TrainingDataGenerator(StoryGraph(steps), domain, remove_duplicates=False,
                                 augmentation_factor=0,
                                 use_story_concatenation=False).generate_story_trackers()


def test_every_step_of_every_story_predicts_the_same(model):
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.trackers import DialogueStateTracker
    agent, dask, plain = model
    domain = agent.domain
    target = agent.processor.model_metadata.core_target
    compared = 0
    for number, story in enumerate(story_trackers(domain)):
        events = list(story.events)
        for index, event in enumerate(events):
            if not isinstance(event, ActionExecuted) or index == 0:
                continue
            tracker = DialogueStateTracker.from_events(f"story-{number}", events[:index],
                                                       domain.slots)
            order = (dask, plain) if compared % 2 else (plain, dask)
            found = {runner: runner.run(inputs={"__tracker__": tracker}, targets=[target])
                     for runner in order}
            expected, got = found[dask][target], found[plain][target]
            assert got == expected, (number, index)
            assert got.diagnostic_data.keys() == expected.diagnostic_data.keys()
            compared += 1
    assert compared > 500


def test_a_conversation_goes_through_the_same_events(model):
    from rasa.shared.core.events import ActionExecuted
    agent, dask, plain = model
    messages = (["hi"] + ["what is your return policy?", "thanks!", "do you ship to canada?",
                          "thank you"] * 3
                + ["I want to make a complaint", "me@example.com", "how long does shipping take",
                   "my parcel arrived damaged and late", "thanks", "bye"])

    def converse(runner, sender):
        agent.processor.graph_runner = runner
        try:
            tracker = conversation(agent, sender, messages)
        finally:
            agent.processor.graph_runner = plain
        result = []
        for event in tracker.events:
            data = comparable(event.as_dict())
            data.pop("timestamp", None)
            data.pop("message_id", None)  # a new one for each message
            if isinstance(data.get("parse_data"), dict):
                data["parse_data"].pop("message_id", None)
            result.append(data)
        return result, [e.action_name for e in tracker.events if isinstance(e, ActionExecuted)]

    expected, _ = converse(dask, "runner-dask")
    got, actions = converse(plain, "runner-plain")
    assert got == expected
    assert actions.count("action_answer_faq") >= 6 and actions.count("complaint_form") >= 2


# --- the installer, as bot/rasa_server.py runs it ------------------------------------------


def started_runner(choice: Optional[str]) -> subprocess.CompletedProcess:
    """bot.rasa_server's main in a process of its own, Rasa's own main replaced by a print
    of the runner class rasa.core.processor would load the model with."""
    code = ("import rasa.__main__ as rasa_main, bot.rasa_server as server\n"
            "def report():\n"
            "    import rasa.core.processor as p\n"
            "    print(p.DaskGraphRunner.__module__, p.DaskGraphRunner.__name__)\n"
            "rasa_main.main = report\n"
            "server.main()\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_JWT_SECRET": "test-secret"}
    env.pop(graph_runner.ENV, None)
    if choice is not None:
        env[graph_runner.ENV] = choice
    return subprocess.run([sys.executable, "-c", code, "--enable-api"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("choice,expected", [
    (None, "bot.graph_runner PlainGraphRunner"),
    ("plain", "bot.graph_runner PlainGraphRunner"),
    (" Dask ", "rasa.engine.runner.dask DaskGraphRunner"),
])
def test_rasa_server_installs_the_chosen_runner(choice, expected):
    done = started_runner(choice)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == expected


def test_an_unknown_choice_stops_the_start():
    done = started_runner("threads")
    assert done.returncode != 0
    assert "AISLE_GRAPH_RUNNER='threads'" in done.stderr


def test_install_refuses_a_processor_that_names_another_runner(monkeypatch):
    import rasa.core.processor as processor
    monkeypatch.setattr(processor, "DaskGraphRunner", object)
    with pytest.raises(RuntimeError, match="cannot be installed"):
        graph_runner.install()
