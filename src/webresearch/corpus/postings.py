"""numba kernels of the streaming BM25 index: merging shard postings, impact tiers and
exact top-k search.

Postings are stored term-major with their precomputed BM25 impact (float32). A frequent
term's postings are split into impact tiers (:func:`tier_range`): tier 0 holds those of at
least ``fractions[0]`` of the term's largest impact, tier 1 the next band, and so on, each
in document order; a tier is a list of its own with its own largest impact. A document
lies in at most one tier of a term, so its score is still the sum over the lists.

Search (:func:`top_k`) is document-at-a-time MaxScore (Turtle & Flood 1995) over these
lists, with per-term bounds: once the k-th best score reaches ``theta``, the lowest tiers
of each term are made *non-essential* as long as the sum over terms of their highest
non-essential tier's bound stays under ``theta``; then no document outside the essential
lists can enter the top k, so only the essential lists (the high tiers, short) are walked,
and each document found there is completed by galloping into the non-essential tiers,
highest first, given up as soon as its bound falls under ``theta``. The result is the
exhaustive top k (ties at the k-th score aside): frequent terms cost their high tiers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["kth_impacts", "scatter_range", "tier_range", "top_k"]


@njit(cache=True, nogil=True)
def scatter_range(terms: np.ndarray, docs: np.ndarray, tfs: np.ndarray, base: int,  # noqa: PLR0917
                  starts: np.ndarray, idf: np.ndarray, doc_norm: np.ndarray,
                  out_docs: np.ndarray, out_impacts: np.ndarray, maxima: np.ndarray) -> None:
    """Place postings of a term range (shards concatenated in document order) term-major.

    ``starts[t - base]`` is where term ``t``'s postings begin in ``out_*``; it is advanced
    as they are written. ``doc_norm[d]`` is ``k1 * (1 - b + b * len(d) / avg_len)``; the
    impact is Lucene's ``idf * tf / (tf + norm)``. ``maxima[t]`` gets each term's largest.
    """
    for i in range(terms.shape[0]):
        t = terms[i]
        pos = starts[t - base]
        starts[t - base] = pos + 1
        d = docs[i]
        tf = np.float32(tfs[i])
        impact = np.float32(idf[t] * (tf / (tf + doc_norm[d])))
        out_docs[pos] = d
        out_impacts[pos] = impact
        maxima[t] = max(maxima[t], impact)


@njit(cache=True, nogil=True)
def tier_range(docs: np.ndarray, impacts: np.ndarray, bounds: np.ndarray,
               fractions: np.ndarray, min_size: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reorder, in place, the postings of every term of at least ``min_size`` postings
    (term ``t``'s are ``[bounds[t], bounds[t + 1])``) into impact tiers, document order
    kept within each. Returns the tiered terms, their tier boundaries ``(m, tiers + 1)``
    (positions as ``bounds``) and each tier's largest impact ``(m, tiers)``."""
    tiers = fractions.shape[0] + 1
    m = 0
    for t in range(bounds.shape[0] - 1):
        m += bounds[t + 1] - bounds[t] >= min_size
    which = np.empty(m, dtype=np.int64)
    splits = np.zeros((m, tiers + 1), dtype=np.int64)
    maxes = np.zeros((m, tiers), dtype=np.float32)
    j = 0
    for t in range(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        if hi - lo < min_size:
            continue
        levels = _levels(impacts[lo:hi], fractions, maxes[j])
        at = np.empty(tiers, dtype=np.int64)
        acc = lo
        for lv in range(tiers):
            splits[j, lv] = at[lv] = acc
            acc += np.sum(levels == lv)
        splits[j, tiers] = hi
        held_docs, held_impacts = docs[lo:hi].copy(), impacts[lo:hi].copy()
        for i in range(hi - lo):
            p = at[levels[i]]
            docs[p], impacts[p] = held_docs[i], held_impacts[i]
            at[levels[i]] = p + 1
        which[j] = t
        j += 1
    return which, splits, maxes


@njit(cache=True, nogil=True)
def _levels(impacts: np.ndarray, fractions: np.ndarray, maxes: np.ndarray) -> np.ndarray:
    """Each posting's tier (the first ``fractions[i] * largest`` it reaches); ``maxes``
    gets each tier's largest impact."""
    top = impacts.max()
    levels = np.empty(impacts.shape[0], dtype=np.int64)
    for i in range(impacts.shape[0]):
        v = impacts[i]
        lv = 0
        while lv < fractions.shape[0] and v < fractions[lv] * top:
            lv += 1
        levels[i] = lv
        maxes[lv] = max(maxes[lv], v)
    return levels


@njit(cache=True, nogil=True)
def _gallop(docs: np.ndarray, lo: int, hi: int, target: int) -> int:
    """The first index in ``docs[lo:hi]`` (ascending) holding ``target`` or more, else ``hi``."""
    step = 1
    while lo + step < hi and docs[lo + step] < target:
        lo += step
        step *= 2
    top = min(lo + step, hi)
    while lo < top:
        mid = (lo + top) // 2
        if docs[mid] < target:
            lo = mid + 1
        else:
            top = mid
    return lo


@njit(cache=True, nogil=True)
def _bound(ubs: np.ndarray, group: np.ndarray, ess: np.ndarray, t: int) -> float:
    """The most term ``t`` adds to a document in none of its essential lists."""
    return ubs[ess[t]] if ess[t] < group[t + 1] else 0.0


@njit(cache=True, nogil=True)
def _demote(ubs: np.ndarray, group: np.ndarray, ess: np.ndarray, total: float,
            theta: float) -> float:
    """Make lowest essential tiers non-essential (cheapest first) while the sum of the
    terms' non-essential bounds stays under ``theta``; return that sum."""
    while True:
        best, rise = -1, np.inf
        for t in range(group.shape[0] - 1):
            if ess[t] > group[t] and ubs[ess[t] - 1] - _bound(ubs, group, ess, t) < rise:
                best, rise = t, ubs[ess[t] - 1] - _bound(ubs, group, ess, t)
        if best < 0 or total + rise >= theta:
            return total
        ess[best] -= 1
        total += rise


@njit(cache=True, nogil=True)
def _next_doc(docs: np.ndarray, pos: np.ndarray, ends: np.ndarray, group: np.ndarray,
              ess: np.ndarray) -> int:
    """The smallest document at the essential lists' cursors (``-1`` when all are spent)."""
    d = -1
    for t in range(group.shape[0] - 1):
        for li in range(group[t], ess[t]):
            if pos[li] < ends[li] and (d < 0 or docs[pos[li]] < d):
                d = docs[pos[li]]
    return d


@njit(cache=True, nogil=True)
def _probe(docs: np.ndarray, impacts: np.ndarray, pos: np.ndarray, ends: np.ndarray,  # noqa: PLR0917
           ubs: np.ndarray, weights: np.ndarray, group: np.ndarray, ess: np.ndarray,
           matched: np.ndarray, d: int, s: float, rest: float, theta: float) -> float:
    """Complete ``d``'s score ``s`` from the non-essential tiers of the terms not yet
    ``matched``; ``-1`` as soon as ``s + rest`` (its bound) falls under ``theta``."""
    for t in range(group.shape[0] - 1):
        if matched[t]:
            continue
        bound = _bound(ubs, group, ess, t)
        for li in range(ess[t], group[t + 1]):
            if s + rest < theta:
                return -1.0
            p = _gallop(docs, pos[li], ends[li], d)
            pos[li] = p
            if p < ends[li] and docs[p] == d:
                s += weights[t] * impacts[p]
                rest -= bound
                bound = 0.0
                break
            below = ubs[li + 1] if li + 1 < group[t + 1] else 0.0
            rest -= bound - below
            bound = below
    return s if s >= theta else -1.0


@njit(cache=True, nogil=True)
def _essential_score(docs: np.ndarray, impacts: np.ndarray, pos: np.ndarray,  # noqa: PLR0917
                     ends: np.ndarray, weights: np.ndarray, group: np.ndarray, ess: np.ndarray,
                     matched: np.ndarray, d: int) -> float:
    """``d``'s score from the essential lists at their cursors (advanced past it)."""
    s = 0.0
    for t in range(group.shape[0] - 1):
        matched[t] = False
        for li in range(group[t], ess[t]):
            if pos[li] < ends[li] and docs[pos[li]] == d and not matched[t]:
                s += weights[t] * impacts[pos[li]]
                pos[li] += 1
                matched[t] = True
    return s


@njit(cache=True, nogil=True)
def top_k(docs: np.ndarray, impacts: np.ndarray, starts: np.ndarray, ends: np.ndarray,  # noqa: PLR0917
          ubs: np.ndarray, weights: np.ndarray, group: np.ndarray, seed: float, k: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(doc, score)`` over lists ``[starts[i], ends[i])`` of ``docs``,
    each bounded by ``ubs[i]`` (weighted impacts). Term ``t``'s lists (its tiers, disjoint
    in documents) are ``group[t]:group[t + 1]``, ``ubs`` descending within it; each
    impact counts ``weights[t]`` times. ``seed`` is a known lower bound of the k-th score
    (``-1`` for none). Ties at the k-th score keep the lower documents."""
    terms = group.shape[0] - 1
    pos = starts.copy()
    ess = group[1:].copy()  # ess[t]: term t's first non-essential list
    matched = np.zeros(terms, dtype=np.bool_)
    top_d = np.zeros(k, dtype=np.int64)
    top_s = np.zeros(k, dtype=np.float64)
    size, low = 0, 0  # low: where the smallest of a full top is
    theta = seed
    total = _demote(ubs, group, ess, 0.0, theta)
    while True:
        d = _next_doc(docs, pos, ends, group, ess)
        if d < 0:
            break
        s = _essential_score(docs, impacts, pos, ends, weights, group, ess, matched, d)
        rest = total
        for t in range(terms):
            if matched[t]:
                rest -= _bound(ubs, group, ess, t)
        s = _probe(docs, impacts, pos, ends, ubs, weights, group, ess, matched, d, s, rest,
                   theta)
        if s < 0 or (size == k and s <= top_s[low]):
            continue
        if size < k:
            top_d[size], top_s[size] = d, s
            size += 1
        else:
            top_d[low], top_s[low] = d, s
        if size == k:
            low = int(np.argmin(top_s))
            if top_s[low] > theta:
                theta = top_s[low]
                total = _demote(ubs, group, ess, total, theta)
    order = np.argsort(top_d[:size], kind="mergesort")  # ties: the lower document first
    order = order[np.argsort(-top_s[:size][order], kind="mergesort")]
    return top_d[order], top_s[order]


@njit(cache=True, nogil=True)
def kth_impacts(impacts: np.ndarray, bounds: np.ndarray, depth: int, out: np.ndarray) -> None:
    """``out[t]``: the ``depth``-th largest impact of the term whose postings are
    ``impacts[bounds[t]:bounds[t + 1]]`` (0 for a term with fewer postings)."""
    for t in range(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        if hi - lo >= depth:
            out[t] = np.partition(impacts[lo:hi].copy(), hi - lo - depth)[hi - lo - depth]
