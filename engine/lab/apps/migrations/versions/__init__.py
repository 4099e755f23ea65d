"""The lab backend's revisions: coffee lots, then roasts (the one a scenario leaves pending)."""
