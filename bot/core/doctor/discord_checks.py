"""Discord's side of a deployment: the bot token, the application, the servers, the
permissions in every channel the bot posts to, the synced commands and the invite link.

Which channels: every text channel the bot can see (it is there to be used), every channel a
training was started in (from the database, threads included), never a channel hidden from it
that nobody used (a team may hide its private rooms); those are only named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.doctor import permissions as perm
from bot.core.doctor.discord_rest import DiscordError, DiscordRest
from bot.core.doctor.local import check_clock
from bot.core.doctor.report import ChecklistLine, bad, good
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.core.doctor.run import DoctorOptions

AREA = "Discord"
PORTAL = "https://discord.com/developers/applications"
FIX_NO_TOKEN = (
    f"in the Discord Developer Portal ({PORTAL}) open your application → Bot → Reset Token, "
    "copy the token and set DISCORD_TOKEN in .env or the environment (docs/deploy.md)."
)
FIX_REFUSED = (
    f"copy the token again: Developer Portal ({PORTAL}) → your application → Bot → Reset Token, "
    "then set DISCORD_TOKEN to it."
)
HISTORY_WHY = (
    "Without Read Message History the bot cannot look for a notice it already sent, so after "
    "a long outage a notice can be sent twice."
)
KNOWN_CHANNELS_SQL = (
    "SELECT guild_id, channel_id FROM trainings WHERE guild_id IS NOT NULL AND channel_id IS "
    "NOT NULL GROUP BY guild_id, channel_id ORDER BY MAX(created_at) DESC LIMIT 100"
)


@dataclass
class DiscordResult:
    findings: list[ChecklistLine] = field(default_factory=list)
    clock: ChecklistLine | None = None  # the local clock against Discord's `Date`


def known_channels(database: Path) -> dict[int, set[int]]:
    """Guild id -> channels trainings were started in (read-only; {} without a database)."""
    path = database.expanduser()
    if not path.is_file():
        return {}
    import sqlite3

    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=2.0)
    except (sqlite3.Error, OSError):
        return {}
    found: dict[int, set[int]] = {}
    try:
        for guild_id, channel_id in conn.execute(KNOWN_CHANNELS_SQL):
            found.setdefault(int(guild_id), set()).add(int(channel_id))
    except (sqlite3.Error, TypeError, ValueError):
        return {}
    finally:
        conn.close()
    return found


async def check_discord(settings: Settings, options: DoctorOptions) -> DiscordResult:
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        missing = bad(AREA, "DISCORD_TOKEN is not set, so the bot cannot log in.", FIX_NO_TOKEN)
        return DiscordResult([missing])
    result = DiscordResult()
    async with DiscordRest(token, options.discord_api, timeout=options.discord_timeout) as rest:
        try:
            await _check(settings, options, rest, result)
        except DiscordError as exc:
            result.findings.append(_failure(exc))
        if rest.date and rest.received:
            result.clock = check_clock("Discord", rest.date, rest.received)
    return result


def _failure(exc: DiscordError) -> ChecklistLine:
    if exc.status == 401:
        text = "Discord refused DISCORD_TOKEN (401): it is wrong or was reset."
        return bad(AREA, text, FIX_REFUSED)
    if exc.status == 0:
        fix = "check the network (and a proxy or firewall), then run it again."
        return bad(AREA, f"{exc.message}.", fix)
    return bad(
        AREA,
        f"Discord answered {exc.status} ({exc.message}).",
        "run it again; if it persists, check https://discordstatus.com.",
    )


async def _check(
    settings: Settings, options: DoctorOptions, rest: DiscordRest, result: DiscordResult
) -> None:
    add = result.findings.append
    me = await rest.get("/users/@me")
    bot_id = perm.as_int(me.get("id"))
    if not me.get("bot"):
        add(bad(AREA, "DISCORD_TOKEN belongs to a user account, not to a bot.", FIX_REFUSED))
        return
    add(good(AREA, f"DISCORD_TOKEN works: bot {me.get('username')} ({bot_id})."))
    app = await rest.get("/applications/@me")
    app_id = perm.as_int(app.get("id")) or bot_id
    if app.get("bot_public"):
        add(
            bad(
                AREA,
                f"the application {app.get('name')} is public: anyone with its invite link can "
                "add the bot to their server and spend on your Replicate account.",
                f"Developer Portal ({PORTAL}) → your application → Bot → turn off Public Bot.",
            )
        )
    else:
        add(good(AREA, f"application {app.get('name')} ({app_id}), private."))
    guilds = await rest.get("/users/@me/guilds")
    guilds = [g for g in guilds if isinstance(g, dict)] if isinstance(guilds, list) else []
    invite = perm.invite_url(app_id)
    result.findings += _guild_list(guilds, settings.guild_ids, invite)
    known = known_channels(settings.database)
    for guild in guilds:
        gid = perm.as_int(guild.get("id"))
        result.findings += await _guild_channels(rest, gid, bot_id, known.get(gid, set()))
    if options.commands is not None:
        result.findings += await _commands(rest, app_id, options.commands, settings)
    add(
        good(
            AREA,
            f"invite link (scopes {' '.join(perm.SCOPES)}, permissions "
            f"{perm.NEEDED_PERMISSIONS}): {invite}",
        )
    )


def _guild_list(
    guilds: list[dict[str, Any]], wanted: Iterable[int], invite: str
) -> list[ChecklistLine]:
    found: list[ChecklistLine] = []
    ids = {perm.as_int(g.get("id")) for g in guilds}
    if not guilds:
        found.append(bad(AREA, "the bot is in no server.", f"add it to your server: {invite}"))
    else:
        names = ", ".join(f"{g.get('name')} ({g.get('id')})" for g in guilds)
        found.append(good(AREA, f"the bot is in {len(guilds)} server(s): {names}."))
    for gid in wanted:
        if gid not in ids:
            found.append(
                bad(
                    AREA,
                    f"SD35L_GUILD_IDS names server {gid}, but the bot is not in it, so its "
                    "commands cannot be synced there.",
                    f"add the bot to that server ({invite}) or remove {gid} from SD35L_GUILD_IDS.",
                )
            )
    return found


async def _guild_channels(
    rest: DiscordRest, guild_id: int, bot_id: int, used: set[int]
) -> list[ChecklistLine]:
    guild = await rest.get(f"/guilds/{guild_id}")
    channels = await rest.get(f"/guilds/{guild_id}/channels")
    member = await rest.get(f"/guilds/{guild_id}/members/{bot_id}")
    gname = str(guild.get("name") or guild_id)
    roles = {
        perm.as_int(r.get("id")): perm.as_int(r.get("permissions"))
        for r in guild.get("roles") or []
    }
    member_roles = [perm.as_int(r) for r in member.get("roles") or []]
    base = perm.base_permissions(
        guild_id=guild_id,
        owner_id=perm.as_int(guild.get("owner_id")),
        user_id=bot_id,
        roles=roles,
        member_roles=member_roles,
    )
    timed_out = _timed_out(member.get("communication_disabled_until"))
    by_id = {perm.as_int(c.get("id")): c for c in channels if isinstance(c, dict)}

    def allowed(channel: Mapping[str, Any], thread: bool) -> int:
        return perm.channel_permissions(
            base,
            guild_id=guild_id,
            user_id=bot_id,
            member_roles=member_roles,
            overwrites=channel.get("permission_overwrites") or [],
            thread=thread,
            timed_out=timed_out,
        )

    found: list[ChecklistLine] = []
    fine, hidden = 0, []
    for cid, channel in by_id.items():
        if channel.get("type") not in perm.TEXT_TYPES:
            continue
        perms = allowed(channel, False)
        lacking = perm.missing(perms)
        if not perms & perm.VIEW_CHANNEL and cid not in used:
            hidden.append(f"#{channel.get('name')}")
        elif lacking:
            found.append(_lacking(gname, f"#{channel.get('name')}", lacking))
        else:
            fine += 1
    for cid in sorted(used - set(by_id)):
        finding = await _used_elsewhere(rest, gname, cid, by_id, allowed)
        if finding is not None:
            found.append(finding)
    if not found:
        needs = ", ".join(name for _, name in perm.CHANNEL_NEEDS)
        note = f"; hidden from it: {', '.join(hidden)}" if hidden else ""
        text = f"server {gname}: the bot has {needs} in {fine} text channel(s){note}."
        found.append(good(AREA, text))
    return found


async def _used_elsewhere(
    rest: DiscordRest,
    gname: str,
    cid: int,
    by_id: Mapping[int, Mapping[str, Any]],
    allowed: Any,
) -> ChecklistLine | None:
    """A channel from the database that the guild's list lacks: a thread, gone, or hidden."""
    try:
        channel = await rest.get(f"/channels/{cid}")
    except DiscordError as exc:
        if exc.status == 404:
            return None  # deleted since: nothing will be posted there again
        return _lacking(gname, f"channel {cid} (trainings were started there)", ["View Channel"])
    parent = by_id.get(perm.as_int(channel.get("parent_id")))
    if channel.get("type") not in perm.THREAD_TYPES or parent is None:
        return None
    lacking = perm.missing(allowed(parent, True), thread=True)
    if not lacking:
        return None
    return _lacking(gname, f"thread {channel.get('name')} in #{parent.get('name')}", lacking)


