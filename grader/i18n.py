"""One catalogue per language (grader/catalog/<lang>.toml): every string of the reports and check messages.

A missing key raises instead of showing an empty string; a test checks both catalogues hold the same
keys and that every key the templates use exists.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).with_name("catalog")  # grader/catalog/<lang>.toml
LANGUAGES = ("en", "zh")


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose from {', '.join(LANGUAGES)}")
    table = tomllib.loads((CATALOG_DIR / f"{lang}.toml").read_text(encoding="utf-8"))
    return _flatten(table)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.strings = catalog(lang)

    def __call__(self, key: str, **params: Any) -> str:
        text = self.strings[key]  # KeyError on purpose: a missing string is a bug
        return text.format(**params) if params else text
