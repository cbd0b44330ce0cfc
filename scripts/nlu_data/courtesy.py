"""Greetings, thanks, goodbyes, yeses and noes as shoppers from everywhere write them: in
their own language ("dzień dobry", "asante sana", "tak"), alone or with a few English words
after them, and in English with the situation around them ("hi, on my lunch break",
"thanks, back to work now", "off to bed, night").

The hand-written lists of service.py and voices.py hold a few foreign words (bonjour, hola,
danke, namaste) and short English phrases. An international shop's chat sees many more
languages, and short social messages often carry a clause about where the shopper is or
what they do next; with neither in the training data such messages fell back (a fifteenth
held-out set's first score showed it: greet, thank and goodbye lost most of their recall
there).

Each table below is one word or phrase per entry, romanized where the language is not in
Latin script, with its diacritics where shoppers type them. Words that mean something else
in English or in another listed language ("da", "ne", "hai", "la") are left out.
`sentences()` draws from them (seeded); the generator appends the result after everything
else, with its own random sequence, so the rest of bot/data/nlu stays as it was.
"""

from __future__ import annotations

import random

# language: (hello, thanks, goodbye, yes, no)
WORDS: dict[str, tuple[list[str], list[str], list[str], list[str], list[str]]] = {
    "Spanish": (["hola", "buenos días", "buenas tardes", "buenas"],
                ["gracias", "muchas gracias", "mil gracias"],
                ["adiós", "hasta luego", "chao"], ["sí", "claro", "sí, claro"],
                ["no gracias", "para nada"]),
    "French": (["bonjour", "salut", "bonsoir", "coucou"],
               ["merci", "merci beaucoup", "merci bien"],
               ["au revoir", "à bientôt", "bonne journée", "bonne soirée"],
               ["oui", "oui merci", "d'accord", "bien sûr"], ["non", "non merci"]),
    "German": (["hallo", "guten Tag", "guten Morgen", "moin", "servus", "grüß Gott"],
               ["danke", "danke schön", "vielen Dank"],
               ["tschüss", "auf Wiedersehen", "bis bald", "ciao tschüss"],
               ["ja", "ja bitte", "genau", "jawohl"], ["nein", "nein danke"]),
    "Italian": (["ciao", "buongiorno", "buonasera", "salve"], ["grazie", "grazie mille"],
                ["arrivederci", "a presto", "ciao ciao"], ["sì", "certo", "va bene"],
                ["no grazie"]),
    "Portuguese": (["olá", "oi", "bom dia", "boa tarde", "boa noite"],
                   ["obrigado", "obrigada", "muito obrigado", "valeu"],
                   ["tchau", "até logo", "até mais"], ["sim", "claro que sim", "pode ser"],
                   ["não", "não obrigado", "não, obrigada"]),
    "Dutch": (["hoi", "hallo", "goedemorgen", "goedemiddag", "goedenavond"],
              ["dank je", "dank je wel", "dank u wel", "bedankt"],
              ["doei", "tot ziens", "tot later", "fijne dag"],
              ["ja hoor", "jazeker", "prima", "is goed"], ["nee", "nee dank je", "nee hoor"]),
    "Polish": (["cześć", "dzień dobry", "witam", "hej", "dobry wieczór"],
               ["dziękuję", "dzięki", "dziękuję bardzo"],
               ["do widzenia", "na razie", "pa pa", "dobranoc"],
               ["tak", "tak, proszę", "dobrze"], ["nie", "nie, dziękuję"]),
    "Turkish": (["merhaba", "selam", "günaydın", "iyi akşamlar"],
                ["teşekkürler", "teşekkür ederim", "sağ ol"],
                ["hoşça kal", "görüşürüz", "iyi günler"], ["evet", "tamam"],
                ["hayır", "hayır teşekkürler"]),
    "Swahili": (["jambo", "habari", "hujambo", "mambo", "habari yako"],
                ["asante", "asante sana"], ["kwaheri", "tutaonana", "kwaheri ya kuonana"],
                ["ndiyo", "sawa"], ["hapana", "hapana asante"]),
    "Tagalog": (["kumusta", "magandang umaga", "magandang gabi"],
                ["salamat", "salamat po", "maraming salamat"], ["paalam", "ingat", "babay"],
                ["opo", "sige", "sige po"], ["hindi po", "ayoko", "hindi salamat"]),
    "Vietnamese": (["xin chào", "chào bạn", "chào"], ["cảm ơn", "cám ơn", "cảm ơn nhiều"],
                   ["tạm biệt", "hẹn gặp lại"], ["vâng", "dạ", "được"], ["không", "không cảm ơn"]),
    "Indonesian and Malay": (["halo", "selamat pagi", "selamat siang", "apa kabar"],
                             ["terima kasih", "makasih", "terima kasih banyak"],
                             ["sampai jumpa", "dadah", "selamat tinggal"],
                             ["iya", "boleh", "betul"], ["tidak", "nggak", "tidak mahu"]),
    "Hindi and Urdu": (["namaste", "namaskar", "salaam", "adaab"],
                       ["dhanyavaad", "shukriya", "bahut shukriya", "dhanyawad ji"],
                       ["alvida", "phir milenge", "khuda hafiz"], ["haan", "ji haan", "theek hai"],
                       ["nahi", "nahi ji", "nahin chahiye"]),
    "Arabic": (["marhaba", "ahlan", "as-salamu alaykum", "salam alaikum", "sabah al-khair"],
               ["shukran", "shukran jazeelan"], ["ma'a salama", "bissalama"],
               ["aiwa", "naam", "tayyib"],
               ["la shukran", "mish lazem"]),
    "Japanese": (["konnichiwa", "ohayou", "konbanwa"], ["arigatou", "arigatou gozaimasu", "domo"],
                 ["sayonara", "mata ne", "oyasumi"], ["hai, onegaishimasu", "hai, sou desu"],
                 ["iie", "kekkou desu"]),
    "Korean": (["annyeong", "annyeonghaseyo"], ["kamsahamnida", "gomawo", "gomapseumnida"],
               ["annyeonghi gyeseyo", "jal isseo"], ["ne, juseyo", "geurae"], ["aniyo", "anio"]),
    "Chinese": (["ni hao", "nǐ hǎo", "nin hao"], ["xie xie", "xièxie", "duo xie"],
                ["zaijian", "zài jiàn", "bai bai"], ["shi de", "hao de", "dui de"],
                ["bu yao", "bu yong"]),
    "Russian and Ukrainian": (["privet", "zdravstvuyte", "dobryi den", "pryvit"],
                              ["spasibo", "bolshoe spasibo", "dyakuyu"],
                              ["poka", "do svidaniya", "do pobachennya"], ["konechno", "horosho"],
                              ["net spasibo", "nyet", "ni, dyakuyu"]),
    "Greek": (["yassou", "geia sas", "kalimera"], ["efcharisto", "efharisto poli"],
              ["antio", "ta leme"], ["nai", "entaxei"], ["ochi", "ochi efcharisto"]),
    "Scandinavian": (["hej", "hejsan", "god morgen", "hei"], ["tack", "tusen takk", "tusen tack"],
                     ["hej då", "ha det", "vi ses"], ["jo", "javisst"], ["nej tack", "nei takk"]),
    "Finnish": (["moi", "moikka", "hyvää päivää"], ["kiitos", "kiitos paljon"],
                ["näkemiin", "heippa"], ["kyllä", "joo"], ["ei kiitos"]),
    "Czech and Slovak": (["ahoj", "dobrý den", "čau"], ["děkuji", "díky", "ďakujem"],
                         ["na shledanou", "dovidenia"], ["jasně", "dobře"],
                         ["ne děkuji", "nie ďakujem"]),
    "Hungarian": (["szia", "jó napot", "sziasztok"], ["köszönöm", "kösz", "köszi"],
                  ["viszlát", "viszontlátásra"], ["igen", "persze"], ["nem", "nem köszönöm"]),
    "Romanian": (["bună", "bună ziua", "salutare"], ["mulțumesc", "mersi mult"],
                 ["la revedere", "pa pa"], ["sigur", "bine"], ["nu mulțumesc"]),
    "Hebrew": (["shalom", "boker tov"], ["toda", "toda raba"], ["lehitraot", "yalla bye"],
               ["betach", "beseder"], ["lo toda"]),
    "Thai": (["sawasdee", "sawasdee krap", "sawasdee ka"], ["khob khun", "khop khun ka"],
             ["la gon", "bye na"], ["chai krap", "dai krap"], ["mai ao", "mai ao krap"]),
    "South African languages": (["sawubona", "molo", "dumela", "howzit"],
                                ["ngiyabonga", "enkosi", "dankie", "ke a leboga"],
                                ["hamba kahle", "totsiens", "sala kahle"], ["yebo", "ewe"],
                                ["hayi", "nee dankie", "hayi enkosi"]),
    "Nigerian languages": (["bawo ni", "sannu", "ndewo", "kedu"],
                           ["e se", "e se gan", "na gode", "daalu"],
                           ["o dabo", "sai anjima", "ka chi fo"], ["beeni", "ehen"],
                           ["rara", "a'a"]),
    "Irish and Welsh": (["dia duit", "shwmae", "bore da"],
                        ["go raibh maith agat", "diolch", "diolch yn fawr"],
                        ["slán", "slán go fóill", "hwyl", "hwyl fawr"], ["ie wir", "ie, diolch"],
                        ["níl", "dim diolch"]),
}

