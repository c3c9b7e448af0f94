"""Reports built from stored runs (the seed comparison)."""
