"""What the Rasa server needs to answer a chat turn quickly on 2 cores, applied whenever a
model with Aisle's components is loaded (``bot.nlu`` imports this module).

- Action server responses are validated with a validator built once. Rasa 3.6 calls
  ``jsonschema.validate`` for every custom action, and that function checks the (fixed)
  response schema against JSON Schema's meta-schema each time before validating the
  response: 16 ms of a turn's CPU, measured on this machine, for a check whose answer
  never changes. The response itself is still validated against the same schema, and an
  invalid one raises the same ``ValidationError`` with Rasa's own explanation added.
- One BLAS thread while serving (``limit_blas_threads``, called by the sentence featurizer
  when a trained model is loaded): a chat message is a small matrix product, and idle
  BLAS threads spin on the second core that the action server and the API need.
- Once the model is loaded, everything that exists (TensorFlow, Rasa, the domain, the
  model's vocabularies) is frozen out of the garbage collector's full passes
  (``freeze_when_loaded``): otherwise each full pass walks millions of long-lived objects
  and stops the server for 300-400 ms, a few times a minute under chat load (measured
  with gc callbacks), and every shopper whose turn arrives meanwhile waits.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from typing import Any, Dict, Text

logger = logging.getLogger(__name__)


def _cached_response_validator():
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, as jsonschema.validate does every time
    return validator_class(schema)


def install_fast_action_response_validation() -> None:
    from jsonschema import exceptions
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, "_aisle_cached", False):
        return
    validator = functools.lru_cache(maxsize=1)(_cached_response_validator)

    def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        # jsonschema.validate raises the most relevant error of the instance; so does this.
        error = exceptions.best_match(validator().iter_errors(result))
        if error is None:
            return True
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions")
        raise error

    validate_action_result._aisle_cached = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = validate_action_result


_BLAS_LIMIT: list = []


def limit_blas_threads() -> None:
    """One BLAS thread for the rest of this process (serving, not training)."""
    if _BLAS_LIMIT:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it, nothing to limit
        return
    _BLAS_LIMIT.append(threadpool_limits(limits=1, user_api="blas"))  # kept: not undone
    logger.debug("BLAS limited to one thread for serving")


def freeze_when_loaded() -> None:
    """gc.freeze() once the model being loaded is complete: Rasa loads it synchronously
    inside its event loop, so a callback scheduled now runs right after the loading. With
    no running loop (a script), freeze now. Cost: a model replaced at run time
    (``PUT /model``) keeps the parts of the old one that sit in reference cycles; restart
    the server instead to swap models often."""
    try:
        asyncio.get_running_loop().call_soon(gc.freeze)
    except RuntimeError:
        gc.freeze()


install_fast_action_response_validation()
