"""`sd35l-trainer doctor` and the bot's start-up checks: is this deployment right?

One implementation for both front ends (`run.run_doctor`): each check returns
`report.ChecklistLine`s (✔ or ✘ with the fix); the CLI prints them, the bot logs the failures.
Discord is read over its REST API with aiohttp (`discord_rest`, `discord_checks`,
`permissions`), Replicate through the gateway (`replicate`), the database, data folder and clock
locally (`local`); `backoff` keeps a refused start from restarting every few seconds. Import
from the modules; this package exports nothing.
"""