INTENTS = ("greet", "thank", "goodbye", "affirm", "deny")

# English words that often follow the foreign ones ("merci, that helps").
ENGLISH_AFTER = {
    "greet": ["hello", "hi there", "anyone around?", "quick question", "hope you're well",
              "hello from {channel}", "I need a bit of help", "is anybody there?",
              "good to be here", "hi from {place}"],
    "thank": ["thank you", "that was helpful", "very kind", "that helps a lot",
              "you've been great", "much appreciated", "that sorted it", "thanks for your help"],
    "goodbye": ["bye", "talk soon", "have a good day", "see you", "speak later",
                "I'm off now", "take care", "bye for now"],
    "affirm": ["please", "go ahead", "that's right", "yes please", "sounds good", "do it",
               "that's the one", "correct"],
    "deny": ["thanks", "not that one", "I'm fine", "no need", "not now", "rather not",
             "that's not right", "all good without it"],
}

# Where the shopper is or what they do next, around a short English social message.
CHANNELS = ["Messenger", "Telegram", "WhatsApp", "Slack", "the app", "my phone", "the website"]
PLACES = ["Lagos", "Manila", "Kraków", "Rotterdam", "Nairobi", "Hanoi", "Izmir", "Pune",
          "Leeds", "Cork", "Durban", "Auckland", "Dallas", "Toronto"]
