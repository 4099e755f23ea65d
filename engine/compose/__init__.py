"""engine.compose."""
