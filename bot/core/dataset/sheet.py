"""The contact sheet: one PNG with a thumbnail per image, its name and the start of its caption.

Why: a person sees in a second what a report of counts cannot say (the wrong folder, a stray
screenshot, captions that do not match) before paying for a run. Skipped files get a crossed-out
cell with the reason, and so do images the check refuses (a 64x103 picture whose bucket would
have a 0 px side), so what the trainer will not see or cannot take is visible too. Pure Pillow,
no network.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from bot.core.dataset.collect import display_name
from bot.core.dataset.judge import THUMB, Selection

COLUMNS = 6
MAX_CELLS = 48  # 6 x 8 cells: even a sheet of pure noise stays under Discord's 10 MiB
PAD = 8
TEXT_H = 40
CELL_W, CELL_H = THUMB + 2 * PAD, THUMB + TEXT_H + 2 * PAD
BACKGROUND, INK, DIM, RED = (250, 250, 250), (20, 20, 20), (110, 110, 110), (200, 30, 30)


@dataclass
class _Cell:
    name: str
    text: str
    thumb: Image.Image | None
    skipped: bool  # crossed out: skipped by the trainer, or refused by the check


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=11)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: object, width: int) -> str:
    """Clip `text` with an ellipsis so it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength(text + "…", font=font) > width:  # type: ignore[arg-type]
        text = text[:-1]
    return text + "…"


def _cells(selection: Selection) -> list[_Cell]:
    cells = []
    for item in selection.usable:
        caption = (item.caption or b"").decode("utf-8", "replace").replace("\n", " ").strip()
        if item.refused:
            cells.append(_Cell(item.name, f"refused: {item.refused}", item.thumb, True))
            continue
        cells.append(_Cell(item.name, caption or "(no caption)", item.thumb, False))
    for name, reason in selection.skipped:
        cells.append(_Cell(name, f"skipped: {reason}", None, True))
    return cells


def _draw_cell(sheet: Image.Image, draw: ImageDraw.ImageDraw, cell: _Cell, x: int, y: int) -> None:
    font = _font()
    box = (x + PAD, y + PAD, x + PAD + THUMB, y + PAD + THUMB)
    if cell.thumb is not None:
        tw, th = cell.thumb.size
        sheet.paste(cell.thumb, (x + PAD + (THUMB - tw) // 2, y + PAD + (THUMB - th) // 2))
        if cell.skipped:  # a refused image: seen, and crossed out like a skipped file
            draw.rectangle(box, outline=RED, width=2)
    else:
        draw.rectangle(box, fill=(235, 235, 235), outline=RED if cell.skipped else DIM, width=2)
    if cell.skipped:
        draw.line(box, fill=RED, width=3)
        draw.line((box[0], box[3], box[2], box[1]), fill=RED, width=3)
    width = THUMB
    name = _fit(draw, display_name(cell.name), font, width)
    text = _fit(draw, cell.text, font, width)
    draw.text((x + PAD, y + PAD + THUMB + 4), name, fill=RED if cell.skipped else INK, font=font)
    draw.text((x + PAD, y + PAD + THUMB + 20), text, fill=DIM, font=font)


def contact_sheet(selection: Selection) -> bytes:
    """The sheet as PNG bytes: usable images first (sorted), then skipped files."""
    cells = _cells(selection)
    shown, hidden = cells[:MAX_CELLS], max(len(cells) - MAX_CELLS, 0)
    columns = max(1, min(COLUMNS, len(shown)))
    rows = max(1, -(-len(shown) // columns))
    footer = 24 if hidden else 0
    sheet = Image.new("RGB", (columns * CELL_W, rows * CELL_H + footer), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, cell in enumerate(shown):
        _draw_cell(sheet, draw, cell, (index % columns) * CELL_W, (index // columns) * CELL_H)
    if hidden:
        draw.text((PAD, rows * CELL_H + 4), f"… and {hidden} more files", fill=DIM, font=_font())
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=False)
    return out.getvalue()
