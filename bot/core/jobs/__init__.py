"""The training lifecycle: submit, refresh, cancel, reconcile (`service.JobService`), who may
start or cancel (`rights`), and the background `tracker.Tracker` that polls, edits cards and
delivers notices. Import from the modules; this package exports nothing.
"""
