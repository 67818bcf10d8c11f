"""CLI `train --dataset PATH` end to end: the real CLI, the real client, the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.sim import ReplicateSimulator
from tests.cli_support import invoke
from tests.local_images import TRIGGER, dataset_files, jpeg, members_of, write_folder, zip_of


def _args(dataset: Path | str, *extra: str) -> list[str]:
    return [
        "train", "--dataset", str(dataset), "--destination", "alice/lora",
        "--trigger-word", TRIGGER, "--preset", "fast", *extra,
    ]  # fmt: skip


def _posts(sim: ReplicateSimulator, suffix: str) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith(suffix)]


def _messy_folder(root: Path) -> Path:
    files = dataset_files(3)
    files.update({".DS_Store": b"\0Bud1", "photos/x.heic": b"\0\0\0\x18ftypheic" + b"\0" * 8})
    return write_folder(root, files)


def test_folder_wait_uploads_once_trains_downloads_and_deletes_the_file(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    folder = _messy_folder(tmp_path / "pics")
    out = tmp_path / "out"
    result = invoke(_args(folder, "--wait", "--yes", "--output-dir", str(out)))
    assert result.exit_code == 0, result.output
    (upload,) = _posts(cli_env, "/v1/files")
    (create,) = _posts(cli_env, "/trainings")
    (file_id,) = cli_env.deleted_files
    assert create.json["input"]["input_images"] == f"{cli_env.base_url}/v1/files/{file_id}"
    assert cli_env.files == {}  # deleted after the training ended
    assert (out / f"alice_lora_{TRIGGER}.safetensors").read_bytes() == cli_env.lora_bytes
    assert f"Deleted the uploaded dataset file {file_id}" in result.output
    assert upload.json == {"multipart": True}


def test_zip_without_wait_uploads_exactly_the_usable_files(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    files = dataset_files(3)
    files.update({"__MACOSX/photos/._img00.jpg": b"\0\5", "photos/orphan.txt": b"lost"})
    archive = tmp_path / "my.zip"
    archive.write_bytes(zip_of(files))
    result = invoke(_args(archive, "--yes"))
    assert result.exit_code == 0, result.output
    (stored,) = cli_env.files.values()
    packed = members_of(stored.data)
    assert sorted(packed) == [
        "0001_img00.jpg", "0001_img00.txt", "0002_img01.jpg", "0002_img01.txt",
        "0003_img02.jpg", "0003_img02.txt",
    ]  # fmt: skip
    assert packed["0002_img01.txt"] == files["photos/img01.txt"]
    (training,) = cli_env.trainings.values()
    assert training["input"]["input_images"] == stored_url(cli_env, stored.id)
    assert f"file {stored.id} expires 24 h after its upload" in result.output


def stored_url(sim: ReplicateSimulator, file_id: str) -> str:
    return f"{sim.base_url}/v1/files/{file_id}"


def test_dry_run_uploads_nothing_and_says_where_the_sheet_is(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    folder = _messy_folder(tmp_path / "pics")
    sheet = tmp_path / "sheet.png"
    result = invoke(_args(folder, "--dry-run", "--contact-sheet", str(sheet)))
    assert result.exit_code == 0, result.output
    assert sheet.read_bytes().startswith(b"\x89PNG")
    assert f"Contact sheet written to {sheet}" in result.output
    assert "nothing was submitted" in result.output
    assert not any("/v1/files" in r.path for r in cli_env.requests)
    assert _posts(cli_env, "/trainings") == []


def test_trainer_fatal_dataset_is_refused_before_any_upload(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    folder = write_folder(tmp_path / "one", {"only.jpg": jpeg()})
    result = invoke(_args(folder, "--yes"))
    assert result.exit_code == 2, result.output
    assert "nothing was uploaded" in result.output
    assert cli_env.requests == []  # not even the token check: refused first


def test_bad_paths_exit_2_naming_the_field(cli_env: ReplicateSimulator, tmp_path: Path) -> None:
    (tmp_path / "set.rar").write_bytes(b"Rar!\x1a\x07\x00")
    for target, words in ((tmp_path / "set.rar", "not a .zip"), (tmp_path / "nope", "exist")):
        result = invoke(_args(target, "--yes"))
        assert result.exit_code == 2, result.output
        assert "dataset_path" in result.output and words in result.output
    both = invoke([*_args(tmp_path, "--yes"), "--dataset-url", "https://example.org/d.zip"])
    assert both.exit_code == 2 and "give exactly one" in both.output
    assert cli_env.files == {} and cli_env.trainings == {}


def test_config_dataset_path_is_relative_to_the_config_file(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    write_folder(project / "pics", dataset_files(2))
    config = project / "train.yaml"
    config.write_text(
        f'dataset_path: "pics"\ndestination: "alice/lora"\ntrigger_word: "{TRIGGER}"\n'
    )
    result = invoke(["train", "--config", str(config), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "usable images: 2" in result.output
    assert "add --contact-sheet" in result.output and not list(project.glob("*.png"))


def test_a_refused_create_deletes_the_new_upload(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    cli_env.faults.create_status = 402
    result = invoke(_args(_messy_folder(tmp_path / "pics"), "--yes"))
    assert result.exit_code == 1, result.output
    assert "credit" in result.output
    assert cli_env.files == {} and len(cli_env.deleted_files) == 1
    assert "no training was started" in result.output


def test_upload_failure_exits_1_and_starts_nothing(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    cli_env.faults.upload_status = 500
    result = invoke(_args(_messy_folder(tmp_path / "pics"), "--yes"))
    assert result.exit_code == 1, result.output
    assert "refused the dataset upload" in result.output
    assert _posts(cli_env, "/trainings") == [] and cli_env.files == {}
