"""Bot end to end with the user's own images: Apps → Train on these images (modal), and
/train dataset:. The real discord.py client against the fake Discord, the real replicate client
against the simulator; the images are real files posted as attachments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.ui import images as ui_images
from tests.bot_support import TRIGGER, World, has_button, make_bot
from tests.fakediscord import StoredMessage
from tests.local_images import dataset_files, members_of, zip_of

MENU = "Train on these images"
FORM = {"Trigger word": TRIGGER, "Destination": "alice/lora", "Preset": "fast"}


def _posted(count: int = 3) -> list[tuple[str, bytes]]:
    files = dataset_files(count)
    out = [(name.rsplit("/", 1)[-1], data) for name, data in files.items()]
    return [*out, (".DS_Store", b"\0Bud1"), ("notes.md", b"# shoot list")]


def _uploads(world: World) -> list[Any]:
    return [r for r in world.sim.requests if r.method == "POST" and r.path == "/v1/files"]


def _sheet(preview: StoredMessage) -> bool:
    names = [a["filename"] for a in preview.data.get("attachments", [])]
    image = (preview.embeds[1].get("image") or {}).get("url")
    return names == ["contact-sheet.png"] and image == "attachment://contact-sheet.png"


async def test_menu_modal_preview_sheet_start_upload_once_and_delete_after(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)):
        post = await fd.user_message(world.channel(), world.alice, "our shoot", _posted())
        res = await fd.context_menu(MENU, post, user=world.alice)
        assert (await res.wait_response())["type"] == 9  # the modal, as the first answer
        stranger = await fd.submit_modal(res, FORM, user=world.bob)
        await stranger.wait_text("Only the person who opened this form")
        submit = await fd.submit_modal(res, FORM)
        preview = await submit.wait_original(has_button("Start"), timeout=20)
        text = preview.text()
        assert "3 images from the message" in text and "looks usable" in text
        assert "Uploaded at Start: 3 images and 3 captions" in text
        assert _sheet(preview) and _uploads(world) == []  # nothing uploaded before Start

        bob = await fd.click(preview, label="Start", user=world.bob)
        await bob.wait_text("Only the person who ran /train")
        click = await fd.click(preview, label="Start", user=world.alice)
        await click.wait_original(lambda m: "Started training" in m.content, timeout=15)
        assert len(_uploads(world)) == 1
        (training,) = world.sim.trainings.values()
        (file_id,) = world.sim.files
        assert training["input"]["input_images"] == f"{world.sim.base_url}/v1/files/{file_id}"
        packed = members_of(world.sim.files[file_id].data)
        assert sorted(packed) == [
            "0001_img00.jpg", "0001_img00.txt", "0002_img01.jpg", "0002_img01.txt",
            "0003_img02.jpg", "0003_img02.txt",
        ]  # fmt: skip
        kept = list((world.tmp / "data" / "datasets").glob("*.zip"))
        assert kept == []  # the pack left the data folder once the training existed
        await fd.wait_until(lambda: bool(fd.dms(world.alice)), timeout=20)
        await fd.wait_until(lambda: file_id in world.sim.deleted_files, timeout=10)
        assert world.sim.files == {}
    world.assert_clean()


async def test_train_dataset_option_survives_a_restart_between_preview_and_start(
    world: World,
) -> None:
    fd = world.fd
    archive = ("shoot.zip", zip_of(dataset_files(2)))
    options = {"destination": "alice/lora", "trigger_word": TRIGGER, "steps": 40}
    async with fd.running(make_bot(world)):
        res = await fd.slash("train", options, user=world.alice, attachments=[archive])
        preview = await res.wait_original(has_button("Start"), timeout=20)
        assert "shoot.zip" in preview.text() and _sheet(preview)
    async with fd.running(make_bot(world)):  # a restart: the preview and its pack are kept
        click = await fd.click(preview, label="Start", user=world.alice)
        await click.wait_original(lambda m: "Started training" in m.content, timeout=15)
    assert len(_uploads(world)) == 1 and len(world.sim.trainings) == 1
    world.assert_clean()


async def test_a_preview_whose_pack_is_gone_says_so_and_starts_nothing(world: World) -> None:
    fd = world.fd
    options = {"destination": "alice/lora", "trigger_word": TRIGGER}
    async with fd.running(make_bot(world)):
        res = await fd.slash(
            "train", options, user=world.alice, attachments=[("d.zip", zip_of(dataset_files(2)))]
        )
        preview = await res.wait_original(has_button("Start"), timeout=20)
        for pack in (world.tmp / "data" / "datasets").glob("*.zip"):
            pack.unlink()
        click = await fd.click(preview, label="Start", user=world.alice)
        await click.wait_text("no longer kept", timeout=10)
    assert _uploads(world) == [] and world.sim.trainings == {}


async def test_bad_inputs_are_one_sentence_and_leave_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    fd = world.fd
    options = {"destination": "alice/lora", "trigger_word": TRIGGER}
    async with fd.running(make_bot(world)):
        empty = await fd.user_message(world.channel(), world.alice, "no pictures here")
        res = await fd.context_menu(MENU, empty, user=world.alice)
        await res.wait_text("no images", timeout=10)
        for name, words in (("set.rar", "not a .zip"), ("cat.jpg", "single image")):
            bad = await fd.slash("train", options, user=world.alice, attachments=[(name, b"x")])
            await bad.wait_text(words, timeout=10)
        monkeypatch.setattr(ui_images, "MAX_ATTACHMENT_IMAGE", 1000)
        big = await fd.user_message(world.channel(), world.alice, "", _posted(2))
        res = await fd.context_menu(MENU, big, user=world.alice)
        await res.wait_text("may be at most", timeout=10)
        both = {**options, "dataset_url": world.dataset_url}
        clash = await fd.slash(
            "train", both, user=world.alice, attachments=[("d.zip", zip_of(dataset_files(2)))]
        )
        await clash.wait_text("not both", timeout=10)
        local = b'dataset_path: "/etc"\ndestination: "alice/lora"\ntrigger_word: "ZXQTOK"\n'
        path = await fd.slash("train", {"config": ("c.yaml", local)}, user=world.alice)
        await path.wait_text("command-line setting", timeout=10)
    assert _uploads(world) == [] and world.sim.trainings == {}
    assert list((world.tmp / "data" / "datasets").glob("*.zip")) == []
    world.assert_clean()


async def test_upload_failure_at_start_keeps_the_preview_and_a_retry_uploads_once(
    world: World,
) -> None:
    fd = world.fd
    options = {"destination": "alice/lora", "trigger_word": TRIGGER}
    async with fd.running(make_bot(world)):
        res = await fd.slash(
            "train", options, user=world.alice, attachments=[("d.zip", zip_of(dataset_files(2)))]
        )
        preview = await res.wait_original(has_button("Start"), timeout=20)
        world.sim.faults.upload_status = 503
        failed = await fd.click(preview, label="Start", user=world.alice)
        await failed.wait_text("refused the dataset upload", timeout=10)
        assert world.sim.trainings == {} and world.sim.files == {}
        again = await fd.click(preview, label="Start", user=world.alice)
        await again.wait_original(lambda m: "Started training" in m.content, timeout=15)
    assert len(world.sim.files) + len(world.sim.deleted_files) == 1
    assert len(world.sim.trainings) == 1


async def test_dry_run_with_a_dataset_uploads_nothing(world: World, tmp_path: Path) -> None:
    fd = world.fd
    options = {"destination": "alice/lora", "trigger_word": TRIGGER, "dry_run": True}
    async with fd.running(make_bot(world)):
        res = await fd.slash(
            "train", options, user=world.alice, attachments=[("d.zip", zip_of(dataset_files(2)))]
        )
        preview = await res.wait_original(lambda m: bool(m.embeds), timeout=20)
        assert "Dry run" in preview.text() and preview.buttons() == [] and _sheet(preview)
    assert _uploads(world) == [] and world.sim.trainings == {}
    assert list((world.tmp / "data" / "datasets").glob("*.zip")) == []


async def test_a_form_opened_before_a_restart_says_it_is_no_longer_open(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)):
        post = await fd.user_message(world.channel(), world.alice, "", _posted(2))
        res = await fd.context_menu(MENU, post, user=world.alice)
        assert (await res.wait_response())["type"] == 9
    async with fd.running(make_bot(world)):  # the bot restarted while the form was open
        late = await fd.submit_modal(res, FORM)
        await late.wait_text("no longer open", timeout=10)
    assert _uploads(world) == [] and world.sim.trainings == {}


async def test_an_attached_dataset_is_judged_at_the_training_s_own_resolution(
    world: World,
) -> None:
    """1163x64 images train at 768,1024 but get a 0 px bucket side at 256: the verdict follows
    the resolution the training will use, not a default."""
    from tests.local_images import jpeg

    narrow = zip_of({f"img{i}.jpg": jpeg(1163, 64, seed=i) for i in range(3)})
    options = {"destination": "alice/lora", "trigger_word": TRIGGER}
    fd = world.fd
    async with fd.running(make_bot(world)):
        res = await fd.slash("train", options, user=world.alice, attachments=[("n.zip", narrow)])
        await res.wait_original(has_button("Start"), timeout=20)
        small = {**options, "resolution": "256"}
        res = await fd.slash("train", small, user=world.alice, attachments=[("n.zip", narrow)])
        refused = await res.wait_original(lambda m: "0 px side" in m.text(), timeout=20)
        assert not has_button("Start")(refused)
    assert _uploads(world) == [] and world.sim.trainings == {}
