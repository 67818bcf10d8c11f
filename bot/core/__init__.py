"""The product's brain: pure Python, no Discord. Both front ends (CLI and bot) stand on it."""
