"""The built-in test gateway (PAYMENT_GATEWAY=test, the default) and its hosted payment page:
the gateway itself (``gateway.py``), the page's routes (``pages.py``) and its HTML
(``page_html.py``). Production refuses it (``storefront_api/production.py``)."""
