"""Rules for single config fields, each refusing with words a beginner can act on.

These are the mistakes that waste a paid run or a LoRA: a trigger word that is a common word
(the model already knows it), a forgotten placeholder, a Discord mention pasted by accident, a
destination Replicate will reject, a share page instead of a ZIP link, sizes the trainer's
bucketing cannot use. Validators raise `ValueError(<predicate>)`; `model` prefixes the field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.core.dataset.links import share_page_problem
from bot.core.errors import InputError
from bot.core.limits import MAX_RESOLUTIONS
from bot.core.secrets import redact

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from bot.core.config.model import TrainingConfig

PLACEHOLDER = "CHANGE_ME"
# Values people forget to replace: the trainer's own default and template-style names.
FORGOTTEN_TRIGGERS = frozenset(
    "tok trigger trigger_word triggerword your_trigger your_trigger_word yourtrigger "
    "my_trigger change_me changeme placeholder todo fixme xxx word keyword token".split()
)
# Words the base model already knows well; as a trigger they blur into that meaning.
COMMON_WORDS = frozenset(
    """a about after all also an and any are art as at away back be because been before best
    big black blue boy but by can car cat child come could day did do dog down each even eye
    face family find first for from get girl give go good great green hair hand has have he
    her here him his home house how i if image in into is it its just kid know lady landscape
    last life like little long look lora made make man many me men model more most mountain
    my name new no not now of old on one only or other our out over painting people person
    photo picture portrait red say see she sky small so some style subject take than that the
    their them then there these they thing think this time to two up us use very want water
    way we well were what when where which white who why will with woman women work world
    would year yellow you young your anime cartoon drawing sketch render character dragon
    flower tree city street night sun moon star sea beach forest fire baby horse bird fish
    food shoe dress shirt hat glass cup chair table room window door book phone robot""".split()
)
_MENTION = re.compile(r"<(@[!&]?|#)\d+>|@(everyone|here)\b")
_TRIGGER_CHARS = re.compile(r"^[\w.-]+$")
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$")
_MODEL = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
_WANDB_BAD = re.compile(r"[/\\#?%:]")
_EXAMPLE_HOSTS = ("example.com", "example.org", "example.net")
# Letters of other scripts drawn like Latin ones: a trigger word that mixes them looks right
# and tokenizes into something else. NFKC already folds full-width and styled forms.
_LOOKALIKES = str.maketrans(
    "АВСЕНІЈКМОРЅТХУасеһіјорѕхуԁԛԝΑΒΕΖΗΙΚΜΝΟΡΤΥΧοϲ",
    "ABCEHIJKMOPSTXYacehijopsxydqwABEZHIKMNOPTYXoc",
)


def show(value: Any, limit: int = 60) -> str:
    """A value as it may be echoed back: short and with anything token-shaped removed."""
    text = repr(value) if isinstance(value, str) else str(value)
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def suggest(word: str, choices: Sequence[str]) -> str:
    """' (did you mean X?)' for the nearest valid name, or nothing."""
    import difflib  # only for a misspelt name

    match = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def secret_message(path: str) -> str:
    return (
        f"{redact(path)}: this looks like a secret (a token or API key), and secrets never go in a "
        "config or an option — set WANDB_API_KEY (or REPLICATE_API_TOKEN) in the environment "
        "instead."
    )


def missing_message(path: str) -> str:
    what = {
        "dataset_url": "a direct https link to your dataset .zip (or dataset_path: a local "
        "folder or .zip)",
        "destination": "the Replicate model to train into, as owner/name",
        "trigger_word": "one made-up word such as ZXQTOK",
    }[path]
    return f"{path} is missing: give {what} (option or config file), or set it in the template."


def whole_number(value: Any) -> Any:
    """Refuse booleans and fractions before pydantic would quietly turn them into ints."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{show(value)} is not a whole number")
    return value


def number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{show(value)} is not a number")
    return value


def in_range(value: int, hard: tuple[int, int], policy: tuple[int, int] | None, env: str) -> int:
    """Team policy (named by its env var) first, then the trainer's hard limits."""
    if policy is not None and not policy[0] <= value <= policy[1]:
        raise ValueError(
            f"{value} is not allowed; this team allows {policy[0]}–{policy[1]} "
            f"({env}; the trainer accepts {hard[0]}–{hard[1]})"
        )
    if not hard[0] <= value <= hard[1]:
        raise ValueError(f"{value} is not allowed; use {hard[0]}–{hard[1]}")
    return value


