"""Write NodeLoom's built-in sample data sets and their data cards into nodes/sample_data/.

Run from the repository: python tools/generate_sample_data.py

Everything here is composed by this script from phrase lists written for NodeLoom: no text is
copied from elsewhere. The output is deterministic (a fixed seed), so running the script again
reproduces the shipped files byte for byte; a test checks that. A development tool, kept out of the
installed package: the wheel ships the data it wrote, not the script.

- chat_support: customer-service question/answer pairs. Each intent has one fixed answer and
  many phrasings of its question, so a tiny model can learn to answer on topic; a few phrasings
  per intent are held out as the test part.
- reviews_sentiment: short product, movie and restaurant reviews labelled 0 (negative) or 1 (positive).
- support_articles: short help-centre paragraphs, one per line, for text generation.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPOSITORY / "nodes" / "sample_data"
SEED = 20240611

# Store policies, shared by the chat answers and the help articles so the two never disagree.
RETURN_DAYS = 30
FREE_SHIPPING_FROM = "$50"
STANDARD_DELIVERY = "3 to 5 business days"
EXPRESS_DELIVERY = "1 to 2 business days"
REFUND_DAYS = "5 to 7 business days"
SUPPORT_HOURS = "8 am to 8 pm, Monday to Saturday"

ITEMS = [  # singular, so "a {item}" and "the {item}" both read well
    "wireless headset",
    "running jacket",
    "coffee grinder",
    "winter coat",
    "phone case",
    "desk lamp",
    "yoga mat",
    "backpack",
    "smart watch",
    "blender",
    "rain jacket",
    "office chair",
    "water bottle",
    "bluetooth speaker",
    "wool sweater",
    "kitchen scale",
]
COUNTRIES = ["Canada", "Germany", "Australia", "Japan", "Mexico", "the UK", "France", "Brazil"]
CARDS = ["Visa card", "Mastercard", "debit card", "American Express card", "credit card"]


# ---------------------------------------------------------------------------------------------
# chat_support


@dataclass(frozen=True)
class Intent:
    name: str
    topic: str
    questions: tuple[str, ...]  # templates; slots: {item} {order} {country} {card} {days}
    answer: str


INTENTS = [
    Intent(
        "track_order",
        "orders",
        (
            "Where is my order {order}?",
            "How can I track my order?",
            "Can you tell me where my {item} is?",
            "I ordered a {item} {days} days ago, where is it?",
            "Is there a tracking number for order {order}?",
            "How do I see the delivery status of my {item}?",
            "My order {order} still hasn't arrived, can you check on it?",
            "What's the status of my order?",
        ),
        "You can track your order under Orders in your account. Open the order to see its tracking number and the latest delivery status.",
    ),
    Intent(
        "cancel_order",
        "orders",
        (
            "How do I cancel my order?",
            "Can I cancel order {order}?",
            "I want to cancel the {item} I just bought.",
            "I ordered the wrong {item}, can I cancel it?",
            "Is it too late to cancel order {order}?",
            "Please cancel my order for a {item}.",
            "How can I stop an order before it ships?",
        ),
        "You can cancel an order until it has shipped: open Orders, choose the order and select Cancel order. Once it has shipped, please return it instead.",
    ),
    Intent(
        "change_address",
        "orders",
        (
            "How do I change the delivery address on my order?",
            "I entered the wrong address for order {order}.",
            "Can I send my {item} to a different address?",
            "Can I update the shipping address after ordering?",
            "I moved, can you deliver order {order} to my new address?",
            "How can I fix a typo in my delivery address?",
        ),
        "You can change the delivery address until the parcel leaves our warehouse: open Orders, choose the order and select Edit address.",
    ),
    Intent(
        "modify_order",
        "orders",
        (
            "Can I add an item to my order?",
            "Can I change the size of the {item} I ordered?",
            "I want to change the colour of my {item}.",
            "How do I change the quantity in order {order}?",
            "Can I swap the {item} in my order for another one?",
            "Is it possible to edit an order after paying?",
        ),
        "Orders can't be edited once they are placed. Cancel the order before it ships and place a new one with the changes you need.",
    ),
    Intent(
        "missing_item",
        "orders",
        (
            "My package arrived but the {item} is missing.",
            "One item is missing from order {order}.",
            "I only received part of my order.",
            "The box came without the {item} I paid for.",
            "Why is an item missing from my parcel?",
            "Order {order} arrived incomplete.",
        ),
        "Sorry about that. Some orders ship in more than one parcel, so check the tracking page first. If the item is still missing, report it under Orders and we will send it again.",
    ),
    Intent(
        "shipping_time",
        "shipping",
        (
            "How long does shipping take?",
            "When will my {item} arrive if I order today?",
            "How many days is standard delivery?",
            "What are your delivery times?",
            "If I order a {item} now, how long until it gets here?",
            "How fast is express shipping?",
            "How long does delivery usually take?",
        ),
        f"Standard delivery takes {STANDARD_DELIVERY} and express delivery takes {EXPRESS_DELIVERY}. You will see the expected date at checkout.",
    ),
    Intent(
        "shipping_cost",
        "shipping",
        (
            "How much does shipping cost?",
            "Is shipping free?",
            "Do you offer free delivery?",
            "What is the delivery fee for a {item}?",
            "Why was I charged for shipping?",
            "How much is express delivery?",
            "Is there a minimum order for free shipping?",
        ),
        f"Standard shipping is free on orders over {FREE_SHIPPING_FROM}. Below that, and for express delivery, the price is shown at checkout before you pay.",
    ),
    Intent(
        "international_shipping",
        "shipping",
        (
            "Do you ship to {country}?",
            "Can I order a {item} from {country}?",
            "Do you deliver internationally?",
            "Is international shipping available to {country}?",
            "Will I pay customs fees if I order from {country}?",
            "Can you send my order abroad?",
        ),
        "We ship to most countries. Enter your address at checkout to see if we deliver there; international orders may include customs fees that are paid on delivery.",
    ),
    Intent(
        "late_delivery",
        "shipping",
        (
            "My delivery is late.",
            "Order {order} should have arrived {days} days ago.",
            "The tracking hasn't updated for {days} days.",
            "Why is my {item} taking so long?",
            "My parcel is delayed, what should I do?",
            "It's past the delivery date and I still have nothing.",
        ),
        "Sorry for the delay. If your parcel is more than 3 days past its expected date, contact us with the order number and we will trace it or send a replacement.",
    ),
    Intent(
        "damaged_item",
        "returns",
        (
            "My {item} arrived damaged.",
            "The box was crushed and the {item} is broken.",
            "I received a broken item in order {order}.",
            "What do I do if my order arrived damaged?",
            "The {item} I got is cracked.",
            "My package came damaged, can I get a replacement?",
        ),
        "Sorry it arrived damaged. Send us a photo through the Help page within 14 days and we will replace the item or refund you, at no cost.",
    ),
    Intent(
        "return_policy",
        "returns",
        (
            "What is your return policy?",
            "Can I return a {item}?",
            "How many days do I have to return something?",
            "Do you accept returns?",
            "Can I return the {item} if I don't like it?",
            "Can I still return order {order}?",
            "Is there a time limit for returns?",
        ),
        f"You can return most items within {RETURN_DAYS} days of delivery, unused and in their original packaging.",
    ),
    Intent(
        "start_return",
        "returns",
        (
            "How do I return my {item}?",
            "How do I start a return?",
            "I want to send back order {order}.",
            "Where do I get a return label?",
            "What are the steps to return an item?",
            "I need to return the {item} I bought.",
            "How can I send something back?",
        ),
        "To start a return, open Orders, choose the item and select Return. Print the prepaid label and drop the parcel at any post office.",
    ),
    Intent(
        "exchange",
        "returns",
        (
            "Can I exchange my {item} for a different size?",
            "How do I swap an item for another colour?",
            "The {item} doesn't fit, can I exchange it?",
            "Do you do exchanges?",
            "Can I exchange order {order} for something else?",
            "I'd like a bigger size of the {item}.",
        ),
        "We don't swap items directly. Return the item for a refund and place a new order for the size or colour you want.",
    ),
    Intent(
        "refund_status",
        "returns",
        (
            "When will I get my refund?",
            "I returned my {item}, where is my money?",
            "How long do refunds take?",
            "I sent back order {order} {days} days ago and have no refund yet.",
            "Has my refund been processed?",
            "Why haven't I received my refund?",
        ),
        f"Refunds are issued to your original payment method within {REFUND_DAYS} after we receive your return. We email you when it is sent.",
    ),
    Intent(
        "return_shipping_cost",
        "returns",
        (
            "Do I have to pay for return shipping?",
            "Are returns free?",
            "Who pays postage when I send back a {item}?",
            "Is the return label free?",
            "Will you charge me to return order {order}?",
        ),
        "Returns are free: the prepaid label in your account covers the postage.",
    ),
    Intent(
        "reset_password",
        "account",
        (
            "How do I reset my password?",
            "I forgot my password.",
            "I can't remember my password, what do I do?",
            "How can I change my password?",
            "The password reset email never arrived.",
            "My password doesn't work anymore.",
            "Help, I'm locked out because I forgot my password.",
        ),
        "Select Forgot password on the sign-in page and enter your email address. We will send a reset link that is valid for one hour; check your spam folder if it doesn't arrive.",
    ),
    Intent(
        "change_email",
        "account",
        (
            "How do I change my email address?",
            "Can I update the email on my account?",
            "I have a new email, how do I update it?",
            "How can I use a different email to sign in?",
            "My old email no longer works, can I change it?",
        ),
        "Go to Account settings, select Email and enter the new address. We send a confirmation link to it, and the change takes effect once you click it.",
    ),
    Intent(
        "delete_account",
        "account",
        (
            "How do I delete my account?",
            "Please close my account.",
            "I want to remove all my data.",
            "Can I permanently delete my profile?",
            "How can I deactivate my account?",
        ),
        "Go to Account settings and select Delete account. We remove your data within 30 days, except records the law requires us to keep.",
    ),
    Intent(
        "account_locked",
        "account",
        (
            "My account is locked.",
            "I can't log in, it says my account is blocked.",
            "Why was my account suspended?",
            "It says too many sign-in attempts, what now?",
            "I'm locked out of my account.",
            "How do I unlock my account?",
        ),
        "Accounts lock after several failed sign-in attempts. Wait 30 minutes, then reset your password from the sign-in page to unlock it.",
    ),
    Intent(
        "two_factor",
        "account",
        (
            "How do I turn on two-factor authentication?",
            "Can I add a second sign-in step to my account?",
            "I lost my phone and can't get my login code.",
            "How do I set up 2FA?",
            "Where do I enable two-step verification?",
        ),
        "Turn on two-factor authentication under Account settings, Security. If you lose your phone, use one of your backup codes or contact us to verify your identity.",
    ),
    Intent(
        "payment_methods",
        "payments",
        (
            "What payment methods do you accept?",
            "Can I pay with my {card}?",
            "Do you take PayPal?",
            "Can I pay by bank transfer?",
            "Which cards can I use?",
            "Is Apple Pay accepted?",
        ),
        "We accept major credit and debit cards, PayPal, Apple Pay and Google Pay. Bank transfers and cash on delivery are not available.",
    ),
    Intent(
        "payment_declined",
        "payments",
        (
            "My payment was declined.",
            "Why won't my {card} go through?",
            "I keep getting a payment error at checkout.",
            "The checkout says my card was refused.",
            "Why did my payment fail?",
            "I can't pay for my {item}, the payment fails.",
        ),
        "Check that the card details and billing address match what your bank has on file. If it still fails, your bank may have blocked the payment, so please contact them or try another method.",
    ),
    Intent(
        "double_charge",
        "payments",
        (
            "I was charged twice.",
            "Why do I see two payments for order {order}?",
            "You took the money twice for my {item}.",
            "There are two charges on my {card}.",
            "I got billed twice for one order.",
        ),
        "A second charge is usually a temporary authorisation that disappears within 3 business days. If both charges are still there after that, send us your order number and we will refund the duplicate.",
    ),
    Intent(
        "invoice",
        "payments",
        (
            "How do I get an invoice?",
            "Can I have a receipt for order {order}?",
            "I need an invoice for my {item} for work.",
            "Where can I download my receipt?",
            "Can you send me a VAT invoice?",
        ),
        "You can download an invoice for every order under Orders: open the order and select Download invoice.",
    ),
    Intent(
        "promo_code",
        "payments",
        (
            "My discount code doesn't work.",
            "Why was my promo code rejected?",
            "How do I use a coupon?",
            "Where do I enter a voucher code?",
            "Can I use two discount codes on one order?",
            "I forgot to add my promo code to order {order}.",
        ),
        "Enter the code in the Discount code box at checkout. Only one code can be used per order, and codes can't be added after the order is placed.",
    ),
    Intent(
        "gift_card",
        "payments",
        (
            "How do I use a gift card?",
            "Can I pay part of my order with a gift card?",
            "How do I check my gift card balance?",
            "Does my gift card expire?",
            "Can I buy a gift card for a friend?",
        ),
        "Enter the gift card number at checkout to use it; any remaining cost can be paid by card. Gift cards are valid for 2 years, and you can check the balance in your account.",
    ),
    Intent(
        "price_match",
        "payments",
        (
            "The {item} is cheaper elsewhere, do you price match?",
            "The price dropped right after I bought my {item}.",
            "Can I get the difference back if the price goes down?",
            "Do you offer price matching?",
        ),
        "We don't match other shops' prices, but if our own price drops within 7 days of your purchase, contact us and we will refund the difference.",
    ),
    Intent(
        "subscription_cancel",
        "membership",
        (
            "How do I cancel my membership?",
            "I want to stop my subscription.",
            "How do I end my Plus membership?",
            "Can I cancel my membership at any time?",
            "Please stop charging me for the membership.",
        ),
        "Go to Account settings, Membership and select Cancel membership. You keep the benefits until the end of the period you paid for.",
    ),
    Intent(
        "membership_benefits",
        "membership",
        (
            "What do I get with a membership?",
            "Is the Plus membership worth it?",
            "What are the membership benefits?",
            "Does the membership include free shipping?",
            "How much does the membership cost?",
        ),
        "Plus membership costs $5 a month and includes free express delivery, early access to sales and extended 60-day returns.",
    ),
    Intent(
        "stock",
        "products",
        (
            "When will the {item} be back in stock?",
            "The {item} is sold out, will you restock it?",
            "Can I get notified when the {item} is available?",
            "Is the {item} available in other sizes?",
            "Why does it say out of stock?",
        ),
        "Select Notify me on the product page and we will email you as soon as it is back in stock. Restock dates depend on our suppliers.",
    ),
    Intent(
        "warranty",
        "products",
        (
            "Does the {item} have a warranty?",
            "My {item} stopped working after a few months.",
            "How do I make a warranty claim?",
            "How long is the warranty?",
            "The {item} broke, is it covered?",
        ),
        "Electronics have a 2-year warranty and other products 1 year. Start a claim under Orders with a short description and a photo, and we will repair or replace the item.",
    ),
    Intent(
        "contact_human",
        "support",
        (
            "Can I talk to a person?",
            "How do I contact customer service?",
            "What is your phone number?",
            "I want to speak to an agent.",
            "When is your support team available?",
            "Is there live chat?",
        ),
        f"Our support team is available by live chat and phone from {SUPPORT_HOURS}. Open the Help page and select Contact us.",
    ),
]
GREETINGS = ["", "", "", "Hi, ", "Hello, ", "Hey, ", "Good morning, ", "Quick question: ", "Sorry to bother you, but "]
CLOSINGS = ["", "", "", " Thanks!", " Thank you.", " Please help.", " Any help is appreciated."]
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
    train, test = [], []
    for intent in INTENTS:
        questions: list[str] = []
        # every template once first, so each phrasing is represented; then random variants
        pool = list(intent.questions)
        while len(questions) < QUESTIONS_PER_INTENT:
            template = pool.pop(0) if pool else rng.choice(intent.questions)
            question = _dress(_fill(template, rng), rng)
            if question not in questions:
                questions.append(question)
        rows = [{"question": q, "answer": intent.answer, "topic": intent.topic} for q in questions]
        # the held-out phrasings are random variants, never the only copy of a template
        held_out = rng.sample(range(len(intent.questions), QUESTIONS_PER_INTENT), TEST_QUESTIONS_PER_INTENT)
        test += [row for index, row in enumerate(rows) if index in held_out]
        train += [row for index, row in enumerate(rows) if index not in held_out]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


# ---------------------------------------------------------------------------------------------
# reviews_sentiment

REVIEW_DOMAINS = {
    "product": {
        "things": [
            "blender",
            "kettle",
            "vacuum cleaner",
            "pair of headphones",
            "backpack",
            "desk lamp",
            "phone charger",
            "rice cooker",
            "keyboard",
            "jacket",
            "water bottle",
            "smart watch",
        ],
        "intros": [
            "I bought the {thing} last month",
            "Got this {thing} as a gift",
            "Ordered the {thing} on a whim",
            "We have used the {thing} for a few weeks",
            "Replaced my old {thing} with this one",
        ],
        "positive": [
            "it works exactly as described",
            "the build quality is excellent",
            "the battery easily lasts two days",
            "setup took less than five minutes",
            "it feels solid and well made",
            "it is quiet and powerful",
            "it was worth every penny",
            "it arrived early and well packed",
            "the design is simple and elegant",
            "it is comfortable to use all day",
            "customer service replaced a part without any fuss",
            "it still looks brand new",
        ],
        "negative": [
            "it stopped working after two weeks",
            "the battery barely lasts a morning",
            "it feels cheap and flimsy",
            "the instructions were useless",
            "it is far louder than advertised",
            "the app keeps crashing",
            "a part snapped off on the first day",
            "it looks nothing like the photos",
            "it overheats after ten minutes",
            "customer service never answered my emails",
            "it arrived scratched and dented",
            "it is overpriced for what you get",
        ],
        "verdicts_positive": [
            "Would buy again.",
            "Highly recommended.",
            "Five stars from me.",
            "No complaints at all.",
        ],
        "verdicts_negative": [
            "Save your money.",
            "I am returning it.",
            "Not recommended.",
            "One star, and that is generous.",
        ],
    },
    "movie": {
        "things": [
            "film",
            "sequel",
            "documentary",
            "thriller",
            "comedy",
            "animated feature",
            "drama",
            "horror movie",
            "space epic",
            "musical",
        ],
        "intros": [
            "Watched the {thing} last night",
            "Saw this {thing} with friends",
            "Finally caught the {thing} at the cinema",
            "Streamed the {thing} over the weekend",
            "Went in with low hopes for this {thing}",
        ],
        "positive": [
            "the acting is superb",
            "the plot kept me guessing until the end",
            "the soundtrack is gorgeous",
            "the jokes actually land",
            "every scene looks stunning",
            "the characters feel real",
            "the pacing is spot on",
            "the ending left me speechless",
            "the lead gives a career-best performance",
            "it is funny and moving at the same time",
            "the dialogue is sharp and clever",
            "it never drags",
        ],
        "negative": [
            "the plot makes no sense",
            "the dialogue is painfully wooden",
            "it drags on for far too long",
            "the ending felt cheap",
            "the jokes fall flat",
            "the characters are paper thin",
            "the special effects look dated",
            "I checked my phone every five minutes",
            "the twist is obvious from the start",
            "the sound mix drowns out the dialogue",
            "it wastes a talented cast",
            "half the scenes feel like filler",
        ],
        "verdicts_positive": [
            "A must see.",
            "I would watch it again tomorrow.",
            "Easily the best film this year.",
            "Go see it.",
        ],
        "verdicts_negative": [
            "Skip this one.",
            "Two hours I will never get back.",
            "A real disappointment.",
            "Wait for something better.",
        ],
    },
    "restaurant": {
        "things": [
            "bistro",
            "pizza place",
            "sushi bar",
            "taqueria",
            "noodle shop",
            "steakhouse",
            "vegan cafe",
            "bakery",
            "curry house",
            "seafood restaurant",
        ],
        "intros": [
            "We had dinner at the {thing} on Friday",
            "Tried the new {thing} downtown",
            "Went to the {thing} for lunch",
            "Booked the {thing} for a birthday",
            "Ordered takeaway from the {thing}",
        ],
        "positive": [
            "the pasta was perfectly cooked",
            "the staff were warm and attentive",
            "the portions are generous",
            "the food came out quickly",
            "the desserts are heavenly",
            "the prices are very fair",
            "everything tasted fresh",
            "the atmosphere is cosy and relaxed",
            "the chef clearly cares about quality",
            "the spices were just right",
            "the bread is baked in house and delicious",
            "they handled my allergy with care",
        ],
        "negative": [
            "we waited forty minutes for cold soup",
            "the waiter was rude",
            "the fish tasted off",
            "it is overpriced for what you get",
            "the tables were sticky",
            "the music was so loud we could not talk",
            "my steak came out burnt",
            "the portions are tiny",
            "they got our order wrong twice",
            "the rice was undercooked",
            "the place smelled of old grease",
            "nobody checked on us all evening",
        ],
        "verdicts_positive": ["We will be back.", "Highly recommended.", "Our new favourite spot.", "Worth the trip."],
        "verdicts_negative": ["Never again.", "Avoid.", "We will not be going back.", "Not worth the money."],
    },
}
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

ARTICLES = {
    "shipping": {
        "leads": [
            "Here is how delivery works.",
            "Most orders leave our warehouse within one business day.",
            "Delivery times depend on the option you choose at checkout.",
            "Wondering when your parcel will arrive?",
        ],
        "facts": [
            f"Standard delivery takes {STANDARD_DELIVERY}.",
            f"Express delivery takes {EXPRESS_DELIVERY}.",
            f"Standard shipping is free on orders over {FREE_SHIPPING_FROM}.",
            "You will see the expected delivery date at checkout before you pay.",
            "Every order gets a tracking number as soon as it ships.",
            "You can follow your parcel under Orders in your account.",
            "Large items may arrive separately from the rest of your order.",
            "Orders placed after 2 pm ship on the next business day.",
            "International orders may include customs fees that are paid on delivery.",
            "If your parcel is more than 3 days late, contact us and we will trace it.",
        ],
    },
    "returns": {
        "leads": [
            "Changed your mind? Returning an item is easy.",
            "Here is everything you need to know about returns.",
            "Not quite right? You can send it back.",
            "Our return policy is simple.",
        ],
        "facts": [
            f"You can return most items within {RETURN_DAYS} days of delivery.",
            "Items must be unused and in their original packaging.",
            "To start a return, open Orders, choose the item and select Return.",
            "Print the prepaid label and drop the parcel at any post office.",
            "Returns are free: the prepaid label covers the postage.",
            f"Refunds go to your original payment method within {REFUND_DAYS} after we receive the parcel.",
            "We email you as soon as your refund is on its way.",
            "We don't swap items directly; return the item and place a new order instead.",
            "Plus members can return items within 60 days.",
            "Damaged items are replaced at no cost if you report them within 14 days.",
        ],
    },
    "account": {
        "leads": [
            "Your account keeps your orders, addresses and settings in one place.",
            "Keeping your account safe matters.",
            "Here is how to manage your account.",
            "Trouble signing in? Start here.",
        ],
        "facts": [
            "Select Forgot password on the sign-in page to get a reset link by email.",
            "Reset links are valid for one hour.",
            "Check your spam folder if the email doesn't arrive within a few minutes.",
            "Accounts lock for 30 minutes after several failed sign-in attempts.",
            "Turn on two-factor authentication under Account settings, Security.",
            "Keep your backup codes somewhere safe in case you lose your phone.",
            "To change your email address, go to Account settings and select Email.",
            "We send a confirmation link to your new address before the change takes effect.",
            "You can delete your account at any time from Account settings.",
            "We remove your data within 30 days of deleting your account.",
        ],
    },
    "payments": {
        "leads": [
            "Paying for your order should be simple.",
            "Here is how payments work.",
            "Having trouble at checkout?",
            "We offer several ways to pay.",
        ],
        "facts": [
            "We accept major credit and debit cards, PayPal, Apple Pay and Google Pay.",
            "Bank transfers and cash on delivery are not available.",
            "If a payment is declined, check that your billing address matches your bank's records.",
            "Your bank may block a payment it finds unusual, so contact them if a card keeps failing.",
            "A second charge is usually a temporary authorisation that disappears within 3 business days.",
            "You can download an invoice for every order under Orders.",
            "Enter discount codes in the Discount code box at checkout.",
            "Only one discount code can be used per order.",
            "Gift cards are valid for 2 years and can be combined with a card payment.",
            "If our price drops within 7 days of your purchase, we refund the difference.",
        ],
    },
    "membership": {
        "leads": [
            "Plus membership makes every order better.",
            "Thinking about Plus membership?",
            "Here is what Plus membership includes.",
            "Managing your membership takes a minute.",
        ],
        "facts": [
            "Plus membership costs $5 a month.",
            "Members get free express delivery on every order.",
            "Members get early access to sales.",
            "Members can return items within 60 days instead of 30.",
            "You can cancel your membership at any time under Account settings, Membership.",
            "After cancelling, you keep the benefits until the end of the period you paid for.",
            "Membership renews automatically each month.",
            "We remind you by email three days before each renewal.",
        ],
    },
    "products": {
        "leads": [
            "Questions about a product?",
            "Every product page lists sizes, materials and care instructions.",
            "Here is how warranties and stock work.",
            "Can't find what you want?",
        ],
        "facts": [
            "Select Notify me on a product page to get an email when it is back in stock.",
            "Restock dates depend on our suppliers.",
            "Electronics have a 2-year warranty and other products have 1 year.",
            "Start a warranty claim under Orders with a short description and a photo.",
            "We repair or replace items covered by the warranty.",
            "Size guides are on every clothing and shoe page.",
            "Customer reviews appear under the product description.",
            "Our support team is happy to answer product questions before you buy.",
        ],
    },
}
SUPPORT_CLOSINGS = [
    "",
    "",
    "",
    f"Our support team is available from {SUPPORT_HOURS}.",
    "Still need help? Open the Help page and select Contact us.",
    "You can also reach us by live chat.",
]
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

LICENCE = "Apache-2.0, like the rest of NodeLoom. Written for NodeLoom by `tools/generate_sample_data.py`; no third-party text."


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

    cards = {
        "chat_support.md": f"""# chat_support

