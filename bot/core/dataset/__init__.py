"""Datasets before money is spent: the trainer's loader model and the checks built on it.

- `verdict.run_loader(entries, resolutions, trigger) -> DatasetVerdict`: the model itself, over
  `entries.EntryView`s; the verdict says whether (and why) the trainer's run would fail, which
  images it trains on and which files it skips.
- `archive.judge_archive(path_or_bytes, resolutions=None, trigger_word="TOK")`: a local ZIP file,
  ZIP bytes or a folder judged in full, exactly as the trainer would.
- `check.inspect_dataset(url, ...)`: the pre-flight check of a dataset URL (reads a large ZIP
  only in part, and says which checks were partial); `local` does the same for a folder or ZIP
  on disk and packs it. Both produce a `report.DatasetReport`, what the CLI and the bot render.

Import from the modules; this package exports nothing.
"""
