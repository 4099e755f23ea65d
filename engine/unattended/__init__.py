"""engine.unattended.run."""
