"""Store policies, review clauses and help-article sentences for tools/generate_sample_data.py: pure data.

Written for NodeLoom; nothing here is copied from elsewhere. The chat_support intents are in
tools/sample_data_intents.py. Changing any phrase changes the shipped sample data: rerun the generator.
"""

from __future__ import annotations

# Store policies, shared by the chat answers and the help articles so the two never disagree.
RETURN_DAYS = 30
FREE_SHIPPING_FROM = "$50"
STANDARD_DELIVERY = "3 to 5 business days"
EXPRESS_DELIVERY = "1 to 2 business days"
REFUND_DAYS = "5 to 7 business days"
SUPPORT_HOURS = "8 am to 8 pm, Monday to Saturday"

# ---------------------------------------------------------------------------------------------
# reviews_sentiment: per domain, what is reviewed, openings, clauses of each polarity and verdicts

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

# ---------------------------------------------------------------------------------------------
# support_articles: per help-centre topic, opening sentences and facts

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
