"""Corpora in, DataLoaders out."""