def resolution(value: Any) -> Any:
    """`"768,1024"`, `1024` or `[768, 1024]` -> `"768,1024"`; each 256–2048, a multiple of 64,
    at most `MAX_RESOLUTIONS` different sizes (each size is one more pass over the dataset)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f'{show(value)} is not a resolution; use sizes like "768,1024"')
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, list | tuple):
        if len(value) > MAX_RESOLUTIONS:
            raise ValueError(_too_many(len(value)))
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ValueError(f'{show(value)} is not a resolution; use sizes like "768,1024"')
    parts = [p.strip() for p in value.split(",")]
    if len(parts) > MAX_RESOLUTIONS:
        raise ValueError(_too_many(len(parts)))
    # isascii(): str.isdigit() accepts '²' and other digits that int() refuses.
    if any(not (p.isascii() and p.isdigit()) or len(p) > 5 for p in parts):
        raise ValueError(
            f'{show(value)} is not allowed; use comma-separated whole numbers like "768,1024"'
        )
    sizes = [int(p) for p in parts]
    for size in sizes:
        if not 256 <= size <= 2048 or size % 64:
            raise ValueError(
                f"{size} is not allowed; each size must be 256–2048 and a multiple of 64 "
                "(e.g. 512, 768, 1024)"
            )
    twice = sorted({s for s in sizes if sizes.count(s) > 1})
    if twice:
        raise ValueError(
            f"lists {', '.join(map(str, twice))} more than once; give each size once "
            "(each one trains a separate pass)"
        )
    return ",".join(str(s) for s in sizes)


def _too_many(count: int) -> str:
    return (
        f"has {count} sizes; give at most {MAX_RESOLUTIONS} different sizes "
        '(e.g. "768,1024"; each one is another pass over the dataset)'
    )


def wandb_project(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 128 or _WANDB_BAD.search(value):
        raise ValueError(f"{show(value)} is not allowed; use 1–128 characters without / \\ # ? % :")
    return value


MAX_SAMPLE_PROMPTS, MAX_SAMPLE_PROMPT = 8, 500  # each prompt costs a render every interval


def sample_prompts(value: Any) -> Any:
    """A list of prompts; a text is split at newlines or `|` (one slash-command option)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for line in value.splitlines() for part in line.split("|")]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError('must be a list of prompts (text), such as ["a photo of TOK"]')
    prompts = tuple(" ".join(v.split()) for v in value if v.strip())
    if len(prompts) > MAX_SAMPLE_PROMPTS:
        raise ValueError(f"has {len(prompts)} prompts; give at most {MAX_SAMPLE_PROMPTS}")
    if any(len(p) > MAX_SAMPLE_PROMPT for p in prompts):
        raise ValueError(f"a prompt is over {MAX_SAMPLE_PROMPT} characters; shorten it")
    return prompts


def _placeholder(value: str, what: str) -> None:
    if PLACEHOLDER.lower() in value.lower() or "change-me" in value.lower():
        raise ValueError(f"{show(value)} is still the template's placeholder; put {what} there")


def dataset_path(value: str | None) -> str | None:
    """A local folder or .zip; that it exists is checked when it is read (it is a path)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{show(value)} is not a path; give a folder of images or a .zip file")
    return value.strip()


def one_dataset(values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """Exactly one of dataset_url / dataset_path: two datasets would leave a guess."""
    url, path = values.get("dataset_url"), values.get("dataset_path")
    if url not in (None, "") and path not in (None, ""):
        where = ", ".join(
            f"{key} from the {origins.get(key, 'default')}"
            for key in ("dataset_url", "dataset_path")
        )
        raise InputError(
            f"dataset_url and dataset_path are both given ({where}); give exactly one: a link to "
            "a hosted .zip, or a local folder or .zip to upload.",
            field="dataset_path",
        )


def dataset_url(value: str | None) -> str | None:
    """An http(s) link with a host that Replicate's worker can fetch without logging in."""
    if value is None:
        return None
    value = value.strip()
    what = "the direct https link to your dataset .zip"
    _placeholder(value, what)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host or " " in value:
        raise ValueError(f"{show(value)} is not a web link; put {what} (https://...)")
    if parts.username or parts.password:
        raise ValueError(
            "must not contain a user name or password; use a link that works without logging in"
        )
    if len(value) > 2048:
        raise ValueError("is longer than 2048 characters; use a shorter direct link")
    problem = share_page_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def destination(value: str | None) -> str | None:
    """`owner/name` as Replicate accepts it; a pasted model page URL is reduced with a hint."""
    if value is None:
        return None
    value = value.strip()
    _placeholder(value, "your Replicate username/model-name")
    page = re.match(r"^(?:https?://)?(?:www\.)?replicate\.com/([^/]+/[^/?#]+)", value)
    if page:
        raise ValueError(f"{show(value)} is a web page; use just {page.group(1)!r}")
    owner, sep, name = value.partition("/")
    if not sep or "/" in name or not owner or not name:
        raise ValueError(f"{show(value)} is not allowed; use owner/model-name, e.g. alice/my-lora")
    if len(owner) > 64 or not _OWNER.match(owner):
        raise ValueError(
            f"owner {show(owner)} is not allowed; a Replicate username has letters, digits, "
            "- and _, not at its start or end (at most 64)"
        )
    if name != name.lower() and _MODEL.match(name.lower()):
        raise ValueError(f"model names are lowercase; use {value.lower()!r}")
    if len(name) > 100 or not _MODEL.match(name):
        raise ValueError(
            f"model name {show(name)} is not allowed; use lowercase letters, digits, - _ and ., "
            "not at its start or end (at most 100)"
        )
    return value


