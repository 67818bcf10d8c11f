"""What a message means and what to do, where the message alone cannot say it.

Every message of the product is listed in docs/troubleshooting.md straight from the code
(`bot.core.catalogue`); most already name the field and the fix. These explanations add the
background for the ones people ask about. Each is attached to every message containing its
`says` fragment, and a test fails when a fragment matches no message any more (so an
explanation cannot outlive its message, as "Unknown key" once did).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trouble:
    says: str  # a fragment of the message's text, as the code writes it
    means: str  # why it happens and what to do


# Where a message comes from, by source path prefix -> the section of the page (first match).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("bot/core/settings.py", "Environment and settings"),
    ("bot/core/config/", "The config (options, file, presets)"),
    ("bot/core/dataset/", "The dataset"),
    ("bot/core/http/", "The dataset"),
    ("bot/core/captions/", "Captions"),
    ("bot/core/replicate/", "Replicate"),
    ("bot/core/artifacts/", "Downloading the weights"),
    ("bot/core/money/", "Money: budgets and approvals"),
    ("bot/core/jobs/", "Trainings"),
    ("bot/core/store/", "Trainings"),
    ("bot/cli/", "The command line"),
    ("bot/", "The Discord bot"),
    ("cogs/", "The Discord bot"),
)

EXPLAINED: tuple[Trouble, ...] = (
    Trouble(
        "REPLICATE_API_TOKEN is not set",
        "No token in the environment or in `.env` of the working directory. Create one at "
        "https://replicate.com/account/api-tokens; a `--dry-run` works without it (and says "
        "which checks it skipped).",
    ),
    Trouble(
        "rejected the API token (401)",
        "The token is wrong, revoked or of another account; copy it again. Spaces around it are "
        "removed for you.",
    ),
    Trouble(
        "the token contains spaces or control characters",
        "Often two tokens pasted together; paste the token again, alone.",
    ),
    Trouble("no credit left (402)", "Add credit at https://replicate.com/account/billing."),
    Trouble(
        "Environment variable <env> is invalid",
        "A variable has a value of the wrong form; `docs/configuration.md` lists every variable, "
        "its default and its limits.",
    ),
    Trouble(
        "is reversed",
        "A team range is written high-low (`2000-1000`); write the smaller number first.",
    ),
    Trouble(
        "The config has <n> problems",
        "Every problem of the config in one list, each with its key; fix them all, then rerun.",
    ),
    Trouble(
        "unknown settings",
        "Several keys the layout does not know (typos, usually), all listed with the nearest "
        "valid key; compare with `sd35l-trainer init-config` or `docs/configuration.md`.",
    ),
    Trouble(
        "Unknown setting",
        "A key the layout does not know, usually a typo; the message names the nearest valid "
        "one. In your `defaults.yaml` the message names that file.",
    ),
    Trouble(
        "is still the template's placeholder",
        "A CHANGE_ME value from `init-config` or `/config-template` was left in; a template "
        "submitted unchanged fails before any money is spent.",
    ),
    Trouble(
        "is a common English word",
        "The model already knows the word, so the LoRA would blur with it; a made-up word such "
        "as ZXQTOK calls up only your subject.",
    ),
    Trouble(
        "model names are lowercase",
        "Replicate model names are lower-case; use the suggested spelling.",
    ),
    Trouble(
        "give exactly one",
        "Both `dataset_url` and `dataset_path` were given (perhaps one from a file and one from "
        "an option); keep the one you mean.",
    ),
    Trouble(
        "does not exist; give a folder of images or a .zip file",
        "The `--dataset` / `dataset_path` path is wrong; in a config file it is relative to the "
        "file's folder.",
    ),
    Trouble(
        "but Replicate takes uploads of at most",
        "Replicate's Files API takes at most 100 MiB; use fewer or smaller images, or host a "
        ".zip and give its link as `dataset_url`.",
    ),
    Trouble(
        "that would make the training fail or learn nothing",
        "The check found problems, listed above the error; each line names the file and the fix.",
    ),
    Trouble(
        "returns a web page (HTML)",
        "A Google Drive / Dropbox / OneDrive share page instead of the file; use a direct "
        "download link (Dropbox `?dl=1`, a public S3/R2 object, a GitHub release asset).",
    ),
    Trouble(
        "could not fetch the dataset from",
        "The dataset link's server did not answer at all: refused, unknown, unreachable. Open "
        "the link in a browser; for a local rehearsal start the file server (and set "
        "`SD35L_ALLOW_PRIVATE_URLS=1`); or give a local folder with `--dataset`.",
    ),
    Trouble(
        "Refusing to fetch from",
        "The link points at your own machine or network (loopback, private, link-local), which "
        "is never fetched unasked; for a "
        "local rehearsal `export SD35L_ALLOW_PRIVATE_URLS=1`.",
    ),
    Trouble(
        "does not support byte ranges",
        "The check would have to download more than `SD35L_MAX_DATASET_MB`; raise it, or host "
        "the file where byte ranges work (S3, R2, GitHub).",
    ),
    Trouble(
        "there is no terminal to confirm on",
        "Run from a script, a pipe or CI without `--yes`: nothing happened (exit 2). Add `--yes` "
        "once a `--dry-run` looked right.",
    ),
    Trouble(
        "does not exist on Replicate",
        "Trainings push into a model that must exist first: create it at "
        "https://replicate.com/create (hardware CPU, private) or rerun with "
        "`--create-destination`.",
    ),
    Trouble(
        "did not confirm whether the training was created",
        "The create request got no answer, so the training may exist: `sd35l-trainer list` "
        "before trying again, so you do not pay twice.",
    ),
    Trouble(
        "Lost contact with Replicate while following",
        "Several status checks failed in a row; the training keeps running (and is billed). "
        "`sd35l-trainer follow ID` once the network is back.",
    ),
    Trouble(
        "was not found on Replicate",
        "A wrong id or a training of another account; copy the id (or its web URL) from "
        "`sd35l-trainer list`.",
    ),
    Trouble(
        "is not valid; use the id shown by",
        "Ids are letters and digits; the web URL the CLI prints (https://replicate.com/p/ID) "
        "is taken too.",
    ),
    Trouble(
        "only succeeded trainings have weights",
        "`download` of a training that has not finished: `sd35l-trainer follow ID` waits and "
        "then downloads.",
    ),
    Trouble(
        "had a server error (HTTP",
        "An outage on Replicate's side; see https://www.replicatestatus.com and retry later.",
    ),
    Trouble(
        "--require-token needs REPLICATE_API_TOKEN",
        "`simulate --require-token` accepts only the token it was started with; export it in "
        "the simulator's shell first.",
    ),
    Trouble(
        "Cannot listen on 127.0.0.1",
        "The port is taken; `sd35l-trainer simulate --port 0` picks a free one.",
    ),
)

# Lines the product prints that are not errors raised in the code, but that people search
# for; each `says` must appear in the source (a test checks it).
ALSO_SAID: tuple[tuple[str, str, Trouble], ...] = (
    (
        "The command line",
        "exit 130",
        Trouble(
            "Interrupted; nothing was submitted.",
            "Ctrl-C before the training was created; nothing to clean up.",
        ),
    ),
    (
        "The command line",
        "exit 130",
        Trouble(
            "Interrupted while submitting; the training may have been created.",
            "Ctrl-C while the create request was in flight: `sd35l-trainer list` before "
            "trying again.",
        ),
    ),
    (
        "The command line",
        "exit 130",
        Trouble(
            "Stopped following; training",
            "Ctrl-C during `--wait` or `follow`: the training keeps running. `sd35l-trainer "
            "follow ID` re-attaches; `sd35l-trainer cancel ID` stops it.",
        ),
    ),
    (
        "The command line",
        "exit 1",
        Trouble(
            "was canceled (with `sd35l-trainer cancel`",
            "Someone canceled the training you were following (you, the bot's Cancel button or "
            "the web page). That is said plainly, not as an error, but it made no weights, so "
            "the exit status is 1, as for every `--wait` that ends without them.",
        ),
    ),
    (
        "The command line",
        "exit 1",
        Trouble(
            "Unexpected error:",
            "A bug: something failed that has no sentence yet. Report it with the command you "
            "ran; no token is ever in the message.",
        ),
    ),
    (
        "The Discord bot",
        "exit 2",
        Trouble(
            "DISCORD_TOKEN is not set",
            "`sd35l-trainer bot` without a bot token: the README's \"Create the Discord "
            'application" steps give one; `./scripts/rehearse` tries everything without any '
            "account meanwhile.",
        ),
    ),
    (
        "The Discord bot",
        "exit 2",
        Trouble(
            "Discord refused DISCORD_TOKEN",
            "A wrong or reset bot token; copy it again from the Developer Portal.",
        ),
    ),
)
