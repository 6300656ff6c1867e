"""Evaluation helpers: answer and retrieval metrics, benchmark file readers."""
