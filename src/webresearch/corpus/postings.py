"""numba kernels of the streaming BM25 index: merging shard postings and exact top-k search.

Postings are stored term-major, documents ascending, each with its precomputed BM25
impact (float32). Search is term-at-a-time MaxScore (Turtle & Flood 1995): terms go from
the highest possible contribution down; once the k-th best partial score is at least
what all remaining terms together could add, no unseen document can enter the top k, so
the remaining (frequent) terms only update the candidates, found by galloping search,
and a candidate that can no longer reach the k-th score is dropped. The result is the
exhaustive top k (ties aside), at a cost set mostly by the rarer terms. Frequent terms are
skipped block by block (block-max): a block of 128 postings whose largest impact cannot
lift a new document over the k-th score is read only where a candidate lies in it; the
k-th score starts from a bound stored per term (its 10th-largest impact).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["BLOCK", "kth_impacts", "scatter_range", "top_k"]

SHIFT = 7
BLOCK = 1 << SHIFT
"""Postings per block of ``blockmax`` (blocks are aligned on the global postings array,
so one may span two terms: its maximum still bounds either)."""
SLACK = 1e-4
"""Relative margin under the k-th score that pruning keeps: float32 rounding of a
document's summed impacts (a query term's weight times its impact) must not drop it."""


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
    """Add a term to the candidates only (no new documents); drop those under ``floor``."""
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
    """Merge a term's postings into the candidates, leaving out hopeless documents; a
    block whose largest impact cannot reach ``floor`` only updates the candidates in it."""
    room = n
    for blk in range(s >> SHIFT, ((e - 1) >> SHIFT) + 1 if e > s else s >> SHIFT):
        if blockmax[blk] * w >= floor:
            room += BLOCK
    out_c = np.empty(min(room, n + e - s), dtype=np.int64)
    out_s = np.empty(min(room, n + e - s), dtype=np.float32)
    i, j, m = 0, s, 0
    while i < n or j < e:
        if j < e and blockmax[j >> SHIFT] * w < floor:  # no new document from this block
            jb = min(((j >> SHIFT) + 1) << SHIFT, e)
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
            j = jb
            continue
        if j >= e or (i < n and cand[i] < docs[j]):
            d, sc = cand[i], scores[i]
            i += 1
        elif i >= n or docs[j] < cand[i]:
            d, sc = np.int64(docs[j]), np.float32(w * impacts[j])
            j += 1
        else:
            d, sc = cand[i], np.float32(scores[i] + w * impacts[j])
            i += 1
            j += 1
        if sc >= floor:
            out_c[m] = d
            out_s[m] = sc
            m += 1
    return out_c, out_s, m


@njit(cache=True, nogil=True)
def top_k(docs: np.ndarray, impacts: np.ndarray, blockmax: np.ndarray,  # noqa: PLR0917
          starts: np.ndarray, ends: np.ndarray, weights: np.ndarray, maxima: np.ndarray,
          seed: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(doc, score)`` of a query whose terms are sorted by ``maxima``
    (each term's largest weighted impact) descending; scores are sums of weighted impacts.
    ``seed`` is a known lower bound of the k-th score (``-1`` for none)."""
    t_count = starts.shape[0]
    rest = np.zeros(t_count + 1, dtype=np.float64)  # rest[i]: the most terms i.. can add
    for i in range(t_count - 1, -1, -1):
        rest[i] = rest[i + 1] + maxima[i]
    cand = np.empty(0, dtype=np.int64)
    scores = np.empty(0, dtype=np.float32)
    n = 0
    for i in range(t_count):
        kth = _kth(scores, n, k)
        theta = max(kth, seed)
        if theta > 0:  # scores are float32 sums: a k-th best one may round under the seed
            theta *= 1.0 - SLACK
        floor = theta - rest[i + 1] if theta >= 0 else -1.0  # under it, a document cannot
        if (n >= k and rest[i] <= kth) or rest[i] < theta:    # reach the k-th score any more
            n = _update(cand, scores, n, docs, impacts, starts[i], ends[i], weights[i], floor)
        else:
            cand, scores, n = _union(cand, scores, n, docs, impacts, blockmax, starts[i],
                                     ends[i], weights[i], floor)
    order = np.argsort(-scores[:n], kind="mergesort")[:k]
    return cand[order], scores[order]


@njit(cache=True, nogil=True)
def kth_impacts(impacts: np.ndarray, bounds: np.ndarray, depth: int, out: np.ndarray) -> None:
    """``out[t]``: the ``depth``-th largest impact of the term whose postings are
    ``impacts[bounds[t]:bounds[t + 1]]`` (0 for a term with fewer postings)."""
    for t in range(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        if hi - lo >= depth:
            out[t] = np.partition(impacts[lo:hi].copy(), hi - lo - depth)[hi - lo - depth]
