"""The bot's SQLite memory: the store, its migrations, the notice outbox, pending submissions,
saved previews, and the plain records it hands out. Import from the modules; this package
exports nothing.
"""
