"""Operators of the Learnosity pipelines, one module per concern."""
