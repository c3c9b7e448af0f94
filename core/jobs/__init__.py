"""Runs and their one lifecycle: the run store, launching, queueing, cancelling, resuming."""
