"""Checkout: from a priced cart to a payment link, with stock held until the payment ends."""
