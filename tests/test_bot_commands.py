"""Every command against the fake Discord: attachments, the context menu, lists, presets,
autocomplete, role guards and the answers to bad input (short, ephemeral, no traceback)."""

from __future__ import annotations

from tests.bot_support import LONG_STEPS, TRIGGER, World, has_button, make_bot, train_options

YAML = f"""
dataset_url: "URL"
destination: "alice/lora"
trigger_word: "{TRIGGER}"
training: {{steps: 1200, batch_size: 2}}
"""


async def test_attachment_options_win_and_dry_run(world: World) -> None:
    fd = world.fd
    text = YAML.replace("URL", world.dataset_url).encode()
    async with fd.running(make_bot(world)):
        res = await fd.slash(
            "train", {"steps": 50, "dry_run": True, "config": ("team.yaml", text)}, user=world.alice
        )
        msg = await res.wait_original(lambda m: "Preview" in m.text(), timeout=10)
        body = msg.text()
        assert "**steps**: `50` · option" in body
        assert "**batch_size**: `2` · config file" in body
        assert "Dry run" in body and msg.buttons() == []
        assert res.ephemeral

        bad = await fd.slash("train", {"config": ("notes.txt", b"hi")}, user=world.alice)
        await bad.wait_text("is not a config file")
        big = await fd.slash(
            "train", {"config": ("big.yaml", b"#" * (65 * 1024))}, user=world.alice
        )
        await big.wait_text("at most 64 KB")
        broken = await fd.slash("train", {"config": ("x.json", b'{"steps": ')}, user=world.alice)
        msg = await broken.wait_original(timeout=5)
        assert "Traceback" not in msg.text() and msg.ephemeral
    world.assert_clean()


async def test_a_posted_config_with_several_mistakes_gets_them_all_in_one_reply(
    world: World,
) -> None:
    """Three misspelt keys and a bad value: one answer lists all four and names the file, so
    the member fixes the config once (it took four tries when unknown keys stopped the check)."""
    text = (
        YAML.replace("URL", world.dataset_url)
        .replace("trigger_word:", "trigger_wrod:")
        .replace("steps: 1200", "step: 1200, learning_rat: 1.0")
        .replace("batch_size: 2", "batch_size: 99")
    )
    async with world.fd.running(make_bot(world)):
        post = await world.fd.user_message(
            world.channel(), world.bob, "my config", attachments=[("team.yaml", text.encode())]
        )
        res = await world.fd.context_menu("Train with this config", post, user=world.alice)
        msg = await res.wait_original(lambda m: "team.yaml" in m.text(), timeout=10)
        body = msg.text()
        assert "The config has 5 problems" in body, body
        for mistake in (
            "Unknown setting trigger_wrod in team.yaml",
            "Unknown setting training.step in team.yaml",
            "Unknown setting training.learning_rat in team.yaml",
            "training.batch_size: 99 is not allowed",
        ):
            assert mistake in body, (mistake, body)
        assert msg.buttons() == [] and msg.ephemeral and "Traceback" not in body
    world.assert_clean()


async def test_context_menu_and_bad_inputs(world: World) -> None:
    fd = world.fd
    text = YAML.replace("URL", world.dataset_url).encode()
    async with fd.running(make_bot(world)):
        post = await fd.user_message(
            world.channel(), world.bob, "my config", attachments=[("cfg.yml", text)]
        )
        res = await fd.context_menu("Train with this config", post, user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        assert "config file" in preview.text() and has_button("Cancel")(preview)
        discard = await fd.click(preview, label="Cancel", user=world.alice)
        await discard.wait_original(lambda m: "discarded" in m.content)

        plain = await fd.user_message(world.channel(), world.bob, "no file here")
        res = await fd.context_menu("Train with this config", plain, user=world.alice)
        await res.wait_text("has no .yaml, .yml or .json attachment")

        res = await fd.slash("train", {"dataset_url": world.dataset_url}, user=world.alice)
        await res.wait_text("destination")
        opts = train_options(world, dataset_url=world.data.url("/range/bad.zip"))
        res = await fd.slash("train", opts, user=world.alice)
        msg = await res.wait_original(lambda m: "Dataset" in m.text(), timeout=10)
        assert msg.buttons() == [] and "Fix the problems" in msg.text()
        res = await fd.slash("train", train_options(world, destination="alice/none"))
        msg = await res.wait_original(lambda m: "does not exist" in m.text(), timeout=10)
        assert msg.buttons() == []
    world.assert_clean()


async def test_allowed_roles_guard_start(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world, SD35L_ALLOWED_ROLES=str(world.manager_role))):
        res = await fd.slash("train", train_options(world), user=world.alice)
        await res.wait_text("SD35L_ALLOWED_ROLES")
        res = await fd.slash("train", train_options(world), user=world.mia)
        await res.wait_original(has_button("Start"), timeout=10)
    world.assert_clean()


async def test_presets_template_status_jobs(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)) as bot:
        res = await fd.slash("presets", user=world.alice)
        msg = await res.wait_original()
        assert {f["name"] for f in msg.embeds[0]["fields"]} >= {"beginner", "fast"}
        res = await fd.slash("presets", {"name": "fast"}, user=world.alice)
        assert "Preset fast" in (await res.wait_original()).text()

        res = await fd.slash("config-template", {"preset": "beginner"}, user=world.alice)
        msg = await res.wait_original()
        (att,) = msg.attachments
        assert att["filename"] == "sd35l-beginner.yaml"
        assert b"CHANGE_ME" in fd.state.attachments[int(att["id"])].content

        res = await fd.slash("status", user=world.alice)
        await res.wait_text("You have not started a training yet")
        res = await fd.slash("status", {"training": "nope"}, user=world.alice)
        await res.wait_text("is not tracked by this bot")

        resolved = bot.jobs.settings  # submit two trainings straight through the core
        from bot.core.config.model import resolve_config

        cfg = resolve_config(cli=train_options(world, steps=LONG_STEPS), settings=resolved)
        rows = [
            await bot.jobs.submit(world.alice.id, fd.first_guild().id, world.channel().id, cfg)
            for _ in range(2)
        ]
        choices = await fd.autocomplete("status", "training", "", user=world.alice)
        assert {c["value"] for c in choices} == {r.id for r in rows} and len(choices) <= 25
        res = await fd.slash("status", {"training": rows[0].id}, user=world.alice)
        msg = await res.wait_original(lambda m: rows[0].id in m.text())
        assert "Progress" in msg.text()
        res = await fd.slash("status", user=world.alice)
        await res.wait_text("Your recent trainings")

        res = await fd.slash("jobs", {"user": world.alice, "limit": 5}, user=world.bob)
        msg = await res.wait_original()
        assert all(r.id in msg.text() for r in rows)
        res = await fd.slash("jobs", {"status": "failed"}, user=world.bob)
        await res.wait_text("No trainings match")
        bob_choices = await fd.autocomplete("cancel", "training", "", user=world.bob)
        assert bob_choices == []  # not his trainings, not a manager
        mia_choices = await fd.autocomplete("cancel", "training", rows[1].id[:4], user=world.mia)
        assert rows[1].id in {c["value"] for c in mia_choices}
    world.assert_clean()


async def test_max_active_per_user(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world, SD35L_MAX_ACTIVE_PER_USER=0)):
        res = await fd.slash("train", train_options(world), user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        click = await fd.click(preview, label="Start", user=world.alice)
        await click.wait_text("SD35L_MAX_ACTIVE_PER_USER")
        assert world.cards() == []
        assert has_button("Start")(fd.message(preview.id))  # released: usable again later
    world.assert_clean()
