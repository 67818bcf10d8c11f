"""The simulator's captioning models: Florence-2 large and LLaVA 13B, as their versions show
themselves (input schemas, output shapes, run times) and as predictions of them behave.

Captions are deterministic functions of the image (its average colour, shape and size), so a
test can say which caption an image must get. Faults: `faults.prediction_statuses` answers the
next creates with those HTTP errors (429 with `Retry-After`, 5xx); an image whose width is in
`faults.caption_fail_widths` ends `failed`, as a model that cannot read it would.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from PIL import Image

from bot.core.limits import CAPTION_DATA_URI_BYTES
from bot.sim.captioner_schemas import FLORENCE_TASKS, florence_schema, llava_schema
from bot.sim.state import iso, random_id

if TYPE_CHECKING:
    from bot.sim.server import ReplicateSimulator

DATA_URI_LIMIT = CAPTION_DATA_URI_BYTES  # bytes Replicate accepts in a data URI
_TASK_TAGS = {task: "<" + task.upper().replace(" ", "_") + ">" for task in FLORENCE_TASKS}
_COLOURS = {
    "red": (200, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 70, 200),
    "yellow": (220, 210, 50),
    "white": (240, 240, 240),
    "black": (15, 15, 15),
    "grey": (128, 128, 128),
    "orange": (230, 130, 30),
    "purple": (130, 50, 160),
}


@dataclass(frozen=True)
class SimCaptioner:
    """One captioning model: its pinned version, schema, and billed seconds per prediction."""

    model: str
    version: str
    kind: str  # "task" or "prompt"
    predict_seconds: float
    schema: dict[str, Any]


CAPTIONERS: dict[str, SimCaptioner] = {
    c.model: c
    for c in (
        SimCaptioner(
            "lucataco/florence-2-large",
            "da53547e17d45b9cfb48174b2f18af8b83ca020fa76db62136bf9c6616762595",
            "task",
            2.6,
            florence_schema(),
        ),
        SimCaptioner(
            "yorickvp/llava-13b",
            "80537f9eead1a5bfa72d5ac6ea6414379be41d4d4f6679fd776e9535d1eb58bb",
            "prompt",
            3.0,
            llava_schema(),
        ),
    )
}


def by_version(version: str) -> SimCaptioner | None:
    return next((c for c in CAPTIONERS.values() if c.version == version), None)


@dataclass
class SimPrediction:
    """A prediction's fixed facts; its status follows the clock like a training's."""

    id: str
    captioner: SimCaptioner
    input: dict[str, Any]
    created_wall: float
    created_mono: float
    run_seconds: float
    output: Any
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def done(self, now: float) -> bool:
        return now - self.created_mono >= self.run_seconds

    def render(self, base: str, now: float) -> dict[str, Any]:
        done = self.done(now)
        status = ("failed" if self.error else "succeeded") if done else "processing"
        urls = {
            "get": f"{base}/v1/predictions/{self.id}",
            "cancel": f"{base}/v1/predictions/{self.id}/cancel",
            "web": f"https://replicate.com/p/{self.id}",
        }
        rendered = {
            "id": self.id,
            "model": self.captioner.model,
            "version": self.captioner.version,
            "input": self.input,
            "logs": "",
            "output": self.output if done and not self.error else None,
            "data_removed": False,
            "error": self.error if done else None,
            "status": status,
            "source": "api",
            "created_at": iso(self.created_wall),
            "started_at": iso(self.created_wall),
            "metrics": {"predict_time": self.captioner.predict_seconds} if done else {},
            "urls": urls,
        }
        if done:
            rendered["completed_at"] = iso(self.created_wall + self.run_seconds)
        return rendered


def _decode(uri: str) -> Image.Image | None:
    head, _, payload = uri.partition(",")
    if not head.startswith("data:") or ";base64" not in head:
        return None
    try:
        raw = base64.b64decode(payload, validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            rgb: Image.Image = img.convert("RGB")
            return rgb
    except (binascii.Error, ValueError, OSError):
        return None


def _colour(img: Image.Image) -> str:
    r, g, b = img.resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    return min(
        _COLOURS,
        key=lambda n: sum((a - c) ** 2 for a, c in zip(_COLOURS[n], (r, g, b), strict=True)),
    )


def caption_for(img: Image.Image) -> str:
    """The deterministic "model" caption: colour, shape and size, narrated like Florence."""
    w, h = img.size
    shape = "square" if abs(w - h) <= min(w, h) // 10 else ("wide" if w > h else "tall")
    return (
        f"The image shows a {_colour(img)} {shape} picture on a plain background,  "
        f"{w} by {h} pixels ,with soft even light."
    )


def _output(captioner: SimCaptioner, inputs: dict[str, Any], caption: str) -> Any:
    if captioner.kind == "task":
        tag = _TASK_TAGS.get(str(inputs.get("task_input") or "Caption"), "<CAPTION>")
        return {"img": None, "text": repr({tag: caption})}
    return [word + " " for word in caption.split(" ")]


_ERRORS = {
    429: ("Request was throttled.", "Request was throttled. Expected available in 1 second."),
    500: ("Internal Server Error", "An unexpected error occurred."),
    502: ("Bad Gateway", "The upstream server did not answer."),
    503: ("Service Unavailable", "The service is temporarily unavailable."),
}


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    """An RFC 7807 body like bot.sim.api's (this module is imported by it, not the reverse)."""
    body = {"title": title, "detail": detail, "status": status, **extra}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


