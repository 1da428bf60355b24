"""Text-overlap metrics: metric.sacrebleu, metric.bleu, metric.rouge and metric.exact_match."""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, Output, RunContext, node
from nodeloom.engine.types import DATASET, METRICS
from nodeloom.nodes.metrics.common import PairParams, cyclic_gc_paused, read_pairs, worst_examples

# ---------------------------------------------------------------------------------------------
# metric.sacrebleu


class SacreBleuParams(PairParams):
    tokenize: Literal["13a", "intl", "zh", "ja-mecab", "ko-mecab", "char", "flores101", "flores200", "none"] = Field(
        "13a", description="sacrebleu tokenizer"
    )
    lowercase: bool = Field(False, description="Compare lower-cased text")
    smooth_method: Literal["exp", "floor", "add-k", "none"] = Field(
        "exp", description="Smoothing for zero n-gram counts"
    )


def _sacrebleu_metric(where: str, **options: Any) -> Any:
    """A sacrebleu BLEU object; tokenizers that need extra packages or downloads fail with a clear message."""
    from sacrebleu.metrics import BLEU

    try:
        return BLEU(**options)
    except Exception as exc:  # mecab/sentencepiece tokenizers raise ImportError or download errors
        raise NodeError(
            f"{where}: parameter 'tokenize': tokenizer '{options.get('tokenize')}' is not usable here "
            f"({' '.join(str(exc).split())}); choose 13a, intl, zh, char or none"
        ) from exc


@node(
    "metric.sacrebleu",
    title="sacreBLEU",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with prediction and reference columns")],
    outputs=[Output("metrics", METRICS, "score (0-100), precisions, bp, sys_len, ref_len; sentence BLEU per row")],
    params=SacreBleuParams,
    version=2,  # 2: per-row scores added to the output
    key_params=("tokenize",),
)
def sacrebleu_score(ctx: RunContext, inputs: dict, params: SacreBleuParams) -> dict:
    """Corpus BLEU exactly as `sacrebleu.corpus_bleu` computes it (0–100), with sentence BLEU per row.

    Each row's n-gram statistics come from sacrebleu's `sentence_score`; the corpus score is
    `BLEU.compute_bleu` on their sums, which is what `corpus_bleu` does, and each row's score is
    `compute_bleu` on its own (effective order, as `sentence_bleu`), so rows are tokenized once.
    """
    from sacrebleu.metrics import BLEU

    predictions, references = read_pairs(
        inputs["dataset"], params.prediction_column, params.reference_column, "metric.sacrebleu"
    )
    # no smoothing while counting: add-k smoothing adds to the counts it is given, in place
    counter = _sacrebleu_metric(
        "metric.sacrebleu",
        tokenize=params.tokenize,
        lowercase=params.lowercase,
        smooth_method="none",
        effective_order=True,
    )
    with cyclic_gc_paused():
        pairs = zip(predictions, references, strict=False)
        rows = [counter.sentence_score(prediction, refs) for prediction, refs in pairs]
        scores = [
            BLEU.compute_bleu(
                list(row.counts), list(row.totals), row.sys_len, row.ref_len, params.smooth_method, effective_order=True
            ).score
            for row in rows
        ]
    order = counter.max_ngram_order
    corpus = BLEU.compute_bleu(
        correct=[sum(row.counts[n] for row in rows) for n in range(order)],
        total=[sum(row.totals[n] for row in rows) for n in range(order)],
        sys_len=sum(row.sys_len for row in rows),
        ref_len=sum(row.ref_len for row in rows),
        smooth_method=params.smooth_method,
    )
    return {
        "metrics": {
            "score": corpus.score,
            "precisions": list(corpus.precisions),
            "bp": corpus.bp,
            "sys_len": corpus.sys_len,
            "ref_len": corpus.ref_len,
            "example_scores": scores,
            "worst_examples": worst_examples(scores, predictions, references),
        }
    }


# ---------------------------------------------------------------------------------------------
# metric.bleu


class BleuParams(PairParams):
    max_order: int = Field(4, ge=1, le=10, description="Longest n-gram counted")
    smooth: bool = Field(False, description="Add one to every n-gram match and count (Lin and Och, 2004)")
    tokenize: Literal["13a", "intl", "zh", "char", "none"] = Field(
        "13a", description="sacrebleu tokenizer applied before splitting on spaces (13a is evaluate's default)"
    )