def _lacking(gname: str, where: str, lacking: list[str]) -> ChecklistLine:
    names = ", ".join(lacking)
    why = f" {HISTORY_WHY}" if "Read Message History" in lacking else ""
    return bad(
        AREA,
        f"server {gname}, {where}: the bot lacks {names}.{why}",
        f"allow {names} for the bot's role in {where} (Edit Channel → Permissions) or in "
        "Server Settings → Roles, or invite it again with the link below.",
    )


def _timed_out(until: Any) -> bool:
    if not isinstance(until, str) or not until:
        return False
    try:
        return datetime.fromisoformat(until) > datetime.now(UTC)
    except ValueError:
        return False


def _shape(items: Iterable[Mapping[str, Any]]) -> tuple[Any, ...]:
    """What makes two command lists the same for a user: names, types, texts, options."""
    return tuple(
        (
            int(o.get("type") or 1),
            str(o.get("name") or ""),
            str(o.get("description") or ""),
            bool(o.get("required")),
            bool(o.get("autocomplete")),
            tuple((c.get("name"), c.get("value")) for c in o.get("choices") or []),
            tuple(o.get(k) for k in ("min_value", "max_value", "min_length", "max_length")),
            _shape(o.get("options") or []),
        )
        for o in items
    )


def _by_name(commands: Iterable[Mapping[str, Any]]) -> dict[tuple[int, str], Mapping[str, Any]]:
    return {(int(c.get("type") or 1), str(c.get("name"))): c for c in commands}


