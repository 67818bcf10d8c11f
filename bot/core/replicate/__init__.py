"""The only code that talks to Replicate: the gateway (official client, raw JSON), errors mapped
to actionable sentences, and the tolerant `Training` record. Import from the modules; this
package exports nothing.
"""
