"""Training configs: the handoff's layout (`model`), field rules (`fields`), presets, parsing and
templates, layering with origins, and the mapping onto the trainer's real inputs (`inputs`).
Import from the modules; this package exports nothing.
"""
