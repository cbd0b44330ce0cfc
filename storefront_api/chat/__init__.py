"""The web chat's side of storefront_api: the page (``/chat``), the signed tokens its socket
carries (``POST /api/chat/sessions``), and the credential storefront_api's own calls to
Rasa's HTTP API carry (``rasa_api``)."""
