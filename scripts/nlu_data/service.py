"""Core, orders and after-sales examples."""

GREET = [
    "hi", "hello", "hey", "hey there", "hi there", "hello there", "good morning",
    "good afternoon", "good evening", "morning", "evening", "hiya", "howdy", "yo", "sup",
    "heya", "helo", "hellooo", "hii", "hiii", "hey hey", "greetings", "hi!", "hello :)",
    "hey 👋", "👋", "hi aisle", "hello aisle", "hey bot", "hi shop", "hello anyone there?",
    "is anyone there?", "hello, I need some help",
    "hey, quick question", "good day", "g'day", "hallo", "bonjour", "hola", "ciao",
    "hi hi", "oi", "hey you", "hello friend", "wassup",
    "what's up", "hey, just browsing", "hi team", "hello, anybody home?", "start",
    "get started", "/start",
    "hi, just wondering something", "good morning to you",
    # formal openings
    "Good day to you", "Dear Aisle team", "Hello, I would like some assistance",
    "Greetings, I have a query", "Good evening, I hope you are well", "To whom it may concern",
    # greetings with a pleasantry (a statement; "how are you?" is small talk)
    "hello, hope you're doing well", "morning! hope your day is going well", "hi, hope all is good", "well hi", "hey folks", "hi again", "hello, I'm new here", "hey, I have a question",
]

GOODBYE = [
    "bye", "goodbye", "bye bye", "see you", "see ya", "cya", "later", "laters",
    "talk to you later", "ttyl", "good night", "night", "I'm off", "gotta go", "g2g",
    "have a nice day", "have a good one", "that's all for today, bye", "ok bye",
    "thanks, bye", "cheers, bye", "farewell", "catch you later", "bye for now",
    "see you soon", "take care", "I'm leaving", "signing off", "end chat", "end",
    "close the chat", "we're done here, bye", "bye!", "byeee", "buh bye", "adios",
    "au revoir", "ciao for now", "peace out", "ok I'm done, goodbye",
    "nothing else, bye", "that's it, see ya", "👋 bye", "gn", "nite",
    "I'm heading off now", "that's me done",
    "That is all, goodbye", "Kind regards, goodbye", "I will be going now", "talk later",
    "peace", "alright I'm off, cya", "ok that's everything, goodbye", "speak soon", "cheerio", "see you around", "I'll leave it there", "all done, bye",
]

THANK = [
    "thanks", "thank you", "thx", "ty", "thanks a lot", "thank you so much",
    "many thanks", "cheers", "much appreciated", "appreciate it", "thanks for the help",
    "thank you, that helps", "great, thanks", "perfect, thank you", "awesome thanks",
    "thanks mate", "ta", "tysm", "thank u", "thnx", "thanx", "tnx", "thankyou",
    "thanks!!", "thank you 🙏", "🙏", "cheers mate", "brilliant, cheers", "lovely, thanks",
    "that's helpful, thanks", "you've been very helpful", "thanks a bunch", "thanks heaps",
    "you're a star, thanks", "nice one, thanks", "ok thanks", "okay thank you",
    "thank you very much", "grateful for your help",
    "Thank you for your assistance", "I am most grateful", "thanks so much for helping",
    "cheers for that", "thank you kindly", "big thanks", "thanks heaps for sorting it", "merci", "gracias", "danke",
]

AFFIRM = [
    "yes", "yeah", "yep", "yup", "sure", "of course", "definitely", "absolutely",
    "ok", "okay", "okey", "k", "kk", "fine", "alright", "all right", "sounds good",
    "that's right", "correct", "right", "exactly", "yes please", "yes, please",
    "please do", "do it", "go ahead", "go for it", "sure thing", "why not", "i guess so",
    "yes that's correct", "that's correct", "that is right", "confirm", "confirmed",
    "I confirm", "yes confirm", "looks good", "looks right", "all good", "perfect",
    "great", "cool", "nice", "yea", "ya", "yas", "ye", "yess", "yesss", "yeh", "yah",
    "si", "oui", "ja", "👍", "✅", "👌", "indeed", "certainly", "affirmative",
    "yes I do", "yes I am", "yes it is", "yes, that one", "uh huh", "mhm", "yep yep",
    "yeah sure", "ok sure", "sure why not", "sounds great", "that works", "works for me",
    "deal", "let's do it", "I agree", "agreed", "yes, go on", "yes send it",
    "yes that's the one", "yes, exactly",
    "Yes, please go ahead", "Indeed, please proceed", "yes, that's fine by me", "yessir",
    "totally", "you bet", "yes, I confirm that", "That is accurate", "correct, yes", "yeah go on", "go on then", "fine by me", "yep that's perfect",
]

