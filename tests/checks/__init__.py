"""Tests of the module of the same path."""
