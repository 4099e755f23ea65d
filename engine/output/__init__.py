"""engine.output."""
