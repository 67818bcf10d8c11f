"""Captions in the bot, end to end: the real discord.py client against the fake Discord (every
body checked against Discord's OpenAPI), the real replicate client against the simulator's
Florence-2. Write captions (price on the button = the ledger's charge), the paged list, the
edit form, the caption file, and Start training on exactly the reviewed captions."""

from __future__ import annotations

from typing import Any

from bot.core.captions.cost import LEDGER_STATUS
from tests.bot_support import TRIGGER, World, has_button, make_bot
from tests.fakediscord import StoredMessage
from tests.local_images import jpeg, members_of

MENU = "Train on these images"
FORM = {"Trigger word": TRIGGER, "Destination": "alice/lora", "Preset": "fast"}


def _posted(count: int, captioned: int = 0, fail: int | None = None) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        out.append((f"img{i}.jpg", jpeg(width=333 if i == fail else 320, seed=i)))
        if i < captioned:
            out.append((f"img{i}.txt", f"{TRIGGER} by the sea".encode()))
    return out


def _button(message: StoredMessage, text: str) -> dict[str, Any]:
    return next(b for b in message.buttons() if text in (b.get("label") or ""))


async def _preview(world: World, files: list[tuple[str, bytes]]) -> StoredMessage:
    fd = world.fd
    post = await fd.user_message(world.channel(), world.alice, "shoot", files)
    res = await fd.context_menu(MENU, post, user=world.alice)
    assert (await res.wait_response())["type"] == 9
    submit = await fd.submit_modal(res, FORM)
    return await submit.wait_original(has_button("Start"), timeout=20)


async def _ledger_rows(bot: Any) -> list[Any]:
    sql = "SELECT training_id, actual_cents, images FROM ledger WHERE status = ?"
    async with bot.store.db.connection.execute(sql, (LEDGER_STATUS,)) as cur:
        return list(await cur.fetchall())


async def _start(world: World, preview: StoredMessage) -> dict[str, bytes]:
    click = await world.fd.click(preview, label="Start", user=world.alice)
    await click.wait_original(lambda m: "Started training" in m.content, timeout=15)
    (stored,) = world.sim.files.values()
    return members_of(stored.data)


async def test_write_captions_price_equals_the_charge_and_start_trains_on_them(
    world: World,
) -> None:
    fd = world.fd
    bot = make_bot(world)
    async with fd.running(bot):
        preview = await _preview(world, _posted(4, captioned=1))
        text = preview.text()
        assert "Captions (page 1 of 1)" in text and "*(none)*" in text
        assert f"The trainer puts {TRIGGER} in front of every caption" in text
        assert "3 image(s) without a caption: Write captions costs $0.01" in text
        assert _button(preview, "Write captions")["label"] == "Write captions ($0.01)"

        bob = await fd.click(preview, label="Write captions", user=world.bob)
        await bob.wait_text("Only the person who ran /train")
        click = await fd.click(preview, label="Write captions", user=world.alice)
        reviewed = await click.wait_text("Captions written for 3 image(s) ($0.01 charged)", 20)
        text = reviewed.text()
        assert "The image shows" not in text and "by the sea" in text
        assert not any("Write captions" in (b.get("label") or "") for b in reviewed.buttons())
        (row,) = await _ledger_rows(bot)
        assert row["actual_cents"] == 1 and row["images"] == 3  # the button's $0.01

        stale = await fd.click(preview, label="Start", user=world.alice)
        await stale.wait_text("expired or was already used")
        packed = await _start(world, reviewed)
        captions = {k: v.decode() for k, v in packed.items() if k.endswith(".txt")}
        assert len(captions) == 4 and captions["0001_img0.txt"] == f"{TRIGGER} by the sea"
        assert all(v.startswith("A ") for k, v in captions.items() if k != "0001_img0.txt")


