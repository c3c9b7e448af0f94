"""A small review dataset that is not IMDB: product reviews, written here, to measure a model on other reviews.

Forty short reviews of everyday products (kettles, headphones, shoes...), half positive, half
negative, in plain English with the words shoppers use. :func:`write_product_reviews` writes them
as a CSV (``review``, ``sentiment``: ``negative`` / ``positive``, IMDB's class names, so an IMDB
model's classes match them by name) for ``python -m core data add`` and ``evaluate``.
"""

from __future__ import annotations

import csv
from pathlib import Path

POSITIVE = [
    "Great kettle, boils fast and looks beautiful on the counter. I love it.",
    "These headphones sound amazing and the battery lasts all week. Highly recommended.",
    "Comfortable shoes from the first day, excellent quality for the price.",
    "The blender is powerful and easy to clean. Best purchase this year.",
    "Wonderful little lamp, warm light and a lovely design. Very happy with it.",
    "Fantastic backpack: strong, light and the pockets are perfect for travel.",
    "My kids adore this game. Fun, clever and it brings the family together.",
    "Excellent coffee grinder, consistent and quiet. Worth every penny.",
    "The jacket is warm, well made and fits perfectly. I would buy it again.",
    "Superb knife set, sharp and balanced. A joy to cook with.",
    "This book was a delight from start to finish, beautifully written.",
    "Brilliant phone case, slim but protective. Love the colour.",
    "Reliable vacuum that picks up everything. Great value and easy to use.",
    "The chair is sturdy and comfortable for long days at the desk. Perfect.",
    "Lovely soft towels that stay fluffy after many washes. Highly recommend.",
    "The speaker is loud and clear, the bass is great. Really impressed.",
    "Beautiful watch, elegant and accurate. My husband loves it.",
    "Easy to assemble desk, solid and smart looking. Excellent instructions.",
    "The toaster works brilliantly and the design is gorgeous. Very pleased.",
    "Best running shoes I have owned, light, comfortable and they look great.",
]
NEGATIVE = [
    "Terrible kettle, it leaked on the second day. A complete waste of money.",
    "The headphones broke after a week and the sound was awful anyway.",
    "Uncomfortable shoes, cheap material and they fell apart within a month.",
    "The blender is noisy, weak and impossible to clean. Very disappointed.",
    "Horrible lamp, flickers constantly and the switch stopped working.",
    "Poor backpack, the zip broke on the first trip. Avoid it.",
    "Boring game, the kids gave up after ten minutes. Not worth it.",
    "Awful coffee grinder, uneven and so loud. I returned it.",
    "The jacket is thin, badly stitched and smells strange. The worst.",
    "Dull knives that bend easily. Cheap and dangerous, do not buy.",
    "This book was dreadful, predictable and badly written. I could not finish it.",
    "Useless phone case, cracked the first time I dropped it.",
    "Weak vacuum that leaves dust everywhere. Disappointing and overpriced.",
    "The chair wobbles and hurts my back. Terrible quality.",
    "Rough towels that shed everywhere. Money wasted.",
    "The speaker crackles and dies after an hour. Awful product.",
    "Ugly watch that stopped after two days. Very poor.",
    "The desk arrived broken with missing screws. Horrible experience.",
    "The toaster burns one side and leaves the other cold. Useless.",
    "Worst running shoes ever, stiff, heavy and painful. Stay away.",
]


def write_product_reviews(path: Path) -> Path:
    """The forty reviews as a CSV with ``review`` and ``sentiment`` columns; its path."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["review", "sentiment"])
        w.writerows([[t, "positive"] for t in POSITIVE] + [[t, "negative"] for t in NEGATIVE])
    return path
