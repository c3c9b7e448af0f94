"""Sweeps: a grid of training runs planned from a TOML spec, executed here or on a Ray cluster."""
