"""IMDB acquisition, the text pipeline, the encoded corpus and batching."""
