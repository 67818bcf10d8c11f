"""CLI `caption FOLDER` and `train --dataset PATH --caption` end to end: the real CLI, the real
client, the simulator's Florence-2."""

from __future__ import annotations

from pathlib import Path

from bot.sim import ReplicateSimulator
from tests.cli_support import invoke
from tests.local_images import TRIGGER, jpeg, members_of, write_folder, zip_of

CREATE = "POST /v1/predictions"


def creates(sim: ReplicateSimulator) -> int:
    return sum(1 for r in sim.requests if r.endpoint == CREATE)


def _folder(root: Path, count: int = 4, captioned: int = 1, fail_width: int = 0) -> Path:
    files: dict[str, bytes] = {}
    for i in range(count):
        width = fail_width if fail_width and i == count - 1 else 320
        files[f"img{i}.jpg"] = jpeg(width=width, seed=i)
        if i < captioned:
            files[f"img{i}.txt"] = f"my caption {i}".encode()
    return write_folder(root, files)


def test_caption_writes_name_txt_for_the_uncaptioned_prints_them_and_caches(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "pics")
    result = invoke(["caption", str(folder), "--yes", "--prefix", "photo of TOK"])
    assert result.exit_code == 0, result.output
    assert "3 image(s) to caption: $0.01 ($0.0019 each" in result.output
    assert creates(cli_env) == 3
    assert (folder / "img0.txt").read_text() == "my caption 0"
    for i in (1, 2, 3):
        text = (folder / f"img{i}.txt").read_text()
        assert text.startswith("photo of TOK, A ") and "The image shows" not in text
        assert f"img{i}.jpg: {text.strip()}" in result.output
    again = invoke(["caption", str(folder), "--all", "--overwrite", "--yes"])
    assert again.exit_code == 0, again.output
    assert creates(cli_env) == 4  # only img0 was new to the cache
    assert "3 caption(s) already paid for, from the cache: free." in again.output
    assert not (folder / "img0.txt").read_text().startswith("my caption")


def test_caption_never_overwrites_and_asks_before_spending(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "pics", count=2, captioned=1)
    kept = invoke(["caption", str(folder), "--all", "--yes"])
    assert "already have a caption file, kept as it is (add --overwrite" in kept.output
    assert (folder / "img0.txt").read_text() == "my caption 0"
    assert creates(cli_env) == 1
    (folder / "img9.jpg").write_bytes(jpeg(seed=9))  # not in the cache: it would cost
    no_terminal = invoke(["caption", str(folder)])
    assert no_terminal.exit_code == 2 and "--yes" in no_terminal.output
    assert not (folder / "img9.txt").exists() and creates(cli_env) == 1
    nothing = invoke(["caption", str(tmp_path / "missing"), "--yes"])
    assert nothing.exit_code == 2 and "folder" in nothing.output


def test_caption_partial_failure_names_the_images_and_exits_1(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    cli_env.faults.caption_fail_widths = {333}
    folder = _folder(tmp_path / "pics", count=3, captioned=0, fail_width=333)
    result = invoke(["caption", str(folder), "--yes"])
    assert result.exit_code == 1, result.output
    assert "not captioned, left without a caption: img2.jpg" in result.output
    assert (folder / "img0.txt").exists() and not (folder / "img2.txt").exists()


def test_train_caption_shows_captions_and_sheet_then_uploads_them(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    files = {f"p/img{i}.jpg": jpeg(seed=i) for i in range(3)}
    files["p/img0.txt"] = f"{TRIGGER} in a red coat".encode()
    archive = tmp_path / "set.zip"
    archive.write_bytes(zip_of(files))
    sheet = tmp_path / "sheet.png"
    args = [
        "train", "--dataset", str(archive), "--destination", "alice/lora",
        "--trigger-word", TRIGGER, "--caption", "--yes", "--contact-sheet", str(sheet),
    ]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert creates(cli_env) == 2
    assert f"The trainer puts {TRIGGER} in front of every caption" in result.output
    assert result.output.index("p/img1.jpg: A ") < result.output.index("Started training")
    assert sheet.read_bytes().startswith(b"\x89PNG")
    (stored,) = cli_env.files.values()
    packed = members_of(stored.data)
    captions = {k: v.decode() for k, v in packed.items() if k.endswith(".txt")}
    assert captions["0001_img0.txt"] == f"{TRIGGER} in a red coat"
    assert captions["0002_img1.txt"].startswith("A ") and len(captions) == 3


def test_a_linked_zip_is_read_captioned_packed_and_uploaded(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    from tests.cli_support import DatasetServer

    files = {f"img{i}.jpg": jpeg(seed=i) for i in range(2)}
    root = tmp_path / "served"
    root.mkdir()
    (root / "set.zip").write_bytes(zip_of(files))
    with DatasetServer(root) as server:
        args = [
            "train", "--dataset-url", f"{server.base_url}/set.zip", "--destination",
            "alice/lora", "--trigger-word", TRIGGER, "--caption", "--yes",
        ]  # fmt: skip
        result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "Reading the linked ZIP to caption it" in result.output
    assert "Contact sheet written to" in result.output
    (stored,) = cli_env.files.values()
    packed = members_of(stored.data)
    assert sorted(k for k in packed if k.endswith(".txt")) == ["0001_img0.txt", "0002_img1.txt"]
    (training,) = cli_env.trainings.values()
    assert training["input"]["input_images"] == f"{cli_env.base_url}/v1/files/{stored.id}"