DENY = [
    "no", "nope", "nah", "no thanks", "no thank you", "not really", "not now", "no way",
    "never", "I don't think so", "don't think so", "not at all", "negative",
    "that's wrong", "that's not right", "incorrect", "wrong", "not correct",
    "no that's not it", "no, something else", "not that one", "no, not that",
    "nope, wrong", "no it isn't", "no it's not", "no I don't", "not interested",
    "I'd rather not", "rather not", "no need", "no, I'm good", "I'm good thanks",
    "no I'm fine", "nah I'm good", "na", "noo", "nooo", "nö", "non", "👎", "❌",
    "absolutely not", "definitely not", "certainly not", "nah mate", "not yet",
    "maybe later", "not today", "no, that's all", "no more", "that's not what I meant",
    "no, the other one", "not quite", "hmm no", "no sorry", "sorry no",
    "I don't want that", "don't want it",
    "No, thank you", "I would rather not", "nah bro", "no, that's incorrect", "hell nah",
    "No, I do not", "nope nope", "not for me, thanks", "no, keep it as it is", "don't change it",
]

STOP = [
    "stop", "cancel", "cancel that", "forget it", "never mind", "nevermind", "nvm",
    "quit", "exit", "abort", "stop this", "stop it", "stop asking", "I want to stop",
    "let's stop here", "leave it", "drop it", "skip it", "skip this", "forget about it",
    "I changed my mind", "changed my mind", "not anymore", "I don't want to continue",
    "don't want to do this anymore", "stop the form", "get me out of here",
    "enough", "enough questions", "cancel this process", "can we stop", "halt",
    "back", "go back", "start over", "restart", "reset", "let's start again",
    "scrap that", "scratch that", "forget everything", "I'll do it later",
    "not now, stop", "stahp", "stopp", "cancle", "cancel pls", "nevermind lol",
    "ugh forget it", "forget it, i'll do it myself", "let's do something else",
    "i want to do something else", "stop, I want to ask something else",
    "let's just leave it", "please cancel this",
    "I wish to stop here", "I'd like to end this process", "forget the entire thing",
    "I do not want to continue", "let's drop the whole thing", "stop this now", "cancel this", "drop this", "quit this", "I don't want to carry on", "stop here please", "forget the whole thing",
]

HUMAN_HANDOFF = [
    "I want to talk to a human", "talk to a person", "human please", "real person please",
    "can I speak to someone", "let me speak to an agent", "agent", "agent please",
    "connect me to customer service", "customer service", "customer support",
    "speak to a human", "I need a human", "is there a real person", "are there humans here",
    "get me a manager", "I want a manager", "put me through to someone",
    "transfer me to an agent", "live chat", "live agent", "operator", "representative",
    "talk to support", "I'd like to talk to your support team", "contact support",
    "can a person help me", "I need to speak with somebody", "let me talk to staff",
    "staff please", "human", "a human", "hooman pls", "humn", "talk to a real human",
    "I don't want to talk to a bot", "stop the bot, get me a person", "no bot, a person",
    "this bot is useless, human please", "can someone from the team help",
    "I need help from a real person", "escalate", "escalate this", "please escalate",
    "call me", "can someone call me", "I want to speak to someone on the phone",
    "hand me over to a person", "transfer to human", "human agent", "real agent",
    "speak to customer care", "customer care please", "support agent please",
    "can I chat with a person", "member of staff please", "someone from your team please", "an actual person please", "real agent please", "let me talk to someone from customer service",
]

