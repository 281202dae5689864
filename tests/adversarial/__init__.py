"""Attacks on a running service, one file per attack, through real `hardened run` processes."""
