"""Rasa's CRF entity extractor, kept in the model as trained CRFs.

Rasa 3.6's ``CRFEntityExtractor`` stores its whole training set in the model (as JSON) and
trains the CRF again every time the model is loaded: for this project's data that is over
10 s at every start of the Rasa server, of ``rasa test`` and of ``rasa shell``, and a model
file of 13 MB. This subclass stores each trained CRF in crfsuite's own binary model format
(no pickles) and opens it at load. Features, training and prediction are Rasa's.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor, CRFToken
from rasa.shared.exceptions import RasaException
from rasa.shared.utils.io import dump_obj_as_json_to_file, read_json_file

logger = logging.getLogger(__name__)

ORDER_FILE = "crf_order.json"

# Rasa's recipe validator looks for its own extractor classes by exact type; this is one.
warnings.filterwarnings("ignore", message="You have defined training data consisting of "
                        "entity examples, but your NLU configuration does not include an "
                        "entity extractor")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class SavedCRFEntityExtractor(CRFEntityExtractor):
    """CRFEntityExtractor whose trained CRFs are saved, not trained again at load."""

    def persist(self, dataset: Optional[List[List[CRFToken]]] = None) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            for tag_name, tagger in self.entity_taggers.items():
                # sklearn-crfsuite trained into this file and keeps it while the CRF lives.
                shutil.copyfile(tagger.modelfile.name, directory / f"{tag_name}.crfsuite")
            dump_obj_as_json_to_file(directory / ORDER_FILE, self.crf_order)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SavedCRFEntityExtractor":
        import sklearn_crfsuite

        try:
            with model_storage.read_from(resource) as directory:
                crf_order = read_json_file(directory / ORDER_FILE)
                taggers = OrderedDict()
                for tag_name in crf_order:
                    path = directory / f"{tag_name}.crfsuite"
                    if not path.exists():
                        raise RasaException(f"{path.name} is missing from the model: "
                                            f"retrain it (`make train`)")
                    crf = sklearn_crfsuite.CRF(model_filename=str(path))
                    crf.tagger_  # crfsuite reads the whole model now, while the file exists
                    taggers[tag_name] = crf
        except ValueError:
            logger.debug("SavedCRFEntityExtractor: no trained CRFs, untrained component")
            return cls(config, model_storage, resource)
        extractor = cls(config, model_storage, resource, taggers)
        extractor.crf_order = crf_order
        return extractor
