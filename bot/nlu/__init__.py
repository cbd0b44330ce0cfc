"""Aisle's own NLU components for Rasa (referenced by module path in config.yml).

- ``emoji_words.EmojiWordsTokenizer``: Rasa's whitespace tokens, with emoji read as words.
- ``sentence_encoder``: a small pretrained sentence model (MiniLM) run in plain numpy.
- ``sentence_featurizer.SentenceFeaturizer``: its vectors as dense features.
- ``intent_classifier.TwoViewIntentClassifier``: intents from the word and character
  counts and from the sentence vectors, two linear models combined.
- ``entity_extractor.SavedCRFEntityExtractor``: Rasa's CRF, saved as trained.
- ``size_mentions.SizeMentionExtractor``: what follows the word "size" is a size.

Rasa puts the working directory on the import path, so ``rasa train`` and ``rasa run``
from the repository root find ``bot.nlu``. See docs/nlu-evaluation.md for why.

Importing the package also applies ``serving`` (fast validation of action server
responses), so every Rasa process that loads this model has it.
"""

from . import serving  # noqa: F401
