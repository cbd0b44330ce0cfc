"""Write bot/data/nlu/*.yml from the hand-written phrasings in scripts/nlu_data/.

Why a script: the phrasings are written by hand in many styles (short, long, polite, casual,
questions, commands, British and American), and this fills their entity slots with real
catalog values (scripts/nlu_data/vocab.py) and adds the noise real shoppers type: lower
case without punctuation, a typo in one word, a filler word, an emoji. Deterministic (seeded):
re-running gives the same files. The committed YAML is the training data; edit the
phrasings here and re-run:

    .venv/bin/python scripts/generate_nlu_data.py

The held-out robustness set (bot/tests/nlu/robustness.yml) is NOT generated: it is written
by hand, separately, so it measures phrasings this script never produced.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from nlu_data import courtesy, faq, service, shopping, styles, voices  # noqa: E402
from nlu_data.vocab import ORDINALS, SHIPPING, Fillers  # noqa: E402

OUT = REPO / "bot" / "data" / "nlu"
SEED = 20261129

# skill file -> intent -> (phrasings, how many examples to aim for)
SKILLS = {
    "core": {
        "greet": (service.GREET, 80), "goodbye": (service.GOODBYE, 55),
        "thank": (service.THANK, 55), "affirm": (service.AFFIRM, 90),
        "deny": (service.DENY, 80), "stop": (service.STOP, 85),
        "human_handoff": (service.HUMAN_HANDOFF, 80), "inform": (shopping.INFORM, 170),
    },
    "out_of_scope": {"out_of_scope": (service.OUT_OF_SCOPE, 110)},
    "shopping": {
        "search_products": (shopping.SEARCH_PRODUCTS, 300),
        "search_cheaper": (shopping.SEARCH_CHEAPER, 85),
        "show_more": (shopping.SHOW_MORE, 85),
        "select_product": (shopping.SELECT_PRODUCT, 170),
        "add_to_cart": (shopping.ADD_TO_CART, 170),
    },
    "cart": {
        "view_cart": (shopping.VIEW_CART, 90),
        "change_quantity": (shopping.CHANGE_QUANTITY, 100),
        "remove_from_cart": (shopping.REMOVE_FROM_CART, 85),
        "save_for_later": (shopping.SAVE_FOR_LATER, 70),
        "apply_promo_code": (shopping.APPLY_PROMO_CODE, 85),
    },
    "checkout": {
        "checkout": (shopping.CHECKOUT, 85),
        "request_payment_link": (shopping.REQUEST_PAYMENT_LINK, 80),
        **{name: (examples, len(examples)) for name, examples in service.EXTERNAL.items()
           if name in ("EXTERNAL_payment_received", "EXTERNAL_payment_failed",
                       "EXTERNAL_back_in_stock", "EXTERNAL_cart_reminder")},
    },
    "orders": {
        "track_order": (service.TRACK_ORDER, 120), "cancel_order": (service.CANCEL_ORDER, 90),
        **{name: (examples, len(examples)) for name, examples in service.EXTERNAL.items()
           if name in ("EXTERNAL_order_shipped", "EXTERNAL_order_delivered")},
    },
    "aftersales": {
        "request_return": (service.REQUEST_RETURN, 90),
        "request_exchange": (service.REQUEST_EXCHANGE, 75),
        "refund_status": (service.REFUND_STATUS, 80), "complaint": (service.COMPLAINT, 85),
        "EXTERNAL_refund_issued": (service.EXTERNAL["EXTERNAL_refund_issued"], 2),
        "request_refund": (service.REQUEST_REFUND, 90),
    },
    "contact": {"ask_contact": (service.ASK_CONTACT, 90)},
    "faq": {f"faq/{name}": (examples, int(len(examples) * 1.5))
            for name, examples in faq.FAQ.items()},
    "chitchat": {f"chitchat/{name}": (examples, int(len(examples) * 1.4))
                 for name, examples in faq.CHITCHAT.items()},
    # last: a skill added here leaves every file above as it was (one random sequence)
    "support": {"rate_support": (service.RATE_SUPPORT, 60)},
}
# Intents whose phrasings are too short for fillers to keep their meaning.
NO_FILLERS = {"affirm", "deny", "greet", "goodbye", "thank", "stop", "inform"}
NO_NOISE = {name for name in service.EXTERNAL}

SLOT = re.compile(r"\{(\w+)\}")
ENTITY = re.compile(r"\[[^\]]+\](?:\([^)]+\)|\{[^}]+\})")
PREFIXES = ["hey ", "hi, ", "um ", "ok ", "so ", "hello, ", "erm ", "right, ", "quick q: "]
SUFFIXES = [" please", " pls", " thanks", "?", " 🙂", " lol", " thx", " asap", "!!", " 🙏"]
BRITISH = {"color": "colour", "favorite": "favourite", "canceled": "cancelled",
           "gray": "grey", "center": "centre"}


def fill(template: str, fillers: Fillers) -> str:
    return SLOT.sub(lambda m: getattr(fillers, m.group(1))(), template)


def map_plain(text: str, change) -> str:
    """Apply ``change`` to the text outside entity annotations."""
    parts, last = [], 0
    for match in ENTITY.finditer(text):
        parts += [change(text[last:match.start()]), match.group(0)]
        last = match.end()
    parts.append(change(text[last:]))
    return "".join(parts)


# Keys next to each other on a QWERTY keyboard: "refumd", "parcwl".
_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
NEAR_KEYS = {key: "".join(row[j] for j in (i - 1, i + 1) if 0 <= j < len(row))
             for row in _ROWS for i, key in enumerate(row)}


def typo(text: str, rng: random.Random) -> str:
    """One slip of the finger in one word. Dropping a letter only in words of five letters
    or more: "nice" -> "nie" is no longer a word anybody could read."""
    words = [(m.start(), m.group(0)) for m in re.finditer(r"[A-Za-z]{4,}", text)]
    if not words:
        return text
    start, word = rng.choice(words)
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "near") if len(word) >= 5
                      else ("swap", "double", "near"))
    if kind == "near" and word[i].lower() in NEAR_KEYS:
        new = word[:i] + rng.choice(NEAR_KEYS[word[i].lower()]) + word[i + 1:]
    elif kind == "swap":
        new = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    elif kind == "drop":
        new = word[:i] + word[i + 1:]
    else:
        new = word[:i] + word[i] + word[i:]
    return text[:start] + new + text[start + len(word):]


# Texting shorthand: whole words as people abbreviate them in chat.
SHORTHAND = {
    "you": ["u", "ya"], "your": ["ur", "yr"], "you're": ["ur", "youre"], "are": ["r"],
    "please": ["pls", "plz", "pleeease"], "thanks": ["thx", "thnx", "tks"],
    "what": ["wat", "wut", "wht"], "what's": ["whats", "wats"], "with": ["w/", "wiv"],
    "don't": ["dont", "dnt"], "I'm": ["im", "Im"], "want to": ["wanna"],
    "going to": ["gonna"], "because": ["cuz", "bc"], "tomorrow": ["tmrw", "2moro"],
    "message": ["msg"], "right now": ["rn"], "something": ["smth", "sumthing"],
    "anything": ["anythin", "nething"], "people": ["ppl"], "know": ["kno"],
    "okay": ["k", "okk"], "can't": ["cant", "cnt"], "where": ["wher", "whr"],
    "is it": ["izit"], "the": ["da", "teh"], "have": ["hav"], "would": ["wud"],
    "could": ["cud"], "about": ["abt", "bout"], "order": ["ordr"], "money": ["moneyz", "$$"],
    "delivery": ["dlvry", "delivry"], "be": ["b"], "see": ["c"], "why": ["y"],
    "really": ["rly"], "probably": ["prob"], "customer service": ["cust service", "CS"],
}
_SHORT = re.compile(r"(?<![\w'])(" + "|".join(sorted(map(re.escape, SHORTHAND), key=len,
                                                      reverse=True)) + r")(?![\w'])", re.I)


def shorthand(text: str, rng: random.Random) -> str:
    """Texting shorthand for about half the words that have one, in lower case."""
    def short(match: re.Match) -> str:
        options = SHORTHAND.get(match.group(0)) or SHORTHAND.get(match.group(0).lower())
        return rng.choice(options) if options and rng.random() < 0.6 else match.group(0)
    return _SHORT.sub(short, text).lower()


def noisy(text: str, intent: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return map_plain(text, lambda t: re.sub(r"[?!.,']", "", t.lower()))
    if roll < 0.50:
        return map_plain(text, lambda t: typo(t, rng))
    if roll < 0.65:
        changed = map_plain(text, lambda t: shorthand(t, rng))
        return map_plain(changed, lambda t: typo(t, rng)) if rng.random() < 0.4 else changed
    if roll < 0.72:
        return map_plain(text, lambda t: _swap_spelling(t, rng))
    if intent in NO_FILLERS:
        return map_plain(text, lambda t: t.upper() if rng.random() < 0.3 else t.lower())
    if rng.random() < 0.5:
        return rng.choice(PREFIXES) + text
    return text + rng.choice(SUFFIXES)


def _swap_spelling(text: str, rng: random.Random) -> str:
    for us, uk in BRITISH.items():
        text = text.replace(us, uk) if rng.random() < 0.5 else text.replace(uk, us)
    return text.capitalize() if text[:1].islower() and rng.random() < 0.5 else text


# Each phrasing comes back this many times on average (other catalog values, typos, casing,
# fillers), so that a phrasing is learnt from its variants rather than from one sentence.
VARIANTS_PER_PHRASING = 4


def examples_for(intent: str, templates: list[str], target: int, rng: random.Random,
                 fillers: Fillers) -> list[str]:
    if intent not in NO_NOISE:
        target = max(target, round(VARIANTS_PER_PHRASING * len(templates)))
    out: dict[str, None] = {}
    rounds = 0
    while len(out) < target and rounds < 16:
        for template in templates:
            if len(out) >= target:
                break
            if rounds > 0 and not SLOT.search(template) and rng.random() < 0.5:
                continue  # a slot-free phrasing only comes back as a noisy variant
            text = fill(template, fillers)
            if rounds > 0 or rng.random() < 0.3:
                text = noisy(text, intent, rng) if intent not in NO_NOISE else text
            out[text.strip()] = None
        rounds += 1
    return list(out)


def composed_for(intent: str, rng: random.Random, fillers: Fillers) -> list[str]:
    """The composed sentences (styles.py) of an intent: filled, a third of them noisy."""
    out = []
    for template in styles.sentences(intent, styles.COUNTS.get(intent, 0), rng):
        text = fill(template, fillers)
        if rng.random() < 0.35:
            text = noisy(text, intent, rng)
        out.append(text.strip())
    return list(dict.fromkeys(out))


def plain_text(example: str) -> str:
    """The message as typed: "[red](color) dress" -> "red dress"."""
    text = ENTITY.sub(lambda m: m.group(0)[1:m.group(0).index("]")], example)
    return re.sub(r"\s+", " ", text)


def render(skill: str, intents: dict[str, list[str]], extra: str = "") -> str:
    lines = [f"# NLU examples for the {skill} skill. Generated by scripts/generate_nlu_data.py",
             "# from hand-written phrasings: edit those and re-run.", 'version: "3.1"', "nlu:"]
    for intent, examples in intents.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {example}" for example in examples]
    return "\n".join(lines) + "\n" + extra


def shared_extras() -> str:
    """Regexes for the RegexEntityExtractor, hand-kept synonyms (ordinals, shipping) and the
    shipping methods' lookup table."""
    lines = [
        "- regex: email", "  examples: |",
        r"    - [A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
        "- regex: order_number", "  examples: |", r"    - \b[A-Za-z]{2}-\d{5}\b",
        "- regex: promo_code", "  examples: |", r"    - \b[A-Z][A-Z0-9]{2,14}[0-9]\b",
    ]
    by_value: dict[str, list[str]] = {}
    for surface, value in ORDINALS:
        by_value.setdefault(value, []).append(surface)
    for value in sorted(by_value, key=int):
        lines += [f'- synonym: "{value}"', "  examples: |"]
        lines += [f"    - {s}" for s in by_value[value] if s != value]
    for method, surfaces in sorted(SHIPPING.items()):
        lines += [f"- synonym: {method}", "  examples: |"]
        lines += [f"    - {s}" for s in surfaces if s != method]
    # The shipping methods' words as a lookup table too: a feature the entity CRF sees
    # ("standard if possible" had no other clue that "standard" is a shipping method).
    lines += ["- lookup: shipping_method", "  examples: |"]
    lines += [f"    - {s}" for method in sorted(SHIPPING) for s in SHIPPING[method]]
    return "\n".join(lines) + "\n"


