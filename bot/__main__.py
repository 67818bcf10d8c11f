"""`python -m bot` runs the Discord bot, like `sd35l-trainer bot`."""

from bot.cli import main

if __name__ == "__main__":
    main(["bot"])
