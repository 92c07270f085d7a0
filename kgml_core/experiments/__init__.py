"""Experiments: each module registers an ``experiment`` sub-command and a function the app calls."""