OUT_OF_SCOPE = [
    "what's the capital of France", "who won the football last night", "book me a flight",
    "order a pizza", "can you do my homework", "what's 2 plus 2", "solve this equation",
    "tell me the news", "what's the stock price of apple", "play some music",
    "set an alarm for 7am", "call my mom", "how do I fix my car", "translate this to german",
    "write me a poem", "what's the meaning of life", "how tall is mount everest",
    "recommend a good movie", "what should I cook tonight", "how do I lose weight",
    "can you hack my ex's instagram", "book a table for two", "what time is it in tokyo",
    "how do I install python", "who is the president", "give me a recipe for lasagna",
    "do you sell cars", "do you sell iphones", "I want to buy a laptop", "sell me a tv",
    "do you have groceries", "can I buy medicine here", "I need a plumber",
    "do you do car insurance", "can I rent a bike from you", "are you hiring",
    "I want to apply for a job", "how do I become a seller on your site",
    "wholesale prices for 1000 units", "can I invest in your company",
    "what's your opinion on politics", "explain quantum physics", "asdfghjkl", "qwerty",
    "blah blah", "hmm", "lorem ipsum", "banana", "purple monkey dishwasher", "???",
    "...", "test", "testing 123", "i like turtles", "my cat is sick", "how old is the earth",
    "where is the nearest hospital", "what's the wifi password", "can you lend me money",
    "help me with my taxes", "write code for me", "how do I get to the airport",
    "how do I reset my router", "is the earth flat",
    "how many calories in an apple", "convert 10 miles to km", "best pizza near me",
    "who is the tallest man in the world", "how do I make pancakes", "what's the population of china", "write an essay for me", "who will win the election", "help me plan a holiday", "what's a good name for a dog", "can you help me with my CV", "what's the score", "do you sell furniture", "do you sell phones", "I need a new fridge",
]

TRACK_ORDER = [
    "where is my order", "where's my order {order}", "track my order", "track order {order}",
    "track {order}", "order status", "status of my order", "what's the status of {order}",
    "has my order shipped?", "has {order} been shipped", "when will my order arrive",
    "when will {order} arrive", "when is my package coming", "where's my package",
    "where is my parcel", "my parcel hasn't arrived", "my order hasn't arrived yet",
    "it's been a week and my order isn't here", "still waiting for my order",
    "I'm still waiting on {order}", "any update on my order?", "update on {order}",
    "is my order on the way", "is {order} on its way?", "tracking number please",
    "can I get the tracking number for {order}", "tracking info for my order",
    "how do I track my delivery", "delivery status", "where's my delivery",
    "did my order ship yet", "has it been dispatched", "has my order been dispatched?",
    "when does my stuff arrive", "when will I get my {pt}", "where are my {pt}",
    "i ordered {pt} last week, where are they", "check my order {order} for {email}",
    "order {order}, email {email}, where is it", "track order {order} {email}",
    "my order number is {order}, where is it?", "can you check on order {order}",
    "look up my order", "look up order {order}", "find my order", "check order status",
    "order tracking", "trak my order", "whers my order", "where is my oder",
    "traking number", "ordr status", "wheres my stuff", "where my package at",
    "is my order delivered", "was {order} delivered?", "it says delivered but I didn't get it",
    "the tracking hasn't moved in days", "what's happening with my order",
    "has my parcel left the warehouse", "when will it be delivered",
    "expected delivery date for {order}", "eta on my order?", "ETA for {order}",
    "my order is late", "my order is taking forever", "package still not here 😡",
    "I want to know where my order is", "could you tell me where my order is please",
    "I placed an order on Monday, when will it come?", "how long until my order arrives",
    "delivery update?", "any news on my parcel", "when's my parcel coming", "has my order left yet", "when will my delivery get here", "what's going on with my delivery", "can you find my parcel", "order {order} where is it", "look for order {order} please", "has my package been sent", "nothing has arrived yet", "my delivery still isn't here",
    # "when will it arrive" about something bought is this order's whereabouts, not the
    # shipping-times FAQ (that one is conditional: "if I order today, when...")
    "when will my items arrive", "when will my purchase arrive", "when does my {pt1} arrive",
    "when will the {pt} I ordered get here", "when do my things get here",
    "when is my shipment due", "when can I expect my parcel", "when should my delivery come",
    "how much longer for my package", "is my shipment on its way",
    "when will I receive what I bought", "my stuff hasn't come yet, when will it",
]

