"""Emoji read as the words they stand for: "🛒 contents?", "❌ the hoodie", "📦 where is it".

Rasa's WhitespaceTokenizer drops every emoji, and the sentence model's vocabulary has none,
so on a messaging app a shopper's "➕🛒 the blue one" reaches the classifier as "the blue
one" (a pick from the results) and a bare "👍" as nothing at all (the fallback). This
tokenizer is Rasa's, plus one token for each emoji of a short table, carrying the word the
emoji stands for in a shop's chat ("cart", "parcel", "remove", "thanks") and the emoji's
place in the text. Everything downstream (the counts, the sentence model, the CRF) reads the
word; training phrasings with emoji are read the same way.

Only emoji whose meaning in a shop's chat is settled are in the table. Left out on purpose:
- faces whose meaning turns on tone (🙄, 🙃, 👏 are as often sarcastic as not);
- clothes and other products (👕, 👟): a product type is an entity, and the entity's value
  is the text under its token, which would be the emoji rather than a word the catalog's
  search understands.
"""

from __future__ import annotations

import bisect
import re
from typing import Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.ratings import MODIFIERS, STAR_ROW

# The word each emoji stands for (U+FE0F, the emoji presentation selector, and skin tones
# are matched after it, so "✌️" and "✌" and "👍🏽" read the same).
EMOJI_WORDS: Dict[Text, Text] = {
    # the cart, the order, money
    "🛒": "cart", "🛍": "shopping", "📦": "parcel", "🚚": "delivery", "🚛": "delivery",
    "💰": "money", "💸": "money", "💵": "money", "💶": "money", "💷": "money",
    "💳": "card", "🏷": "price", "🎁": "gift", "🧾": "receipt",
    # editing
    "➕": "add", "➖": "remove", "❌": "remove", "✖": "remove", "🗑": "remove",
    "🔄": "swap", "🔁": "swap", "↩": "return",
    # yes, no, stop, more
    "👍": "ok", "👌": "ok", "✅": "yes", "✔": "yes", "☑": "yes",
    "👎": "no", "🙅": "no", "🚫": "no", "✋": "stop", "🛑": "stop",
    "👇": "more", "⬇": "more", "⏬": "more",
    # social
    "🙏": "thanks", "👋": "hi", "✌": "bye", "⭐": "star", "🌟": "star", "★": "star",
    "❤": "love", "😍": "love", "🥰": "love", "😂": "funny", "🤣": "funny",
    "😡": "angry", "😠": "angry", "🤬": "angry", "🤖": "bot",
    # reaching the shop
    "📧": "email", "✉": "email", "📞": "phone", "☎": "phone", "📱": "phone",
}
EMOJI = re.compile("(" + "|".join(sorted(map(re.escape, EMOJI_WORDS), key=len, reverse=True))
                   + f")[{MODIFIERS}]*")
_WORD = re.compile(r"\w")


def emoji_tokens(text: Text) -> List[Token]:
    """A token for each emoji of the table in ``text``: the word, at the emoji's place, in
    order. One pass over the text (a shopper's message may hold thousands of emoji).

    A row of stars (bot/ratings.py) is a rating, read as it is typed: "⭐⭐⭐⭐" is "4" on
    the first star and "stars" on the rest. A `csat` entity found on the number has the
    star as its value (an entity's value is the text under its token): the rating action
    counts the stars itself."""
    tokens: List[Token] = []
    position = 0
    for run in [*STAR_ROW.finditer(text), None]:
        gap_end = run.start() if run else len(text)
        tokens += [Token(EMOJI_WORDS[match.group(1)], match.start(), end=match.end())
                   for match in EMOJI.finditer(text, position, gap_end)]
        if run:
            first_star = EMOJI.match(text, run.start())
            stars = len(EMOJI.findall(text, run.start(), run.end()))
            tokens += [Token(str(stars), run.start(), end=first_star.end()),
                       Token("stars", first_star.end(), end=run.end())]
            position = run.end()
    return tokens


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER,
                          is_trainable=False)
class EmojiWordsTokenizer(WhitespaceTokenizer):
    """Rasa's WhitespaceTokenizer, with the emoji of ``EMOJI_WORDS`` read as words."""

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        text = message.get(attribute)
        if not text or not EMOJI.search(text):
            return tokens
        # For a message without a word ("👍") the parent returns the whole text as one
        # token: that placeholder goes, the emoji's words take its place.
        words = [token for token in tokens if _WORD.search(token.text)]
        # An emoji Rasa kept inside a token of its own ("12345🛒6", a URL, a line Rasa kept
        # whole) stays part of it: tokens must not overlap, or an entity ending on the inner
        # token would be cut short.
        starts = [token.start for token in words]
        for token in emoji_tokens(text):
            # the last of Rasa's tokens to start before this one ends: the only one that
            # can overlap it (Rasa's tokens do not overlap each other)
            last = bisect.bisect_left(starts, token.end) - 1
            if last < 0 or words[last].end <= token.start:
                words.append(token)
        return sorted(words, key=lambda token: token.start)
