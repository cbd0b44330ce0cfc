"""Long commands show progress: a bar with counts and time left on a terminal, a short line
per tenth of the work elsewhere (logs, CI)."""

from __future__ import annotations

import io

from storefront_api.progress import CommandProgress, count


def test_off_a_terminal_a_line_per_tenth_and_every_note():
    stream = io.StringIO()
    with CommandProgress(stream) as progress:
        progress("reading the file")
        for done in range(0, 10_001, 100):
            count(progress, "products", done, 10_000)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "  reading the file"
    assert lines[1:] == [f"  products: {n:,} / 10,000" for n in range(0, 10_001, 1000)]


def test_on_a_terminal_a_bar_with_counts_and_time_left():
    stream = io.StringIO()
    with CommandProgress(stream, force_terminal=True) as progress:
        count(progress, "events", 250, 1_000, unit="events")
        progress("halfway there")
        count(progress, "events", 1_000, 1_000, unit="events")
    shown = stream.getvalue()
    assert "1000/1000" in shown and "left" in shown and "halfway there" in shown


def test_any_other_callable_gets_a_note():
    notes = []
    count(notes.append, "products", 5, 10, note="seeded 5/10 products")
    count(None, "products", 5, 10)
    assert notes == ["seeded 5/10 products"]
