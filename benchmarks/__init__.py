"""Reproducible comparisons against bare Starlette and peer libraries (`make bench`)."""