def bleu_statistics(
    prediction_tokens: str, reference_tokens: list[str], max_order: int
) -> tuple[list[int], list[int], int, int]:
    """(matches per order, possible matches per order, prediction length, shortest reference length).

    Matches are clipped by the largest count of that n-gram in any one reference.
    """
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    prediction_ngrams, prediction_length = extract_all_word_ngrams(prediction_tokens, 1, max_order)
    reference_ngrams, shortest = extract_all_word_ngrams(reference_tokens[0], 1, max_order)
    for reference in reference_tokens[1:]:
        ngrams, length = extract_all_word_ngrams(reference, 1, max_order)
        reference_ngrams |= ngrams  # the largest count of each n-gram in any one reference
        shortest = min(shortest, length)
    matches = [0] * max_order
    for ngram, count in prediction_ngrams.items():
        if ngram in reference_ngrams:
            matches[len(ngram) - 1] += min(count, reference_ngrams[ngram])
    possible = [max(prediction_length - order + 1, 0) for order in range(1, max_order + 1)]
    return matches, possible, prediction_length, shortest


def bleu_from_statistics(
    matches: list[int], possible: list[int], translation_length: int, reference_length: int, smooth: bool
) -> dict:
    """BLEU as tensorflow/nmt's `compute_bleu` (which Hugging Face evaluate's `bleu` runs) defines it."""
    if smooth:
        precisions = [(match + 1.0) / (count + 1.0) for match, count in zip(matches, possible, strict=False)]
    else:
        precisions = [match / count if count > 0 else 0.0 for match, count in zip(matches, possible, strict=False)]
    geometric_mean = math.exp(sum(math.log(p) for p in precisions) / len(precisions)) if min(precisions) > 0 else 0.0
    if translation_length == 0 or reference_length == 0:
        ratio, brevity_penalty = 0.0, 0.0
    else:
        ratio = translation_length / reference_length
        brevity_penalty = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return {
        "bleu": geometric_mean * brevity_penalty,
        "precisions": precisions,
        "brevity_penalty": brevity_penalty,
        "length_ratio": ratio,
        "translation_length": translation_length,
        "reference_length": reference_length,
    }


@node(
    "metric.bleu",
    title="BLEU (evaluate)",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with prediction and reference columns")],
    outputs=[
        Output(
            "metrics",
            METRICS,
            "bleu (0-1), precisions, brevity_penalty, length_ratio, translation_length, reference_length",
        )
    ],
    params=BleuParams,
    key_params=("max_order", "smooth"),
)
def bleu_score(ctx: RunContext, inputs: dict, params: BleuParams) -> dict:
    """Corpus BLEU (0–1) as Hugging Face evaluate's `bleu` computes it, without loading it from the Hub.

    The definition is tensorflow/nmt's: 13a tokenization, n-gram matches clipped by the best
    reference, the *shortest* reference length for the brevity penalty (sacreBLEU uses the
    closest), optional add-one smoothing. Each row also gets that BLEU computed on its own.
    """
    predictions, references = read_pairs(
        inputs["dataset"], params.prediction_column, params.reference_column, "metric.bleu"
    )
    tokenizer = _sacrebleu_metric("metric.bleu", tokenize=params.tokenize).tokenizer
    with cyclic_gc_paused():
        rows = [
            bleu_statistics(tokenizer(prediction), [tokenizer(r) for r in refs], params.max_order)
            for prediction, refs in zip(predictions, references, strict=False)
        ]
        scores = [bleu_from_statistics(*row, smooth=params.smooth)["bleu"] for row in rows]
    matches, possible, lengths, reference_lengths = zip(*rows, strict=False)
    result = bleu_from_statistics(
        [sum(counts) for counts in zip(*matches, strict=False)],
        [sum(counts) for counts in zip(*possible, strict=False)],
        sum(lengths),
        sum(reference_lengths),
        smooth=params.smooth,
    )
    result["example_scores"] = scores
    result["worst_examples"] = worst_examples(scores, predictions, references)
    return {"metrics": result}


# ---------------------------------------------------------------------------------------------
# metric.rouge

RougeType = Literal["rouge1", "rouge2", "rougeL", "rougeLsum"]


class RougeParams(PairParams):
    rouge_types: list[RougeType] = Field(
        ["rouge1", "rouge2", "rougeL", "rougeLsum"],
        min_length=1,
        description="Scores to compute; the first one ranks the worst examples",
    )
    use_stemmer: bool = Field(False, description="Porter-stem words before matching (English)")
    tokenizer: Literal["default", "whitespace"] = Field(
        "default",
        description="default: rouge_score's (lower-cases and keeps only a-z and 0-9, so other scripts score 0); "
        "whitespace: lower-cased words split on spaces, for any script",
    )


