"""Columnar readers of the events table, one module per database (see analytics.loaders)."""
