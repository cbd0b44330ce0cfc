"""The shop's notices to a chat conversation: the ``EXTERNAL_`` intents storefront_api sends
through the outbox (``outbox.service.enqueue_conversation_notice``, then Rasa's
``trigger_intent``), each answered by a rule of the bot's domain (bot/domain/*.yml).

Named here once, so the bot and the shop cannot drift apart unnoticed:
tests/chat/test_notice_intents.py checks them against the domain both ways.
"""

PAYMENT_RECEIVED = "EXTERNAL_payment_received"  # the order exists (checkout/complete.py)
PAYMENT_FAILED = "EXTERNAL_payment_failed"  # no order: refunded, or never paid (checkout/)
ORDER_SHIPPED = "EXTERNAL_order_shipped"  # fulfilment/messages.py
ORDER_DELIVERED = "EXTERNAL_order_delivered"  # fulfilment/messages.py
REFUND_ISSUED = "EXTERNAL_refund_issued"  # aftersales/refunds.py
BACK_IN_STOCK = "EXTERNAL_back_in_stock"  # fulfilment/messages.py
CART_REMINDER = "EXTERNAL_cart_reminder"  # recovery/messages.py

ALL = frozenset({PAYMENT_RECEIVED, PAYMENT_FAILED, ORDER_SHIPPED, ORDER_DELIVERED,
                 REFUND_ISSUED, BACK_IN_STOCK, CART_REMINDER})
