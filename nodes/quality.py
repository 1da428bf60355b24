"""data.quality: a data-quality profile of text rows, with duplicate, near-duplicate and train/test-leakage checks.

Also the text comparison data.split uses to drop held-out rows that repeat training rows: the
normalization (`TextNormalization`, `normalized_keys`), the word sets (`word_sets`) and the
near-duplicate search (`near_matches`: datasketch's MinHash LSH proposes pairs, their exact
Jaccard similarity confirms them).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET, METRICS, REPORT
from nodeloom.nodes.data import column_values, require_columns
from nodeloom.nodes.text.common import length_statistics, text_column_values

PUNCTUATION = re.compile(r"[^\w\s]")  # Unicode-aware: anything that is not a letter, digit, underscore or space
WORD = re.compile(r"\w+")
COLUMN_SEPARATOR = "\x1f"  # joins a row's normalized columns into one key; NFKC and the rules here never produce it
NUM_PERM = 128  # MinHash permutations
CANDIDATE_RECALL = 0.99  # the chance LSH offers a pair whose similarity is exactly the threshold (more above)
SCREEN_DEVIATIONS = 4.5  # how far below its expected MinHash agreement a pair at the threshold may fall and pass
EXAMPLES = 20  # rows of each table in the report
EXAMPLE_CHARS = 300
DEFAULT_THRESHOLD = 0.7


class TextNormalization(NodeParams):
    """How texts are made comparable; shared by data.quality and data.split's overlap check."""

    normalize_unicode: bool = Field(
        True, description="Unicode NFKC before comparing (full-width letters, ligatures, odd spaces)"
    )
    lowercase: bool = Field(True, description="Compare case-insensitively (Unicode case folding)")
    strip_punctuation: bool = Field(
        False,
        description=(
            "Turn punctuation into spaces before comparing (off: 'Hi!' and 'hi' are not exact duplicates, "
            "but near duplicates with similarity 1)"
        ),
    )
    collapse_whitespace: bool = Field(
        True, description="Turn runs of spaces, tabs and newlines into one space and trim the ends"
    )


class QualityParams(TextNormalization):
    text_column: str | list[str] = Field(
        "text",
        description="The text column to profile, or a list of columns profiled together (a row is then all of them)",
    )
    label_column: str = Field("", description="A class column for label balance (empty: none)")
    near_duplicate_threshold: float = Field(
        DEFAULT_THRESHOLD,
        ge=0.3,
        le=1.0,
        description=(
            "Near duplicates: the Jaccard similarity of the texts' word sets is at least this "
            "(one word replaced in 10: 0.82; one appended to 10: 0.91; one replaced in 6: 0.71)"
        ),
    )
    min_words: int = Field(3, ge=1, description="A non-empty text with fewer words than this counts as short")


def text_columns(text_column: str | list[str]) -> list[str]:
    return [text_column] if isinstance(text_column, str) else list(text_column)


def normalizer(options: TextNormalization) -> Callable[[str], str]:
    """The chosen rules, in a fixed order: NFKC, case folding, punctuation to spaces, whitespace."""
    steps: list[Callable[[str], str]] = []
    if options.normalize_unicode:
        steps.append(lambda text: unicodedata.normalize("NFKC", text))
    if options.lowercase:
        steps.append(str.casefold)
    if options.strip_punctuation:
        steps.append(lambda text: PUNCTUATION.sub(" ", text))
    if options.collapse_whitespace:
        steps.append(lambda text: " ".join(text.split()))

    def normalize(text: str) -> str:
        for step in steps:
            text = step(text)
        return text.replace(COLUMN_SEPARATOR, " ")

    return normalize


def column_texts(dataset: Any, columns: list[str], where: str) -> list[list[str]]:
    """Each text column as Python strings (None as ""), checked to exist and to hold text."""
    return [text_column_values(dataset, column, where) for column in columns]


