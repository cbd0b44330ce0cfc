"""Abandoned-cart recovery: reminders by e-mail and chat, with consent, cool-down and a measure
of what they recovered (docs/cart-recovery.md)."""