HELD_OUT = REPO / "bot" / "tests" / "nlu"
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def normalised(text: str) -> str:
    """As tests/bot/test_rasa_project.py compares messages: lower case, no punctuation."""
    return " ".join(re.sub(r"[^\w\s]", " ", _ANNOTATION.sub(r"\1", text).lower()).split())


def held_out_messages() -> set[str]:
    """The held-out sets' messages. A generated variant can come out as one of them by chance
    (a typo, shorthand, a composition): it is left out, so the sets stay unseen."""
    texts = set()
    for path in sorted(HELD_OUT.glob("robustness*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("- ") and not line.startswith("- "):
                texts.add(normalised(line.strip()[2:]))
    return texts


def main() -> int:
    rng = random.Random(SEED)
    fillers = Fillers(rng)
    # A second sequence for the composed sentences: changing them leaves the rest as it was.
    styled_rng = random.Random(SEED + 1)
    seen: dict[str, str] = {}
    held_out, left_out = held_out_messages(), 0
    rendered: dict[str, dict[str, list[str]]] = {}
    for skill, intents in SKILLS.items():
        rendered[skill] = {}
        for intent, (templates, target) in intents.items():
            kept = []
            examples = examples_for(intent, templates, target, rng, fillers)
            for example in examples + composed_for(intent, styled_rng, fillers):
                if normalised(example) in held_out:
                    left_out += 1
                    continue
                key = plain_text(example).lower()
                if key in seen and seen[key] != intent:
                    print(f"  skipped (also {seen[key]}): {intent}: {example}")
                    continue
                seen.setdefault(key, intent)
                kept.append(example)
            rendered[skill][intent] = kept
    voices_left_out = add_voices(rendered, seen, held_out)
    courtesy_left_out = add_courtesy(rendered, seen, held_out, random.Random(SEED + 2))
    OUT.mkdir(parents=True, exist_ok=True)
    for skill, intents in rendered.items():
        extra = shared_extras() if skill == "core" else ""
        (OUT / f"{skill}.yml").write_text(render(skill, intents, extra), encoding="utf-8")
        print(f"{skill}: " + ", ".join(f"{i} {len(e)}" for i, e in intents.items()))
    print(f"left out {left_out} generated examples that were held-out messages")
    print(f"left out {voices_left_out} phrasings of scripts/nlu_data/voices.py that were "
          "held-out messages")
    print(f"left out {courtesy_left_out} phrasings of scripts/nlu_data/courtesy.py that were "
          "held-out messages")
    return 0


def add_voices(rendered: dict[str, dict[str, list[str]]], seen: dict[str, str],
               held_out: set[str]) -> int:
    """Append the phrasings of scripts/nlu_data/voices.py (and shopping.WRITTEN_OUT)
    verbatim, after everything generated (so the generated examples stay as they were). Returns how many were left out
    for being held-out messages."""
    skill_of = {intent: skill for skill, intents in rendered.items() for intent in intents}
    verbatim = [(intent, phrasings) for table in (voices.VOICES, shopping.WRITTEN_OUT)
                for intent, phrasings in table.items()]
    unknown = sorted({intent for intent, _ in verbatim} - set(skill_of))
    if unknown:
        raise SystemExit(f"verbatim phrasings of intents no skill has: {unknown}")
    return _append(rendered, verbatim, seen, held_out, "voice")


def add_courtesy(rendered: dict[str, dict[str, list[str]]], seen: dict[str, str],
                 held_out: set[str], rng: random.Random) -> int:
    """Append the social messages of scripts/nlu_data/courtesy.py (other languages, and the
    situation around them), last and with their own random sequence (so that everything
    before stays as it was). Returns how many were left out for being held-out messages."""
    drawn = [(intent, courtesy.sentences(intent, count, rng))
             for intent, count in courtesy.COUNTS.items()]
    return _append(rendered, drawn, seen, held_out, "courtesy phrasing")


def _append(rendered: dict[str, dict[str, list[str]]],
            phrasings_by_intent: list[tuple[str, list[str]]], seen: dict[str, str],
            held_out: set[str], kind: str) -> int:
    skill_of = {intent: skill for skill, intents in rendered.items() for intent in intents}
    left_out = 0
    for intent, phrasings in phrasings_by_intent:
        kept = rendered[skill_of[intent]][intent]
        for example in phrasings:
            if normalised(example) in held_out:
                left_out += 1
                continue
            key = plain_text(example).lower()
            if key in seen:
                if seen[key] != intent:
                    print(f"  skipped {kind} (also {seen[key]}): {intent}: {example}")
                continue
            seen[key] = intent
            kept.append(example)
    return left_out


if __name__ == "__main__":
    sys.exit(main())
