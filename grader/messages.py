"""Check messages as a key plus parameters, rendered per language from grader/catalog/<lang>.toml.

Judges build ``M("array_shape", what="Y", got=(3, 2), expected=(3, 1))``; results keep the English text
(``message``) and the key and parameters (``message_i18n``), so a report can be rendered in any language
later. Parameters may themselves be messages or lists of messages (joined with "; "). Text that comes from
student code (exception messages, returned values) is passed through as a parameter, untranslated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.i18n import catalog


@dataclass(frozen=True)
class Msg:
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "params": {name: _param_to_json(value) for name, value in self.params.items()}}


def M(key: str, **params: Any) -> Msg:  # noqa: N802 - short on purpose: it is written at every judge
    return Msg(key, params)


def _param_to_json(value: Any) -> Any:
    if isinstance(value, Msg):
        return value.to_json()
    if isinstance(value, (list, tuple)) and any(isinstance(item, (Msg, dict)) for item in value):
        return [_param_to_json(item) for item in value]
    if isinstance(value, tuple):
        return str(value)
    return value


def is_message(value: Any) -> bool:
    return isinstance(value, Msg) or (isinstance(value, dict) and set(value) == {"key", "params"})


def render(message: Any, lang: str = "en") -> str:
    """The text of a message (a Msg, its JSON form, or plain text) in ``lang``."""
    if isinstance(message, dict) and is_message(message):
        if not isinstance(message["key"], str) or not isinstance(message["params"], dict):
            return str(message)[:500]
        message = Msg(message["key"], message["params"])
    if not isinstance(message, Msg):
        return str(message)
    params = {name: _render_param(value, lang) for name, value in message.params.items()}
    template = catalog(lang).get(f"msg.{message.key}")
    try:
        return template.format(**params) if template is not None else _fallback(message.key, params)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        # A report must never end on a message: show it plainly (tests keep the catalogues complete).
        return _fallback(message.key, params)


def _fallback(key: str, params: dict[str, Any]) -> str:
    shown = ", ".join(f"{name}={str(value)[:200]}" for name, value in params.items())
    return f"{key}({shown})" if shown else str(key)


def _render_param(value: Any, lang: str) -> Any:
    if is_message(value):
        return render(value, lang)
    if isinstance(value, list) and any(is_message(item) for item in value):
        return _join(lang).join(render(item, lang) for item in value)
    if isinstance(value, tuple):
        return str(value)
    return value


def _join(lang: str) -> str:
    return "；" if lang == "zh" else "; "