def _invalid(fields: list[dict[str, str]]) -> web.Response:
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in fields)
    return problem(422, "Input validation failed", detail, invalid_fields=fields)


def _problems(captioner: SimCaptioner, inputs: dict[str, Any]) -> list[dict[str, str]]:
    schema = captioner.schema["components"]["schemas"]["Input"]
    problems = []
    for name in schema["required"]:
        if name not in inputs:
            problems.append(
                {"type": "required", "field": "input", "description": f"{name} is required"}
            )
    for name, value in inputs.items():
        if name not in schema["properties"]:
            problems.append(
                {
                    "type": "additional_property_not_allowed",
                    "field": "input",
                    "description": f"Additional property {name} is not allowed",
                }
            )
        elif name in ("image", "prompt", "task_input") and not isinstance(value, str):
            problems.append(
                {
                    "type": "invalid_type",
                    "field": f"input.{name}",
                    "description": "Invalid type. Expected: string",
                }
            )
    task = inputs.get("task_input")
    if captioner.kind == "task" and task is not None and task not in FLORENCE_TASKS:
        allowed = ", ".join(f'"{t}"' for t in FLORENCE_TASKS)
        problems.append(
            {
                "type": "enum",
                "field": "input.task_input",
                "description": f"task_input must be one of the following: {allowed}",
            }
        )
    image = inputs.get("image")
    if isinstance(image, str) and image.startswith("data:") and len(image) > DATA_URI_LIMIT:
        problems.append(
            {
                "type": "invalid",
                "field": "input.image",
                "description": "data URIs must be under 1 MB; upload larger files",
            }
        )
    return problems  # fmt: skip


async def create_prediction(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    faults = sim.faults
    if faults.prediction_statuses:
        status = faults.prediction_statuses.pop(0)
        title, detail = _ERRORS.get(status, ("Error", "Something went wrong."))
        response = problem(status, title, detail)
        if status == 429:
            response.headers["Retry-After"] = str(faults.retry_after)
        return response
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return problem(400, "Bad request", "The request body must be a JSON object.")
    version, inputs = body.get("version"), body.get("input")
    ref = version.partition(":")[2] if isinstance(version, str) and ":" in version else version
    captioner = by_version(ref) if isinstance(ref, str) else None
    if captioner is None:
        return problem(
            422,
            "Invalid version or not permitted",
            "The specified version does not exist (or perhaps you don't have permission "
            "to use it?)",
        )
    if not isinstance(inputs, dict):
        return _invalid(
            [{"type": "required", "field": "input", "description": "input is required"}]
        )
    invalid = _problems(captioner, inputs)
    if invalid:
        return _invalid(invalid)
    img = _decode(str(inputs["image"]))
    error = None
    if img is None:
        error = "cannot identify image file"
        caption = ""
    else:
        caption = caption_for(img)
        if img.size[0] in faults.caption_fail_widths:
            error = "CUDA error: an illegal memory access was encountered"
    with sim.lock:
        prediction = SimPrediction(
            id=random_id(sim.rng),
            captioner=captioner,
            input={k: (v[:40] + "..." if k == "image" else v) for k, v in inputs.items()},
            created_wall=time.time(),
            created_mono=time.monotonic(),
            run_seconds=sim.caption_seconds,
            output=_output(captioner, inputs, caption),
            error=error,
        )
        sim.predictions[prediction.id] = prediction
    wait = _wait_seconds(request.headers.get("Prefer", ""))
    if wait and sim.caption_seconds > 0:
        await sim.pause(min(wait, sim.caption_seconds))
    return web.json_response(prediction.render(sim.base_for(request), time.monotonic()), status=201)


def _wait_seconds(prefer: str) -> float:
    """`Prefer: wait` (60 s) or `wait=N` (1-60 s); 0 without it."""
    for part in prefer.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "wait":
            try:
                return min(max(float(value), 1.0), 60.0) if value else 60.0
            except ValueError:
                return 60.0
    return 0.0


async def get_prediction(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    found = sim.predictions.get(request.match_info["id"])
    if found is None:
        return problem(404, "Not found", "The requested prediction does not exist.")
    return web.json_response(found.render(sim.base_for(request), time.monotonic()))


def version_of(model: str, version: str | None) -> tuple[str, dict[str, Any]] | None:
    """(version id, openapi_schema) of a captioning model (its latest when `version` is None)."""
    captioner = CAPTIONERS.get(model)
    if captioner is None or (version is not None and version != captioner.version):
        return None
    return captioner.version, captioner.schema
