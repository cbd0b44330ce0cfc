"""The web chat's socketio channel with a scripted bot behind it, for the chat page's tests.

Run with .venv-bot's Python (Rasa 3.6, python-socketio 5.8):
``CHAT_JWT_SECRET=... socketio_peer.py PORT PAY_URL [ALLOWED_ORIGINS]``.
The channel is the project's own (bot/channels/socketio.py: Rasa's SocketIOInput holding each
socket to the conversation of its token), configured as bot/credentials.yml configures it;
the way replies are turned into ``bot_uttered`` packets (buttons become quick_replies, custom
payloads are emitted as they are) is Rasa's code, unchanged; only NLU and dialogue are
replaced by the script in ``reply``. Extra HTTP routes for the test:
- ``GET /received``: what the page sent (session id and text of each user_uttered);
- ``POST /push`` {session_id, message}: a message pushed to a conversation, the way Rasa's
  ``execute``/``trigger_intent`` with ``output_channel=latest`` does (agent replies).
- ``GET /shirt.png``: a product image.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project: bot.channels

from bot.channels.socketio import AisleSocketIOInput  # noqa: E402
from rasa.core.channels.socketio import SocketIOOutput  # noqa: E402
from sanic import Sanic, response  # noqa: E402

PNG = base64.b64decode(  # 1x1 green pixel
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def reply(text: str, pay_url: str, image_url: str) -> list[dict]:
    """What the bot answers, as a Rasa dispatcher would hand it to the output channel."""
    if text == "/human_handoff":
        return [{"custom": {"data": {"text": "Hi, Ana here. How can I help?", "agent": "Ana"}}}]
    if text.startswith("/add_to_cart"):
        return [{"text": "Added the Alpine tee to your cart."}]
    return [
        {"text": f"Here is what I found for “{text}”.\n\nPay here when ready: {pay_url}",
         "buttons": [{"title": "Show more", "payload": "/show_more"},
                     {"title": "Talk to a person", "payload": "/human_handoff"}]},
        {"custom": {"data": {"cards": [
            {"title": "Alpine tee", "subtitle": "Organic cotton", "image_url": image_url,
             "price": {"amount": 2500, "currency": "USD", "formatted": "$25.00"},
             "buttons": [{"title": "Add to cart", "payload": '/add_to_cart{"product_id": 12}'}]},
            {"title": "Harbor hoodie", "subtitle": "Fleece", "image_url": image_url,
             "price": {"amount": 5900, "currency": "USD", "formatted": "$59.00"},
             "buttons": [{"title": "Details", "payload": '/select_product{"product_id": 13}'}]},
        ]}}},
    ]


def main(port: int, pay_url: str, allowed_origins: str) -> None:
    app = Sanic("aisle_socketio_peer")
    channel = AisleSocketIOInput.from_credentials({
        "user_message_evt": "user_uttered", "bot_message_evt": "bot_uttered",
        "session_persistence": True, "jwt_key": os.environ["CHAT_JWT_SECRET"],
        "jwt_method": "HS256", "allowed_origins": allowed_origins})
    received: list[dict] = []
    image_url = f"http://127.0.0.1:{port}/shirt.png"

    async def on_new_message(message) -> None:
        received.append({"session_id": message.sender_id, "text": message.text,
                         "channel": message.input_channel})
        for answer in reply(message.text, pay_url, image_url):
            await message.output_channel.send_response(message.sender_id, answer)

    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/socketio")

    @app.get("/received")
    async def _received(request):
        return response.json(received)

    @app.post("/push")
    async def _push(request):
        output = SocketIOOutput(channel.sio, "bot_uttered")
        await output.send_response(request.json["session_id"], dict(request.json["message"]))
        return response.json({"pushed": True})

    @app.get("/shirt.png")
    async def _image(request):
        return response.raw(PNG, content_type="image/png")

    app.run(host="127.0.0.1", port=port, access_log=False, workers=1)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