CANCEL_ORDER = [
    "cancel my order", "I want to cancel my order", "cancel order {order}",
    "please cancel {order}", "I need to cancel an order", "can I cancel my order?",
    "how do I cancel my order", "cancel the order I just placed", "I ordered by mistake",
    "I ordered the wrong thing, cancel it", "cancel my purchase", "cancel the purchase",
    "stop my order", "don't ship my order", "don't send my order", "I don't want my order anymore",
    "can you cancel order {order} for {email}", "cancel {order}", "order {order} cancel please",
    "I'd like to cancel order {order}", "cancel it before it ships", "is it too late to cancel?",
    "can I still cancel {order}", "void my order", "revoke my order", "undo my order",
    "I want to call off my order", "scrap my order", "kill the order", "cancel the whole order",
    "cancel order pls", "cancle my order", "cancell order {order}", "canel my order",
    "I changed my mind about my order, cancel it", "I found it cheaper, cancel my order",
    "accidentally ordered twice, cancel one", "duplicate order, please cancel {order}",
    "cancel my order and refund me", "cancel and refund order {order}",
    "I need to cancel the {pt} I ordered", "cancel the {pt} order",
    "please stop order {order} from shipping", "cancel my recent order",
    "i wanna cancel my order", "how can i cancel an order i placed yesterday",
    "my order {order} should be cancelled", "order cancellation", "cancellation request",
]

REQUEST_RETURN = [
    "I want to return something", "I want to return my order", "return order {order}",
    "how do I return an item", "I'd like to return the {pt}", "return the {pt}",
    "can I send it back", "send it back", "I want to send back my {pt}",
    "return request", "start a return", "start a return for {order}", "make a return",
    "the {pt} don't fit, I want to return them", "it doesn't fit, can I return it",
    "too small, I want to return it", "too big, returning it", "I don't like it, return",
    "item arrived damaged, I want to return it", "wrong item, I want to return it",
    "return {order}", "I need a return label", "how do I get a return label",
    "RMA for {order}", "i need an RMA number", "can I return the {color} {pt1}",
    "return my purchase",     "I'd like to return part of my order", "return one item from {order}",
    "returning {qty} {pt}", "I want to return {qty} of the {pt}", "send back order {order}",
    "retrun my order", "retun the {pt}", "i wanna return this", "return pls",
    "can i return stuff",
    "the quality is bad, I want to return it", "return the {pt} from order {order}, {email}",
    "{order} I want to return it", "how can i send back the {pt1} i bought",
]

REQUEST_EXCHANGE = [
    "I want to exchange my {pt}", "exchange the {pt} for a {size}", "can I exchange it",
    "exchange for a different size", "exchange for another colour", "swap it for a {size}",
    "swap the {pt} for {color}", "I need a bigger size", "I need a smaller size",
    "can I get it in {size} instead", "can I get a {size} instead of the {size}",
    "exchange order {order}", "I'd like an exchange", "start an exchange",
    "exchange request", "I want to change the size of my {pt1}", "change size of my order",
    "wrong size, can I swap it", "swap for a larger one", "swap for a smaller one",
    "the {pt} are too tight, can I exchange for {size}", "exchange the {color} one for {color}",
    "trade it for a {size}", "replace it with a {size}", "replacement in {size} please",
    "different colour please, exchange", "exchnage my {pt1}", "exhange for {size}",
    "swop it for a {size}", "i wanna swap sizes", "can I swap the colour",
    "exchange item from {order} for size {size}", "I want to exchange, not return",
    "I'd rather exchange than get a refund",
    "can I exchange the {pt1} I got from order {order}", "need to swap my {pt1} for a {size}",
    "it fits badly, can I have another size", "size exchange", "colour exchange",
]