async def test_partial_failure_is_named_and_those_images_stay_uncaptioned(world: World) -> None:
    world.sim.faults.caption_fail_widths = {333}
    fd = world.fd
    async with fd.running(make_bot(world)):
        preview = await _preview(world, _posted(3, fail=2))
        click = await fd.click(preview, label="Write captions", user=world.alice)
        reviewed = await click.wait_text("Captions written for 2 image(s)", 20)
        text = reviewed.text()
        assert "Not captioned (the model failed; they keep none): 0003_img2.jpg" in text
        assert _button(reviewed, "Write captions")["label"] == "Write captions ($0.01)"


async def test_edit_form_and_caption_file_replace_captions_that_start_uploads(
    world: World,
) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)):
        preview = await _preview(world, _posted(7, captioned=7))
        assert "Captions (page 1 of 2)" in preview.text()
        more = await fd.click(preview, label="More captions", user=world.alice)
        page = await more.wait_text("Captions (page 2 of 2)")
        assert "0006_img5.jpg" in page.text() and "0001_img0.jpg" not in page.text()

        edit = await fd.click(preview, label="Edit captions", user=world.alice)
        modal = (await edit.wait_response())["data"]
        assert modal["title"] == "Edit captions" and len(modal["components"]) == 5
        submit = await fd.submit_modal(edit, {"0002_img1.jpg": "ZXQTOK wearing a hat"})
        edited = await submit.wait_text("Captions edited: 5 image(s).", 20)
        assert "wearing a hat" in edited.text()

        upload = await fd.click(edited, label="Upload captions", user=world.alice)
        assert (await upload.wait_response())["type"] == 9
        lines = b"img0: ZXQTOK on a red chair\n# a comment\n0007_img6.jpg:\n"
        submit = await fd.submit_modal(upload, {"Caption file": [("caps.txt", lines)]})
        replaced = await submit.wait_text("Captions replaced from caps.txt: 2 image(s).", 20)

        bad = await fd.click(replaced, label="Upload captions", user=world.alice)
        await bad.wait_response()
        wrong = await fd.submit_modal(bad, {"Caption file": [("c.txt", b"nobody: hi\n")]})
        await wrong.wait_text("line 1 (no such image)")

        packed = await _start(world, replaced)
    captions = {k: v.decode() for k, v in packed.items() if k.endswith(".txt")}
    assert captions["0001_img0.txt"] == "ZXQTOK on a red chair"
    assert captions["0002_img1.txt"] == "ZXQTOK wearing a hat"
    assert "0007_img6.txt" not in captions  # emptied: trains on the trigger word alone
    assert captions["0003_img2.txt"] == f"{TRIGGER} by the sea"


async def test_train_dataset_option_offers_write_captions_too(world: World) -> None:
    from tests.local_images import zip_of

    fd = world.fd
    files = {f"img{i}.jpg": jpeg(seed=i) for i in range(2)}
    options = {"destination": "alice/lora", "trigger_word": TRIGGER, "steps": 40}
    async with fd.running(make_bot(world)):
        res = await fd.slash(
            "train", {**options, "dataset": ("set.zip", zip_of(files))}, user=world.alice
        )
        preview = await res.wait_original(has_button("Start"), timeout=20)
        assert _button(preview, "Write captions")["label"] == "Write captions ($0.01)"
        click = await fd.click(preview, label="Write captions", user=world.alice)
        reviewed = await click.wait_text("Captions written for 2 image(s)", 20)
        assert "0002_img1.jpg" in reviewed.text()


async def test_caption_buttons_work_after_a_restart_and_an_open_form_is_told_it_is_lost(
    world: World,
) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)):
        preview = await _preview(world, _posted(2))
        edit = await fd.click(preview, label="Edit captions", user=world.alice)
        assert (await edit.wait_response())["type"] == 9
    async with fd.running(make_bot(world)):  # a restart: the preview and its pack are kept
        lost = await fd.submit_modal(edit, {"0001_img0.jpg": "ZXQTOK"})
        await lost.wait_text("This caption form is no longer open")
        click = await fd.click(preview, label="Write captions", user=world.alice)
        reviewed = await click.wait_text("Captions written for 2 image(s)", 20)
        assert "Write captions" not in str(reviewed.buttons())
