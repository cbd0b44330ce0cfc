"""Rasa's predict graph run in a plain loop instead of dask (issue 16).

Rasa 3.6 runs a loaded model's graph with ``DaskGraphRunner`` (rasa/engine/runner/dask.py),
three times a turn (the NLU, then one run per action predicted). At every run it works out
the nodes the targets need from the schema (recursively), builds a dask graph of them and
hands it to dask's synchronous scheduler, which orders the graph again and keeps its own
bookkeeping of every task: about 15 % of a turn's CPU in Aisle's bench.

``PlainGraphRunner`` is the same runner without that work: the nodes are ordered once (each
after the nodes it needs), the list of nodes each set of targets needs is worked out at its
first run and kept, and a run calls those nodes in that order. What a run returns and
raises is what ``DaskGraphRunner.run`` returns and raises:

- targets: the given ones, or the schema's own when none are given (an empty list is none);
  only the nodes the targets need run (``GraphSchema.minimal_graph_schema``'s nodes);
- the result maps each target to its node's output (an input named as a target: to the
  input's value); a target that is neither a node nor an input raises ``KeyError``;
- inputs are added as dask added them: a string input equal to the name of a node of the
  run (or of an input before it) raises ``GraphRunError``; an input named as a node stands
  for that node's output (the node does not run, the nodes it needs still do); a node
  whose input is neither a node nor an input gets the name instead, as under dask, and
  ``GraphNode`` logs it and raises ``GraphRunError`` if it needed it;
- a component's error surfaces as the node raises it (``GraphComponentException``
  wrapping a non-Rasa error, Rasa's own errors as they are); a ``RuntimeError`` during the
  run becomes ``GraphRunError("Error running runner.")``, as does a cycle in the nodes run.

Independent nodes may run in another order than dask's (dask orders by its own heuristics);
the predict graph's nodes only pass their outputs along, and the tests and the bench check
the outputs are the same (bot/tests/test_graph_runner.py, bench/rasa_turn_cpu.py).

Installed by ``install()``, which bot/rasa_server.py calls before Rasa starts: Rasa's
``MessageProcessor._load_model`` names the runner class as ``DaskGraphRunner`` in
rasa.core.processor's namespace, and ``install`` puts ``PlainGraphRunner`` under that name,
so every model the processor loads (at start and through PUT /model) runs with it.
``AISLE_GRAPH_RUNNER=dask`` keeps Rasa's runner; training always uses Rasa's.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import ExecutionContext, GraphNode, GraphNodeHook, GraphSchema
from rasa.engine.runner.interface import GraphRunner
from rasa.engine.storage.storage import ModelStorage

from bot import choices

logger = logging.getLogger(__name__)

ENV = "AISLE_GRAPH_RUNNER"
CHOICES = ("plain", "dask")

# One step of a run: the node's name, the node, the names of what it needs (in the order of
# its schema's `needs`, as dask passed them).
Step = Tuple[Text, GraphNode, Tuple[Text, ...]]


class _Plan:
    """The nodes one set of targets needs, in the order they run."""

    __slots__ = ("steps", "names", "cycle")

    def __init__(self, steps: List[Step], cycle: Optional[List[Text]]) -> None:
        self.steps = steps
        self.names = frozenset(name for name, _, _ in steps)
        self.cycle = cycle


class PlainGraphRunner(GraphRunner):
    """Runs the nodes a run's targets need, each after the nodes it needs, in a loop."""

    def __init__(
        self,
        graph_schema: GraphSchema,
        model_storage: ModelStorage,
        execution_context: ExecutionContext,
        hooks: Optional[List[GraphNodeHook]] = None,
    ) -> None:
        """Instantiates the schema's nodes (as ``DaskGraphRunner`` does) and orders them."""
        nodes = {
            name: GraphNode.from_schema_node(
                name, schema_node, model_storage, execution_context, hooks
            )
            for name, schema_node in graph_schema.nodes.items()
        }
        self._setup(graph_schema, nodes, execution_context)

    @classmethod
    def create(
        cls,
        graph_schema: GraphSchema,
        model_storage: ModelStorage,
        execution_context: ExecutionContext,
        hooks: Optional[List[GraphNodeHook]] = None,
    ) -> PlainGraphRunner:
        """Creates the runner (see ``GraphRunner.create``)."""
        return cls(graph_schema, model_storage, execution_context, hooks)

    @classmethod
    def sharing_nodes(
        cls,
        graph_schema: GraphSchema,
        nodes: Dict[Text, GraphNode],
        execution_context: ExecutionContext,
    ) -> PlainGraphRunner:
        """A runner over nodes already instantiated (another runner's): the same
        components, so the same loaded model and caches (the tests and the bench compare
        the two runners on one model this way)."""
        runner = cls.__new__(cls)
        runner._setup(graph_schema, nodes, execution_context)
        return runner

    def _setup(
        self,
        graph_schema: GraphSchema,
        nodes: Dict[Text, GraphNode],
        execution_context: ExecutionContext,
    ) -> None:
        self._graph_schema = graph_schema
        self._instantiated_nodes = nodes  # the name DaskGraphRunner gives them
        self._execution_context = execution_context
        self._needs: Dict[Text, Tuple[Text, ...]] = {
            name: tuple(schema_node.needs.values())
            for name, schema_node in graph_schema.nodes.items()
        }
        self._position, self._cycle = self._order()
        self._default_targets = graph_schema.target_names
        self._plans: Dict[Tuple[Text, ...], _Plan] = {}
        for target in self._default_targets:  # the runs a turn makes, planned now
            self._plan((target,))
        self._plan(tuple(self._default_targets))

    def _order(self) -> Tuple[Dict[Text, int], Optional[List[Text]]]:
        """Every node's place in one order where each node comes after those it needs
        (depth first, the schema's order otherwise); and a cycle, if there is one."""
        position: Dict[Text, int] = {}
        visiting: List[Text] = []
        on_path = set()
        cycle: Optional[List[Text]] = None
        for root in self._needs:
            if root in position:
                continue
            # iterative depth-first walk: (name, index of the next need to visit)
            stack = [(root, 0)]
            visiting.append(root)
            on_path.add(root)
            while stack:
                name, index = stack[-1]
                needs = self._needs[name]
                if index < len(needs):
                    stack[-1] = (name, index + 1)
                    need = needs[index]
                    if need not in self._needs or need in position:
                        continue  # an input placeholder, or already placed
                    if need in on_path:
                        if cycle is None:
                            cycle = visiting[visiting.index(need):] + [need]
                        continue
                    stack.append((need, 0))
                    visiting.append(need)
                    on_path.add(need)
                else:
                    stack.pop()
                    visiting.pop()
                    on_path.discard(name)
                    position[name] = len(position)
        return position, cycle

    def _plan(self, targets: Tuple[Text, ...]) -> _Plan:
        plan = self._plans.get(targets)
        if plan is not None:
            return plan
        needed = set()
        pending = [target for target in targets if target in self._needs]
        while pending:
            name = pending.pop()
            if name in needed:
                continue
            needed.add(name)
            pending.extend(need for need in self._needs[name] if need in self._needs)
        ordered = sorted(needed, key=self._position.__getitem__)
        steps = [(name, self._instantiated_nodes[name], self._needs[name]) for name in ordered]
        cycle = self._cycle if self._cycle and needed.intersection(self._cycle) else None
        plan = self._plans[targets] = _Plan(steps, cycle)
        return plan

    def run(
        self,
        inputs: Optional[Dict[Text, Any]] = None,
        targets: Optional[List[Text]] = None,
    ) -> Dict[Text, Any]:
        """Runs the nodes the targets need (see ``GraphRunner.run``)."""
        run_targets: Sequence[Text] = targets if targets else self._default_targets
        plan = self._plans.get(tuple(run_targets)) or self._plan(tuple(run_targets))

        # What each name stands for during the run, as dask kept it: (name, output).
        values: Dict[Text, Any] = {}
        if inputs:
            for input_name, input_value in inputs.items():
                if isinstance(input_value, str) and (
                    input_value in plan.names or input_value in values
                ):
                    raise GraphRunError(
                        f"Input value '{input_value}' clashes with a node name. Make sure "
                        f"that none of the input names passed to the `run` method are the "
                        f"same as node names in the graph schema."
                    )
                values[input_name] = (input_name, input_value)

        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                f"Running graph with inputs: {inputs}, targets: {targets} "
                f"and {self._execution_context}."
            )

        for target in run_targets:
            if target not in plan.names and target not in values:
                raise KeyError(target)  # as dask.get does for a key it lacks

        try:
            if plan.cycle:
                raise RuntimeError(
                    "Cycle detected between the following nodes: " + " -> ".join(plan.cycle)
                )
            for name, node, needs in plan.steps:
                if name in values:
                    continue  # an input given under the node's name stands for it
                # a name neither run nor given is passed as itself (dask's literal)
                values[name] = node(*[values.get(need, need) for need in needs])
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e

        results: Dict[Text, Any] = {}
        for target in run_targets:
            name, output = values[target]
            results[name] = output
        return results


def chosen() -> str:
    """The runner AISLE_GRAPH_RUNNER names: ``plain`` (the default) or ``dask``."""
    return choices.chosen(ENV, *CHOICES)


def install() -> bool:
    """Makes the models Rasa's processor loads run with ``PlainGraphRunner`` (unless
    AISLE_GRAPH_RUNNER=dask); True if it is installed. Call before the model loads."""
    import rasa.core.processor as processor
    from rasa.engine.runner.dask import DaskGraphRunner

    current = getattr(processor, "DaskGraphRunner", None)
    if current is not DaskGraphRunner and current is not PlainGraphRunner:
        raise RuntimeError(
            "rasa.core.processor no longer loads its models with DaskGraphRunner under that "
            "name (another Rasa version?): bot/graph_runner.py cannot be installed"
        )
    use_plain = chosen() == "plain"
    processor.DaskGraphRunner = PlainGraphRunner if use_plain else DaskGraphRunner
    return use_plain
