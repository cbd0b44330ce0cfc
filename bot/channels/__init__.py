"""Rasa input channels of Aisle's own (referenced by module path in bot/credentials.yml)."""
