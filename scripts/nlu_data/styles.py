"""Phrasings composed from parts, for the ways shoppers write that the hand-written lists in
faq.py, service.py and shopping.py under-represent (issue 14):

- synonyms per concept (a refund is also a reimbursement, money back, a chargeback; an order
  is also a parcel, a package, a delivery, a purchase);
- procedural framings around a task ("how do I ...", "where can I ...", "what do I need to
  do to ...", "could you ask an agent how I can ...", "I want assistance to ...");
- registers: polite and formal, curt, angry, profane (censored and not);
- out-of-scope messages that look like the shop's tasks but are about someone else's
  orders, tickets, events or products ("refund my concert tickets", "track my Amazon
  package"): without them, any "refund" or "track" goes to a transaction skill.

Each intent has TASKS: what the shopper wants done, as a verb phrase after "to" ("get
{refund}", "check the delivery options"), and, for the curt and angry registers, NOUNS:
what they would type alone ("refund now"). `sentences()` draws framing x task x register
combinations (seeded); words in braces are synonym tables below or entity slots
(vocab.Fillers: {order}, {pt}, ...). The texting shorthand and typos are applied later, by
the generator's noise.

Keep tables short and plain: every entry should be something a shopper would write, and a
reviewer should be able to read a table and say which intent it teaches.
"""

from __future__ import annotations

import random
import re

# ------------------------------------------------------------------------------------------
# Synonym tables per concept.

SYNONYMS = {
    "refund": ["a refund", "a reimbursement", "my money back", "a full refund",
               "a refund on my order", "reimbursed", "refunded", "the money back",
               "a refund to my card", "my money returned"],
    "order": ["order", "parcel", "package", "delivery", "shipment", "purchase", "stuff",
              "items", "item", "things I bought", "goods"],
    "customer_service": ["customer service", "client service", "customer support",
                         "the support team", "customer care", "your helpdesk", "support",
                         "your service department", "the customer team"],
    "delivery_options": ["the delivery options", "the shipping options",
                         "the delivery methods", "the shipping methods", "the options for delivery",
                         "the delivery modalities", "the ways you deliver",
                         "the available delivery types"],
    "delivery_time": ["how long delivery takes", "how long shipping takes",
                      "the delivery times", "the shipping times", "the delivery estimate",
                      "how many days delivery takes", "the delivery lead time",
                      "when deliveries usually arrive"],
    "payment_methods": ["the payment methods", "the payment options", "the payment modalities",
                        "the accepted payment methods", "which ways I can pay",
                        "the forms of payment you take", "the means of payment",
                        "the payment types", "which cards you take"],
    "return_policy": ["the return policy", "the returns policy", "the refund policy",
                      "your conditions for returns", "the rules for sending things back",
                      "the returns conditions", "the terms for refunds",
                      "the return period", "your money-back guarantee"],
    "complaint": ["a complaint", "a reclamation", "a formal complaint", "a grievance",
                  "a claim", "a complaint about my order", "a claim for a faulty product"],
    "shipping_cost": ["the shipping costs", "the delivery charges", "the postage fees",
                      "what delivery costs", "the shipping fees", "the delivery prices"],
    "contact_way": ["a phone number", "an e-mail address", "a contact number",
                    "a hotline", "a support e-mail", "a number to call", "a helpline"],
    # Someone else's orders, bookings and accounts (out of scope, whatever the verb).
    "other_booking": ["concert tickets", "festival tickets", "train ticket", "flight",
                      "hotel booking", "theatre tickets", "football tickets", "cinema tickets",
                      "gym membership", "Netflix subscription", "phone contract",
                      "car rental", "Airbnb booking", "Uber ride", "takeaway order",
                      "pizza delivery", "Amazon order", "eBay purchase", "insurance policy",
                      "electricity bill", "parking fine", "plane tickets", "bus pass",
                      "Spotify account", "Deliveroo order", "holiday package",
                      "museum tickets", "Ticketmaster order", "phone bill"],
    "event": ["the concert", "the festival", "the match", "the gig", "the show tonight",
              "the game on Sunday", "the exhibition", "the marathon", "the comedy night",
              "the Taylor Swift tour", "the premiere", "the fireworks", "the opera"],
    "other_product": ["laptops", "a PS5", "iPhones", "car parts", "groceries", "medicine",
                      "sofas", "phone repairs", "used cars", "fridges", "TVs", "tickets",
                      "event tickets", "concert tickets", "lottery tickets", "pet food",
                      "flights", "train tickets", "cigarettes", "alcohol", "printer ink",
                      "video games", "mobile phones", "gaming consoles", "insurance"],
    "other_company": ["Amazon", "Ticketmaster", "my airline", "my bank", "Netflix", "Uber",
                      "the post office", "the council", "my landlord", "the cinema",
                      "eBay", "my phone provider", "the train company", "the hotel"],
}

