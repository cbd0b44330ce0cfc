"""Which of Rasa's rules apply to a dialogue's states: the same answer, found with less work.

Rasa 3.6's ``RulePolicy._get_possible_keys(lookup, states)`` keeps, of every rule in
``lookup`` (a JSON list of states -> an action), those whose states match the dialogue's last
states, walking back from the last one: at each step every rule still in the running is
checked again (``_is_rule_applicable``: the rule's key parsed, reversed into a new list,
each of its conditions compared), all the way to the session's first state, although a rule
of n states has nothing to check further back than n. With Aisle's ~230 rules and a
conversation of 160 states that is a few thousand checks a call, two to four calls a
prediction.

``RuleIndex`` prepares a lookup once (each rule's states parsed, reversed, its conditions
listed in Rasa's order with their kind), groups the rules by what their last state requires
of the previous action's name, and then answers with:

- at the last state, only the rules whose previous action is that state's (or that name
  nothing), rules that start a conversation if the state has no previous action;
- further back, only the rules still in the running, and only while one of them is longer
  than the distance walked: beyond, Rasa keeps every rule unchecked.

The conditions are Rasa's (``_does_rule_match_state``, ``_is_rule_applicable``), the same
comparisons on the same values, so the same rules are found. Rasa returns them as a set
and picks the longest key (``max(keys, key=len)``), so which of two keys of the same length
it picks depends on the set's iteration order; when that could matter (two found keys of
the longest length) ``possible_keys`` answers None and the caller asks Rasa.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Set, Text, Tuple

from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET
from rasa.shared.core.domain import State
from rasa.shared.nlu.constants import ACTION_NAME

EQUAL, UNSET = 0, 1  # a condition: the conversation's value equals the rule's; is unset


class _Rule:
    """One rule: its key, its number of states, and per state from the last one back
    whether it has a previous action and its conditions (state kind, name, value, kind)."""

    __slots__ = ("key", "length", "steps")

    def __init__(self, key: Text, states: List[State]) -> None:
        self.key = key
        self.length = len(states)
        self.steps: List[Tuple[bool, List[Tuple[Text, Text, Any, int]]]] = []
        for rule_state in reversed(states):
            conditions = []
            for state_type, rule_sub_state in rule_state.items():
                if not isinstance(rule_sub_state, dict):
                    raise ValueError(f"not a rule state: {rule_state!r}")
                for name, value in rule_sub_state.items():
                    if isinstance(value, list):  # as Rasa: JSON gave a list for a tuple
                        value = tuple(value)
                    if value and value != SHOULD_NOT_BE_SET:
                        conditions.append((state_type, name, value, EQUAL))
                    elif value == SHOULD_NOT_BE_SET:
                        conditions.append((state_type, name, value, UNSET))
                    # any other (empty) value: Rasa checks nothing
            self.steps.append((bool(rule_state.get(PREVIOUS_ACTION)), conditions))

    def applies(self, turn_index: int, conversation_state: State) -> bool:
        """Rasa's ``_is_rule_applicable(key, turn_index, conversation_state)``."""
        if turn_index >= self.length:
            return True
        has_previous_action, conditions = self.steps[turn_index]
        current_previous_action = bool(conversation_state.get(PREVIOUS_ACTION))
        if not has_previous_action and not current_previous_action:
            return True
        if not has_previous_action or not current_previous_action:
            return False
        return matches(conditions, conversation_state)


def matches(conditions: List[Tuple[Text, Text, Any, int]], conversation_state: State) -> bool:
    """Rasa's ``_does_rule_match_state``: every condition holds in the conversation's state."""
    for state_type, name, value, kind in conditions:
        value_from_conversation = conversation_state.get(state_type, {}).get(name)
        if kind == EQUAL:
            if value_from_conversation != value:
                return False
        elif value_from_conversation and value_from_conversation != SHOULD_NOT_BE_SET:
            return False
    return True


class RuleIndex:
    """A rule lookup (Rasa's ``lookup[RULES]`` or ``lookup[RULES_FOR_LOOP_UNHAPPY_PATH]``),
    prepared for ``possible_keys``."""

    def __init__(self, lookup: Dict[Text, Any]) -> None:
        self.keys = list(lookup)
        self.always: List[_Rule] = []  # no states: every state suits them
        self.starters: List[_Rule] = []  # last state without a previous action
        self.by_previous_action: Dict[Text, List[_Rule]] = {}
        self.any_previous_action: List[_Rule] = []  # a previous action, of no given name
        for key in self.keys:
            rule = _Rule(key, json.loads(key))
            if not rule.length:
                self.always.append(rule)
                continue
            has_previous_action, conditions = rule.steps[0]
            if not has_previous_action:
                self.starters.append(rule)
                continue
            names = [value for state_type, name, value, kind in conditions
                     if state_type == PREVIOUS_ACTION and name == ACTION_NAME
                     and kind == EQUAL and isinstance(value, str)]
            if names:
                self.by_previous_action.setdefault(names[0], []).append(rule)
            else:
                self.any_previous_action.append(rule)

    def matching_rules(self, states: List[State]) -> List[_Rule]:
        """The rules Rasa's ``_get_possible_keys`` keeps for these states."""
        if not states:
            return self._all()
        last = states[-1]
        previous_action = last.get(PREVIOUS_ACTION)
        if previous_action:
            name = previous_action.get(ACTION_NAME)
            candidates = (self.by_previous_action.get(name, []) if isinstance(name, str)
                          else [])
            running = [rule for rule in candidates if matches(rule.steps[0][1], last)]
            running += [rule for rule in self.any_previous_action
                        if matches(rule.steps[0][1], last)]
        else:
            running = list(self.starters)
        running += self.always
        turn_index = 1
        count = len(states)
        while running and turn_index < count:
            if not any(rule.length > turn_index for rule in running):
                break  # every rule left is shorter: Rasa keeps them all from here
            state = states[count - 1 - turn_index]
            running = [rule for rule in running if rule.applies(turn_index, state)]
            turn_index += 1
        return running

    def _all(self) -> List[_Rule]:
        rules = self.always + self.starters + self.any_previous_action
        for group in self.by_previous_action.values():
            rules += group
        return rules

    def possible_keys(self, states: List[State]) -> Optional[Set[Text]]:
        """The keys Rasa's ``_get_possible_keys`` returns, or None if two of the longest
        length were found (Rasa's choice between them depends on its set's order)."""
        keys = {rule.key for rule in self.matching_rules(states)}
        if len(keys) > 1:
            longest = max(map(len, keys))
            if sum(1 for key in keys if len(key) == longest) > 1:
                return None
        return keys
