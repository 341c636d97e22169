"""Small-count suppression for every figure a leader sees or exports.

A count of 1–4 could point to a child, so it is never shown: every count below ``SMALL`` is
``None`` (shown as "<5"), and so is every figure that would reveal one: a percentile or
a share over fewer than 5 cases, a share whose part or remainder is below 5, and the next
smallest cell of a row whose total is shown when only one cell was suppressed (secondary
suppression). The dashboards (``dashboard``) apply it before anything leaves the service, so
pages and exports cannot show what was suppressed. Pure functions, tested directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: Counts below this are suppressed.
SMALL = 5


def sup(n: int) -> int | None:
    """``n``, or None when it is 1–4."""
    return None if 0 < n < SMALL else n


def sup_group(parts: list[int]) -> list[int | None]:
    """Suppress the small parts of a row whose total is shown; when that hides exactly one
    part, hide the next smallest non-zero part too, so it cannot be got by subtraction."""
    out: list[int | None] = [sup(n) for n in parts]
    hidden = [i for i, v in enumerate(out) if v is None]
    if len(hidden) == 1:
        rest = sorted((n, i) for i, n in enumerate(parts) if out[i] is not None and n > 0)
        if rest:
            out[rest[0][1]] = None
    return out


def share(part: int, total: int) -> float | None:
    """``part`` of ``total`` in per cent (one decimal), or None when it would reveal a count
    below 5 (the total, the part or the remainder)."""
    if total < SMALL or 0 < part < SMALL or 0 < total - part < SMALL:
        return None
    return round(100 * part / total, 1)


def percentile(histogram: Mapping[int, int], p: float) -> int | None:
    """Nearest-rank percentile (the smallest value with at least ``p`` of the observations at or
    below it) of {value: count}; None with fewer than 5 observations."""
    total = sum(histogram.values())
    if total < SMALL:
        return None
    rank = max(math.ceil(p * total), 1)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None  # pragma: no cover - unreachable
