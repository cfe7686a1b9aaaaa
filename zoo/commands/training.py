"""Commands that build and run models: train, run, evaluate, predict, export, preview, demo."""

COMMANDS: list = []
