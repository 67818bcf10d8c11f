"""Captions written by a vision model on Replicate, reviewed before anything is paid for.

`run.plan` resolves the model from its real input schema and prices the images the cache does
not know; `run.run` makes the predictions (bounded, retried) and cleans the answers (`clean`);
`cost` prices a caption and calibrates it from finished runs; `cache` remembers every caption
paid for; `images` makes the small data-URI copy the model sees. Import from the modules; this
package exports nothing.
"""
