"""Another business's order is not this shop's: "track my Amazon parcel", "I want to return the
kettle I bought at Argos", "refund my Ryanair flight", "add two concert tickets to my cart".

The classifier reads the verbs ("track", "return", "refund", "cancel", "add to cart") and
sends such messages to the shop's own skills: the assistant would then ask for an order
number or search the catalog for tickets. Out-of-scope training phrasings help for the
companies they name, but a shopper can name any of thousands. This rule runs after the
classifier: when the predicted skill is a transaction or a lookup of the shop's own, and the
message names another business (a retailer, a marketplace, a food-delivery or ride app, an
airline or travel site, a ticket seller, a streaming or games service, a bank, a phone or
energy company) or something the shop does not sell (tickets to an event, a flight, a
hotel, a subscription, a bill, an exchange rate), the message becomes ``out_of_scope``, and
``other_business`` in the parse says what was named, so the answer can say so.

Not on the list, on purpose: delivery companies and payment providers (the shop's own
parcels travel with a carrier, and its payments go through cards, PayPal or Klarna: "DHL
left my parcel outside" and "PayPal charged me twice" are this shop's business). Banks
(and bank accounts, loans, exchange rates) count only where no payment is involved: "cancel
my Barclays card" is not this shop's, "my HSBC statement shows two payments" may well be,
so banks leave refunds, complaints and the checkout alone. Social networks are left out
too ("I saw it on Instagram, add it to my cart" is a sale), and so are the things a shop of
accessories sells for them ("a passport holder", "prescription sunglasses", "a bus pass
wallet"). Every value of the catalog's lookup tables (brands, colours, product types) is
taken off the list at training time: a shop that sells a brand called "Mango" keeps "the
Mango dress" a search.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

OUT_OF_SCOPE = "out_of_scope"
# The shop's transactions and lookups: what an out-of-scope message must not start.
ORDER_SKILLS = frozenset({
    "track_order", "cancel_order", "request_return", "request_exchange", "refund_status",
    "request_refund", "complaint", "view_cart", "add_to_cart", "change_quantity",
    "remove_from_cart", "save_for_later", "apply_promo_code", "checkout",
    "request_payment_link",
})
SEARCH_SKILLS = frozenset({"search_products", "search_cheaper", "show_more", "select_product"})
# Where a bank may be named about this shop's own payment.
PAYMENT_SKILLS = frozenset({"refund_status", "request_refund", "complaint", "checkout",
                            "request_payment_link"})

# Kinds that may be named about this shop's own payment.
BANKING = frozenset({"bank", "banking"})
# Names that mean another business wherever they are written (case-insensitive).
BUSINESSES = {
    "retailer": [
        "amazon", "ebay", "argos", "tesco", "walmart", "zara", "h&m", "shein", "asos",
        "primark", "john lewis", "marks and spencer", "marks & spencer", "m&s", "currys",
        "ikea", "costco", "aldi", "lidl", "sainsbury's", "sainsburys", "asda", "morrisons",
        "waitrose", "etsy", "aliexpress", "alibaba", "temu", "zalando", "uniqlo",
        "best buy", "home depot", "lowe's", "kohl's", "macy's", "nordstrom", "jd sports",
        "sports direct", "decathlon", "flipkart", "myntra", "ajio", "meesho",
        "mercado libre", "rakuten", "boohoo", "prettylittlething", "superdrug",
        "selfridges", "harrods", "debenhams", "tk maxx", "tj maxx", "matalan",
        "new look", "river island", "bershka", "pull&bear", "apple store", "wayfair",
        "overstock", "chewy", "sephora", "ulta", "kmart", "big w", "woolworths",
        "jb hi-fi", "myer", "the iconic", "canadian tire", "carrefour", "fnac",
        "mediamarkt", "media markt", "lazada", "shopee", "tokopedia", "jumia", "noon.com",
        "vinted", "depop", "poshmark", "facebook marketplace", "gumtree", "craigslist",
        "groupon", "wowcher", "b&q", "screwfix", "halfords", "wilko", "poundland",
        "b&m", "the range", "dunelm", "very.co.uk", "littlewoods", "qvc", "temu's",
        "target.com", "walgreens", "cvs", "dollar tree", "family dollar", "sam's club",
        "trader joe's", "whole foods", "kroger", "safeway", "ocado", "bigbasket",
        "blinkit", "zepto", "dmart", "reliance digital", "croma", "snapdeal", "nykaa",
    ],
    "delivery_app": [
        "uber eats", "ubereats", "uber", "deliveroo", "just eat", "doordash", "grubhub",
        "swiggy", "zomato", "instacart", "postmates", "domino's", "dominos", "pizza hut",
        "mcdonald's", "mcdonalds", "kfc", "starbucks", "lyft", "gojek",
        "getir", "gorillas", "menulog", "skip the dishes", "talabat", "glovo", "wolt",
        "foodpanda",
    ],
    "digital": [
        "netflix", "spotify", "disney+", "disney plus", "hulu", "hbo", "prime video",
        "apple music", "xbox", "playstation", "psn", "nintendo",
        "epic games", "fortnite", "roblox", "audible", "twitch", "adobe",
        "microsoft", "google play", "icloud", "dropbox", "tinder", "onlyfans", "patreon",
        "duolingo", "peloton", "canva", "chatgpt", "openai", "crunchyroll", "paramount+",
        "youtube premium",
    ],
    "travel": [
        "ryanair", "easyjet", "british airways", "lufthansa", "qantas",
        "united airlines", "american airlines", "air india", "klm",
        "air france", "jet2", "wizz air", "qatar airways", "etihad",
        "virgin atlantic", "air canada", "jetblue", "spirit airlines", "vueling", "tui",
        "booking.com", "expedia", "airbnb", "trivago", "hotels.com", "agoda",
        "tripadvisor", "skyscanner", "eurostar", "national rail", "trainline", "amtrak",
        "greyhound", "megabus", "national express", "flixbus", "tfl", "irctc",
        "deutsche bahn", "sncf", "renfe", "trenitalia", "via rail", "ns international",
        "makemytrip", "goibibo", "hertz", "avis", "enterprise rent", "europcar",
        "premier inn", "marriott", "hilton", "travelodge",
    ],
    "tickets": [
        "ticketmaster", "stubhub", "eventbrite", "live nation", "seatgeek", "viagogo",
        "axs", "see tickets", "bookmyshow", "dice.fm", "odeon", "cineworld", "vue cinema",
        "amc theatres",
    ],
    "telecom_energy": [
        "vodafone", "o2", "virgin media", "bt broadband", "sky tv", "sky broadband",
        "verizon", "at&t", "t-mobile", "comcast", "xfinity", "jio", "airtel", "telstra",
        "optus", "british gas", "octopus energy", "edf", "e.on", "eon energy",
        "thames water", "bell canada", "bsnl", "digicel", "rogers wireless", "telus",
        "spark nz", "mtn", "safaricom", "vodacom", "globe telecom", "smart prepaid",
    ],
    "bank": [
        "barclays", "barclaycard", "hsbc", "lloyds", "natwest", "santander", "wells fargo",
        "bank of america", "citibank", "monzo", "revolut", "starling",
        "halifax", "nationwide", "capital one", "western union", "moneygram",
        "coinbase", "binance", "robinhood", "sbi", "hdfc", "icici", "axis bank",
        "commonwealth bank", "anz", "westpac", "td bank", "rbc", "scotiabank",
        "n26", "venmo", "cash app", "zelle", "paytm", "phonepe", "the irs",
        "hmrc",
    ],
}

# What the shop does not sell or do, named as someone's booking, account or bill. Each is a
# pattern (case-insensitive, on word boundaries).
NOT_SOLD = {
    "event_tickets": r"(?:concert|festival|gig|match|game|football|cricket|show|theat(?:re|er)|"
                     r"cinema|movie|film|train|rail|bus|plane|flight|airline|event|museum|"
                     r"lottery|raffle|parking)\s+(?:tickets?|pass(?:es)?)|boarding pass(?:es)?|"
                     r"tickets\s+(?:for|to)\s+(?:the\s+)?(?!(?:my|your|an?|this|that|it)\b)\w+",
    # "my flight", "a flight to Delhi"; not the flight jacket or bag the shop may sell.
    "flight": r"(?:my|a|the|our|cheapest|cheap)\s+(?:\w+\s+)?flights?"
              r"(?!\s+(?:jackets?|bags?|suits?|cases?|pillows?|socks?))",
    "hotel": r"hotel\s+(?:booking|reservation)|book\s+(?:me\s+)?(?:a|the)\s+hotel",
    "subscription": r"(?:gym|phone|mobile|broadband|tv|cable|magazine|streaming)\s+"
                    r"(?:subscription|membership|contract|plan)",
    "bill": r"(?:phone|electricity|electric|gas|water|energy|internet|broadband|mobile|"
            r"utility|council tax|cable|tv|wi-?fi|heating|cell(?:phone)?)\s+bills?",
    # A phone's credit, data and SIM are its network's.
    "telecom": r"(?:top-?up|phone|mobile|airtime|prepaid)\s+credit|mobile data|"
               r"data\s+(?:plan|allowance|bundle|top-?up)|sim\s+cards?|no\s+(?:phone\s+|mobile\s+)?signal",
    # Fuel and what it costs.
    "fuel": r"petrol|diesel|(?:gas|fuel)\s+prices?",
    "banking": r"bank (?:account|balance|loan)|mortgage|exchange rates?|currency exchange|"
               r"(?:exchange|change|convert)\s+(?:my\s+|some\s+)?(?:\w+\s+)?(?:dollars?|euros?|"
               r"pounds?|rupees?|yen|pesos?)\s+(?:for|to|into)\b|e-?wallet|cash-?in|m-?pesa|gcash|"
               r"savings account|current account|credit score|bitcoin|ethereum|crypto\w*|"
               r"(?:stock|share) prices?|"
               r"(?:rupees?|dollars?|euros?|pounds?|yen|pesos?)\s+(?:to|into)\s+"
               r"(?:rupees?|dollars?|euros?|pounds?|yen|pesos?)",
    "takeaway": r"(?:takeaway|takeout|food|pizza|grocery|groceries)\s+"
                r"(?:order|delivery|delivered)|"
                # "where's my pizza": a meal on its way is a restaurant's
                r"(?:my|our|the)\s+(?:pizzas?|burgers?|kebabs?|curry|sushi|noodles|takeaway|"
                r"takeout|groceries)",
    # A card lost, stolen or blocked is its bank's business ("block my card"), unlike a
    # card that a payment to this shop was refused on.
    "card_security": r"(?:credit|debit|bank)\s+cards?\s+(?:was|were|got|has been|have been|"
                     r"is)\s+(?:stolen|lost|cloned|skimmed|compromised)|"
                     r"(?<!gift )(?<!store )(?<!greeting )(?<!birthday )cards?\s+(?:was|were|got|"
                     r"has been|have been|is)\s+(?:stolen|cloned|skimmed|compromised)|"
                     r"(?:stolen|lost|cloned)\s+(?:credit|debit|bank)\s+cards?|"
                     r"(?:stole|cloned|skimmed|hacked)\s+(?:my|our)\s+(?:credit |debit |bank )?"
                     r"cards?|"
                     r"(?:block|freeze|unblock|unfreeze)\s+my\s+(?:credit |debit |bank )?card|"
                     r"(?:credit|debit|bank)\s+cards?\s+(?:\w+\s+){0,2}blocked\b.*\bunblock|"
                     r"unblock\s+my\s+(?:credit|debit|bank)",
    # Getting somewhere: "I missed my train", "the bus was cancelled".
    "transport": r"(?:miss(?:ed)?|catch|caught|book(?:ed)?|cancel(?:led|ed)?)\s+(?:my|the|a|our)\s+"
                 r"(?:train|bus|ferry|coach|taxi|cab)|"
                 r"(?:my|the|our)\s+(?:train|bus|ferry|taxi|cab)\s+(?:was|is|got|has been)\s+"
                 r"(?:late|delayed|cancell?ed)|"
                 r"(?:my|the|our|a)\s+(?:delayed|cancell?ed|late|missed)\s+"
                 r"(?:train|bus|ferry|coach|taxi|cab)|"
                 r"(?:train|bus|ferry|taxi|cab)\s+(?:fares?|journeys?|trips?|rides?|bookings?)|"
                 r"(?:oyster|presto|opal|myki|clipper|transit|metro|travel)\s+cards?|"
                 # an airline's bags, not the bags the shop sells
                 r"(?:lost|delayed|missing)\s+(?:my\s+|our\s+|the\s+)?(?:luggage|baggage)|"
                 r"(?:luggage|baggage)\s+(?:claims?|allowance|carousel)",
    # A parcel a relative or a friend sent is not an order of the shop's.
    "personal_parcel": r"(?:package|parcel)\s+(?:that\s+)?(?:from|sent by)\s+(?:my|our)\s+"
                       r"(?:cousin|friend|mum|mom|mother|dad|father|brother|sister|aunt|auntie|"
                       r"uncle|gran|grandma|grandmother|grandpa|grandfather|nan|family|"
                       r"relatives?|parents|son|daughter|wife|husband|partner|boyfriend|"
                       r"girlfriend)(?!['’]s)",
    # Games and in-game purchases are a games service's ("a refund for a Steam game").
    "games": r"(?:video|computer|pc|console|steam|mobile|online)\s+games?|"
             r"v-?bucks|robux|fifa points|riot points|minecoins|"
             r"steam\s+(?:account|wallet|keys?|library|purchases?|refunds?)|"
             r"in-?game\s+(?:purchases?|currency|items?|coins)",
    # Papers and claims: "return" and "track" are their words too.
    "paperwork": r"tax returns?|tax refund|passport|visa application|driving licen[cs]e|"
                 r"insurance (?:claim|policy|payout)|claim (?:on )?my insurance|"
                 r"parking fine|speeding ticket",
    # Life's other errands, written with the shop's verbs ("cancel a cheque", "my pension
    # payment has not arrived", "a refund for my airtime").
    "errand": r"pensions?|cheques?|chequebook|checkbook|library books?|landlord|tenancy|"
              r"tyres|GP appointment|(?:doctor|dentist|hospital|vet)(?:'?s)? appointment|"
              r"prescriptions?|airtime|data bundle|phone top.?up|school fees|tuition fees|"
              r"parking permit|"
              # benefits and public payments
              r"centrelink|universal credit|child benefit|social security|welfare payments?|"
              r"jobseeker'?s?\s+allowance|unemployment\s+(?:benefits?|payments?)|"
              r"stimulus\s+(?:checks?|cheques?|payments?)|benefits?\s+payments?",
}

# A business nobody listed, by the shape of the sentence: a capitalised name owning an
# order ("my Takealot cart", "the Fnac order"), an order placed with a name ("my order at
# Otto") or the place something was bought ("the lamp I got from Kmart"). Capitals carry
# it, so messages in capitals or in title case are left to the list. Words that may stand
# capitalised before an order without naming anyone else are not names.
OWNED = (r"(?i:orders?|parcels?|packages?|deliver(?:y|ies)|shipments?|cart|basket|trolley|"
         r"account|subscription|booking|reservation|membership|app|store card|gift card|"
         r"voucher|points|bill|purchase|refund|balance|top-?ups?|plan|contract|fares?|loans?)")
NAME = r"((?:[A-Z][\w&'’.-]*|[A-Z]{2,})(?:\s+[A-Z][\w&'’.-]*)?)"
UNLISTED = [
    re.compile(r"\b(?:[Mm]y|[Oo]ur|[Tt]he|[Aa]n?|[Hh]is|[Hh]er|[Tt]heir)\s+" + NAME + r"\s+"
               + OWNED + r"\b"),
    re.compile(r"\b(?i:bought|ordered|purchased|got|paid for)\s+(?:\w+\s+){0,3}?"
               r"(?i:at|from)\s+" + NAME + r"(?![\w&])"),
    re.compile(r"\b" + OWNED + r"\s+(?i:at|from|with)\s+" + NAME + r"(?![\w&])"),
]
NOT_NAMES = {
    # the shop, its carriers and the ways it is paid
    "aisle", "aisle express", "parcelway", "dhl", "ups", "usps", "fedex", "royal mail",
    "hermes", "evri", "dpd", "parcelforce", "yodel", "gls", "tnt", "canada post",
    "australia post", "an post", "postnl", "la poste", "correos", "aramex", "purolator",
    "paypal", "klarna", "visa", "mastercard", "amex", "american express", "apple pay",
    "google pay", "stripe", "afterpay", "clearpay", "shop pay",
    # days, months, seasons, sales
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "christmas", "xmas", "easter", "black friday",
    "cyber monday", "boxing day", "eid", "diwali", "halloween", "valentine's",
    # capitalised for emphasis or as a heading
    "new", "last", "first", "second", "third", "recent", "latest", "previous", "online",
    "express", "standard", "priority", "gift", "big", "large", "whole", "entire", "same",
    "other", "original", "current", "birthday", "wedding", "sale", "clearance", "order",
    "this", "that", "asap", "urgent", "please", "pls", "my", "your", "i", "im", "i'm",
    "premium", "free", "next", "day", "week", "month", "today", "yesterday", "shopping",
    "guest", "customer", "member", "vip", "home", "work", "office", "uk", "us", "usa",
    "eu", "ok", "okay", "hi", "hey", "hello", "thanks",
    # the people a shopper buys for
    "mum", "mom", "mother", "dad", "father", "son", "daughter", "wife", "husband",
    "partner", "sister", "brother", "gran", "grandma", "grandad", "nan", "nana", "friend",
    "boss", "kid", "kids", "baby", "auntie", "aunt", "uncle", "cousin", "girlfriend",
    "boyfriend", "fiancé", "fiance", "fiancée", "santa", "father christmas",
}


def _unlisted_business(text: str, excluded: set) -> Optional[str]:
    words = re.findall(r"[A-Za-z][\w'’]*", text)
    if not words or text.upper() == text or \
            sum(w[0].isupper() for w in words) > 0.6 * len(words):
        return None  # capitals carry no meaning here
    for pattern in UNLISTED:
        for match in pattern.finditer(text):
            name = match.group(1).strip(" .,'’")
            parts = [name.lower()] + name.lower().split()
            if not any(p in NOT_NAMES or p in excluded or p.rstrip("'’s") in NOT_NAMES
                       for p in parts):
                return name
    return None


# What an accessories shop sells for the things it does not: "a passport holder", "bus pass
# wallet", "prescription sunglasses".
FOR_IT = (r"(?!\s+(?:holders?|wallets?|covers?|cases?|bags?|pouch(?:es)?|lanyards?|sleeves?|"
          r"organi[sz]ers?|glasses|sunglasses|lenses|frames|tags?|"
          # a print or a theme on something the shop sells: "video game t-shirt", "pizza socks"
          r"t-?shirts?|tees?|hoodies?|sweatshirts?|jumpers?|sweaters?|socks|pyjamas|pajamas|"
          r"prints?|patterns?|themed|motifs?|caps?|hats?|costumes?|onesies?))")


def _name_pattern(name: str) -> str:
    # "amazon", "amazon's" (not "canvas" for "canva"); names with punctuation ("h&m",
    # "booking.com") as written.
    return r"(?<![\w&.+])" + re.escape(name) + r"(?:['’]s)?(?![\w&+]|\.\w)"


class Finder:
    """Which other business, or thing the shop does not sell, a message names."""

    def __init__(self, exclude: Iterable[str] = ()) -> None:
        excluded = {value.strip().lower() for value in exclude}
        self.patterns: List[tuple] = []
        for kind, names in BUSINESSES.items():
            kept = sorted((n for n in names if n not in excluded), key=len, reverse=True)
            if kept:
                self.patterns.append((kind, re.compile(
                    "|".join(_name_pattern(n) for n in kept), re.IGNORECASE)))
        for kind, pattern in NOT_SOLD.items():
            self.patterns.append((kind, re.compile(r"\b(?:" + pattern + r")\b" + FOR_IT,
                                                   re.IGNORECASE)))
        self.excluded = excluded

    def find(self, text: str, skip: Iterable[str] = ()) -> Optional[Dict[str, str]]:
        """The first business or thing named, leaving out the kinds in ``skip``."""
        for kind, pattern in self.patterns:
            if kind in skip:
                continue
            match = pattern.search(text)
            if match and match.group(0).strip().lower() not in self.excluded:
                return {"kind": kind, "name": match.group(0).strip()}
        return None

    def find_unlisted(self, text: str) -> Optional[Dict[str, str]]:
        name = _unlisted_business(text, self.excluded)
        return {"kind": "unlisted", "name": name} if name else None


# A search names another shop only as the place: "does Zara have linen trousers", "the
# jacket I saw at Uniqlo", "is it cheaper on Amazon". "Something like the Zara trousers" is
# a search of this shop's catalog.
def _as_place(text: str, name: str) -> bool:
    name = re.escape(name)
    return bool(re.search(rf"\b(?:at|from|on|in|to)\s+{name}\b|\b{name}(?:'s)?\s+"
                          rf"(?:has|have|had|sells?|sold|stocks?|carr(?:y|ies))\b",
                          text, re.IGNORECASE))


def out_of_scope_reason(finder: Finder, intent: str, text: str) -> Optional[Dict[str, str]]:
    """What makes a message whose predicted skill is ``intent`` another business's, or None."""
    if intent not in ORDER_SKILLS and intent not in SEARCH_SKILLS:
        return None
    # A bank named about a payment is left alone, but not what else the message names ("my
    # tax refund from the IRS": the tax refund).
    skip = BANKING if intent in PAYMENT_SKILLS else ()
    found = finder.find(text, skip)
    if not found and intent in ORDER_SKILLS and not finder.find(text):
        found = finder.find_unlisted(text)
    if not found:
        return None
    if intent in SEARCH_SKILLS and found["kind"] in BUSINESSES and \
            not _as_place(text, found["name"]):
        return None
    return found


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
                          is_trainable=True)
