"""Metric nodes: scores computed by the reference libraries themselves.

Every node reads a dataset with a prediction and a reference column (a text reference may be
one string or a list of strings) and returns a METRICS dict: its top-level numbers are what a
run reports; `example_scores` (one score per row, in row order) and `worst_examples` (the
lowest-scoring rows, with their prediction and reference) feed the previews.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import math
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET, METRICS, MODEL, TOKENIZED_DATASET
from nodeloom.nodes.bundled import hub_unreachable
from nodeloom.nodes.data import require_columns

WORST_EXAMPLE_COUNT = 10


class PairParams(NodeParams):
    prediction_column: str = Field("prediction", description="Column with the model's outputs")
    reference_column: str = Field("reference", description="Column with the reference text (or a list of references)")


# ---------------------------------------------------------------------------------------------
# reading and ranking rows


def column_values(dataset: Any, column: str) -> list:
    """A column as a plain Python list (a datasets Column is lazy, and slow to iterate row by row)."""
    unformatted = dataset if dataset.format["type"] is None else dataset.with_format(None)
    return unformatted[column][:]


def _check_rows(dataset: Any, columns: list[str], where: str) -> None:
    require_columns(dataset, columns, where)
    if dataset.num_rows == 0:
        raise NodeError(f"{where}: the dataset has no rows to score; connect a dataset with predictions")


def read_pairs(dataset: Any, prediction_column: str, reference_column: str, where: str) -> tuple[list[str], list[list[str]]]:
    """Predictions and references from a dataset; a reference may be a string or a list of strings.

    Empty strings are kept: an empty prediction is a (bad) answer, not a missing one.
    """
    _check_rows(dataset, [prediction_column, reference_column], where)
    predictions, references = column_values(dataset, prediction_column), column_values(dataset, reference_column)
    normalized: list[list[str]] = []
    for row, (prediction, reference) in enumerate(zip(predictions, references)):
        if not isinstance(prediction, str):
            raise NodeError(f"{where}: column '{prediction_column}', row {row}: expected text, got {_kind(prediction)}")
        refs = [reference] if isinstance(reference, str) else reference
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise NodeError(
                f"{where}: column '{reference_column}', row {row}: expected a string or a non-empty list of strings, "
                f"got {_kind(reference)}"
            )
        normalized.append(refs)
    return predictions, normalized


def read_labels(dataset: Any, prediction_column: str, reference_column: str, where: str) -> tuple[list, list]:
    """Predicted and true class labels: all integers or all strings, in both columns."""
    _check_rows(dataset, [prediction_column, reference_column], where)
    columns = {column: column_values(dataset, column) for column in (prediction_column, reference_column)}
    kinds = {column: {_label_kind(value) for value in values} for column, values in columns.items()}
    for column, values in columns.items():
        if None in kinds[column]:
            row = next(row for row, value in enumerate(values) if _label_kind(value) is None)
            raise NodeError(f"{where}: column '{column}', row {row}: expected a class label (integer or text), got {_kind(values[row])}")
    if len(kinds[prediction_column] | kinds[reference_column]) > 1:
        expected = _label_kind(columns[prediction_column][0])
        column = prediction_column if len(kinds[prediction_column]) > 1 else reference_column
        row = next(row for row, value in enumerate(columns[column]) if _label_kind(value) != expected)
        raise NodeError(
            f"{where}: column '{column}', row {row} holds {_label_kind(columns[column][row])} but column '{prediction_column}' "
            f"starts with {expected} labels; give both columns the same kind (e.g. map class names to ids first)"
        )
    return columns[prediction_column], columns[reference_column]


def _label_kind(value: Any) -> str | None:
    return "text" if isinstance(value, str) else "integer" if isinstance(value, int) else None


def _kind(value: Any) -> str:
    return "an empty value (null)" if value is None else f"a {type(value).__name__} ({repr(value)[:40]})"


@contextlib.contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector while scoring.

    Scoring allocates millions of small objects (n-gram counters, score objects) that form no
    cycles, so reference counting frees them anyway; but each allocation burst triggers
    collections that walk every live object of a process holding torch and transformers, which
    made sacreBLEU per row 1.4x slower than `corpus_bleu` there.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def worst_examples(scores: list[float], predictions: list[str], references: list[list[str]]) -> list[dict]:
    """The rows with the lowest scores, earlier rows winning ties; a single reference shown as a string."""
    chosen = heapq.nsmallest(WORST_EXAMPLE_COUNT, range(len(scores)), key=lambda row: (scores[row], row))
    return [
        {
            "row": row,
            "prediction": predictions[row],
            "reference": references[row][0] if len(references[row]) == 1 else references[row],
            "score": scores[row],
        }
        for row in chosen
    ]


# ---------------------------------------------------------------------------------------------
# metric.sacrebleu


class SacreBleuParams(PairParams):
    tokenize: Literal["13a", "intl", "zh", "ja-mecab", "ko-mecab", "char", "flores101", "flores200", "none"] = Field(
        "13a", description="sacrebleu tokenizer"
    )
    lowercase: bool = Field(False, description="Compare lower-cased text")
    smooth_method: Literal["exp", "floor", "add-k", "none"] = Field("exp", description="Smoothing for zero n-gram counts")


def _sacrebleu_metric(where: str, **options: Any) -> Any:
    """A sacrebleu BLEU object; tokenizers that need extra packages or downloads fail with a clear message."""
    from sacrebleu.metrics import BLEU

    try:
        return BLEU(**options)
    except Exception as exc:  # mecab/sentencepiece tokenizers raise ImportError or download errors
        raise NodeError(f"{where}: parameter 'tokenize': tokenizer '{options.get('tokenize')}' is not usable here ({' '.join(str(exc).split())}); choose 13a, intl, zh, char or none") from exc


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

    predictions, references = read_pairs(inputs["dataset"], params.prediction_column, params.reference_column, "metric.sacrebleu")
    # no smoothing while counting: add-k smoothing adds to the counts it is given, in place
    counter = _sacrebleu_metric("metric.sacrebleu", tokenize=params.tokenize, lowercase=params.lowercase, smooth_method="none", effective_order=True)
    with cyclic_gc_paused():
        rows = [counter.sentence_score(prediction, refs) for prediction, refs in zip(predictions, references)]
        scores = [
            BLEU.compute_bleu(list(row.counts), list(row.totals), row.sys_len, row.ref_len, params.smooth_method, effective_order=True).score
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


def bleu_statistics(prediction_tokens: str, reference_tokens: list[str], max_order: int) -> tuple[list[int], list[int], int, int]:
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


def bleu_from_statistics(matches: list[int], possible: list[int], translation_length: int, reference_length: int, smooth: bool) -> dict:
    """BLEU as tensorflow/nmt's `compute_bleu` (which Hugging Face evaluate's `bleu` runs) defines it."""
    if smooth:
        precisions = [(match + 1.0) / (count + 1.0) for match, count in zip(matches, possible)]
    else:
        precisions = [match / count if count > 0 else 0.0 for match, count in zip(matches, possible)]
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
    outputs=[Output("metrics", METRICS, "bleu (0-1), precisions, brevity_penalty, length_ratio, translation_length, reference_length")],
    params=BleuParams,
    key_params=("max_order", "smooth"),
)
def bleu_score(ctx: RunContext, inputs: dict, params: BleuParams) -> dict:
    """Corpus BLEU (0–1) as Hugging Face evaluate's `bleu` computes it, without loading it from the Hub.

    The definition is tensorflow/nmt's: 13a tokenization, n-gram matches clipped by the best
    reference, the *shortest* reference length for the brevity penalty (sacreBLEU uses the
    closest), optional add-one smoothing. Each row also gets that BLEU computed on its own.
    """
    predictions, references = read_pairs(inputs["dataset"], params.prediction_column, params.reference_column, "metric.bleu")
    tokenizer = _sacrebleu_metric("metric.bleu", tokenize=params.tokenize).tokenizer
    with cyclic_gc_paused():
        rows = [
            bleu_statistics(tokenizer(prediction), [tokenizer(r) for r in refs], params.max_order)
            for prediction, refs in zip(predictions, references)
        ]
        scores = [bleu_from_statistics(*row, smooth=params.smooth)["bleu"] for row in rows]
    matches, possible, lengths, reference_lengths = zip(*rows)
    result = bleu_from_statistics(
        [sum(counts) for counts in zip(*matches)],
        [sum(counts) for counts in zip(*possible)],
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
        ["rouge1", "rouge2", "rougeL", "rougeLsum"], min_length=1, description="Scores to compute; the first one ranks the worst examples"
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

    predictions, references = read_pairs(inputs["dataset"], params.prediction_column, params.reference_column, "metric.rouge")
    types = list(dict.fromkeys(params.rouge_types))
    tokenizer = _WhitespaceTokenizer() if params.tokenizer == "whitespace" else None
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=params.use_stemmer, tokenizer=tokenizer)
    per_type: dict[str, list[float]] = {rouge_type: [] for rouge_type in types}
    with cyclic_gc_paused():
        for prediction, refs in zip(predictions, references):
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
    strip_punctuation: bool = Field(False, description="Remove punctuation (ASCII punctuation and symbols, and every Unicode punctuation mark)")
    collapse_whitespace: bool = Field(False, description="Trim the ends and turn every run of spaces, tabs and newlines into one space")


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
    predictions, references = read_pairs(inputs["dataset"], params.prediction_column, params.reference_column, "metric.exact_match")
    normalize = answer_normalizer(params)
    scores = [
        float(normalize(prediction) in {normalize(reference) for reference in refs})
        for prediction, refs in zip(predictions, references)
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


# ---------------------------------------------------------------------------------------------
# metric.accuracy and metric.precision_recall_f1


def _label_names(dataset: Any, column: str) -> list[str] | None:
    """Class names when the column is a datasets ClassLabel."""
    feature = dataset.features.get(column)
    return list(feature.names) if type(feature).__name__ == "ClassLabel" else None


def _misclassified(predictions: list, references: list) -> tuple[list[float], list[dict]]:
    """1.0 or 0.0 per row, and the first misclassified rows (correct rows are no example of anything)."""
    scores = [float(p == r) for p, r in zip(predictions, references)]
    wrong = itertools.islice((row for row, score in enumerate(scores) if not score), WORST_EXAMPLE_COUNT)
    return scores, [{"row": row, "prediction": predictions[row], "reference": references[row], "score": 0.0} for row in wrong]


@node(
    "metric.accuracy",
    title="Accuracy",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with predicted and true class labels")],
    outputs=[Output("metrics", METRICS, "accuracy (0-1), correct, total")],
    params=PairParams,
)
def accuracy(ctx: RunContext, inputs: dict, params: PairParams) -> dict:
    """The share of rows whose predicted class equals the true class (scikit-learn's accuracy_score)."""
    from sklearn.metrics import accuracy_score

    predictions, references = read_labels(inputs["dataset"], params.prediction_column, params.reference_column, "metric.accuracy")
    scores, worst = _misclassified(predictions, references)
    correct = int(accuracy_score(references, predictions, normalize=False))
    return {
        "metrics": {
            "accuracy": correct / len(references),  # the same division accuracy_score makes
            "correct": correct,
            "total": len(references),
            "example_scores": scores,
            "worst_examples": worst,
        }
    }


class PrecisionRecallParams(PairParams):
    average: Literal["binary", "macro", "micro", "weighted"] = Field(
        "macro",
        description="binary: the positive class only; macro: unweighted mean over classes; "
        "micro: from total counts; weighted: mean weighted by each class's support",
    )
    pos_label: str = Field("1", description="The positive class for average 'binary' (a number or a class name)")


def _positive_label(text: str, labels: list, names: list[str] | None) -> Any:
    """`pos_label` as the labels' own type: an integer id (or the id of a class name) or a string."""
    if isinstance(labels[0], str):
        return text
    if names and text in names:
        return names.index(text)
    try:
        return int(text)
    except ValueError:
        raise NodeError(f"metric.precision_recall_f1: parameter 'pos_label': '{text}' is not a number, and the labels are numbers") from None


@node(
    "metric.precision_recall_f1",
    title="Precision / recall / F1",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with predicted and true class labels")],
    outputs=[Output("metrics", METRICS, "precision, recall, f1 (0-1) and a per-class table")],
    params=PrecisionRecallParams,
    key_params=("average",),
)
def precision_recall_f1(ctx: RunContext, inputs: dict, params: PrecisionRecallParams) -> dict:
    """Precision, recall and F1 from scikit-learn (binary, macro, micro or weighted), with a per-class table.

    A class never predicted (or never present) has precision (or recall) 0, not a warning.
    """
    from sklearn.metrics import precision_recall_fscore_support

    dataset = inputs["dataset"]
    predictions, references = read_labels(dataset, params.prediction_column, params.reference_column, "metric.precision_recall_f1")
    names = _label_names(dataset, params.reference_column)
    options: dict[str, Any] = {"zero_division": 0.0}
    if params.average == "binary":
        options["pos_label"] = _positive_label(params.pos_label, references, names)
    try:
        precision, recall, f1, _ = precision_recall_fscore_support(references, predictions, average=params.average, **options)
    except ValueError as exc:  # e.g. average='binary' on three classes, or pos_label not among the labels
        raise NodeError(f"metric.precision_recall_f1: parameter 'average' is '{params.average}': {exc}") from exc
    classes = sorted(set(references) | set(predictions))
    table = precision_recall_fscore_support(references, predictions, labels=classes, average=None, zero_division=0.0)
    per_class = [
        {
            "label": names[label] if names and isinstance(label, int) and 0 <= label < len(names) else label,
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for label, p, r, f, s in zip(classes, *table)
    ]
    scores, worst = _misclassified(predictions, references)
    return {
        "metrics": {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "per_class": per_class,
            "example_scores": scores,
            "worst_examples": worst,
        }
    }


# ---------------------------------------------------------------------------------------------
# metric.perplexity


# transformers' causal LMs (GPT2LMHeadModel, LlamaForCausalLM, ...) and peft's wrapper of them
CAUSAL_LM_CLASS_ENDINGS = ("ForCausalLM", "LMHeadModel")


class PerplexityParams(NodeParams):
    batch_size: int = Field(8, ge=1, le=65_536, description="Rows per forward pass")


def token_columns(dataset: Any) -> dict[str, list]:
    """input_ids, labels and (when there) attention_mask as lists, after checking the TOKENIZED_DATASET contract."""
    where = "metric.perplexity: input 'dataset'"
    _check_rows(dataset, ["input_ids", "labels"], where)
    names = [column for column in ("input_ids", "attention_mask", "labels") if column in dataset.column_names]
    values = {column: column_values(dataset, column) for column in names}
    for row, input_ids in enumerate(values["input_ids"]):
        for column in names[1:]:
            if len(values[column][row]) != len(input_ids):
                raise NodeError(
                    f"{where}: column '{column}', row {row} has {len(values[column][row])} values but 'input_ids' has "
                    f"{len(input_ids)}; tokenize with text.tokenize so the columns line up"
                )
    return values


@node(
    "metric.perplexity",
    title="Perplexity",
    category="metric",
    inputs=[
        Input("model", MODEL, description="A causal language model"),
        Input("dataset", TOKENIZED_DATASET, description="Token rows: input_ids, attention_mask and labels (-100: not scored)"),
    ],
    outputs=[Output("metrics", METRICS, "perplexity, mean_loss (per token), tokens; perplexity per row")],
    params=PerplexityParams,
    wants_accelerator=True,
    key_params=("batch_size",),
)
def perplexity(ctx: RunContext, inputs: dict, params: PerplexityParams) -> dict:
    """Perplexity of a causal language model: exp of the mean next-token cross-entropy over all scored tokens.

    Every token counts once (a long row weighs more than a short one); labels of -100 are not
    scored, and each row's first token has nothing before it to be predicted from.
    """
    import torch
    import torch.nn.functional as F

    from nodeloom.nodes.train import pad_examples

    model = inputs["model"]
    columns = token_columns(inputs["dataset"])
    row_count = len(columns["input_ids"])
    if not type(model).__name__.endswith(CAUSAL_LM_CLASS_ENDINGS):
        raise NodeError(f"metric.perplexity: input 'model' is a {type(model).__name__}, not a causal language model; load it with task 'causal_lm'")
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    model.to(ctx.device).eval()

    row_losses: list[float] = []
    row_tokens: list[int] = []
    for start in range(0, row_count, params.batch_size):
        ctx.check_cancelled()
        rows = range(start, min(start + params.batch_size, row_count))
        batch = pad_examples([{name: values[row] for name, values in columns.items()} for row in rows], pad_token_id)
        labels = batch.pop("labels").to(ctx.device)
        with torch.no_grad():
            logits = model(**{name: tensor.to(ctx.device) for name, tensor in batch.items()}).logits
        # token t predicts token t+1: shift the labels left (padding with -100) rather than slicing
        # the logits, which would copy them
        targets = F.pad(labels[:, 1:], (0, 1), value=-100)
        losses = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none")
        row_losses += losses.view(targets.shape).sum(dim=1).tolist()
        row_tokens += (targets != -100).sum(dim=1).tolist()
        ctx.progress(len(row_losses) / row_count, f"{len(row_losses)}/{row_count} rows")

    tokens = sum(row_tokens)
    if tokens == 0:
        raise NodeError("metric.perplexity: input 'dataset' has no token to score (every row is shorter than 2 tokens or labelled -100)")
    mean_loss = math.fsum(row_losses) / tokens
    per_row = [math.exp(loss / count) if count else None for loss, count in zip(row_losses, row_tokens)]
    worst = heapq.nlargest(
        WORST_EXAMPLE_COUNT, (row for row, value in enumerate(per_row) if value is not None), key=lambda row: (per_row[row], -row)
    )
    return {
        "metrics": {
            "perplexity": math.exp(mean_loss),
            "mean_loss": mean_loss,
            "tokens": tokens,
            "example_scores": per_row,
            "worst_examples": [
                {"row": row, "perplexity": per_row[row], "mean_loss": row_losses[row] / row_tokens[row], "tokens": row_tokens[row]}
                for row in worst
            ],
        }
    }


# ---------------------------------------------------------------------------------------------
# metric.evaluate


class EvaluateParams(PairParams):
    metric: str = Field("", description="An evaluate metric: a Hub name such as 'meteor', or a local script or folder")
    config_name: str = Field("", description="The metric's configuration, for metrics that have several (empty: default)")
    compute_args: dict[str, Any] = Field({}, description="Extra keyword arguments for compute(), e.g. {\"average\": \"macro\"}")
    trust_remote_code: bool = Field(
        False, description="evaluate metrics are Python scripts that run when loaded: turn on only for a metric you trust"
    )


def _load_evaluate_metric(params: EvaluateParams) -> Any:
    import evaluate
    from huggingface_hub import constants

    where = f"metric.evaluate: parameter 'metric' ('{params.metric}')"
    if not params.metric.strip():
        raise NodeError(f"{where}: name a metric, e.g. 'meteor' or a local metric script (.py) or folder")
    if not params.trust_remote_code:
        raise NodeError(f"{where}: evaluate runs the metric's Python script when it loads it; set trust_remote_code to true if you trust it")
    try:
        return evaluate.load(params.metric, params.config_name or None)
    except Exception as exc:
        local = Path(params.metric).expanduser().exists()
        if not local and (constants.HF_HUB_OFFLINE or hub_unreachable(exc) or isinstance(exc, FileNotFoundError)):
            reason = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the Hub is unreachable or has no such metric"
            raise NodeError(
                f"{where}: no local metric at that path, and it cannot be fetched from the Hugging Face Hub ({reason}); "
                "use metric.bleu, metric.sacrebleu, metric.rouge, metric.accuracy, metric.precision_recall_f1 or "
                "metric.exact_match, which work offline, or give the path of a downloaded metric script"
            ) from exc
        raise NodeError(f"{where}: could not be loaded: {type(exc).__name__}: {exc}") from exc


def _json_number_tree(value: Any) -> Any:
    """numpy scalars and arrays (which some metrics return) as plain JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(key): _json_number_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_number_tree(item) for item in value]
    return value


@node(
    "metric.evaluate",
    title="evaluate metric",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with prediction and reference columns")],
    outputs=[Output("metrics", METRICS, "Whatever the metric's compute() returns")],
    params=EvaluateParams,
    key_params=("metric",),
)
def evaluate_metric(ctx: RunContext, inputs: dict, params: EvaluateParams) -> dict:
    """Any Hugging Face `evaluate` metric, by Hub name or local path (needs the Hub unless local).

    The columns go to compute() as they are (text, lists or numbers, as the metric expects).
    `evaluate` gives no per-row scores, so this node returns none.
    """
    dataset = inputs["dataset"]
    _check_rows(dataset, [params.prediction_column, params.reference_column], "metric.evaluate")
    metric = _load_evaluate_metric(params)
    try:
        result = metric.compute(
            predictions=column_values(dataset, params.prediction_column),
            references=column_values(dataset, params.reference_column),
            **params.compute_args,
        )
    except Exception as exc:  # the metric's own checks: wrong value types, unknown arguments
        raise NodeError(f"metric.evaluate: metric '{params.metric}' could not score the rows: {type(exc).__name__}: {exc}") from exc
    return {"metrics": _json_number_tree(dict(result or {}))}
