"""The captioning models' `openapi_schema`s as their Replicate versions publish them.

Florence-2 large (lucataco/florence-2-large): `image`, a `task_input` enum, optional
`text_input`; output `{img, text}` where `text` is a Python-dict-shaped string. LLaVA 13B
(yorickvp/llava-13b): `image`, `prompt` and sampling knobs; output an iterator of text pieces.
"""

from __future__ import annotations

from typing import Any

from bot.sim.schema import cog_schema

FLORENCE_TASKS = [
    "Caption",
    "Detailed Caption",
    "More Detailed Caption",
    "Object Detection",
    "Dense Region Caption",
    "Region Proposal",
    "Caption to Phrase Grounding",
    "Referring Expression Segmentation",
    "Region to Segmentation",
    "Open Vocabulary Detection",
    "Region to Category",
    "Region to Description",
    "OCR",
    "OCR with Region",
]


def florence_schema() -> dict[str, Any]:
    return cog_schema(
        {
            "Input": {
                "type": "object",
                "title": "Input",
                "required": ["image"],
                "properties": {
                    "image": {
                        "type": "string",
                        "title": "Image",
                        "format": "uri",
                        "x-order": 0,
                        "description": "Grayscale input image",
                    },
                    "task_input": {
                        "allOf": [{"$ref": "#/components/schemas/task_input"}],
                        "default": "Caption",
                        "x-order": 1,
                        "description": "Input task",
                    },
                    "text_input": {
                        "type": "string",
                        "title": "Text Input",
                        "x-order": 2,
                        "description": "Text Input(Optional)",
                    },
                },
            },
            "task_input": {
                "enum": FLORENCE_TASKS,
                "type": "string",
                "title": "task_input",
                "description": "An enumeration.",
            },
            "Output": {
                "type": "object",
                "title": "Output",
                "properties": {
                    "img": {"type": "string", "title": "Img", "format": "uri"},
                    "text": {"type": "string", "title": "Text"},
                },
            },
        }
    )


def llava_schema() -> dict[str, Any]:
    def prop(kind: str, order: int, title: str, description: str, **extra: Any) -> dict[str, Any]:
        return {"type": kind, "title": title, "x-order": order, "description": description, **extra}

    return cog_schema(
        {
            "Input": {
                "type": "object",
                "title": "Input",
                "required": ["image", "prompt"],
                "properties": {
                    "image": prop("string", 0, "Image", "Input image", format="uri"),
                    "prompt": prop("string", 1, "Prompt", "Prompt to use for text generation"),
                    "top_p": prop(
                        "number",
                        2,
                        "Top P",
                        "When decoding text, samples from the top p percentage of most "
                        "likely tokens; lower to ignore less likely tokens",
                        default=1,
                        minimum=0,
                        maximum=1,
                    ),
                    "temperature": prop(
                        "number",
                        3,
                        "Temperature",
                        "Adjusts randomness of outputs, greater than 1 is random and 0 is "
                        "deterministic",
                        default=0.2,
                        minimum=0,
                    ),
                    "max_tokens": prop(
                        "integer",
                        4,
                        "Max Tokens",
                        "Maximum number of tokens to generate. A word is generally 2-3 tokens",
                        default=1024,
                        minimum=0,
                    ),
                },
            },
            "Output": {
                "type": "array",
                "items": {"type": "string"},
                "title": "Output",
                "x-cog-array-type": "iterator",
                "x-cog-array-display": "concatenate",
            },
        }
    )
