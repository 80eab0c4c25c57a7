"""numba kernels of the streaming BM25 index: merging shard postings, impact tiers and
exact top-k search.

Postings are stored term-major with their precomputed BM25 impact (float32). A frequent
term's postings are split into impact tiers (:func:`tier_range`): tier 0 holds those of at
least ``fractions[0]`` of the term's largest impact, tier 1 the next band, and so on, each
in document order; a tier is a list of its own with its own largest impact. A document
lies in at most one list of a term, so its score is the sum over the lists.

Search (:func:`top_k`) is term-at-a-time MaxScore (Turtle & Flood 1995) over the lists,
highest bound first; the bound of what lists ``i..`` can still add counts each term
once, with its highest remaining list. Once the k-th best partial score is at least that
bound, no unseen document can enter the top k, so the remaining (low-tier, long) lists
only update the candidates, found by galloping search, and a candidate that can no
longer reach the k-th score is dropped. The k-th score starts from each term's 10th-largest
impact and, for long queries, from the exact scores of the documents at the heads of the
highest lists (:func:`_prelude`). A list merged in is skipped block by block (block-max:
a block of 128 postings whose largest impact cannot lift a new document over the k-th
score is read only where a candidate lies in it). The result is the exhaustive top k
(ties aside).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["BLOCK", "PRELUDE", "kth_impacts", "scatter_range", "tier_range", "top_k"]

SHIFT = 7
BLOCK = 1 << SHIFT
"""Postings per block of ``blockmax`` (blocks are aligned on the global postings array,
so one may span two lists: its maximum still bounds either)."""

SLACK = 1e-9
"""Relative margin under the k-th score when pruning (scores are float64 sums of float32
impacts: a bound summed in another order must not drop a passage tied at the k-th)."""
PRELUDE = 256
"""Documents scored exactly before the search, for a first k-th score (the heads of the
highest lists: the documents of the top k hold the largest impacts)."""


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
def _kth(scores: np.ndarray, n: int, k: int) -> float:
    """The ``k``-th largest of ``scores[:n]`` (``-1`` when there are fewer than ``k``)."""
    if n < k:
        return -1.0
    return float(np.partition(scores[:n].copy(), n - k)[n - k])


@njit(cache=True, nogil=True)
def _update(cand: np.ndarray, scores: np.ndarray, n: int, docs: np.ndarray,  # noqa: PLR0917
            impacts: np.ndarray, s: int, e: int, w: float, floor: float) -> int:
    """Add a list to the candidates only (no new documents); drop those under ``floor``."""
    m = 0
    p = s
    for c in range(n):
        d = cand[c]
        sc = scores[c]
        if p < e:
            p = _gallop(docs, p, e, d)
            if p < e and docs[p] == d:
                sc += w * impacts[p]
        if sc >= floor:
            cand[m] = d
            scores[m] = sc
            m += 1
    return m


@njit(cache=True, nogil=True)
def _union(cand: np.ndarray, scores: np.ndarray, n: int, docs: np.ndarray,  # noqa: PLR0917
           impacts: np.ndarray, blockmax: np.ndarray, s: int, e: int, w: float, floor: float
           ) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge a list's postings into the candidates, leaving out those under ``floor``; a
    block whose largest impact cannot reach ``floor`` only updates the candidates in it."""
    room = n
    for blk in range(s >> SHIFT, ((e - 1) >> SHIFT) + 1 if e > s else s >> SHIFT):
        if blockmax[blk] * w >= floor:
            room += BLOCK
    out_c = np.empty(min(room, n + e - s), dtype=np.int64)
    out_s = np.empty(min(room, n + e - s), dtype=np.float64)
    i, j, m = 0, s, 0
    while i < n or j < e:
        if j < e and blockmax[j >> SHIFT] * w < floor:  # no new document from this block
            jb = min(((j >> SHIFT) + 1) << SHIFT, e)
            m, i, j = _update_block(cand, scores, n, i, docs, impacts, j, jb, w, floor,
                                    out_c, out_s, m)
            continue
        if j >= e or (i < n and cand[i] < docs[j]):
            d, sc = cand[i], scores[i]
            i += 1
        elif i >= n or docs[j] < cand[i]:
            d, sc = np.int64(docs[j]), w * impacts[j]
            j += 1
        else:
            d, sc = cand[i], scores[i] + w * impacts[j]
            i += 1
            j += 1
        if sc >= floor:
            out_c[m] = d
            out_s[m] = sc
            m += 1
    return out_c, out_s, m