async def _commands(
    rest: DiscordRest,
    app_id: int,
    expected: Mapping[int | None, list[dict[str, Any]]],
    settings: Settings,
) -> list[ChecklistLine]:
    found: list[ChecklistLine] = []
    record = settings.database.expanduser().with_name(settings.database.name + ".commands.json")
    for scope, wanted in expected.items():
        where = "globally" if scope is None else f"in server {scope}"
        path = f"/applications/{app_id}/commands"
        if scope is not None:
            path = f"/applications/{app_id}/guilds/{scope}/commands"
        try:
            registered = await rest.get(path)
        except DiscordError as exc:
            if exc.status == 401:
                raise
            found.append(
                bad(
                    AREA,
                    f"the slash commands {where} cannot be read ({exc.message}).",
                    "invite the bot again with the link below (scope applications.commands).",
                )
            )
            continue
        have, want = _by_name(registered or []), _by_name(wanted)
        absent = sorted(name for kind, name in want.keys() - have.keys())
        extra = sorted(name for kind, name in have.keys() - want.keys())
        changed = sorted(
            name
            for key in want.keys() & have.keys()
            if _shape([want[key]]) != _shape([have[key]])
            for _, name in [key]
        )
        if not (absent or extra or changed):
            found.append(good(AREA, f"the {len(want)} commands are synced {where}."))
            continue
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (("missing", absent), ("not ours", extra), ("outdated", changed))
            if names
        ]
        found.append(
            bad(
                AREA,
                f"the slash commands {where} differ from this version's ({'; '.join(parts)}).",
                "restart the bot: it syncs changed commands at start; if this stays, delete "
                f"{record} (its record of the last sync) and restart.",
            )
        )
    return found