SITUATIONS = [
    "on my lunch break", "typing on the train", "between meetings", "on my phone",
    "it's late here", "just got home from work", "with a coffee", "waiting for the bus",
    "before my shift starts", "my son set this up for me", "on the night shift",
    "from my tablet", "in a bit of a hurry", "sat in the car park",
]
SITUATED = {
    "greet": ["hi, {situation}", "hello, {situation}", "hey, {situation}",
              "good morning, {situation}", "hiya, {situation}", "evening, {situation}",
              "hello from {channel}, {situation}", "hi {situation}, anyone there?"],
    "thank": ["thanks, back to work now", "thank you, that's me sorted",
              "thanks, you saved me a trip to the shop", "cheers, back to my meeting",
              "thanks, that was quick",
              "ta, back to the grind", "thanks loads, that's all I needed to know",
              "thank you, very clear", "thanks, that answers it"],
    "goodbye": ["off to bed now, night", "got to run to a meeting, bye", "the bus is here, bye",
                "my battery's dying, bye", "off to make dinner, see you",
                "heading into a meeting, talk later", "time for bed, goodnight",
                "logging off now, bye", "that's my break over, bye", "signing off for today"],
    "affirm": ["yep, go on", "yes, that one",
               "yeah fine, go ahead", "ok yes", "yes please, quickly"],
    "deny": ["no, not now, {situation}", "nah, not today", "no thanks, just looking",
             "no, leave it for now", "no, I'm ok", "nope, not that one"],
}


def _fill(text: str, rng: random.Random) -> str:
    return (text.replace("{channel}", rng.choice(CHANNELS))
            .replace("{place}", rng.choice(PLACES))
            .replace("{situation}", rng.choice(SITUATIONS)))


def sentences(intent: str, count: int, rng: random.Random) -> list[str]:
    """``count`` draws for one of INTENTS (duplicates removed): a foreign word alone, a
    foreign word and English words, or an English message in its situation."""
    column = INTENTS.index(intent)
    out: list[str] = []
    for _ in range(count):
        roll = rng.random()
        word = rng.choice(rng.choice(list(WORDS.values()))[column])
        if roll < 0.35:
            text = word if rng.random() < 0.6 else word.capitalize() + "!"
        elif roll < 0.75:
            text = f"{word}{rng.choice([', ', '! ', ' ', '. '])}" \
                   f"{_fill(rng.choice(ENGLISH_AFTER[intent]), rng)}"
        else:
            text = _fill(rng.choice(SITUATED[intent]), rng)
        out.append(text)
    return list(dict.fromkeys(out))


COUNTS = {"greet": 90, "thank": 80, "goodbye": 80, "affirm": 70, "deny": 70}