# ------------------------------------------------------------------------------------------
# Framings of a task (a verb phrase after "to").

PROCEDURAL = [
    "how do I {task}", "how can I {task}", "where can I {task}", "where do I {task}",
    "what do I need to do to {task}", "what do I have to do to {task}",
    "could you ask an agent how I can {task}", "could you ask someone how to {task}",
    "I want assistance to {task}", "I need assistance to {task}", "I need help to {task}",
    "could you help me {task}", "can you help me {task}", "help me {task}",
    "I'd like to {task}", "I want to {task}", "I need to {task}", "I wanna {task}",
    "is it possible to {task}", "is there a way to {task}", "I would like to know how to {task}",
    "please tell me how to {task}", "what's the procedure to {task}",
    "what are the steps to {task}", "I'm trying to {task}", "how would I {task}",
    "can I {task}", "tell me how I can {task}", "any idea how I {task}",
    "who do I talk to to {task}", "what's the easiest way to {task}",
]
POLITE = [
    "Hello, {s}", "Good afternoon, {s}.", "Dear support team, {s}.", "{s}, thank you in advance",
    "Hi there, {s}?", "{s}. Many thanks.", "Excuse me, {s}", "Kind regards, {s}",
    "I hope you can help: {s}", "{s}, if that's not too much trouble",
    "Good morning. {s}, please.", "Could you please let me know: {s}",
]
ANGRY = [
    "{s}!!!", "{s}, this is ridiculous", "seriously, {s}", "{s}. I'm fed up",
    "for the third time, {s}", "{s}?? answer me", "I'm so done with this. {s}",
    "{s} NOW", "this is a joke. {s}", "ugh {s}", "{s}, I've been waiting forever",
    "{s} and don't give me the runaround",
]
PROFANE = [
    "{s}, damn it", "wtf {s}", "{s} ffs", "{s} for f***'s sake", "{s}, bloody hell",
    "what the hell, {s}", "{s}, this is bullshit", "omfg {s}", "{s} ffs!!", "{s} goddammit",
    "{s}, for fuck's sake", "hell, {s}", "{s}, wtf",
]
CURT = ["{n}", "{n} now", "{n}.", "{n} pls", "{n}!", "{n}?", "just {n}", "{n} asap",
        "{n}, quick"]


# ------------------------------------------------------------------------------------------
# Per intent: TASKS (verb phrases) and NOUNS (what a curt message says).