def normalized_keys(texts: list[list[str]], options: TextNormalization) -> list[str]:
    """One comparison key per row: its normalized columns joined by a separator."""
    normalize = normalizer(options)
    if len(texts) == 1:
        return [normalize(text) for text in texts[0]]
    return [COLUMN_SEPARATOR.join(normalize(text) for text in row) for row in zip(*texts, strict=True)]


def word_sets(key: str) -> frozenset[str]:
    """The words of a key; with several columns each word is tagged with its column, so columns never mix."""
    parts = key.split(COLUMN_SEPARATOR)
    if len(parts) == 1:
        return frozenset(WORD.findall(key))
    return frozenset(
        f"{index}{COLUMN_SEPARATOR}{word}" for index, part in enumerate(parts) for word in WORD.findall(part)
    )


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    shared = len(first & second)
    return shared / (len(first) + len(second) - shared)


def _screen(threshold: float, columns: int) -> float:
    """The fewest agreeing MinHash values a pair at the threshold shows, but for a chance under 1 in 100,000.

    Agreements of a pair with similarity s are binomial (columns, s); this is SCREEN_DEVIATIONS
    standard deviations below the mean at s = threshold (pairs above it agree more).
    """
    return columns * threshold - SCREEN_DEVIATIONS * math.sqrt(columns * threshold * (1 - threshold))