class _WhitespaceTokenizer:
    """rouge_score's tokenizer interface for text in any script: lower-cased, split on whitespace."""

    def tokenize(self, text: str) -> list[str]:
        return text.lower().split()


@node(
    "metric.rouge",
    title="ROUGE",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with prediction and reference columns")],
    outputs=[Output("metrics", METRICS, "rouge1, rouge2, rougeL, rougeLsum: F-measures averaged over rows")],
    params=RougeParams,
    key_params=("use_stemmer",),
)
def rouge_score(ctx: RunContext, inputs: dict, params: RougeParams) -> dict:
    """ROUGE F-measures from Google's `rouge_score`, averaged over rows (no bootstrap, so deterministic).

    A row with several references takes the best-matching one, as `RougeScorer.score_multi` does.
    rougeLsum treats newlines as sentence boundaries.
    """
    from rouge_score import rouge_scorer

    predictions, references = read_pairs(
        inputs["dataset"], params.prediction_column, params.reference_column, "metric.rouge"
    )
    types = list(dict.fromkeys(params.rouge_types))
    tokenizer = _WhitespaceTokenizer() if params.tokenizer == "whitespace" else None
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=params.use_stemmer, tokenizer=tokenizer)
    per_type: dict[str, list[float]] = {rouge_type: [] for rouge_type in types}
    with cyclic_gc_paused():
        for prediction, refs in zip(predictions, references, strict=False):
            scores = scorer.score(refs[0], prediction) if len(refs) == 1 else scorer.score_multi(refs, prediction)
            for rouge_type in types:
                per_type[rouge_type].append(scores[rouge_type].fmeasure)
    ranking = per_type[types[0]]
    metrics: dict[str, Any] = {rouge_type: math.fsum(values) / len(values) for rouge_type, values in per_type.items()}
    metrics["example_scores"] = ranking
    metrics["worst_examples"] = worst_examples(ranking, predictions, references)
    return {"metrics": metrics}


# ---------------------------------------------------------------------------------------------
# metric.exact_match

_PUNCTUATION = r"[\p{P}" + "".join("\\" + character for character in string.punctuation) + "]"


class ExactMatchParams(PairParams):
    lowercase: bool = Field(False, description="Ignore case")
    strip_punctuation: bool = Field(
        False, description="Remove punctuation (ASCII punctuation and symbols, and every Unicode punctuation mark)"
    )
    collapse_whitespace: bool = Field(
        False, description="Trim the ends and turn every run of spaces, tabs and newlines into one space"
    )


def answer_normalizer(params: ExactMatchParams) -> Callable[[str], str]:
    """The chosen normalization steps, in order: case, punctuation, whitespace."""
    import regex

    punctuation = regex.compile(_PUNCTUATION)
    steps = [
        step
        for wanted, step in (
            (params.lowercase, str.lower),
            (params.strip_punctuation, lambda text: punctuation.sub("", text)),
            (params.collapse_whitespace, lambda text: " ".join(text.split())),
        )
        if wanted
    ]

    def normalize(text: str) -> str:
        for step in steps:
            text = step(text)
        return text

    return normalize


@node(
    "metric.exact_match",
    title="Exact match",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with prediction and reference columns")],
    outputs=[Output("metrics", METRICS, "exact_match (share of rows, 0-1), matches, total")],
    params=ExactMatchParams,
    key_params=("lowercase", "strip_punctuation"),
)
def exact_match(ctx: RunContext, inputs: dict, params: ExactMatchParams) -> dict:
    """The share of rows whose prediction equals a reference after the chosen normalization.

    `worst_examples` lists the first rows that match no reference.
    """
    predictions, references = read_pairs(
        inputs["dataset"], params.prediction_column, params.reference_column, "metric.exact_match"
    )
    normalize = answer_normalizer(params)
    scores = [
        float(normalize(prediction) in {normalize(reference) for reference in refs})
        for prediction, refs in zip(predictions, references, strict=False)
    ]
    matches = int(sum(scores))
    return {
        "metrics": {
            "exact_match": matches / len(scores),
            "matches": matches,
            "total": len(scores),
            "example_scores": scores,
            "worst_examples": [row for row in worst_examples(scores, predictions, references) if not row["score"]],
        }
    }
