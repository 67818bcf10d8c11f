"""Share pages versus direct links: the most common reason a dataset URL trains nothing.

Google Drive and Dropbox share links answer with an HTML page, not the ZIP; the trainer then
fails after the GPU run has started. Pure string work (no network), so the config check can
refuse such a link before anything else, and the dataset check can explain an HTML answer.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DRIVE_HOSTS = ("drive.google.com", "docs.google.com")
_DROPBOX_HOSTS = ("dropbox.com", "dropboxusercontent.com")


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _drive_id(url: str) -> str:
    parts = urlsplit(url)
    match = re.search(r"/d/([\w-]+)", parts.path)
    if match:
        return match.group(1)
    return dict(parse_qsl(parts.query)).get("id", "<ID>")


def _with_query(url: str, **values: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(values)
    return urlunsplit(parts._replace(query=urlencode(query)))


def share_page_fix(url: str) -> str:
    """How to turn a share link into a direct download link (Drive, Dropbox, others)."""
    host = _host(url)
    if host.endswith(_DRIVE_HOSTS):
        return (
            "for Google Drive share the file with 'Anyone with the link' and use "
            f"https://drive.google.com/uc?export=download&id={_drive_id(url)}"
        )
    if host.endswith(_DROPBOX_HOSTS):
        return f"for Dropbox use the link with ?dl=1 instead of ?dl=0: {_with_query(url, dl='1')}"
    return (
        "use a direct download link, one that downloads the .zip itself when opened in a "
        "browser (Google Drive: https://drive.google.com/uc?export=download&id=<ID>, "
        "Dropbox: end the link with ?dl=1)"
    )


def share_page_problem(url: str) -> str | None:
    """A sentence when `url` is certainly a share page (it serves HTML, never the ZIP)."""
    host = _host(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # not a URL at all: the URL check says so
    query = dict(parse_qsl(parts.query))
    if host.endswith(_DRIVE_HOSTS):
        if re.search(r"/(file|document)/d/|/drive/folders/|/open$|/view$", parts.path):
            return f"is a Google Drive share page, not the file; {share_page_fix(url)}"
        return None
    if host.endswith(_DROPBOX_HOSTS) and query.get("dl") == "0":
        return f"is a Dropbox preview page (?dl=0), not the file; {share_page_fix(url)}"
    return None
