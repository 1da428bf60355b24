"""data.load_dataset, data.split and the built-in sample data sets."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import pytest
from pydantic import ValidationError

from nodeloom.engine import CancelToken, NodeError, RunContext
from nodeloom.engine.cache import default_cache
from nodeloom.engine.runner import run_pipeline
from nodeloom.engine.validation import PipelineInvalid, load_pipeline
from nodeloom.nodes import data
from tools import generate_sample_data

SAMPLE_DATA = Path(data.__file__).resolve().parent / "sample_data"


def context(tmp_path: Path | None = None, seed: int = 0) -> RunContext:
    return RunContext(
        "test", "node", "cpu", seed, tmp_path or Path("/tmp/nodeloom-test"), CancelToken(), lambda event: None
    )


def load(**params) -> datasets.Dataset:
    return data.load_dataset(context(), {}, data.LoadDatasetParams(**params))["dataset"]


def split(dataset: datasets.Dataset, pipeline_seed: int = 0, **params) -> dict[str, datasets.Dataset]:
    """The three parts (the report output aside: tests/nodes/test_quality.py checks it)."""
    outputs = data.split_dataset(context(seed=pipeline_seed), {"dataset": dataset}, data.SplitParams(**params))
    return {part: outputs[part] for part in ("train", "validation", "test")}


# ---------------------------------------------------------------------------------------------
# built-in sample data


def test_generator_reproduces_the_shipped_files_exactly(tmp_path):
    written = generate_sample_data.write_all(tmp_path)
    assert len(written) == 7
    for path in written:
        assert path.read_bytes() == (SAMPLE_DATA / path.name).read_bytes(), (
            f"{path.name} differs: rerun python tools/generate_sample_data.py"
        )


def test_chat_support_contract():
    train, test, every = (
        load(source="builtin", name="chat_support"),
        load(source="builtin", name="chat_support", split="test"),
        load(source="builtin", name="chat_support", split="all"),
    )
    assert train.column_names == test.column_names == ["question", "answer", "topic"]
    assert every.num_rows == train.num_rows + test.num_rows >= 300
    assert test.num_rows >= 30
    assert not set(train["question"]) & set(test["question"]), "test questions must be held out"
    # every held-out question's answer is taught in train, and each intent keeps one answer
    assert set(test["answer"]) <= set(train["answer"])
    assert len(set(train["answer"])) >= 25
    assert {"orders", "shipping", "returns", "account", "payments"} <= set(train["topic"])
    question_answer_pairs = zip(every["question"], every["answer"], strict=False)
    assert all(question.strip() and answer.strip() for question, answer in question_answer_pairs)


def test_reviews_sentiment_is_balanced_and_labelled():
    reviews = load(source="builtin", name="reviews_sentiment")
    assert reviews.column_names == ["text", "label"]
    assert reviews.num_rows >= 400
    assert reviews.features["label"].names == ["negative", "positive"]
    counts = Counter(reviews["label"])
    assert set(counts) == {0, 1} and counts[0] == counts[1]
    assert len(set(reviews["text"])) == reviews.num_rows
    words = " ".join(reviews["text"]).lower()
    assert all(word in words for word in ("film", "waiter", "battery"))  # products, movies and restaurants


def test_support_articles_is_a_small_text_corpus():
    articles = load(source="builtin", name="support_articles", split="all")
    assert articles.column_names == ["text"]
    assert 200 <= articles.num_rows <= 1000
    assert all(len(text.split()) >= 10 for text in articles["text"])


def test_every_builtin_has_a_data_card_with_its_true_size():
    for name in data.BUILTIN_LABEL_NAMES:
        card = (SAMPLE_DATA / f"{name}.md").read_text(encoding="utf-8")
        rows = load(source="builtin", name=name, split="all").num_rows
        assert str(rows) in card, f"{name}.md does not state its size {rows}"
        for section in ("Size", "Columns", "How it was made", "Licence"):
            assert section in card


def test_builtin_bad_name_and_split():
    # a fixed list of names: refused with the parameters, before anything runs
    with pytest.raises(ValidationError, match="name must be one of chat_support, reviews_sentiment, support_articles"):
        load(source="builtin", name="chatbot")
    with pytest.raises(NodeError, match="has no split 'test'.*train, all.*data.split"):
        load(source="builtin", name="reviews_sentiment", split="test")


def test_column_values_are_plain_python_lists_whatever_the_dataset_format():
    dataset = datasets.Dataset.from_dict({"text": ["a", None], "label": [0, 1], "ids": [[1, 2], [3]]})
    for data_format in (None, "numpy", "torch", "pandas", "arrow"):
        formatted = dataset.with_format(data_format)
        values = {column: data.column_values(formatted, column) for column in dataset.column_names}
        assert all(type(column) is list for column in values.values()), data_format
        assert values == {"text": ["a", None], "label": [0, 1], "ids": [[1, 2], [3]]}, data_format
        assert type(values["label"][0]) is int, data_format
        assert formatted.format["type"] == data_format  # the caller's dataset keeps its format


# ---------------------------------------------------------------------------------------------
# files


def test_reads_every_supported_format(tmp_path):
    rows = [{"text": "first row", "label": 0}, {"text": "second, with comma", "label": 1}]
    (tmp_path / "a.csv").write_text('text,label\nfirst row,0\n"second, with comma",1\n', encoding="utf-8")
    (tmp_path / "a.tsv").write_text("text\tlabel\nfirst row\t0\nsecond, with comma\t1\n", encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(rows), encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "a.parquet"))
    for suffix in ("csv", "tsv", "json", "jsonl", "parquet"):
        loaded = load(path=str(tmp_path / f"a.{suffix}"))
        assert loaded.to_list() == rows, suffix
    (tmp_path / "a.txt").write_text("line one\nline two\n", encoding="utf-8")
    assert load(path=str(tmp_path / "a.txt"))["text"] == ["line one", "line two"]


def test_csv_without_header_gets_numbered_columns(tmp_path):
    (tmp_path / "plain.tsv").write_text("hello\t1\nbye\t0\n", encoding="utf-8")
    loaded = load(path=str(tmp_path / "plain.tsv"), header=False)
    assert loaded.column_names == ["column_1", "column_2"]
    assert loaded["column_1"] == ["hello", "bye"]


def test_select_rename_shuffle_and_max_rows(tmp_path):
    (tmp_path / "n.jsonl").write_text(
        "".join(json.dumps({"text": f"row {i}", "id": i, "extra": "x"}) + "\n" for i in range(50)), encoding="utf-8"
    )
    path = str(tmp_path / "n.jsonl")
    picked = load(path=path, columns=["id", "text"], rename={"text": "sentence"}, max_rows=5)
    assert picked.column_names == ["id", "sentence"] and picked["id"] == [0, 1, 2, 3, 4]
    shuffled = load(path=path, shuffle=True, seed=3, max_rows=10)
    assert shuffled["id"] != list(range(10)) and len(set(shuffled["id"])) == 10
    assert load(path=path, shuffle=True, seed=3, max_rows=10)["id"] == shuffled["id"]
    assert load(path=path, shuffle=True, seed=4, max_rows=10)["id"] != shuffled["id"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin1.csv", b"text,label\ncafe,1\ncaf\xe9,0\n", r"latin1.csv' is not UTF-8 text \(line 3"),
        (
            "broken.jsonl",
            b'{"text": "ok"}\n{"text": "ok"}\n{"text": oops}\n',
            r"broken.jsonl' is not valid JSON \(line 3",
        ),
        ("table.json", b"text,label\nhello,1\n", r"table.json' is not valid JSON \(line 1"),
        ("fake.parquet", b"text,label\nhello,1\n", r"fake.parquet' is not a Parquet file"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", r"ragged.csv' could not be read as csv: .*line 3"),
        ("empty.csv", b"", r"empty.csv' is empty"),
        ("picture.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8", r"picture.txt' is not UTF-8 text \(line 1"),
    ],
)
def test_bad_files_are_reported_with_file_and_line(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(NodeError, match=message):
        load(path=str(tmp_path / name))


def test_missing_or_unsupported_files(tmp_path):
    with pytest.raises(ValidationError, match="path is required when source is file"):
        load(path="")
    with pytest.raises(NodeError, match="'nowhere.csv' does not exist"):
        load(path="nowhere.csv")
    (tmp_path / "book.xlsx").write_bytes(b"PK")
    with pytest.raises(NodeError, match="cannot read 'book.xlsx'; supported extensions: .csv, .tsv"):
        load(path=str(tmp_path / "book.xlsx"))


def test_missing_columns_are_named_with_the_ones_there_are():
    with pytest.raises(
        NodeError,
        match="parameter 'columns': column 'questions' is not in the dataset; its columns are: question, answer, topic",
    ):
        load(source="builtin", columns=["questions"])
    with pytest.raises(
        NodeError,
        match="parameter 'rename': column 'text' is not in the dataset; its columns are: question, answer, topic",
    ):
        load(source="builtin", rename={"text": "prompt"})


def test_hub_offline_says_the_hub_is_unreachable_and_suggests_file():
    with pytest.raises(NodeError, match="Hugging Face Hub is unreachable.*source 'file'"):
        load(source="hub", name="stanfordnlp/imdb", split="test")


# ---------------------------------------------------------------------------------------------
# data.split


def labelled(count: int = 100, positives: int = 30) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"text": [f"text {i}" for i in range(count)], "label": [int(i < positives) for i in range(count)]}
    )


def test_split_fractions_partition_the_rows_and_keep_class_balance():
    parts = split(labelled(), train_fraction=0.6, validation_fraction=0.2, test_fraction=0.2)
    sizes = {name: part.num_rows for name, part in parts.items()}
    assert sizes == {"train": 60, "validation": 20, "test": 20}
    texts = [set(part["text"]) for part in parts.values()]
    assert set.union(*texts) == set(labelled()["text"]) and sum(map(len, texts)) == 100
    assert [sum(part["label"]) for part in parts.values()] == [18, 6, 6]  # 30% positives in each part


def test_split_is_seeded():
    first = split(labelled(), pipeline_seed=1)["test"]["text"]
    assert split(labelled(), pipeline_seed=1)["test"]["text"] == first
    assert split(labelled(), pipeline_seed=2)["test"]["text"] != first
    # an explicit seed wins over the pipeline's
    assert split(labelled(), pipeline_seed=2, seed=1)["test"]["text"] == first


def test_split_without_label_column_is_plain_and_zero_fraction_is_empty():
    plain = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(10)]})
    parts = split(plain, train_fraction=0.8, validation_fraction=0.0, test_fraction=0.2)
    assert (parts["train"].num_rows, parts["validation"].num_rows, parts["test"].num_rows) == (8, 0, 2)
    assert parts["validation"].column_names == ["text"]


def test_split_bad_inputs():
    with pytest.raises(ValueError, match="must be 1, got 1.1"):
        data.SplitParams(train_fraction=0.8, validation_fraction=0.2, test_fraction=0.1)
    with pytest.raises(
        NodeError,
        match="parameter 'stratify_column': column 'topic' is not in the dataset; its columns are: text, label",
    ):
        split(labelled(), stratify_column="topic")
    with pytest.raises(NodeError, match="cannot stratify by column 'label'.*set 'stratify_column' to empty"):
        split(labelled(10, positives=1))
    with pytest.raises(NodeError, match="leave none for training"):
        split(labelled(2), train_fraction=0.2, validation_fraction=0.4, test_fraction=0.4)


# ---------------------------------------------------------------------------------------------
# through the engine: cache and reload


def split_pipeline(path: str) -> dict:
    return {
        "schema_version": 1,
        "name": "load and split",
        "settings": {"seed": 5},
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": path}},
            {
                "id": "split",
                "type": "data.split",
                "params": {"train_fraction": 0.5, "validation_fraction": 0.25, "test_fraction": 0.25},
            },
        ],
        "edges": [{"source": "load", "target": "split"}],
    }


def test_outputs_are_cached_and_reload_from_disk_in_a_new_run(tmp_path, nodeloom_home):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(json.dumps({"text": f"example {i}", "label": i % 2}) + "\n" for i in range(40)), encoding="utf-8"
    )
    first = run_pipeline(load_pipeline(split_pipeline(str(path))), device="cpu")
    assert first.status == "succeeded" and not first.nodes["split"].cached
    expected = first.outputs("split")["test"]["text"]
    assert first.nodes["load"].summary["rows"] == 40 and first.nodes["load"].summary["head"][0]["text"] == "example 0"
    assert first.nodes["split"].summary["test"] == {"rows": 10, "label_counts": {"0": 5, "1": 5}}
    json.dumps({node_id: result.summary for node_id, result in first.nodes.items()})  # previews are plain JSON

    second = run_pipeline(load_pipeline(split_pipeline(str(path))), device="cpu")
    assert second.nodes["load"].cached and second.nodes["split"].cached
    default_cache().clear_memory()
    third = run_pipeline(load_pipeline(split_pipeline(str(path))), device="cpu")
    assert third.nodes["split"].cached
    reloaded = third.outputs("split")  # read back from the Arrow files on disk
    assert reloaded["test"]["text"] == expected and reloaded["train"].num_rows == 20

    path.write_text(path.read_text(encoding="utf-8").replace("example 0", "changed 0"), encoding="utf-8")
    reseeded = split_pipeline(str(path))
    reseeded["nodes"][1]["params"]["seed"] = 11
    default_cache().clear_memory()
    assert not run_pipeline(load_pipeline(reseeded), device="cpu").nodes["split"].cached
    assert not list(nodeloom_home.rglob("cache-*.arrow")), "datasets wrote index files into a cache entry"

    path.write_text(path.read_text(encoding="utf-8").replace("example 0", "changed 0"), encoding="utf-8")
    edited = run_pipeline(load_pipeline(split_pipeline(str(path))), device="cpu")
    assert not edited.nodes["load"].cached, "an edited file must not be served from the cache"


def test_an_empty_split_part_reloads_from_disk(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(json.dumps({"text": f"example {i}", "label": i % 2}) + "\n" for i in range(20)), encoding="utf-8"
    )
    pipeline = split_pipeline(str(path))
    pipeline["nodes"][1]["params"] = {"train_fraction": 0.9, "validation_fraction": 0.1, "test_fraction": 0.0}
    assert run_pipeline(load_pipeline(pipeline), device="cpu").status == "succeeded"
    default_cache().clear_memory()
    again = run_pipeline(load_pipeline(pipeline), device="cpu")
    parts = again.outputs("split")  # the empty test part must load back from disk too
    assert parts["test"].num_rows == 0 and parts["test"].column_names == ["text", "label"]
    assert parts["train"].num_rows == 18


def test_a_failing_load_leaves_nothing_in_the_cache(tmp_path, nodeloom_home):
    (tmp_path / "bad.csv").write_bytes(b"text\n\xff\xfe\n")
    result = run_pipeline(load_pipeline(split_pipeline(str(tmp_path / "bad.csv"))), device="cpu")
    assert result.nodes["load"].status == "failed" and "line 2" in result.nodes["load"].error
    assert result.nodes["split"].status == "skipped"
    leftovers = [path for path in (nodeloom_home / "cache").rglob("*") if path.is_file()]
    assert leftovers == []


def test_unknown_parameter_is_rejected_before_running():
    pipeline = split_pipeline("x.csv")
    pipeline["nodes"][0]["params"]["max_row"] = 3
    with pytest.raises(PipelineInvalid, match="did you mean 'max_rows'"):
        load_pipeline(pipeline)
