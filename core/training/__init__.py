"""The trainer: the seed report's loop, observed through callbacks."""