def trigger_word(value: str | None) -> str | None:
    """One rare token that is not a placeholder, a mention, or a word the model already knows."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("is empty; use one made-up word such as ZXQTOK")
    _placeholder(value, "one made-up word such as ZXQTOK")
    if _MENTION.search(value) or value.startswith("@"):
        raise ValueError(
            f"{show(value)} looks like a Discord mention; type one made-up word such as ZXQTOK"
        )
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{show(value)} has spaces; use one word without spaces, such as ZXQTOK")
    if not value.isascii():
        _no_lookalikes(value)
    if not 2 <= len(value) <= 40:
        raise ValueError(f"{show(value)} is not allowed; use 2–40 characters")
    if not _TRIGGER_CHARS.match(value) or not any(ch.isalpha() for ch in value):
        raise ValueError(
            f"{show(value)} is not allowed; use letters and digits (and - _ .), with at least "
            "one letter"
        )
    if value.lower() in FORGOTTEN_TRIGGERS:
        raise ValueError(
            f"{show(value)} is a placeholder or the trainer's default; pick your own rare word "
            "such as ZXQTOK"
        )
    if value.lower() in COMMON_WORDS:
        raise ValueError(
            f"{show(value)} is a common English word the model already knows; use a made-up "
            "word such as ZXQTOK"
        )
    return value


def script_of(ch: str) -> str:
    """The script a letter belongs to ('LATIN', 'CYRILLIC', ...), from its Unicode name."""
    try:
        return unicodedata.name(ch).split()[0]
    except ValueError:
        return "UNKNOWN"


def _no_lookalikes(value: str) -> None:
    """Refuse what looks like one word but is another to the tokenizer: full-width or styled
    forms, letters of several scripts, or a word spelled entirely in look-alikes of Latin
    letters. Plain words of one script (Ünïcødé, жук) pass."""
    plain = unicodedata.normalize("NFKC", value).translate(_LOOKALIKES)
    scripts = {script_of(ch) for ch in value if ch.isalpha()}
    odd = next((ch for ch in value if not ch.isascii()), "")
    if unicodedata.normalize("NFKC", value) != value:
        odd = next(ch for ch in value if unicodedata.normalize("NFKC", ch) != ch)
    elif len(scripts) <= 1 and not (plain.isascii() and _TRIGGER_CHARS.match(plain)):
        return
    where = f"{show(value)} contains {odd!r} (U+{ord(odd):04X} {script_of(odd)})"
    if plain.isascii() and _TRIGGER_CHARS.match(plain):
        raise ValueError(
            f"{where}, which only looks like a plain letter: it tokenizes differently and the "
            f"LoRA would not answer to what you type; use the plain ASCII form {plain!r}"
        )
    raise ValueError(
        f"{where} and mixes writing systems ({', '.join(sorted(scripts)).lower()}); use "
        "letters of one script, e.g. plain ASCII such as ZXQTOK"
    )


_TYPE_WORDS = {
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "int_type": "is not a whole number",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "finite_number": "is not a finite number",
    "bool_parsing": "is not true or false",
    "bool_type": "is not true or false",
    "string_type": "is not text (in YAML, put it in quotes)",
    "model_type": "is not a section (write it as key: value lines)",
    "model_attributes_type": "is not a section (write it as key: value lines)",
}


def describe_error(error: ErrorDetails) -> str:
    """The predicate part of the sentence for one pydantic error (never the raw value if secret)."""
    kind = error["type"]
    if kind == "value_error":
        ctx = error.get("ctx") or {}
        return str(ctx.get("error", error["msg"]))
    if kind == "missing":
        return "is missing"
    if kind == "extra_forbidden":
        return "is not a known setting"
    words = _TYPE_WORDS.get(kind, "is not allowed")
    return f"{show(error.get('input'))} {words}"


def advice(config: TrainingConfig) -> list[str]:
    """Warnings that do not block a run but usually mean a mistake."""
    notes: list[str] = []
    t = config.training
    if t.optimizer == "prodigy" and not 0.1 <= t.learning_rate <= 2.0:
        notes.append(
            f"training.learning_rate: {t.learning_rate:g} is far from prodigy's usual 1.0 "
            "(prodigy adapts its own step size; 0.0004-style rates are for adamw8bit)."
        )
    if t.optimizer == "adamw8bit" and t.learning_rate > 0.01:
        notes.append(
            f"training.learning_rate: {t.learning_rate:g} is very high for adamw8bit "
            "(about 0.0004 is usual; 1.0 is a prodigy value)."
        )
    if t.optimizer == "adamw8bit" and t.learning_rate < 1e-6:
        notes.append(
            f"training.learning_rate: {t.learning_rate:g} is so low for adamw8bit that "
            "the LoRA will barely learn (about 0.0004 is usual)."
        )
    if not 1000 <= t.steps <= 2000:
        notes.append(f"training.steps: {t.steps} is outside the 1000–2000 guides recommend.")
    host = urlsplit(config.dataset_url).hostname if config.dataset_url else None
    if host and (host in _EXAMPLE_HOSTS or host.endswith(tuple("." + h for h in _EXAMPLE_HOSTS))):
        notes.append(
            f"dataset_url: {host} is an example address that never serves a dataset; "
            "use the direct link to your own .zip."
        )
    return notes
