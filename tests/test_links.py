"""Share pages are refused before anything is fetched, with the direct link to use instead."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.config.model import resolve_config
from bot.core.dataset.links import share_page_fix, share_page_problem
from bot.core.errors import InputError
from bot.core.settings import load_settings


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("https://drive.google.com/file/d/1AbC_d-9/view?usp=sharing", "id=1AbC_d-9"),
        ("https://drive.google.com/open?id=XYZ", "id=XYZ"),
        ("https://drive.google.com/drive/folders/F1", "uc?export=download"),
        ("https://www.dropbox.com/s/abc/data.zip?dl=0", "dl=1"),
    ],
)
def test_share_pages_are_named_with_their_fix(url: str, fix: str) -> None:
    problem = share_page_problem(url)
    assert problem is not None and fix in problem
    with pytest.raises(InputError) as info:
        resolve_config(
            cli={"dataset_url": url, "destination": "alice/lora", "trigger_word": "ZXQTOK"},
            settings=load_settings(),
        )
    assert info.value.field == "dataset_url"
    assert fix in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://drive.google.com/uc?export=download&id=1AbC",
        "https://www.dropbox.com/s/abc/data.zip?dl=1",
        "https://dl.dropboxusercontent.com/s/abc/data.zip",
        "https://example.org/data.zip",
    ],
)
def test_direct_links_pass(url: str) -> None:
    assert share_page_problem(url) is None


def test_malformed_urls_are_not_called_share_pages() -> None:
    assert share_page_problem("http://[broken") is None


def test_generic_fix_explains_direct_links() -> None:
    assert "direct download link" in share_page_fix("https://files.example.org/page")
    assert share_page_fix("https://www.dropbox.com/s/a/b.zip?dl=0").endswith("dl=1")


@given(st.text(max_size=200))
def test_link_checks_never_raise(text: str) -> None:
    share_page_problem(text)
    share_page_fix(text)
