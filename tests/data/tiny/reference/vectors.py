"""Reference solution of the tiny vector homework (tests only)."""


def add(a, b):
    return [x + y for x, y in zip(a, b)]
