"""Which messages the guard takes from the shop's skills (bot/nlu/other_business.py): another
business's orders and bookings, and nothing a shopper of this shop would write about its own
orders, payments and products."""

from __future__ import annotations

import pytest

from bot.nlu.other_business import Finder, out_of_scope_reason

FINDER = Finder(exclude=["Mango", "Acme"])  # brands the catalog sells


@pytest.mark.parametrize("intent, text, kind, name", [
    ("track_order", "track my amazon parcel 113-4567890-1234567", "retailer", "amazon"),
    ("track_order", "AMAZON'S delivery is late, where's my stuff", "retailer", "AMAZON'S"),
    ("request_return", "I want to return the kettle I bought at Argos", "retailer", "Argos"),
    ("cancel_order", "cancel my Deliveroo order", "delivery_app", "Deliveroo"),
    ("request_refund", "refund my Ryanair flight pls", "travel", "Ryanair"),
    ("add_to_cart", "add two Coldplay concert tickets to my cart", "event_tickets",
     "concert tickets"),
    ("cancel_order", "I want to cancel my gym membership", "subscription", "gym membership"),
    ("request_exchange", "what's the exchange rate from rupees to dollars", "banking",
     "exchange rate"),
    ("cancel_order", "cancel my Barclays card", "bank", "Barclays"),
    ("search_products", "do you know if Zara has the linen trousers back in stock",
     "retailer", "Zara"),
    ("search_cheaper", "is it cheaper at H&M", "retailer", "H&M"),
    ("search_cheaper", "whats the cheapest flight from london to delhi", "flight",
     "the cheapest flight"),
    ("complaint", "my phone bill is way too high", "bill", "phone bill"),
    ("request_return", "can you do my tax return", "paperwork", "tax return"),
    ("track_order", "track my passport application", "paperwork", "passport"),
    ("cancel_order", "how do I cancel a cheque", "errand", "cheque"),
    # A meal, a bank card, a journey and a game are other businesses' too.
    ("track_order", "my burgers still haven't turned up after 50 minutes", "takeaway",
     "my burgers"),
    ("request_payment_link", "someone cloned my debit card, please block it", "card_security",
     "cloned my debit card"),
    ("checkout", "my credit card got lost on holiday", "card_security",
     "credit card got lost"),
    ("complaint", "my bank card got blocked again, unblock it now", "card_security",
     "bank card got blocked again, unblock"),
    ("refund_status", "do I get my money back if I missed the bus", "transport",
     "missed the bus"),
    ("complaint", "my train was delayed two hours", "transport", "my train was delayed"),
    ("request_refund", "refund for a video game I bought by mistake", "games", "video game"),
    ("request_refund", "my kid spent 40 quid on in-game coins", "games", "in-game coins"),
    # A bank named beside something else that is not the shop's: the other thing counts.
    ("refund_status", "has HMRC sent my tax refund yet", "paperwork", "tax refund"),
    ("checkout", "my Monzo card was stolen last night", "card_security", "card was stolen"),
    ("refund_status", "can I claim for my cancelled train", "transport", "my cancelled train"),
    ("track_order", "the parcel from my aunt in Lisbon never arrived", "personal_parcel",
     "parcel from my aunt"),
    ("complaint", "the airport lost my baggage on the way home", "transport", "lost my baggage"),
    ("complaint", "my oyster card charged me twice", "transport", "oyster card"),
    ("request_refund", "my son bought robux with my card, refund it", "games", "robux"),
    ("complaint", "my cable bill went up again", "bill", "cable bill"),
    ("complaint", "I paid for a data bundle and have no data", "telecom", "data bundle"),
    ("search_cheaper", "where is diesel cheapest near me", "fuel", "diesel"),
    ("request_exchange", "can I change my pounds for euros here", "banking",
     "change my pounds for"),
    ("request_payment_link", "my universal credit payment is late", "errand",
     "universal credit"),
    # Names on no list, by the sentence's shape: a capitalised name owning an order, or the
    # place it was bought.
    ("checkout", "My Takealot cart won't let me check out", "unlisted", "Takealot"),
    ("request_return", "can I return the lamp I got from Kmartz", "unlisted", "Kmartz"),
    ("track_order", "where is the Zalora parcel", "unlisted", "Zalora"),
    ("cancel_order", "cancel my order with Fnacc please", "unlisted", "Fnacc"),
    ("complaint", "my Telkomz balance vanished overnight", "unlisted", "Telkomz"),
    ("cancel_order", "how do I cancel my Zongo contract", "unlisted", "Zongo"),
])
def test_another_business_is_named(intent, text, kind, name):
    assert out_of_scope_reason(FINDER, intent, text) == {"kind": kind, "name": name}


