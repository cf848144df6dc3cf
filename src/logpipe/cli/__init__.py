"""Thin click entry points: parse arguments, build objects, run. No logic lives here."""
