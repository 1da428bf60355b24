"""Write NodeLoom's built-in sample data sets and their data cards into nodes/sample_data/.

Run from the repository: python tools/generate_sample_data.py

Everything here is composed by this script from phrase lists written for NodeLoom, kept in
tools/sample_data_intents.py and tools/sample_data_phrases.py: no text is copied from elsewhere.
The output is deterministic (a fixed seed), so running the script again reproduces the shipped files
byte for byte; a test checks that. A development tool, kept out of the installed package: the wheel
ships the data it wrote, not the script.

- chat_support: customer-service question/answer pairs. Each intent has one fixed answer and
  many phrasings of its question, so a tiny model can learn to answer on topic; one question template
  per intent is held out whole as the test part.
- reviews_sentiment: short product, movie and restaurant reviews labelled 0 (negative) or 1 (positive).
- support_articles: short help-centre paragraphs, one per line, for text generation.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

# The phrase lists live in sibling modules; tools/ is not a package, so how to import them depends on how
# this file was loaded.
if __package__:  # imported as tools.generate_sample_data, as tests/nodes/test_data.py does
    from .sample_data_intents import CARDS, CLOSINGS, COUNTRIES, GREETINGS, INTENTS, ITEMS
    from .sample_data_phrases import ARTICLES, REVIEW_DOMAINS, SUPPORT_CLOSINGS
else:  # run as `python tools/generate_sample_data.py`: tools/ itself is on sys.path
    from sample_data_intents import CARDS, CLOSINGS, COUNTRIES, GREETINGS, INTENTS, ITEMS
    from sample_data_phrases import ARTICLES, REVIEW_DOMAINS, SUPPORT_CLOSINGS

REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPOSITORY / "nodes" / "sample_data"
SEED = 20240611


# ---------------------------------------------------------------------------------------------
# chat_support

QUESTIONS_PER_INTENT = 12
TEST_QUESTIONS_PER_INTENT = 2


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        item=rng.choice(ITEMS),
        order=f"#{rng.randint(100000, 999999)}",
        country=rng.choice(COUNTRIES),
        card=rng.choice(CARDS),
        days=rng.randint(3, 12),
    )


def _dress(question: str, rng: random.Random) -> str:
    """Add a greeting and a closing the way people write to support; 'I' stays capitalised."""
    greeting = rng.choice(GREETINGS)
    if greeting and not (question.startswith("I ") or question.startswith("I'")):
        question = question[0].lower() + question[1:]
    return f"{greeting}{question}{rng.choice(CLOSINGS)}"


def chat_support(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Train and test pairs. One question template per intent is held out whole: its questions are the
    test part and none of its phrasings is in train, so the test measures answers to unseen phrasings.
    (Holding out random phrasings instead left a quarter of the test questions near copies of training
    questions, which data.quality measures: the same template with another greeting or order number.)"""
    train, test = [], []
    # Replaces the training questions that the held-out template took; a stream of its own, so `rng` draws
    # exactly what it always drew here and the data sets made after this one stay byte for byte the same.
    top_up = random.Random(SEED + 1)
    for intent in INTENTS:
        phrasings = _phrasings(intent.questions, rng)
        # the template of a random variant (any template but the only one an intent has) is held out;
        # two draws, as the generator has always made here (see top_up), the second unused
        variant = rng.sample(range(len(intent.questions), QUESTIONS_PER_INTENT), TEST_QUESTIONS_PER_INTENT)[0]
        held_template = phrasings[variant][0]
        held = [question for template, question in phrasings if template == held_template]
        kept = [question for template, question in phrasings if template != held_template]
        others = [template for template in intent.questions if template != held_template]
        while len(kept) < QUESTIONS_PER_INTENT - TEST_QUESTIONS_PER_INTENT:
            question = _dress(_fill(top_up.choice(others), top_up), top_up)
            if question not in kept:
                kept.append(question)
        rows = {"answer": intent.answer, "topic": intent.topic}
        test += [{"question": question} | rows for question in held[:TEST_QUESTIONS_PER_INTENT]]
        train += [{"question": question} | rows for question in kept]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def _phrasings(templates: tuple[str, ...], rng: random.Random) -> list[tuple[str, str]]:
    """QUESTIONS_PER_INTENT distinct (template, question) pairs: every template once first, so each
    phrasing is represented, then random variants."""
    phrasings: list[tuple[str, str]] = []
    pool = list(templates)
    while len(phrasings) < QUESTIONS_PER_INTENT:
        template = pool.pop(0) if pool else rng.choice(templates)
        question = _dress(_fill(template, rng), rng)
        if question not in (known for _template, known in phrasings):
            phrasings.append((template, question))
    return phrasings


# ---------------------------------------------------------------------------------------------
# reviews_sentiment

REVIEWS_PER_LABEL = 250


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:]


def _review(domain: dict, positive: bool, rng: random.Random) -> str:
    """One review in one of five shapes; a contrast ('X, but Y') takes the polarity of its second half."""
    wanted, other = ("positive", "negative") if positive else ("negative", "positive")
    verdict = rng.choice(domain["verdicts_" + wanted])
    clause, second = rng.sample(domain[wanted], 2)
    intro = rng.choice(domain["intros"]).format(thing=rng.choice(domain["things"]))
    shape = rng.randrange(5)
    if shape == 0:
        return f"{intro} and {clause}."
    if shape == 1:
        return f"{_sentence(clause)}, and {second}."
    if shape == 2:
        return f"{_sentence(clause)}. {verdict}"
    if shape == 3:
        return f"{intro}: {clause}. {verdict}"
    return f"{_sentence(rng.choice(domain[other]))}, but {clause}."


