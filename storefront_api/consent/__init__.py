"""Consent per purpose: analytics, marketing (e-mail) and advertising (audiences).

Every decision is a row of its own (who, which purpose, granted or not, when, where it was
made); the latest decision for a subject and purpose wins. Each use reads only its own
purpose: cart reminders marketing, audience exports advertising, personal identifiers in
analytics events analytics.
"""
