"""Local datasets: collect, judge in full, pack deterministically, draw the contact sheet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.core.config.model import resolve_config, to_trainer_input
from bot.core.dataset import collect
from bot.core.dataset.collect import collect_path
from bot.core.dataset.judge import Usable
from bot.core.dataset.local import prepare_path_sync, prepare_zip_bytes_sync
from bot.core.dataset.pack import STEM_MAX, pack, short_name
from bot.core.errors import InputError
from bot.core.settings import Settings
from tests.local_images import TRIGGER, dataset_files, jpeg, members_of, png, write_folder, zip_of

KW = {"trigger_word": TRIGGER, "field": "dataset_path", "url_option": "--dataset-url"}


def _prepare(root: Path) -> object:
    return prepare_path_sync(root, **KW)  # type: ignore[arg-type]


def test_folder_packs_exactly_the_usable_images_and_their_captions(tmp_path: Path) -> None:
    files = dataset_files(3)
    files.update(
        {
            ".DS_Store": b"\0\0\0\1Bud1",
            "__MACOSX/photos/._img00.jpg": b"\0\5\x16\7",
            "photos/holiday.heic": b"\0\0\0\x18ftypheic" + b"\0" * 40,
            "photos/broken.jpg": jpeg(seed=9)[:400],  # cut short: the trainer skips it
            "photos/orphan.txt": b"a caption without its image",
            "photos/notes.md": b"# todo",
            "deep/er/z.png": png(),
        }
    )
    local = _prepare(write_folder(tmp_path / "ds", files))
    assert local.ok and local.packed is not None  # type: ignore[attr-defined]
    packed = members_of(local.packed.data)  # type: ignore[attr-defined]
    images = sorted(n for n in packed if not n.endswith(".txt"))
    assert images == ["0001_z.png", "0002_img00.jpg", "0003_img01.jpg", "0004_img02.jpg"]
    assert sorted(n for n in packed if n.endswith(".txt")) == [
        "0002_img00.txt",
        "0003_img01.txt",
        "0004_img02.txt",
    ]
    assert packed["0002_img00.jpg"] == files["photos/img00.jpg"]
    assert packed["0004_img02.txt"] == files["photos/img02.txt"]
    report = local.report  # type: ignore[attr-defined]
    assert report.counts["usable_images"] == 4
    codes = {f.code for f in report.warnings}
    assert {"unreadable_images", "unsupported_images", "orphan_captions"} <= codes
    damaged = next(f for f in report.warnings if f.code == "unreadable_images")
    assert damaged.paths == ["photos/broken.jpg"] and "truncated" in damaged.message


def test_same_input_gives_the_same_bytes_and_other_input_other_bytes(tmp_path: Path) -> None:
    first = _prepare(write_folder(tmp_path / "a", dataset_files(4)))
    again = _prepare(write_folder(tmp_path / "b", dataset_files(4)))
    changed = dataset_files(4)
    changed["photos/img01.txt"] = b"another caption"
    other = _prepare(write_folder(tmp_path / "c", changed))
    assert first.packed.data == again.packed.data  # type: ignore[attr-defined]
    assert first.packed.sha256 == again.packed.sha256  # type: ignore[attr-defined]
    assert other.packed.sha256 != first.packed.sha256  # type: ignore[attr-defined]


def test_zip_and_folder_of_the_same_files_upload_the_same_bytes(tmp_path: Path) -> None:
    files = dataset_files(3)
    folder = _prepare(write_folder(tmp_path / "f", files))
    archive = tmp_path / "d.zip"
    archive.write_bytes(zip_of(files))
    zipped = _prepare(archive)
    from_bytes = prepare_zip_bytes_sync(zip_of(files), "d.zip", **KW)  # type: ignore[arg-type]
    assert folder.packed.sha256 == zipped.packed.sha256 == from_bytes.packed.sha256  # type: ignore[union-attr, attr-defined]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300),
        min_size=1,
        max_size=8,
    )
)
def test_packed_names_are_unique_short_and_safe(stems: list[str]) -> None:
    image = jpeg(64, 64)
    usable = [
        Usable(f"d{i}/{s.replace('/', '_')}.jpg", image, b"c", 64, 64) for i, s in enumerate(stems)
    ]
    packed = pack(usable)
    names = list(packed.names.values())
    assert len(set(names)) == len(names) == len(stems)
    assert sorted(members_of(packed.data)) == sorted(
        names + [n.rsplit(".", 1)[0] + ".txt" for n in names]
    )
    for name in names:
        assert len(name.encode()) <= 4 + 1 + STEM_MAX + 5
        assert "/" not in name and ".." not in name and name.isascii()


def test_short_name_keeps_a_readable_stem() -> None:
    assert short_name(7, "a/b/My Photo (1).JPG") == "0007_My-Photo-1.jpg"
    assert short_name(1, "日本.png") == "0001_image.png"


def test_trainer_fatal_dataset_is_refused_and_nothing_packed(tmp_path: Path) -> None:
    local = _prepare(write_folder(tmp_path / "ds", {"one.jpg": jpeg(), "one.txt": b"x"}))
    assert not local.ok and local.packed is None  # type: ignore[attr-defined]
    assert [f.code for f in local.report.errors] == ["too_few_images_policy"]  # type: ignore[attr-defined]
    bad_caption = dataset_files(3)
    bad_caption["photos/img00.txt"] = "café".encode("latin-1")
    refused = _prepare(write_folder(tmp_path / "cap", bad_caption))
    assert "caption_unreadable" in [f.code for f in refused.report.errors]  # type: ignore[attr-defined]


def test_over_the_upload_limit_says_how_big_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.core.dataset.local.UPLOAD_LIMIT", 50_000)
    files = {f"n{i}.jpg": jpeg(256, 256, seed=i, noise=60_000) for i in range(3)}
    local = _prepare(write_folder(tmp_path / "big", files))
    assert local.packed is None  # type: ignore[attr-defined]
    (error,) = local.report.errors  # type: ignore[attr-defined]
    assert error.code == "upload_too_large"
    assert "MB" in error.message and "100 MiB" in error.message
    assert "fewer or smaller images" in error.message and "--dataset-url" in error.message


def test_collect_refuses_what_is_not_a_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(path: Path) -> str:
        with pytest.raises(InputError) as caught:
            collect_path(path, field="dataset_path", url_option="--dataset-url")
        assert caught.value.field == "dataset_path"
        return str(caught.value)

    (tmp_path / "a.rar").write_bytes(b"Rar!\x1a\x07\x00")
    (tmp_path / "a.7z").write_bytes(b"7z\xbc\xaf\x27\x1c")
    (tmp_path / "cat.jpg").write_bytes(jpeg())
    (tmp_path / "fake.zip").write_bytes(b"not a zip at all")
    (tmp_path / "empty").mkdir()
    assert "not a .zip" in refused(tmp_path / "a.rar")
    assert "not a .zip" in refused(tmp_path / "a.7z")
    assert "single image" in refused(tmp_path / "cat.jpg")
    assert "not a ZIP archive" in refused(tmp_path / "fake.zip")
    assert "is empty" in refused(tmp_path / "empty")
    assert "does not exist" in refused(tmp_path / "missing")
    monkeypatch.setattr(collect, "READ_CAP", 10_000)
    big = write_folder(tmp_path / "big", {f"{i}.jpg": jpeg(noise=8000, seed=i) for i in range(3)})
    assert "100 MiB" in refused(big)


def test_contact_sheet_shows_every_file(tmp_path: Path) -> None:
    files = dataset_files(2)
    files["photos/clip.mov"] = b"\0" * 10
    local = _prepare(write_folder(tmp_path / "ds", files))
    sheet = Image.open(io.BytesIO(local.sheet))  # type: ignore[attr-defined]
    assert sheet.format == "PNG"
    width, height = sheet.size
    assert width == 3 * (192 + 16) and height == 192 + 40 + 16  # two images + one skipped file
    # The skipped cell is crossed out in red at its centre.
    centre = sheet.getpixel((2 * 208 + 8 + 96, 8 + 96))
    assert centre[0] > 150 and centre[1] < 80


def test_config_takes_exactly_one_dataset() -> None:
    settings_ = Settings(_env_file=None)  # type: ignore[call-arg]
    both = {
        "dataset_url": "https://example.org/d.zip",
        "dataset_path": "./pics",
        "destination": "alice/lora",
        "trigger_word": TRIGGER,
    }
    with pytest.raises(InputError, match="give exactly one") as caught:
        resolve_config(cli=both, settings=settings_)
    assert caught.value.field == "dataset_path"
    local = resolve_config(cli={**both, "dataset_url": None}, settings=settings_).config
    with pytest.raises(InputError, match="dataset_url is missing"):
        to_trainer_input(local)
    inputs = to_trainer_input(local, input_images="https://api.replicate.com/v1/files/abc")
    assert inputs["input_images"] == "https://api.replicate.com/v1/files/abc"
    with pytest.raises(InputError, match="dataset_path"):
        resolve_config(cli={**both, "dataset_url": None, "dataset_path": "  "}, settings=settings_)


def test_contact_sheet_of_many_noisy_images_fits_discords_upload_limit() -> None:
    """Pure noise is the worst case for PNG; the sheet caps its cells and names the rest."""
    import random

    from bot.core.dataset.judge import Selection
    from bot.core.dataset.report import DatasetReport
    from bot.core.dataset.sheet import MAX_CELLS, contact_sheet

    rng = random.Random(1)
    selection = Selection(report=DatasetReport(url="x"))
    for i in range(MAX_CELLS + 12):
        thumb = Image.frombytes("RGB", (192, 192), rng.randbytes(192 * 192 * 3))
        selection.usable.append(Usable(f"n{i}.jpg", b"", b"a caption", 192, 192, thumb))
    png = contact_sheet(selection)
    assert len(png) < 10 * 1024 * 1024
    sheet = Image.open(io.BytesIO(png))
    assert sheet.size[1] == 8 * (192 + 40 + 16) + 24  # 8 rows, then the "and 12 more" line