Customer-service question/answer pairs for the chatbot example.

- **Size**: {len(train) + len(test)} pairs: {len(train)} in `train`, {len(test)} in `test` (`split` = `train`, `test` or `all`).
- **Columns**: `question` (string), `answer` (string), `topic` (string).
- **Topics** (train): {_counts(row["topic"] for row in train)}.
- **How it was made**: {len(INTENTS)} support intents (tracking, cancelling, returns, refunds, passwords, payments,
  membership, warranty…), each with one fixed answer and several question templates. Templates are filled with
  products, order numbers, countries and card types, and dressed with greetings and closings, giving
  {QUESTIONS_PER_INTENT} distinct questions per intent. {TEST_QUESTIONS_PER_INTENT} random phrasings per intent are
  held out as `test`; every intent appears in both parts, so the test measures answers to unseen phrasings.
  Because each intent has one answer, a small model trained for a few minutes can learn to answer on topic.
- **Caveats**: synthetic; one answer per intent; the store and its policies are fictional.
- **Licence**: {LICENCE}
""",
        "reviews_sentiment.md": f"""# reviews_sentiment

Short labelled review sentences for sentiment classification.

- **Size**: {len(reviews)} reviews, balanced: {_counts(row["label"] for row in reviews)} (label: count). One part, `train`;
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
