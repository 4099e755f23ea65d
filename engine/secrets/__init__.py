"""engine.secrets.sources."""