REQUEST_REFUND = [
    # A refund wanted now (issue 14): the skill finds the order and offers the cancellation
    # (not shipped yet) or the return (delivered) that pays it back. "Where is my refund"
    # is REFUND_STATUS; "what is your refund policy" is the returns FAQ.
    "I want a refund", "refund please", "I'd like a refund", "can I have a refund",
    "give me my money back", "I want to be refunded",
    "refund my order", "refund order {order}", "I want a refund for order {order}",
    "I want a refund for the {pt}", "refund the {pt}, it's not what I expected",
    "I want my money back for the {pt}", "money back for {order} please",
    "can I get a reimbursement", "I'd like to be reimbursed", "reimburse me please",
    "I want a reimbursement for {order}", "I'm requesting a refund",
    "please process a refund for my order", "I would like to request a refund",
    "I'd like my money returned", "can you refund me", "refund me",
    "I want a full refund", "full refund please", "I want to get my money back",
    "how do I get a refund", "how can I request a refund",
    "what do I do to get a refund", "where do I ask for a refund",
    "can I get a refund on {order}, email {email}", "refund {order} {email}",
    "I want a refund, the {pt} arrived broken", "the {pt} is faulty, I want my money back",
    "not what I ordered, I want a refund", "I didn't like it, can I get my money back",
    "refund for the {color} {pt1} please", "I changed my mind, I want a refund",
    "I want a refund instead of an exchange", "no exchange, just refund me",
    "i want a refnd", "refund pls", "i want my moneyback", "want a refund asap",
    "i need a refund for my purchase", "get me a refund", "money back please",
    "I want my money back, this is rubbish", "I'd like to claim a refund",
    "could I be refunded for my order", "I wish to be reimbursed for the {pt}",
    "return for refund", "return and refund please",
]

REFUND_STATUS = [
    "where is my refund", "refund status", "has my refund been processed",
    "when will I get my refund", "when do I get my money back", "I haven't received my refund",
    "still waiting for my refund", "refund for {order}", "status of my refund for {order}",
    "did you refund me?", "was my refund sent", "how long does a refund take",
    "how long do refunds take", "my refund hasn't arrived", "where's my money",
    "I returned it, where's my money", "I sent the {pt} back, where is my refund",
    "refund not received", "check my refund", "check refund {order}",
    "has the refund for {order} gone through", "refund update please", "any news on my refund?",
    "when will the money be back on my card", "is my refund pending", "refund pending?",
    "my refund failed", "refund {order} {email}", "order {order} refund status, email {email}",
    "refnd status", "wheres my refund", "were is my refund", "refund??",
    "you owe me money", "I cancelled, when is my refund", "I cancelled {order}, where's the refund",
    "money back status", "did the refund go through", "when do refunds hit my account",
    "how many days for the refund", "i want to know about my refund",
    "I never got my money back for the {pt} I returned", "still no refund for the {pt} I sent back",
    "I returned the {pt} weeks ago and haven't been refunded", "where's the refund for my return",
    "has the money for my return come through yet",
    "I sent it back and still haven't been refunded", "returned my items ages ago and no money yet", "haven't seen the money from my return", "the refund still hasn't come through", "I'm still waiting for the money from {order}", "when does the money come back",
]

