"""Fetching a finished training's LoRA: a streaming, resumable weights download that extracts
only the `.safetensors` member, safely. Import from the modules; this package exports nothing.
"""