@njit(cache=True, nogil=True)
def _update_block(cand: np.ndarray, scores: np.ndarray, n: int, i: int,  # noqa: PLR0917
                  docs: np.ndarray, impacts: np.ndarray, j: int, jb: int, w: float,
                  floor: float, out_c: np.ndarray, out_s: np.ndarray, m: int
                  ) -> tuple[int, int, int]:
    """Copy the candidates up to the block ``[j, jb)``'s last document into ``out_*``
    with the block's impacts added (none of its other documents can reach ``floor``)."""
    last = docs[jb - 1]
    while i < n and cand[i] <= last:
        sc = scores[i]
        j = _gallop(docs, j, jb, cand[i])
        if j < jb and docs[j] == cand[i]:
            sc += w * impacts[j]
        if sc >= floor:
            out_c[m] = cand[i]
            out_s[m] = sc
            m += 1
        i += 1
    return m, i, jb


@njit(cache=True, nogil=True)
def _rests(ubs: np.ndarray, terms: np.ndarray, count: int) -> np.ndarray:
    """``rest[i]``: the most lists ``i..`` add to a document: each term counts once, with
    its largest list among them (a document lies in one list of a term at most)."""
    rest = np.zeros(ubs.shape[0] + 1, dtype=np.float64)
    top = np.zeros(count, dtype=np.float64)
    for i in range(ubs.shape[0] - 1, -1, -1):
        top[terms[i]] = max(top[terms[i]], ubs[i])
        rest[i] = top.sum()
    return rest


@njit(cache=True, nogil=True)
def _prelude(docs: np.ndarray, impacts: np.ndarray, starts: np.ndarray,  # noqa: PLR0917
             ends: np.ndarray, weights: np.ndarray, k: int) -> float:
    """The k-th best exact score of the documents at the heads of the first lists
    (``PRELUDE`` postings): a lower bound of the k-th score (``-1`` if under k)."""
    picked = np.empty(PRELUDE, dtype=np.int64)
    m = 0
    for i in range(starts.shape[0]):
        take = min(ends[i] - starts[i], PRELUDE - m)
        picked[m:m + take] = docs[starts[i]:starts[i] + take]
        m += take
    cand = np.unique(picked[:m])
    scores = np.zeros(cand.shape[0], dtype=np.float64)
    for i in range(starts.shape[0]):
        p = starts[i]
        for c in range(cand.shape[0]):
            p = _gallop(docs, p, ends[i], cand[c])
            if p == ends[i]:
                break
            if docs[p] == cand[c]:
                scores[c] += weights[i] * impacts[p]
    return _kth(scores, cand.shape[0], k)


@njit(cache=True, nogil=True)
def top_k(docs: np.ndarray, impacts: np.ndarray, blockmax: np.ndarray,  # noqa: PLR0917
          starts: np.ndarray, ends: np.ndarray, ubs: np.ndarray, weights: np.ndarray,
          terms: np.ndarray, seed: float, k: int, prelude: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(doc, score)`` over lists ``[starts[i], ends[i])`` of ``docs``
    sorted by ``ubs`` (their largest weighted impact) descending; list ``i`` belongs to
    term ``terms[i]`` (a term's lists are disjoint in documents) and its impacts count
    ``weights[i]`` times. ``seed`` is a known lower bound of the k-th score (``-1`` for
    none). Queries of ``prelude`` postings or more first score the heads of the highest
    lists exactly (:func:`_prelude`). Ties at the k-th score keep the lower documents."""
    rest = _rests(ubs, terms, terms.max() + 1 if terms.shape[0] else 0)
    if np.sum(ends - starts) >= prelude:
        seed = max(seed, _prelude(docs, impacts, starts, ends, weights, k))
    cand = np.empty(0, dtype=np.int64)
    scores = np.empty(0, dtype=np.float64)
    n = 0
    for i in range(starts.shape[0]):
        kth = _kth(scores, n, k) * (1.0 - SLACK)  # a margin for rounding: the same scores
        theta = max(kth, seed * (1.0 - SLACK))  # summed in another order may differ by ulps
        floor = theta - rest[i + 1] if theta >= 0 else -1.0  # under it, a document cannot
        if (n >= k and rest[i] <= kth) or rest[i] < theta:    # reach the k-th score any more
            n = _update(cand, scores, n, docs, impacts, starts[i], ends[i], weights[i], floor)
        else:
            cand, scores, n = _union(cand, scores, n, docs, impacts, blockmax, starts[i],
                                     ends[i], weights[i], floor)
    order = np.argsort(-scores[:n], kind="mergesort")[:k]  # ties: the lower document first
    return cand[order], scores[order]


@njit(cache=True, nogil=True)
def kth_impacts(impacts: np.ndarray, bounds: np.ndarray, depth: int, out: np.ndarray) -> None:
    """``out[t]``: the ``depth``-th largest impact of the term whose postings are
    ``impacts[bounds[t]:bounds[t + 1]]`` (0 for a term with fewer postings)."""
    for t in range(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        if hi - lo >= depth:
            out[t] = np.partition(impacts[lo:hi].copy(), hi - lo - depth)[hi - lo - depth]
