"""Outputs for autograding services: GitHub Actions / Classroom (github.py) and Gradescope (gradescope.py)."""