TASKS = {
    "request_refund": [
        "get {refund}", "request {refund}", "ask for {refund}", "claim {refund}",
        "get {refund} for my {order}", "get {refund} for order {order_number}",
        "get {refund} for the {pt}", "be refunded for my {order}", "be reimbursed",
        "get reimbursed for the {pt}", "apply for {refund}", "have my money refunded",
        "get my money back for order {order_number}", "start a refund",
        "open a refund request", "get compensated for my {order}",
    ],
    "refund_status": [
        "check the status of my refund", "see if my refund went through",
        "find out when my reimbursement arrives", "check on my money back",
        "track my refund", "know when I'll see the money from my return",
        "check whether my reimbursement was processed",
        "find out where the refund for order {order_number} is",
    ],
    "request_return": [
        "return {a_item}", "send back {a_item}", "send the {pt} back",
        "return my {order}", "ship back the {pt}", "get a return label",
        "start a return for order {order_number}", "send back what I bought",
        "return part of my {order}", "get an RMA number",
    ],
    "request_exchange": [
        "exchange the {pt} for another size", "swap {a_item} for a different colour",
        "change the size of the {pt} I bought", "exchange {a_item}",
        "trade in the {pt} for a {size}", "get the {pt} in another size",
    ],
    "cancel_order": [
        "cancel my {order}", "cancel order {order_number}", "call off my {order}",
        "stop my {order} from shipping", "cancel what I just bought", "annul my {order}",
        "withdraw my {order}", "cancel the purchase I made", "cancel my {order} before it ships",
    ],
    "track_order": [
        "track my {order}", "check where my {order} is", "find out when my {order} arrives",
        "see the status of my {order}", "check on order {order_number}",
        "know when my {pt} will arrive", "find my {order}", "get the tracking number",
        "follow my {order}", "locate my {order}", "check the delivery status of my {order}",
        "see when my {order} gets here",
    ],
    "complaint": [
        "file {complaint}", "make {complaint}", "lodge {complaint}", "submit {complaint}",
        "raise {complaint}", "report a faulty {pt1}", "complain about the courier",
        "complain about my {order}", "report damaged goods", "register {complaint}",
    ],
    "ask_contact": [
        "contact {customer_service}", "reach {customer_service}", "call {customer_service}",
        "get in touch with {customer_service}", "e-mail {customer_service}",
        "find {contact_way} for {customer_service}", "get {contact_way}",
        "ring your support line", "write to {customer_service}",
        "find out when {customer_service} is available",
        "know the opening hours of {customer_service}",
        "find out what hours I can call", "reach a person at your company by phone",
    ],
    "human_handoff": [
        "speak to a human", "talk to a real person", "be put through to {customer_service}",
        "chat with a live agent", "be transferred to a person",
    ],
    "faq/shipping_times": [
        "check {delivery_options}", "see {delivery_options}", "find out {delivery_time}",
        "know {delivery_time}", "look up {delivery_time}", "compare {delivery_options}",
        "find out {delivery_options}", "see {delivery_time} to my country",
    ],
    "faq/shipping_costs": [
        "check {shipping_cost}", "find out {shipping_cost}", "see {shipping_cost}",
        "know {shipping_cost} for express", "get free delivery",
    ],
    "faq/payment_methods": [
        "see {payment_methods}", "check {payment_methods}", "find out {payment_methods}",
        "know {payment_methods}", "pay with PayPal", "pay by bank transfer",
        "pay with Apple Pay", "pay cash on delivery", "pay in instalments",
        "look up {payment_methods}",
    ],
    "faq/returns_policy": [
        "read {return_policy}", "check {return_policy}", "find {return_policy}",
        "understand {return_policy}", "see {return_policy}", "know {return_policy}",
    ],
    "faq/order_change": [
        "change the address on my order", "edit an order I placed", "modify my order after paying",
        "add something to an order I already placed", "update the delivery address",
    ],
    "view_cart": [
        "see my cart", "check my basket", "view my shopping cart", "look at my basket",
        "see what's in my cart",
    ],
    "checkout": [
        "check out", "complete my purchase", "pay for what's in my cart",
        "finish my order", "place my order", "proceed to payment",
    ],
    "apply_promo_code": [
        "use a promo code", "apply {code}", "redeem a voucher", "use my discount code",
        "enter a coupon", "apply a discount to my basket",
    ],
    "search_products": [
        "find {pt}", "buy {pt}", "look for {color} {pt}", "get {a_pt}", "shop for {pt}",
        "see your {pt}", "browse {pt} under {max}",
    ],
}

NOUNS = {
    "request_refund": ["refund", "my money back", "refund me", "money back", "reimbursement",
                       "refund my order", "I want a refund", "full refund", "give me a refund",
                       "refund for {order_number}"],
    "track_order": ["where's my {order}", "{order} status", "tracking", "where is my {order}",
                    "my {order} where", "eta?"],
    "complaint": ["complaint", "I want to complain", "this {pt1} is broken",
                  "terrible quality", "awful service"],
    "ask_contact": ["phone number", "your number", "support email", "contact number",
                    "customer service hours", "hotline", "helpline number",
                    "support phone number"],
    "faq/payment_methods": ["payment methods", "payment options", "ways to pay",
                            "accepted payments", "paypal or card"],
    "faq/shipping_times": ["delivery options", "shipping options", "delivery times",
                           "shipping methods", "delivery time"],
    "faq/returns_policy": ["return policy", "refund policy", "returns conditions"],
    "cancel_order": ["cancel my {order}", "cancel it", "cancel order {order_number}"],
    "human_handoff": ["human", "real person", "agent", "a person"],
    "search_products": ["{pt}", "{color} {pt}", "got {pt}", "any {pt}"],
    "checkout": ["checkout", "let me pay"],
}

