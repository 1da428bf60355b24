"""The chat_support intents for tools/generate_sample_data.py: question templates, answers, slot fillers: pure data.

Written for NodeLoom; nothing here is copied from elsewhere. Changing any phrase changes the shipped sample
data: rerun the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

if __package__:  # imported as tools.sample_data_intents (the tests import the generator that way)
    from .sample_data_phrases import (
        EXPRESS_DELIVERY,
        FREE_SHIPPING_FROM,
        REFUND_DAYS,
        RETURN_DAYS,
        STANDARD_DELIVERY,
        SUPPORT_HOURS,
    )
else:  # imported by `python tools/generate_sample_data.py`, which puts tools/ itself on sys.path
    from sample_data_phrases import (
        EXPRESS_DELIVERY,
        FREE_SHIPPING_FROM,
        REFUND_DAYS,
        RETURN_DAYS,
        STANDARD_DELIVERY,
        SUPPORT_HOURS,
    )

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
        (
            "You can track your order under Orders in your account. "
            "Open the order to see its tracking number and the latest delivery status."
        ),
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
        (
            "You can cancel an order until it has shipped: open Orders, choose the order and select Cancel order. "
            "Once it has shipped, please return it instead."
        ),
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
        (
            "You can change the delivery address until the parcel leaves our warehouse: "
            "open Orders, choose the order and select Edit address."
        ),
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
        (
            "Orders can't be edited once they are placed. "
            "Cancel the order before it ships and place a new one with the changes you need."
        ),
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
        (
            "Sorry about that. Some orders ship in more than one parcel, so check the tracking page first. "
            "If the item is still missing, report it under Orders and we will send it again."
        ),
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
        (
            f"Standard delivery takes {STANDARD_DELIVERY} and express delivery takes {EXPRESS_DELIVERY}. "
            "You will see the expected date at checkout."
        ),
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
        (
            f"Standard shipping is free on orders over {FREE_SHIPPING_FROM}. "
            "Below that, and for express delivery, the price is shown at checkout before you pay."
        ),
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
        (
            "We ship to most countries. Enter your address at checkout to see if we deliver there; "
            "international orders may include customs fees that are paid on delivery."
        ),
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
        (
            "Sorry for the delay. If your parcel is more than 3 days past its expected date, "
            "contact us with the order number and we will trace it or send a replacement."
        ),
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
        (
            "Sorry it arrived damaged. "
            "Send us a photo through the Help page within 14 days and we will replace the item or refund you, "
            "at no cost."
        ),
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
        (
            "To start a return, open Orders, choose the item and select Return. "
            "Print the prepaid label and drop the parcel at any post office."
        ),
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
        (
            "We don't swap items directly. "
            "Return the item for a refund and place a new order for the size or colour you want."
        ),
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
        (
            f"Refunds are issued to your original payment method within {REFUND_DAYS} after we receive your return. "
            "We email you when it is sent."
        ),
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
        (
            "Select Forgot password on the sign-in page and enter your email address. "
            "We will send a reset link that is valid for one hour; check your spam folder if it doesn't arrive."
        ),
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
        (
            "Go to Account settings, select Email and enter the new address. "
            "We send a confirmation link to it, and the change takes effect once you click it."
        ),
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
        (
            "Go to Account settings and select Delete account. "
            "We remove your data within 30 days, except records the law requires us to keep."
        ),
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
        (
            "Accounts lock after several failed sign-in attempts. "
            "Wait 30 minutes, then reset your password from the sign-in page to unlock it."
        ),
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
        (
            "Turn on two-factor authentication under Account settings, Security. "
            "If you lose your phone, use one of your backup codes or contact us to verify your identity."
        ),
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
        (
            "We accept major credit and debit cards, PayPal, Apple Pay and Google Pay. "
            "Bank transfers and cash on delivery are not available."
        ),
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
        (
            "Check that the card details and billing address match what your bank has on file. "
            "If it still fails, your bank may have blocked the payment, so please contact them or try another method."
        ),
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
        (
            "A second charge is usually a temporary authorisation that disappears within 3 business days. "
            "If both charges are still there after that, send us your order number and we will refund the duplicate."
        ),
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
        (
            "Enter the code in the Discount code box at checkout. "
            "Only one code can be used per order, and codes can't be added after the order is placed."
        ),
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
        (
            "Enter the gift card number at checkout to use it; any remaining cost can be paid by card. "
            "Gift cards are valid for 2 years, and you can check the balance in your account."
        ),
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
        (
            "We don't match other shops' prices, but if our own price drops within 7 days of your purchase, "
            "contact us and we will refund the difference."
        ),
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
        (
            "Go to Account settings, Membership and select Cancel membership. "
            "You keep the benefits until the end of the period you paid for."
        ),
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
        (
            "Plus membership costs $5 a month and includes free express delivery, "
            "early access to sales and extended 60-day returns."
        ),
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
        (
            "Select Notify me on the product page and we will email you as soon as it is back in stock. "
            "Restock dates depend on our suppliers."
        ),
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
        (
            "Electronics have a 2-year warranty and other products 1 year. "
            "Start a claim under Orders with a short description and a photo, and we will repair or replace the item."
        ),
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
        (
            f"Our support team is available by live chat and phone from {SUPPORT_HOURS}. "
            "Open the Help page and select Contact us."
        ),
    ),
]
GREETINGS = ["", "", "", "Hi, ", "Hello, ", "Hey, ", "Good morning, ", "Quick question: ", "Sorry to bother you, but "]
CLOSINGS = ["", "", "", " Thanks!", " Thank you.", " Please help.", " Any help is appreciated."]
