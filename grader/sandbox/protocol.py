"""The lines the student's process tree sends up the pipe, as typed messages validated in the parent.

The worker runs as the student's user, beside the kernel: whatever arrives may have been written by student
code. Every line is parsed against these models (unknown types, missing or extra fields and oversized text
are refused) and checked against what the parent asked for (a probe result for a part it
did not request, or a second one for the same part, is refused). A refused line ends the submission's run
with a reason that says so; it never raises in the parent. The kernel's own observations inside a probe
message stay plain data here: each part validates its own against its request (``grader.parts``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from grader.messages import M, Msg

ShortText = Annotated[str, Field(max_length=4000)]
Seconds = Annotated[float, Field(ge=0, le=1e7)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CellRecordModel(_Strict):
    index: Annotated[int, Field(ge=0, le=1_000_000)]
    status: Literal["ok", "error", "timeout", "dead"]
    seconds: Seconds
    source: ShortText = ""
    dropped_output_bytes: Annotated[int, Field(ge=0)] = 0
    ename: Annotated[str, Field(max_length=200)] = ""
    evalue: ShortText = ""
    traceback: Annotated[list[ShortText], Field(max_length=8)] = []
    output: Annotated[str, Field(max_length=16000)] = ""
    execution_count: Optional[Annotated[int, Field(ge=0)]] = None
    module: Optional[Annotated[str, Field(max_length=200)]] = None  # the file a module submission's cell imports


class PhaseMessage(_Strict):
    type: Literal["phase"]
    name: Literal["kernel_start", "grader_setup"]
    seconds: Seconds


class CellsMessage(_Strict):
    type: Literal["cells"]
    cells: Annotated[list[CellRecordModel], Field(max_length=100_000)]
    seconds: Seconds


class CellMessage(_Strict):
    type: Literal["cell"]
    cell: CellRecordModel


class ProbeMessage(_Strict):
    type: Literal["probe"]
    part: Annotated[str, Field(max_length=20)]
    seconds: Seconds
    ok: bool
    observation: Any = None  # validated by the part against its request, not here
    error: Optional[ShortText] = None
    traceback: Annotated[list[ShortText], Field(max_length=8)] = []
    reason: Optional[Literal["timeout", "dead", "too_large", "unreadable"]] = None
    timeout_s: Optional[Seconds] = None


FatalReason = Literal["setup_failed", "kernel_died", "channel_broken", "worker_error"]


class FatalMessage(_Strict):
    type: Literal["fatal"]
    reason: FatalReason
    cell: Optional[Annotated[int, Field(ge=1)]] = None
    detail: ShortText = ""


class SandboxMessage(_Strict):
    type: Literal["sandbox"]
    applied: Annotated[list[Annotated[str, Field(max_length=80)]], Field(max_length=40)] = []
    missing: Annotated[list[Annotated[str, Field(max_length=80)]], Field(max_length=40)] = []
    problems: Annotated[list[Annotated[str, Field(max_length=400)]], Field(max_length=40)] = []


class IntegrityMessage(_Strict):
    type: Literal["integrity"]
    events: Annotated[list[Any], Field(max_length=400)] = []


class DoneMessage(_Strict):
    type: Literal["done"]


WorkerMessage = Annotated[
    Union[PhaseMessage, CellMessage, CellsMessage, ProbeMessage, FatalMessage, SandboxMessage, IntegrityMessage, DoneMessage],
    Field(discriminator="type")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(WorkerMessage)


class Refused(Exception):
    """A line from the student's process that the parent does not accept; ``str()`` says why."""


def parse_line(line: bytes, expected_parts: set[str], seen_parts: set[str]) -> Any:
    """One validated message, or Refused with the reason."""
    try:
        message = _ADAPTER.validate_json(line)
    except ValidationError as error:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(item) for item in first.get("loc", ()))[:80]
        raise Refused(f"a malformed message ({where or 'not a message'}: {str(first.get('msg', ''))[:80]})") from None
    if isinstance(message, ProbeMessage):
        if message.part not in expected_parts:
            raise Refused(f"a result for part {message.part!r}, which the grader did not ask for")
        if message.part in seen_parts:
            raise Refused(f"a second result for part {message.part}")
        seen_parts.add(message.part)
    return message


def fatal_message(message: FatalMessage) -> Msg:
    """The parent's own words for a fatal reason the worker reported (its detail is student-influenced)."""
    if message.reason == "setup_failed":
        return M("kernel_setup_failed", detail=message.detail[:300])
    if message.reason == "kernel_died":
        return M("kernel_died", number=message.cell or 0)
    if message.reason == "channel_broken":
        return M("channel_broken", number=message.cell or 0)
    return M("worker_error", error=message.detail[:300])


__all__ = ["CellMessage", "CellsMessage", "DoneMessage", "FatalMessage", "IntegrityMessage", "PhaseMessage", "ProbeMessage",
           "Refused", "SandboxMessage", "fatal_message", "parse_line"]