def reviews_sentiment(rng: random.Random) -> list[dict]:
    rows: list[dict] = []
    seen: set[str] = set()
    domains = list(REVIEW_DOMAINS.values())
    for label in (0, 1):
        count = 0
        while count < REVIEWS_PER_LABEL:
            text = _review(domains[count % len(domains)], positive=bool(label), rng=rng)
            if text not in seen:
                seen.add(text)
                rows.append({"text": text, "label": label})
                count += 1
    rng.shuffle(rows)
    return rows


# ---------------------------------------------------------------------------------------------
# support_articles

ARTICLE_PARAGRAPHS = 300


def support_articles(rng: random.Random) -> list[str]:
    paragraphs: list[str] = []
    seen: set[str] = set()
    topics = list(ARTICLES.values())
    while len(paragraphs) < ARTICLE_PARAGRAPHS:
        topic = topics[len(paragraphs) % len(topics)]
        facts = sorted(rng.sample(range(len(topic["facts"])), rng.randint(2, 4)))  # keep the facts' natural order
        sentences = [rng.choice(topic["leads"]), *(topic["facts"][i] for i in facts), rng.choice(SUPPORT_CLOSINGS)]
        paragraph = " ".join(sentence for sentence in sentences if sentence)
        if paragraph not in seen:
            seen.add(paragraph)
            paragraphs.append(paragraph)
    return paragraphs


# ---------------------------------------------------------------------------------------------
# files and data cards

LICENCE = (
    "Apache-2.0, like the rest of NodeLoom. "
    "Written for NodeLoom by `tools/generate_sample_data.py`; no third-party text."
)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def _counts(values) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(Counter(values).items()))


def write_all(folder: Path = SAMPLE_DATA) -> list[Path]:
    """Generate every data set and its card into `folder`; returns the files written."""
    rng = random.Random(SEED)
    train, test = chat_support(rng)
    reviews = reviews_sentiment(rng)
    articles = support_articles(rng)
    files = {
        "chat_support.train.jsonl": train,
        "chat_support.test.jsonl": test,
        "reviews_sentiment.train.jsonl": reviews,
    }
    for name, rows in files.items():
        _write_jsonl(folder / name, rows)
    (folder / "support_articles.train.txt").write_text("\n".join(articles) + "\n", encoding="utf-8")

    chat_size = f"{len(train) + len(test)} pairs: {len(train)} in `train`, {len(test)} in `test`"
    label_counts = _counts(row["label"] for row in reviews)
    cards = {
        "chat_support.md": f"""# chat_support

Customer-service question/answer pairs for the chatbot example.

- **Size**: {chat_size} (`split` = `train`, `test` or `all`).
- **Columns**: `question` (string), `answer` (string), `topic` (string).
- **Topics** (train): {_counts(row["topic"] for row in train)}.
- **How it was made**: {len(INTENTS)} support intents (tracking, cancelling, returns, refunds, passwords, payments,
  membership, warranty…), each with one fixed answer and several question templates. Templates are filled with
  products, order numbers, countries and card types, and dressed with greetings and closings, giving
  {QUESTIONS_PER_INTENT} distinct questions per intent. One template per intent is held out whole:
  {TEST_QUESTIONS_PER_INTENT} questions made from it are `test`, and no question made from it is in `train`. Every
  intent appears in both parts, so the test measures answers to phrasings never seen in training, not recall of a
  training question with another greeting or order number (`data.quality` measures how many test questions nearly
  repeat a training question).
  Because each intent has one answer, a small model trained for a few minutes can learn to answer on topic.
- **Caveats**: synthetic; one answer per intent; the store and its policies are fictional.
- **Licence**: {LICENCE}
""",
        "reviews_sentiment.md": f"""# reviews_sentiment

Short labelled review sentences for sentiment classification.

- **Size**: {len(reviews)} reviews, balanced: {label_counts} (label: count). One part, `train`;
  split it with `data.split`.
- **Columns**: `text` (string), `label` (class 0 = negative, 1 = positive).
- **How it was made**: for each of three domains (products, movies, restaurants) the script holds positive and
  negative clauses, openings and verdicts; each review combines them in one of five shapes. One shape in five is a
  contrast ("the plot makes no sense, but the soundtrack is gorgeous") whose label follows the clause after "but",
  so a bag-of-words model can't score perfectly. Duplicates are removed.
- **Caveats**: synthetic and fairly regular; expect high accuracy from fine-tuned encoders.
- **Licence**: {LICENCE}
""",
        "support_articles.md": f"""# support_articles

A small plain-text corpus of help-centre paragraphs for the text-generation example.

- **Size**: {len(articles)} paragraphs (one per line), {sum(len(p.split()) for p in articles)} words. One part, `train`.
- **Columns**: `text` (string), one paragraph per row.
- **How it was made**: six help-centre topics (shipping, returns, account, payments, membership, products), each
  with opening sentences and a list of facts. A paragraph is an opening, two to four facts in their natural order
  and sometimes a closing line. The facts match the answers in `chat_support`.
- **Caveats**: synthetic; repetitive by design so a tiny model can learn it in minutes.
- **Licence**: {LICENCE}
""",
    }
    for name, text in cards.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in [*files, "support_articles.train.txt", *cards]]


if __name__ == "__main__":
    for written in write_all():
        print(written.relative_to(REPOSITORY))
