"""Configuration: the settings registry (flag, variable, default: defined once) and connections."""
