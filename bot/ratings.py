"""A row of stars typed as a rating ("⭐⭐⭐⭐", "★★★☆☆"): how the NLU's tokenizer reads it
(bot/nlu/emoji_words.py: "4 stars") and how the rating action counts it
(bot/actions/support.py). One module, so that both agree on what a row is. No Rasa imports:
the action server uses it too."""

from __future__ import annotations

import re

STAR = "[⭐🌟★]"
# What may follow an emoji and belongs to it: the emoji presentation selector, a joiner,
# a skin tone, a gender sign.
MODIFIERS = "\ufe0f\u200d\U0001F3FB-\U0001F3FF\u2640\u2642"
# Two stars or more: one star is no rating ("you're a star ⭐").
STAR_ROW = re.compile(f"(?:{STAR}[{MODIFIERS}]*){{2,}}")


def stars_in(text: str) -> int:
    """How many stars the longest row of two or more in ``text`` has (0 without one)."""
    return max((len(re.findall(STAR, row.group())) for row in STAR_ROW.finditer(text)),
               default=0)