class OtherBusinessGuard(GraphComponent):
    """Turns the shop's transactions into ``out_of_scope`` for another business's orders."""

    FILE = "excluded.json"

    def __init__(self, model_storage: ModelStorage, resource: Resource,
                 excluded: Iterable[str] = ()) -> None:
        self._storage, self._resource = model_storage, resource
        self.finder = Finder(excluded)

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "OtherBusinessGuard":
        return cls(model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "OtherBusinessGuard":
        try:
            with model_storage.read_from(resource) as directory:
                excluded = json.loads((directory / cls.FILE).read_text())
        except (ValueError, FileNotFoundError):
            excluded = []
        return cls(model_storage, resource, excluded)

    def train(self, training_data: TrainingData) -> Resource:
        """Keeps the catalog's own words (its lookup tables) off the list of other businesses."""
        excluded = sorted({str(value).strip().lower()
                           for table in training_data.lookup_tables
                           for value in table.get("elements", [])
                           if isinstance(value, str)})
        with self._storage.write_to(self._resource) as directory:
            (directory / self.FILE).write_text(json.dumps(excluded))
        self.finder = Finder(excluded)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text, intent = message.get(TEXT), message.get(INTENT) or {}
            if not text or not intent.get("name"):
                continue
            reason = out_of_scope_reason(self.finder, intent["name"], text)
            if reason is None:
                continue
            # The rule is sure: out_of_scope takes the whole confidence (so the fallback's
            # ambiguity check leaves it be); the classifier's order follows at zero, and
            # what it had predicted is kept beside the reason.
            ranking = [{"name": r["name"], "confidence": 0.0}
                       for r in message.get("intent_ranking") or []
                       if r.get("name") != OUT_OF_SCOPE]
            top = {"name": OUT_OF_SCOPE, "confidence": 1.0}
            message.set(INTENT, top, add_to_output=True)
            message.set("intent_ranking", [top] + ranking, add_to_output=True)
            message.set("other_business", {**reason, "instead_of": intent["name"]},
                        add_to_output=True)
        return messages
