"""What follows the word "size" is a size, whatever the CRF made of it.

The CRF learns sizes from the shop's own (28-45, XS-XXL) and quantities from small numbers,
so a size it has not seen ("size 10", "in size 9", a US or UK size) comes out as a quantity
or as nothing: "add it in size 10" would put ten items in the cart. This rule runs after the
CRF and settles it: a number or letter size written right after "size" (or "sz") is the
`size` entity. A quantity the CRF had put on the same words is dropped; other entities are
left alone. Nothing is learnt; the component keeps nothing in the model.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (ENTITIES, ENTITY_ATTRIBUTE_END,
                                       ENTITY_ATTRIBUTE_START, ENTITY_ATTRIBUTE_TYPE,
                                       ENTITY_ATTRIBUTE_VALUE, EXTRACTOR, TEXT)
from rasa.shared.nlu.training_data.message import Message

SIZE = "size"
# "size 10", "Size: 9.5", "sz #42", "size m", "in size XL": the size is group 1.
# "size" must end there ("sizes run small" is no size S), unless a digit follows ("size10").
SIZE_MENTION = re.compile(r"\b(?:size|sz)(?:\b|(?=\d))\s*[:#]?\s*"
                          r"(\d{1,2}(?:\.5)?|x{0,2}[sl]|m|xxx?l)\b", re.IGNORECASE)


def size_spans(text: str) -> List[tuple]:
    """(start, end, value) of every size written after the word "size" in ``text``."""
    return [(m.start(1), m.end(1), m.group(1).upper()) for m in SIZE_MENTION.finditer(text)]


def _overlaps(entity: Dict[Text, Any], start: int, end: int) -> bool:
    return entity[ENTITY_ATTRIBUTE_START] < end and start < entity[ENTITY_ATTRIBUTE_END]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
                          is_trainable=False)
class SizeMentionExtractor(GraphComponent, EntityExtractorMixin):
    """Sizes written after "size": a rule applied to the entities found before it."""

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SizeMentionExtractor":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text:
                self._settle_sizes(message, text)
        return messages

    def _settle_sizes(self, message: Message, text: str) -> None:
        spans = size_spans(text)
        if not spans:
            return
        entities = list(message.get(ENTITIES, []))
        for start, end, value in spans:
            here = [e for e in entities if _overlaps(e, start, end)]
            if any(e[ENTITY_ATTRIBUTE_TYPE] == SIZE for e in here):
                continue  # the CRF found it already
            if any(e[ENTITY_ATTRIBUTE_TYPE] != "quantity" for e in here):
                continue  # something else the shopper meant (a product code, a price...)
            entities = [e for e in entities if e not in here]
            entities.append({ENTITY_ATTRIBUTE_TYPE: SIZE, ENTITY_ATTRIBUTE_START: start,
                             ENTITY_ATTRIBUTE_END: end, ENTITY_ATTRIBUTE_VALUE: value,
                             EXTRACTOR: self.name})
        entities.sort(key=lambda e: e[ENTITY_ATTRIBUTE_START])
        message.set(ENTITIES, entities, add_to_output=True)

    def process_training_data(self, training_data):  # nothing to learn
        return training_data
