"""Counted nouns in messages: "1 image", "2 images" — a message with "1 images" reads careless."""

from __future__ import annotations


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 52nd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for exactly one; `plural` for other forms ("image is" /
    "images are")."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
