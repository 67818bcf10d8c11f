"""`redact` skips a token pattern when the text lacks the literal the pattern needs; this must
never change its result. Compared with applying every pattern, on texts built to hold tokens,
near-tokens and case variants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import secrets


def redact_everything(text: str) -> str:
    """`redact` without the pre-check (secrets registered by other tests included)."""
    text = secrets.replace_known(text)
    for pattern in secrets._PATTERNS:
        text = pattern.sub(secrets.REDACTED, text)
    return secrets._WANDB_KEY.sub(secrets.REDACTED, text)


PIECES = [
    "r8_",
    "R8_",
    "hf_",
    "sk-",
    "ghp_",
    "GHO_",
    "whsec_",
    "Bearer ",
    "TOKEN ",
    "toKen\t",
    "\u212aey",  # the Kelvin sign, which matches k case-insensitively
    ".",
    "a" * 24,
    "Ab9_-" * 6,
    "0123456789abcdef" * 3,
    " ",
    "\n",
    "é",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=30).map("".join))
def test_the_pre_check_never_changes_what_is_redacted(text: str) -> None:
    assert secrets.redact(text) == redact_everything(text)


def test_a_registered_secret_takes_part(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above holds with a registered secret that looks like a W&B key."""
    key = "0123456789abcdef" * 2 + "01234567"
    monkeypatch.setattr(secrets, "_known_patterns", ((key, None),))
    text = "0123456789abcdef" * 3
    assert secrets.redact(text) == redact_everything(text) == secrets.REDACTED + "89abcdef"


def test_each_token_shape_is_still_redacted() -> None:
    for token in (
        "r8_" + "a" * 30,
        "hf_" + "b" * 30,
        "sk-" + "c" * 30,
        "ghs_" + "d" * 30,
        "whsec_" + "e" * 20,
        "M" * 24 + "." + "G" * 6 + "." + "h" * 27,
        "BeArEr " + "f" * 20,
        "0123456789" * 4,
    ):
        assert secrets.redact(f"x {token} y") == f"x {secrets.REDACTED} y"