@pytest.mark.parametrize("intent, text", [
    # The shop's own orders, whoever carries or pays for them.
    ("track_order", "DHL says my parcel is late"),
    ("track_order", "the Royal Mail tracking hasn't moved in days"),
    ("complaint", "PayPal charged me twice for one order"),
    ("complaint", "my HSBC statement shows two payments from you"),
    ("refund_status", "the refund isn't on my Barclays card yet"),
    ("checkout", "can I pay by bank transfer"),
    # Brands the catalog sells, and a shop named only as a comparison for a search.
    ("request_return", "return my Mango dress"),
    ("search_products", "something like the Zara linen trousers"),
    ("search_products", "hoodies like the ones at Acme"),
    # Words that look like another business's and are not.
    ("request_return", "return my flight jacket"),
    ("add_to_cart", "add the passport holder to my cart"),
    ("request_return", "I want to return my prescription sunglasses"),
    ("track_order", "where is the bus pass wallet I ordered"),
    ("complaint", "I opened a ticket for this and nobody answered"),
    ("add_to_cart", "I saw it on instagram, add it to my cart"),
    ("checkout", "deliver it to my hotel please"),
    ("search_products", "anything in indigo"),
    ("request_refund", "i want a refund for the canvas totes"),  # not Canva
    ("track_order", "where is my order"),
    ("track_order", "where's my Mum's order"),
    ("track_order", "is my Black Friday order on the way"),
    ("track_order", "my Next Day delivery is late"),
    ("track_order", "where is my Acme order"),  # a brand the catalog sells
    ("checkout", "my Aisle account won't let me pay"),  # the shop itself
    ("complaint", "I ordered from Aisle and it arrived broken"),
    ("track_order", "my order from Monday hasn't come"),
    ("cancel_order", "cancel my order with Express delivery"),
    ("request_return", "I want to return the jacket I bought from you last week"),
    ("track_order", "has my DHL parcel shipped"),
    # A card the shop's payment was refused on, a gift card, a print on a shirt.
    ("checkout", "my card was declined at checkout"),
    ("request_refund", "the gift card was lost in the post"),
    ("complaint", "the birthday card was lost from the gift box"),
    ("add_to_cart", "add the video game t-shirt in M"),
    ("search_products", "pizza socks for my brother"),
    ("track_order", "my parcel is on the delivery van"),
    ("track_order", "where is the parcel from my mum's order"),
    ("complaint", "the suitcase I ordered arrived with a broken wheel"),
    ("request_exchange", "can I exchange the travel wallet for the blue one"),
    ("checkout", "can I pay in euros"),
    ("complaint", "the tracking page shows no data for my order"),
    ("apply_promo_code", "does my Premium plan give me free delivery"),
    ("view_cart", "what's my Aisle balance"),
    ("refund_status", "the refund isn't on my Monzo card yet"),
    ("request_return", "I want to return the train case"),
    # Capitals carry nothing in a shouted or title-case message.
    ("track_order", "WHERE IS MY ORDER DELIVERY"),
    ("track_order", "Where Is My Parcel From Last Week"),
])
def test_the_shops_own_business_is_left_alone(intent, text):
    assert out_of_scope_reason(FINDER, intent, text) is None


def test_only_the_shops_transactions_and_lookups_are_guarded():
    # Small talk, FAQs and the fallback already answer without starting anything.
    for intent in ("greet", "faq", "chitchat", "nlu_fallback", "human_handoff"):
        assert out_of_scope_reason(FINDER, intent, "my Amazon parcel is late") is None


def test_no_training_phrasing_of_the_shops_skills_is_taken_away():
    """Over the whole training data (about 11,000 phrasings), the rule takes none of the
    shop's own transactions and lookups, with the catalog's lookup values excluded as at
    training time."""
    import re
    from pathlib import Path

    import yaml

    data = Path(__file__).resolve().parents[2] / "data"
    lookups = [line[2:].strip()
               for path in sorted((data / "lookups").glob("*.yml"))
               for block in yaml.safe_load(path.read_text())["nlu"]
               for line in block["examples"].splitlines() if line.startswith("- ")]
    finder = Finder(lookups)
    annotation = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
    phrasings, taken = 0, []
    for path in sorted((data / "nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text())["nlu"]:
            for line in (block.get("examples") or "").splitlines():
                line = line.strip()
                if "intent" in block and line.startswith("- "):
                    text = annotation.sub(r"\1", line[2:])
                    phrasings += 1
                    if out_of_scope_reason(finder, block["intent"], text):
                        taken.append((block["intent"], text))
    assert phrasings > 5000
    assert taken == []
