"""The command line: one module per command group."""

from engine.cli.app import main

__all__ = ["main"]