def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) of the fewest bands whose LSH offers a pair at the threshold with CANDIDATE_RECALL.

    datasketch's own choice balances misses and false candidates, and offers a pair right at the
    threshold only about half the time; candidates are confirmed exactly here, so misses are what
    must be rare. Larger bands first: fewer false candidates.
    """
    for rows in range(num_perm // 2, 0, -1):
        probability = threshold**rows
        if probability >= 1.0:
            return num_perm // rows, rows
        if probability <= 0.0:
            continue
        bands = max(2, math.ceil(math.log1p(-CANDIDATE_RECALL) / math.log1p(-probability)))
        if bands * rows <= num_perm:
            return bands, rows
    return num_perm, 1


class _WordHashes(dict):
    """32-bit hashes of words, each computed once: datasketch then hashes a text with C-level lookups."""

    def __missing__(self, word: str) -> int:
        from datasketch.hashfunc import sha1_hash32

        value = self[word] = sha1_hash32(word.encode("utf-8"))
        return value


class NearIndex:
    """Word sets in datasketch's MinHash LSH, with each set's MinHash values kept for a screen in numpy.

    `match` asks LSH for candidates, screens them by their MinHash agreement (all at once), then checks
    the likely ones by their exact Jaccard similarity, most agreeing first, and answers the first that
    reaches the threshold: a match is always truly a near duplicate. LSH and the screen can only miss a
    pair, rarely: LSH offers a pair at the threshold with CANDIDATE_RECALL (more above it), and the
    screen passes it but for a chance of a few in a million.
    """

    def __init__(self, threshold: float, capacity: int):
        import numpy as np
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.lsh = MinHashLSH(num_perm=NUM_PERM, params=lsh_bands(threshold))
        self.values = np.zeros((capacity, NUM_PERM), dtype=np.uint32)  # key -> its MinHash values
        self.sets: dict[int, frozenset[str]] = {}
        self.needed = _screen(threshold, NUM_PERM)

    def add(self, key: int, words: frozenset[str], sketch: Any) -> None:
        self.lsh.insert(key, sketch, check_duplication=False)
        self.values[key] = sketch.hashvalues
        self.sets[key] = words

    def match(self, words: frozenset[str], sketch: Any) -> tuple[int, float] | None:
        """(key, similarity) of an indexed set at or above the threshold, or None."""
        import numpy as np

        candidates = self.lsh.query(sketch) if self.sets else []
        if not candidates:
            return None
        keys = np.sort(np.fromiter(candidates, dtype=np.int64, count=len(candidates)))
        agreeing = np.count_nonzero(self.values[keys] == sketch.hashvalues, axis=1)
        for position in np.argsort(-agreeing, kind="stable").tolist():  # most agreeing first, then lowest key
            if agreeing[position] < self.needed:
                return None
            key = int(keys[position])
            similarity = jaccard(words, self.sets[key])
            if similarity >= self.threshold - 1e-12:
                return key, similarity
        return None


class Sketcher:
    """The MinHash of a word set, in one reused datasketch MinHash (valid until the next call): copying a
    MinHash costs more than filling one, and LSH reads the values at once and keeps none of it."""

    def __init__(self) -> None:
        from datasketch import MinHash

        self.minhash = MinHash(num_perm=NUM_PERM, hashfunc=_WordHashes().__getitem__)

    def __call__(self, words: frozenset[str]) -> Any:
        self.minhash.clear()
        self.minhash.update_batch(list(words))
        return self.minhash


def near_matches(
    keys: list[str], reference: list[str], threshold: float
) -> tuple[list[tuple[int, int, float]], dict[int, tuple[int, float]]]:
    """Near duplicates among distinct texts `keys` (in order) and of them in distinct texts `reference`.

    First: (j, i, similarity) for each text j that a keep-the-first near-deduplication drops, i being the
    earlier kept text it matches: in order, a text is dropped when it is a near duplicate of a kept one,
    and kept (indexed) otherwise, so a big group of near-identical texts costs one indexed text.
    Second: text index -> (reference index, similarity) for each text that nearly matches a reference text.
    """
    sketch = Sketcher()
    reference_index = NearIndex(threshold, len(reference))
    for index, key in enumerate(reference):
        words = word_sets(key)
        if words:
            reference_index.add(index, words, sketch(words))
    kept = NearIndex(threshold, len(keys))
    dropped: list[tuple[int, int, float]] = []
    leaked: dict[int, tuple[int, float]] = {}
    for index, key in enumerate(keys):
        words = word_sets(key)
        if not words:  # no words, no similarity: only exact copies count
            continue
        signature = sketch(words)
        match = reference_index.match(words, signature)
        if match is not None:
            leaked[index] = match
        match = kept.match(words, signature)
        if match is None:
            kept.add(index, words, signature)
        else:
            dropped.append((index, *match))
    return dropped, leaked


def rows_overlapping(keys: list[str], reference_rows: list[int], rows: list[int], threshold: float | None) -> list[int]:
    """Those of `rows` whose key equals the key of one of `reference_rows` or, given a threshold, is a near
    duplicate of one (data.split's drop_overlap); `keys` are the normalized texts of all rows."""
    reference = list(dict.fromkeys(keys[row] for row in reference_rows))
    known = set(reference)
    if threshold is None:
        return [row for row in rows if keys[row] in known]
    distinct = list(dict.fromkeys(keys[row] for row in rows if keys[row] not in known))
    near = {distinct[index] for index in near_matches(distinct, reference, threshold)[1]}
    return [row for row in rows if keys[row] in known or keys[row] in near]


def _short(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + "…"


def _shown(texts: list[list[str]], row: int) -> str:
    """A row's text as the user wrote it (columns joined by ' | '), shortened."""
    return _short(" | ".join(column[row] for column in texts))


def _first_rows(keys: list[str]) -> dict[str, int]:
    first: dict[str, int] = {}
    for row, key in enumerate(keys):
        first.setdefault(key, row)
    return first


def _blank_and_short(texts: list[list[str]], keys: list[str], min_words: int) -> tuple[int, int]:
    empty = short = 0
    for row, key in enumerate(keys):
        parts = key.split(COLUMN_SEPARATOR)
        if not all(part.strip() for part in parts):
            empty += 1
        elif any(len(text.split()) < min_words for text in (column[row] for column in texts)):
            short += 1
    return empty, short


def _leaks(
    keys: list[str], distinct: list[str], reference_first: dict[str, int], best: dict[int, tuple[int, float]]
) -> dict[int, tuple[int, float, bool]]:
    """Row -> (reference row, similarity, exact) for every row whose text equals or nearly equals a reference row's."""
    reference_rows = list(reference_first.values())
    matches: dict[str, tuple[int, float, bool]] = {}
    for index, key in enumerate(distinct):
        if key in reference_first:
            matches[key] = (reference_first[key], 1.0, True)
        elif index in best:
            matches[key] = (reference_rows[best[index][0]], best[index][1], False)
    return {row: matches[key] for row, key in enumerate(keys) if key in matches}


def _duplicate_examples(keys: list[str], first: dict[str, int], texts: list[list[str]]) -> list[dict[str, Any]]:
    """The texts with the most copies, first."""
    copies = Counter(keys)
    most = sorted((item for item in copies.items() if item[1] > 1), key=lambda item: (-item[1], first[item[0]]))
    return [
        {"copies": count, "first_row": first[key], "text": _shown(texts, first[key])} for key, count in most[:EXAMPLES]
    ]


def _overlap_counts(rows: int, leaks: dict[int, tuple[int, float, bool]], reference_rows: int) -> dict[str, float]:
    exact = sum(1 for _match, _similarity, is_exact in leaks.values() if is_exact)
    return {
        "overlap_with_reference": round(len(leaks) / rows, 6) if rows else 0.0,
        "exact_overlap_rows": exact,
        "near_overlap_rows": len(leaks) - exact,
        "overlap_rows": len(leaks),
        "reference_rows": reference_rows,
    }


def _label_balance(dataset: Any, column: str) -> dict[str, Any]:
    require_columns(dataset, [column], "data.quality: parameter 'label_column'")
    feature = dataset.features[column]
    names = getattr(feature, "names", None)
    values = column_values(dataset, column)

    def name(value: Any) -> str:
        if value is None or (names and value == -1):  # -1: datasets' ClassLabel for "no label"
            return "(missing)"
        return names[value] if names and isinstance(value, int) and 0 <= value < len(names) else str(value)

    counts = Counter(name(value) for value in values)
    classes = [
        {"label": label, "rows": rows, "share": round(rows / len(values), 4)}
        for label, rows in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {"column": column, "classes": classes}


def _length_metrics(lengths: dict[str, dict[str, Any]]) -> dict[str, float]:
    found: dict[str, float] = {}
    for unit, statistics in lengths.items():
        for name in ("mean", "p50", "p95", "max"):
            if name in statistics:
                found[f"{unit}_{name}"] = round(statistics[name], 2)
    return found


@node(
    "data.quality",
    title="Data quality",
    category="data",
    inputs=[
        Input("dataset", DATASET, description="The rows to profile (e.g. the test split)"),
        Input("reference", DATASET, required=False, description="Rows to check for overlap (e.g. the train split)"),
    ],
    outputs=[
        Output("report", REPORT, "Counts, length histograms, label balance, the worst duplicates and leaked rows"),
        Output(
            "metrics",
            METRICS,
            "rows, duplicate_rows, near_duplicate_rows, overlap_with_reference, lengths, label shares",
        ),
    ],
    params=QualityParams,
    key_params=("text_column", "near_duplicate_threshold"),
)
def data_quality(ctx: RunContext, inputs: dict, params: QualityParams) -> dict:
    """Profile text rows: empty, short, duplicate and near-duplicate rows, lengths, labels, overlap with a reference.

    Texts are compared after normalization (default: Unicode NFKC, case folding, whitespace
    collapsed; punctuation optionally). With several text columns a row's text is all of them:
    two rows are equal when every column is. Definitions (`rows` = rows of `dataset`):

    - `duplicate_rows` = rows − distinct normalized texts (the extra copies).
    - Similarity = Jaccard similarity of the two texts' sets of words (runs of letters and
      digits of the normalized text). Near duplicates: similarity ≥ `near_duplicate_threshold`.
      datasketch's MinHash LSH proposes the pairs; each is confirmed by its exact similarity.
    - `near_duplicate_rows` = distinct texts that a keep-the-first near-deduplication drops: in
      order of first appearance, a text that is a near duplicate of an earlier kept text.
    - `exact_overlap_rows` = rows whose normalized text equals some reference row's;
      `near_overlap_rows` = the other rows that are near duplicates of some reference row;
      `overlap_rows` = their sum; `overlap_with_reference` = overlap_rows / rows (0–1).
      Only when `reference` is connected.
    - `empty_rows`: a profiled column is blank after normalization; `short_rows`: not empty,
      and a column has fewer than `min_words` words. Lengths count characters and
      whitespace-separated words of the text as stored (columns added together).
    """
    dataset, reference = inputs["dataset"], inputs.get("reference")
    columns = text_columns(params.text_column)
    if not columns:
        raise NodeError("data.quality: parameter 'text_column' is an empty list; name at least one text column")
    texts = column_texts(dataset, columns, "data.quality: parameter 'text_column'")
    keys = normalized_keys(texts, params)
    rows, first = len(keys), _first_rows(keys)
    distinct = list(first)  # distinct texts in order of first appearance
    reference_texts = (
        column_texts(reference, columns, "data.quality: input 'reference'") if reference is not None else []
    )
    reference_first = _first_rows(normalized_keys(reference_texts, params)) if reference is not None else {}
    dropped, leaked = near_matches(distinct, list(reference_first), params.near_duplicate_threshold)
    ctx.check_cancelled()
    near = [(first[distinct[j]], first[distinct[i]], similarity) for j, i, similarity in dropped]
    empty, short = _blank_and_short(texts, keys, params.min_words)
    lengths = {
        "characters": length_statistics([sum(len(column[row]) for column in texts) for row in range(rows)]),
        "words": length_statistics([sum(len(column[row].split()) for column in texts) for row in range(rows)]),
    }
    metrics: dict[str, Any] = {"rows": rows, "duplicate_rows": rows - len(first), "near_duplicate_rows": len(near)}
    report: dict[str, Any] = {
        "columns": columns,
        "normalization": {name: getattr(params, name) for name in TextNormalization.model_fields},
        "near_duplicate_threshold": params.near_duplicate_threshold,
        "distinct_texts": len(first),
        "duplicates": _duplicate_examples(keys, first, texts),
        "near_duplicates": [
            {
                "row": row,
                "text": _shown(texts, row),
                "similar_row": kept,
                "similar_text": _shown(texts, kept),
                "similarity": round(similarity, 4),
            }
            for row, kept, similarity in sorted(near, key=lambda item: (-item[2], item[0]))[:EXAMPLES]
        ],
        "lengths": lengths,
    }
    if reference is not None:
        leaks = _leaks(keys, distinct, reference_first, leaked)
        metrics |= _overlap_counts(rows, leaks, reference.num_rows)
        report["leaks"] = [
            {
                "row": row,
                "text": _shown(texts, row),
                "reference_row": match,
                "reference_text": _shown(reference_texts, match),
                "similarity": round(similarity, 4),
                "match": "exact" if exact else "near",
            }
            for row, (match, similarity, exact) in sorted(
                leaks.items(), key=lambda item: (not item[1][2], -item[1][1], item[0])
            )[:EXAMPLES]
        ]
    metrics |= {"empty_rows": empty, "short_rows": short} | _length_metrics(lengths)
    if params.label_column:
        report["labels"] = _label_balance(dataset, params.label_column)
        shares = [entry["share"] for entry in report["labels"]["classes"]]
        metrics |= {"label_classes": len(shares), "smallest_label_share": min(shares, default=0.0)}
    ctx.log(
        f"{rows} rows: {metrics['duplicate_rows']} duplicate, {metrics['near_duplicate_rows']} near duplicate, "
        f"{empty} empty, {short} short"
        + (
            f"; {metrics['overlap_rows']} overlap the reference ({metrics['overlap_with_reference']:.1%})"
            if reference is not None
            else ""
        )
    )
    return {"report": metrics | report, "metrics": metrics}
