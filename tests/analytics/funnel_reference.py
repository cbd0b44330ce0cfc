"""An independent, deliberately plain funnel implementation: loops over dicts, written from the
definitions in docs/analytics.md, for the property-based tests of analytics.funnel.

It is slow (quadratic and worse) and only meant for logs of a few dozen events.
"""

from __future__ import annotations

import json
import math

SCHEMA_COLUMNS = {"event_id", "ts", "name", "session_id", "customer_id", "cart_id",
                  "order_number", "conversation_id", "channel", "source", "device", "item_id",
                  "value", "currency", "consent", "properties", "user_id", "category", "email"}


def _text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(event: dict, step) -> bool:
    if event["name"] != step.event:
        return False
    for key, wanted in step.where.items():
        wanted = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
        if key in SCHEMA_COLUMNS:
            have = _text(event.get(key))
        else:
            have = _text(json.loads(event.get("properties") or "{}").get(key))
        if have is None or have not in {_text(w) for w in wanted}:
            return False
    return True


def _earliest(evs, candidates):
    """The earliest by time; among equal times, the first in the log."""
    return min(candidates, key=lambda j: (evs[j]["ts"], j), default=None)


def _walk_ordered(evs, i, funnel):
    used = [i]
    for step in funnel.steps[1:]:
        prev_ts = evs[used[-1]]["ts"]
        j = _earliest(evs, [j for j in range(len(evs)) if j not in used
                            and matches(evs[j], step) and evs[j]["ts"] >= prev_ts])
        if j is None or evs[j]["ts"] - evs[i]["ts"] > funnel.window:
            break
        used.append(j)
    return [evs[j]["ts"] for j in used]


def _walk_strict(evs, i, funnel):
    used = [i]
    for step in funnel.steps[1:]:
        j = used[-1] + 1
        if j >= len(evs) or not matches(evs[j], step) \
                or evs[j]["ts"] - evs[i]["ts"] > funnel.window:
            break
        used.append(j)
    return [evs[j]["ts"] for j in used]


def _walk_any(evs, i, funnel):
    times = []
    for step in funnel.steps:
        j = _earliest(evs, [j for j in range(len(evs)) if matches(evs[j], step)
                            and evs[i]["ts"] <= evs[j]["ts"] <= evs[i]["ts"] + funnel.window])
        if j is not None:
            times.append(evs[j]["ts"])
    return sorted(times)


def _void(evs, times, funnel) -> bool:
    return any(times[0] < e["ts"] < times[-1] for e in evs
               if any(matches(e, x) for x in funnel.exclusions))


def _breakdown(event, breakdown):
    if breakdown is None:
        return "all"
    if breakdown == "chat":
        return "chat" if event.get("conversation_id") is not None else "no chat"
    value = event.get(breakdown)
    return "(none)" if value is None else _text(value)


def unit_results(events: list[dict], funnel) -> list[tuple[str, list]]:
    """(breakdown value, times of the steps reached by the best attempt) per counted unit."""
    key = "user_id" if funnel.unit == "user" else "session_id"
    units: dict[str, list[dict]] = {}
    for event in events:
        if event.get(key) is not None:
            units.setdefault(event[key], []).append(event)
    walk = {"ordered": _walk_ordered, "strict": _walk_strict, "any": _walk_any}[funnel.order]
    results = []
    for evs in units.values():
        evs = sorted(evs, key=lambda e: e["ts"])  # stable: ties stay in log order
        starts = [i for i, e in enumerate(evs)
                  if (any(matches(e, s) for s in funnel.steps) if funnel.order == "any"
                      else matches(e, funnel.steps[0]))]
        if not starts:
            continue
        best = None
        for i in starts:
            times = walk(evs, i, funnel)
            if funnel.exclusions and _void(evs, times, funnel):
                continue
            if best is None or len(times) >= len(best):  # the latest of the furthest
                best = times
        if best is not None:
            results.append((_breakdown(evs[starts[0]], funnel.breakdown), best))
    return results


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def reference_funnel(events: list[dict], funnel) -> list[dict]:
    """Rows (breakdown, step_index, entered, converted, conversion_from_previous,
    conversion_from_first, dropped_off, median/p90 seconds) like compute_funnel's."""
    groups: dict[str, list[list]] = {}
    for value, times in unit_results(events, funnel):
        groups.setdefault(value, []).append(times)
    rows, n = [], len(funnel.steps)
    for value, attempts in groups.items():
        entered = [sum(1 for t in attempts if len(t) >= k) for k in range(1, n + 1)]
        for k in range(1, n + 1):
            waits = [(t[k - 1] - t[k - 2]).total_seconds() for t in attempts if len(t) >= k] \
                if k > 1 else []
            following = entered[k] if k < n else entered[k - 1]
            previous = entered[k - 2] if k > 1 else entered[0]
            rows.append({
                "breakdown": value, "step_index": k, "entered": entered[k - 1],
                "converted": following,
                "conversion_from_previous": entered[k - 1] / previous if previous else 0.0,
                "conversion_from_first": entered[k - 1] / entered[0],
                "dropped_off": entered[k - 1] - following,
                "median_seconds_to_convert": quantile(waits, 0.5),
                "p90_seconds_to_convert": quantile(waits, 0.9),
            })
    return sorted(rows, key=lambda r: (r["breakdown"], r["step_index"]))