COMPLAINT = [
    "I want to make a complaint", "I want to complain", "file a complaint",
    "I have a complaint", "this is unacceptable", "terrible service",
    "your service is awful", "I'm very unhappy with my order", "I'm really disappointed",
    "the delivery driver was rude", "the parcel was left in the rain",
    "the {pt} fell apart after one wash", "the quality of the {pt} is terrible",
    "I received the wrong item and nobody helps", "my order arrived damaged and I'm furious",
    "nobody answers my emails", "I've been waiting for weeks, this is ridiculous",
    "complaint about order {order}", "complaint: {order} arrived broken",
    "I want to report a problem with my order", "report a problem", "something went wrong with my order",
    "the packaging was destroyed", "the item was used", "missing item in my parcel",
    "half my order is missing", "the colour is completely different from the photo",
    "I was charged twice", "you charged me twice for {order}", "I was overcharged",
    "worst shopping experience ever", "I'm never shopping here again", "this is a scam",
    "so angry right now", "I'm fed up", "very poor quality", "you ruined my gift",
    "complain", "complaint", "compliant about my order", "complaning about {order}",
    "I want to escalate a complaint", "how do I complain", "I want to leave a complaint about the courier",
    "the {color} {pt1} I got has a hole in it", "zip broke on day one", "the seams ripped",
    "I'm not happy with my order", "the quality is awful", "really disappointed with the quality", "I'm really annoyed with this", "the parcel arrived wet", "I got the wrong colour and I'm upset", "this isn't good enough", "I'd like to make a formal complaint", "totally unacceptable service",
]

ASK_CONTACT = [
    # How and when to reach the shop's people (issue 14): the answer gives the support hours
    # and offers a person. "Talk to a human" (a person now) is HUMAN_HANDOFF; "where are you
    # based" is the contact FAQ; "are you open on sunday" (the shop) is the hours FAQ.
    "how can I contact you", "what's your phone number", "do you have a phone number",
    "phone number please", "can I call you", "can I ring you", "is there a support line",
    "is there a phone line", "whats ur number", "what number do I call",
    "do you have an email address", "customer service email", "your email?",
    "how do I email you", "what's the support email", "how do I get in touch",
    "how do I get hold of you", "how do I reach customer service", "how to contact support",
    "contact details", "contact info", "contact us", "how can I reach your team",
    "when is customer service available", "support hours", "customer service hours",
    "when can I talk to someone", "what hours is support online", "when is support around",
    "is someone available on saturday",
    "until what time can I call", "are your agents online now", "when do your staff work",
    "what are the hours of customer service", "what time does customer care close",
    "at what times can I phone you", "how late is support open",
    "can I reach someone by phone", "is there a number for customer support",
    "how do I contact a person at the shop", "what's the best way to contact you",
    "how can I speak to support by phone", "do you have a hotline", "is there a helpline",
    "support phone number?", "whats the customer service number", "can i text you",
    "can I write to you about order {order}", "who do I contact about my order",
    "how do I contact you about a problem with {order}", "contact number pls",
    "is customer service open on weekends", "when are you reachable",
    "when does your support team start", "is support available at night",
]

EXTERNAL = {
    # Sent by storefront_api, never typed: a few examples keep `rasa data validate` clean
    # and give the classifier a clearly separate label for them.
    name: [name, name.lower().replace("external_", "external ").replace("_", "")]
    for name in ("EXTERNAL_payment_received", "EXTERNAL_payment_failed",
                 "EXTERNAL_back_in_stock", "EXTERNAL_cart_reminder", "EXTERNAL_order_shipped",
                 "EXTERNAL_order_delivered", "EXTERNAL_refund_issued")
}

# The answer to "how would you rate the help you got?" after an agent resolved the
# conversation. The web chat's buttons send /rate_support{"csat": N}; on a messaging channel
# the shopper types it. A bare number stays with the intents that already take one (a
# quantity, a list position): a rating says stars, out of 5, or rate.
RATE_SUPPORT = [
    "[5](csat) stars", "[4](csat) stars", "[1](csat) star", "[2](csat) stars", "[3](csat) stars",
    "I give you [5](csat) stars", "I'd give it [4](csat) stars", "[3](csat) out of 5",
    "[5](csat) out of 5", "[2](csat) out of five", "[4](csat)/5", "[5](csat)/5",
    "rating: [5](csat)", "my rating is [4](csat)", "I rate it [3](csat)", "I'd rate it [5](csat)",
    "rate [4](csat)", "[1](csat) star, that didn't help at all", "[5](csat) stars, thank you!",
    "[4](csat) stars, quick and helpful", "[2](csat) stars, it took ages",
    "[5](csat) stars for the agent", "I'll rate you [3](csat)", "[1](csat) out of 5",
]