# Out of scope: someone else's orders and events, and products the shop doesn't sell.
OUT_OF_SCOPE = [
    "refund my {other_booking}", "how do I get a refund for my {other_booking}",
    "I want my money back for my {other_booking}", "cancel my {other_booking}",
    "I need to cancel my {other_booking}", "track my {other_booking}",
    "where is my {other_booking}", "change my {other_booking}",
    "can I return my {other_booking}", "complain about my {other_booking}",
    "my {other_booking} is late", "book {other_booking}", "I lost my {other_booking}",
    "tickets for {event}", "do you have tickets for {event}", "when does {event} start",
    "is {event} sold out", "who's playing at {event}", "is {event} still on",
    "where is {event} happening", "how much are tickets to {event}",
    "can I get a refund for {event}", "{event} got cancelled, can I get my money back",
    "do you sell {other_product}", "can I buy {other_product} here", "got any {other_product}",
    "I want to buy {other_product}", "how much are {other_product}",
    "complain to {other_company}", "how do I contact {other_company}",
    "what's the phone number for {other_company}", "I want a refund from {other_company}",
    "{other_company} charged me twice", "cancel my account with {other_company}",
    "track a parcel from {other_company}", "{other_company} lost my package",
]


def _draw(table: str, rng: random.Random) -> str:
    return rng.choice(SYNONYMS[table])


ENTITY_SLOTS = {"order_number": "{order}", "pt": "{pt}", "pt1": "{pt1}", "color": "{color}",
                "size": "{size}", "code": "{code}", "max": "{max}"}


def _expand(text: str, rng: random.Random) -> str:
    """Synonym tables filled in; entity slots are handed to the generator's fillers."""
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name in SYNONYMS:
            return _draw(name, rng)
        if name in ENTITY_SLOTS:
            return ENTITY_SLOTS[name]
        if name == "a_item":
            return rng.choice(["an item", "a product", "the {pt}", "my {pt}", "something"])
        if name == "a_pt":
            return "a {pt1}"
        raise KeyError(f"unknown table or slot {{{name}}} in {text!r}")
    return re.sub(r"\{(\w+)\}", one, text)


def sentences(intent: str, count: int, rng: random.Random) -> list[str]:
    """``count`` composed templates for ``intent`` (entity slots still to fill)."""
    if intent == "out_of_scope":
        return [_expand(rng.choice(OUT_OF_SCOPE), rng) for _ in range(count)]
    tasks, nouns = TASKS.get(intent, []), NOUNS.get(intent, [])
    out = []
    for _ in range(count):
        roll = rng.random()
        if nouns and (roll < 0.15 or not tasks):
            text = rng.choice(CURT).replace("{n}", rng.choice(nouns))
        else:
            text = rng.choice(PROCEDURAL).replace("{task}", rng.choice(tasks))
            register = rng.random()
            if register < 0.2:
                text = rng.choice(POLITE).replace("{s}", text)
            elif register < 0.3:
                text = rng.choice(ANGRY).replace("{s}", text)
            elif register < 0.4:
                text = rng.choice(PROFANE).replace("{s}", text)
        out.append(_expand(text, rng))
    return out


# Composed sentences per intent (in addition to the hand-written phrasings and their
# variants). More where the hand-written lists were thin or a concept has many words.
COUNTS = {
    "request_refund": 220, "refund_status": 60, "request_return": 60, "request_exchange": 30,
    "cancel_order": 70, "track_order": 110, "complaint": 80, "ask_contact": 180,
    "human_handoff": 40, "faq/shipping_times": 90, "faq/shipping_costs": 45,
    "faq/payment_methods": 110, "faq/returns_policy": 70, "faq/order_change": 30,
    "view_cart": 30, "checkout": 35, "apply_promo_code": 30, "search_products": 90,
    "out_of_scope": 320,
}
