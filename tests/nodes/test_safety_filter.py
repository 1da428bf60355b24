"""text.safety_filter and the checks it shares with the chat guard: the offensive-language model on known
sentences, each kind of personal data redacted (and look-alikes left alone), flag/redact/drop, messages."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from nodeloom.engine import CancelToken, NodeError, RunContext
from nodeloom.engine.node import discover
from nodeloom.engine.pipeline import NodeSpec, Pipeline
from nodeloom.engine.validation import param_problems
from nodeloom.nodes.text import safety
from nodeloom.nodes.text.safety_filter import SafetyFilterParams, safety_filter
from nodeloom.ui.chat import safety_settings

OFFENSIVE = [
    "You are a fucking idiot.",
    "Shut up, you stupid bitch.",
    "This is a piece of shit answer, asshole.",
]
CLEAN = [
    "Thank you for your order, it ships tomorrow.",
    "You can return the sweater within 30 days for a full refund.",
    "What is the capital of France?",
]
PII_ONLY = safety.SafetySettings(checks=("pii",))


def context() -> RunContext:
    return RunContext("test", "node", "cpu", 0, Path("/tmp/nodeloom-test"), CancelToken(), lambda event: None)


def run(texts: list, **params) -> dict:
    dataset = datasets.Dataset.from_dict({"text": texts})
    return safety_filter(context(), {"dataset": dataset}, SafetyFilterParams(**params))


def redacted(text: str, settings: safety.SafetySettings = PII_ONLY) -> str:
    return safety.redact(text, safety.screen([text], settings)[0])


# -- the checks -----------------------------------------------------------------------------------


def test_the_packaged_model_scores_offensive_sentences_high_and_clean_ones_low():
    scores = safety.offensive_scores(OFFENSIVE + CLEAN)
    assert all(score >= safety.DEFAULT_THRESHOLD for score in scores[: len(OFFENSIVE)]), scores
    assert all(score < 0.2 for score in scores[len(OFFENSIVE) :]), scores


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to jane.doe+orders@example.co.uk today.", "Write to [EMAIL] today."),
        ("Call (201) 555-0123 after nine.", "Call [PHONE] after nine."),
        ("Our London desk: +44 20 7946 0958.", "Our London desk: [PHONE]."),
        ("Card 4111 1111 1111 1111 was charged.", "Card [CARD] was charged."),
        ("Card 5500-0000-0000-0004 was charged.", "Card [CARD] was charged."),
        ("Logged in from 192.168.1.20.", "Logged in from [IP]."),
        ("Logged in from 2001:db8::ff00:42:8329.", "Logged in from [IP]."),
        ("Mapped as ::ffff:192.0.2.1 here.", "Mapped as [IP] here."),
    ],
)
def test_each_kind_of_personal_data_is_replaced_by_its_placeholder(text, expected):
    assert redacted(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Card 4111 1111 1111 1112 fails the Luhn check.",  # one digit off a valid test card
        "Order 12345678901234 has shipped.",
        "Version 999.1.1.1 is not an address, nor is 10:30:00 or std::vector.",
        "Call 555-01 is too short to be a phone number.",
    ],
)
def test_look_alikes_of_personal_data_are_left_alone(text):
    screening = safety.screen([text], PII_ONLY)[0]
    assert not screening.flagged, screening
    assert safety.redact(text, screening) == text


def test_the_blocklist_matches_whole_words_and_phrases_in_any_case():
    settings = safety.SafetySettings(checks=("blocklist",), blocklist=("refund policy", "Acme"))
    assert redacted("Ask ACME about our Refund\n policy.", settings) == "Ask [BLOCKED] about our [BLOCKED]."
    assert not safety.screen(["Acmeville has no policy."], settings)[0].flagged


# -- the node -------------------------------------------------------------------------------------


def test_flag_mode_keeps_every_row_and_says_what_each_check_found():
    texts = [*CLEAN, OFFENSIVE[0], "Mail me at bob@example.com", "Our rival Acme is cheaper"]
    out = run(texts, checks=["offensive", "pii", "blocklist"], blocklist=["acme"])
    rows = out["dataset"].to_list()
    assert [row["text"] for row in rows] == texts
    assert [row["flags"] for row in rows] == [[], [], [], ["offensive"], ["email"], ["blocklist"]]
    assert [row["flagged"] for row in rows] == [False, False, False, True, True, True]
    assert rows[3]["offensive_score"] >= 0.5 > rows[0]["offensive_score"]
    assert out["metrics"] == {
        "rows": 6,
        "flagged_rows": 3,
        "flagged_fraction": 0.5,
        "offensive_rows": 1,
        "pii_rows": 1,
        "blocklist_rows": 1,
        "email_rows": 1,
        "phone_rows": 0,
        "card_rows": 0,
        "ip_rows": 0,
    }


def test_drop_mode_removes_flagged_rows_and_redact_mode_rewrites_them():
    texts = [CLEAN[0], OFFENSIVE[1], "Reach me on +1 650-253-0000 or from 10.0.0.7", None]
    dropped = run(texts, mode="drop")
    assert dropped["dataset"]["text"] == [CLEAN[0], None]
    assert dropped["metrics"]["rows_out"] == 2 and dropped["metrics"]["flagged_fraction"] == 0.5
    rewritten = run(texts, mode="redact")["dataset"]
    assert rewritten["text"] == [CLEAN[0], safety.WITHHELD, "Reach me on [PHONE] or from [IP]", None]
    assert rewritten["flags"][2] == ["phone", "ip"]


def test_pii_only_adds_no_score_column():
    out = run(["a@b.io"], checks=["pii"])
    assert "offensive_score" not in out["dataset"].column_names
    assert "offensive_rows" not in out["metrics"] and out["metrics"]["pii_rows"] == 1


def test_drop_mode_that_would_empty_the_dataset_stops_with_the_fix():
    with pytest.raises(NodeError, match=r"^text\.safety_filter: mode 'drop' removed all 2 rows .* use mode 'flag'"):
        run(OFFENSIVE[:2], mode="drop")


def test_a_missing_column_names_node_parameter_and_columns():
    with pytest.raises(NodeError) as raised:
        run(["hello"], text_column="answer")
    message = str(raised.value)
    assert message.startswith("text.safety_filter: parameter 'text_column': column 'answer' is not in the dataset")
    assert "its columns are: text" in message and "\n" not in message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"mode": "hide"}, "parameter 'mode' must be one of 'flag', 'redact' or 'drop'"),
        ({"checks": ["toxicity"]}, "parameter 'checks.0' must be one of 'offensive', 'pii' or 'blocklist'"),
        ({"checks": []}, "parameter 'checks' needs at least 1 item(s)"),
        ({"threshold": 1.5}, "parameter 'threshold' must be at most 1"),
        ({"phone_region": "XX"}, "parameter 'phone_region' must be a two-letter region code such as US"),
        ({"checks": ["blocklist"]}, "blocklist is empty while checks include blocklist: add words or phrases"),
    ],
)
def test_bad_parameters_are_one_line_naming_node_and_parameter(params, expected):
    node_type = discover().get("text.safety_filter")
    problems = param_problems(node_type, params, "safety")
    assert len(problems) == 1, problems
    assert problems[0].message.startswith("node 'safety' (text.safety_filter): ")
    assert expected in problems[0].message and "\n" not in problems[0].message


def test_the_held_out_chat_rows_pass_the_default_filter():
    from nodeloom.nodes.data import LoadDatasetParams, column_values, load_dataset

    params = LoadDatasetParams(source="builtin", name="chat_support", split="test")
    held_out = load_dataset(context(), {}, params)["dataset"]
    texts = column_values(held_out, "question") + column_values(held_out, "answer")
    assert run(texts)["metrics"]["flagged_rows"] == 0


# -- the chat guard -------------------------------------------------------------------------------


def test_the_chat_guard_withholds_offensive_replies_redacts_personal_data_and_passes_the_rest():
    withheld = safety.guard_reply(OFFENSIVE[0])
    assert withheld.action == "withheld" and OFFENSIVE[0] not in withheld.text
    assert withheld.notice.startswith("Safety filter: reply withheld") and "threshold 0.5" in withheld.notice
    changed = safety.guard_reply("Sure, email help@shop.example or call 650-253-0000.")
    assert changed.action == "redacted" and changed.text == "Sure, email [EMAIL] or call [PHONE]."
    assert changed.notice == "Safety filter: reply redacted (e-mail address, phone number replaced by placeholders)."
    unchanged = safety.guard_reply(CLEAN[0])
    assert (unchanged.action, unchanged.text, unchanged.notice) == ("unchanged", CLEAN[0], "")


def test_the_chat_uses_the_pipelines_own_filter_settings():
    pipeline = Pipeline(name="p")
    assert safety_settings(pipeline) == safety.SafetySettings()
    pipeline.nodes.append(
        NodeSpec("safety", "text.safety_filter", {"checks": ["blocklist"], "blocklist": ["coupon"], "threshold": 0.9})
    )
    settings = safety_settings(pipeline)
    assert settings.checks == ("blocklist",) and settings.threshold == 0.9
    assert safety.guard_reply("Use a coupon.", settings).text == "Use a [BLOCKED]."
