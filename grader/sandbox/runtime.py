"""Code the grader runs inside the student's kernel, after the student's own cells.

Untrusted side of the trust boundary: nothing here decides a score. It seeds the random generators,
calls the contract's functions through a part's ``probe`` with the inputs the parent sent, and writes
what it saw (values, shapes, errors) as JSON to a file the parent named. Student code runs before the
file name exists, so it cannot forge the answer by printing.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import random
import sys
import traceback
from typing import Any, Callable

MAX_ELEMENTS = 4096  # larger arrays are described by shape and dtype only
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../grader
_IMPORT_ROOT = os.path.dirname(_PACKAGE_DIR)
_LIBRARY_DIRS = tuple({os.path.dirname(os.__file__), _PACKAGE_DIR})


_uses_torch = True
_private_root = ""  # the submission's private folder: its files are named by their base name in tracebacks


STUDENT_MODULE_NAME = "__student__"


def prepare(seed: int, output_limit: int = 0, events_path: str | None = None, private_root: str = "",
            uses_torch: bool = True, probes: list[list[str]] | None = None, entry_name: str = "",
            as_module: bool = False) -> None:
    """Run before any student code: one thread, fixed seeds, bounded output, the integrity watcher.

    `as_module`: the notebook runs as a module would be imported, with `__name__` other than "__main__", so
    the try-it cells under `if __name__ == "__main__":` (and the long training runs students leave there)
    are not run when grading; all other top-level code runs as before.

    `uses_torch` is False when the student's code never mentions torch: importing it here would cost two
    seconds for nothing (a probe that needs it imports it, and torch's default seed is fixed anyway)."""
    global _uses_torch, _private_root
    _uses_torch, _private_root = uses_torch, private_root
    try:  # when the submission's memory group is full, the student's processes go first, not the worker
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as handle:
            handle.write("500")
    except OSError:
        pass
    seed_everything(seed)
    if as_module:
        from IPython import get_ipython

        shell = get_ipython()
        shell.user_ns["__name__"] = STUDENT_MODULE_NAME
        sys.modules.setdefault(STUDENT_MODULE_NAME, shell.user_module)  # classes defined there stay picklable
    if output_limit > 0:
        cap_output(output_limit)
    guard_kernel_channel()
    if uses_torch:
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:  # a submission that never needs torch still gets graded
            pass
    if entry_name:
        bind_probes(probes or [], entry_name)
    if events_path:  # last: what the grader itself imported above is not the student's doing
        watch(events_path, private_root)


def bind_probes(probes: list[list[str]], entry_name: str) -> None:
    """Take the probe functions (and this module's entry point) now, before student code runs, and make
    them callable only through a cell magic whose random name the student's code never saw.

    Defence in depth, not the guarantee: a student who replaces `grader.parts.part2_hello.probe_cell` or
    `runtime.run_probe` later changes nothing the grader calls. Determined code can still reach objects in
    its own process; the parent validates and re-checks everything that comes back."""
    from IPython import get_ipython

    shell = get_ipython()
    bound = {(module, name): getattr(importlib.import_module(module), name) for module, name in probes}
    run, loads = run_probe, json.loads

    def entry(line: str, cell: str) -> None:
        part_id, request_path, result_path = loads(cell)
        run(shell.user_ns, part_id, request_path, result_path, bound)

    shell.register_magic_function(entry, magic_kind="cell", magic_name=entry_name)


def cap_output(limit: int) -> None:
    """Drop a cell's printed text beyond `limit` characters here, in the kernel.

    The worker caps what it keeps, but a print loop can produce text faster than it is sent: ipykernel
    buffers it all and a 1 GB print kills the kernel (and the student's work) before the cap is reached.
    Dropping it at the source keeps such a submission alive; the worker still sees more than it keeps, so
    the report says the output was truncated. Student code can undo this, and only hurts itself if it does.
    """
    counters = {"used": 0}

    def capped(write: Callable[[str], int]) -> Callable[[str], int]:
        def write_capped(text: str) -> int:
            room = limit - counters["used"]
            counters["used"] += len(text)
            if room > 0:
                write(text[:room])
            return len(text)
        write_capped.rnn_grader_cap = True  # type: ignore[attr-defined]
        return write_capped

    def install() -> None:
        # IPython 9 wraps `stream.write` around every cell (to keep outputs in its history) and puts back
        # what was there before the cell when it ends, so a cap set once is gone after the first cell.
        # Installed again at the start of every cell, outermost: IPython's history only sees capped text.
        for stream in (sys.stdout, sys.stderr):
            if not getattr(stream.write, "rnn_grader_cap", False):
                stream.write = capped(stream.write)  # type: ignore[method-assign]

    def before_cell(*_: Any) -> None:
        counters.update(used=0)
        install()

    install()
    try:
        from IPython import get_ipython

        get_ipython().events.register("pre_run_cell", before_cell)
    except (ImportError, AttributeError):  # not in a kernel: one budget for the whole run
        pass


def guard_kernel_channel() -> None:
    """Serialise the kernel's Jupyter messages with json functions bound now, before student code runs.

    jupyter_client's session looks `json.dumps`/`json.loads` up at every message: a student who replaces
    them (deliberately or by accident) garbles every reply and the grader loses the kernel. Bound here, the
    channel keeps working whatever the student replaces; the replacement itself is noted and undone after
    the cell (see `restore_patched`)."""
    try:
        from IPython import get_ipython
        from jupyter_client.jsonutil import json_clean, json_default

        session = get_ipython().kernel.session
    except (ImportError, AttributeError):  # not in a kernel (tests, scripts): nothing to guard
        return
    dumps, loads = json.dumps, json.loads

    def pack(obj: Any) -> bytes:
        try:
            text = dumps(obj, default=json_default, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            text = dumps(json_clean(obj), default=json_default, ensure_ascii=False, allow_nan=False)
        return text.encode("utf8", errors="surrogateescape")

    def unpack(data: Any) -> Any:
        return loads(data.decode("utf8", "replace") if isinstance(data, bytes) else data)

    session.pack, session.unpack = pack, unpack


# ---- integrity watcher ------------------------------------------------------------------------------
# An audit hook (PEP 578) sees file opens, sockets, subprocesses, signals and type patching. It notes only
# what the *student's own* frames did (the nearest frame outside the standard library is the student's
# cell or module), so torch reading /proc/self or a DataLoader forking stays quiet. Notes go straight to
# a file the worker reads at the end, so they survive a kernel that dies. Student code could tamper with
# this in-process watcher; static reading in the parent does not depend on it.

_STDLIB = os.path.dirname(os.__file__) + os.sep
_WATCHED_EVENTS = {"open", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.rmdir", "os.mkdir",
                   "os.chmod", "os.chown", "shutil.rmtree", "socket.connect", "socket.sendto", "socket.bind",
                   "socket.getaddrinfo", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "os.fork", "os.forkpty", "os.kill", "os.killpg", "object.__setattr__", "ctypes.dlopen",
                   "gc.get_objects", "gc.get_referrers", "sys.addaudithook", "sys._getframe", "sys.settrace"}
_PATCH_WATCH = {"numpy": ("allclose", "isclose", "array_equal", "asarray", "array"),
                "torch": ("allclose", "equal", "tensor", "is_tensor"),
                "torch.Tensor": ("__eq__", "tolist", "detach", "cpu", "reshape", "numel"),
                "builtins": ("print", "open", "isinstance", "len", "float", "repr", "str", "type", "getattr"),
                "json": ("dumps", "dump", "loads", "load"), "math": ("isfinite",), "os": ("replace", "urandom"),
                "random": ("seed",)}
_MISSING = object()
_originals: list[tuple[str, Any, str, Any]] = []
_note: Callable[[str, str], None] = lambda category, detail: None


def watch(events_path: str, private_root: str) -> None:
    global _note
    descriptor = os.open(events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    own_pid, seen, busy = str(os.getpid()), set(), [False]
    # our own references: the student may replace json.dumps or os.write, and the watcher must keep working
    dumps, write, abspath, fsdecode, getframe = json.dumps, os.write, os.path.abspath, os.fsdecode, sys._getframe
    writing_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    grader_dir = _PACKAGE_DIR + os.sep
    inside = tuple(p.rstrip(os.sep) + os.sep for p in {private_root, sys.prefix, sys.base_prefix} if p) + (
        grader_dir, "/usr/", "/lib", "/etc/", "/sys/", "/dev/", "/bin/", "/opt/")

    def note(category: str, detail: str) -> None:
        if (category, detail) not in seen and len(seen) < 200:
            seen.add((category, detail))
            write(descriptor, (dumps({"category": category, "detail": detail[:160]}) + "\n").encode())

    def outside(path: Any, writing: bool = False) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        path = abspath(fsdecode(path))
        folder = path.rstrip(os.sep) + os.sep  # a folder itself counts as inside it ("/tmp/x" in "/tmp/x/")
        if writing:  # writing anywhere but its own folders is reaching out, grader and libraries included
            return None if folder.startswith(private_root.rstrip(os.sep) + os.sep) or path == "/dev/null" else path
        if path.startswith("/proc/"):
            head = path.split("/")[2]
            return path if head.isdigit() and head != own_pid else None
        if path.startswith(("/etc/passwd", "/etc/shadow", "/etc/sudoers", "/etc/ssh")):
            return path
        return None if folder.startswith(inside) or path in ("/dev/null", "/") else path

    def students_doing() -> bool:
        frame = getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            # the import system listing sys.path folders is Python's doing, not the student's
            if "site-packages" in name or name.startswith(grader_dir) or name.startswith("<frozen importlib"):
                return False
            if not name.startswith((_STDLIB, "<frozen")):
                return name.startswith(private_root) or name.startswith("<")
            frame = frame.f_back
        return False

    def classify(event: str, args: tuple[Any, ...]) -> tuple[str, str] | None:
        if event in ("open", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.rmdir", "os.mkdir",
                     "os.chmod", "os.chown", "shutil.rmtree"):
            mode, flags = (args[1], args[2]) if event == "open" and len(args) > 2 else ("", 0)
            writing = event != "open" or any(c in str(mode or "") for c in "wax+") or bool((flags or 0) & writing_flags)
            path = outside(args[0] if args else None, writing and event not in ("os.listdir", "os.scandir"))
            return ("files", f"{'write' if writing and event == 'open' else event} {path}") if path else None
        if event == "socket.getaddrinfo":
            return "network", f"{event} {args[0] if args else ''}"
        if event.startswith("socket."):
            return "network", f"{event} {args[1] if len(args) > 1 else ''}"
        if event in ("subprocess.Popen", "os.exec", "os.posix_spawn"):
            return "processes", f"run {args[1] if len(args) > 1 else args[0]}"
        if event in ("os.system", "os.spawn", "os.fork", "os.forkpty"):
            return "processes", f"{event} {args[0] if args and event != 'os.spawn' else ''}".strip()
        if event in ("os.kill", "os.killpg"):
            return "processes", f"{event}({args[0]}, {args[1]})"
        if event == "object.__setattr__":
            target = args[0]
            module = getattr(target, "__module__", "") or ""
            if isinstance(target, type) and module.split(".")[0] in ("numpy", "torch", "builtins", "json"):
                return "monkeypatch", f"{module}.{target.__qualname__}.{args[1]} replaced"
            return None
        return "interpreter", f"{event} {args[0] if event == 'ctypes.dlopen' and args else ''}".strip()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in _WATCHED_EVENTS or busy[0]:
            return
        busy[0] = True
        try:
            found = classify(event, args)
            if found and students_doing():
                note(*found)
        except Exception:  # noqa: BLE001 - the watcher must never break the student's code
            pass
        finally:
            busy[0] = False

    _snapshot_watched()
    _note = note
    sys.addaudithook(hook)
    try:  # put replaced functions back after every cell, before the kernel answers: noted, never kept
        from IPython import get_ipython

        get_ipython().events.register("post_run_cell", lambda *_: restore_patched())
    except (ImportError, AttributeError):
        pass


def _snapshot_watched() -> None:
    for dotted, names in _PATCH_WATCH.items():
        module, _, attribute = dotted.partition(".")
        owner = sys.modules.get(module)  # only what is loaded: importing torch here would cost seconds
        if owner is None or (attribute and not hasattr(owner, attribute)):
            continue
        owner = getattr(owner, attribute) if attribute else owner
        for name in names:
            _originals.append((dotted, owner, name, vars(owner).get(name, _MISSING)))


def restore_patched() -> None:
    """Put back what student code replaced in numpy/torch/builtins/json, before the grader's own code runs."""
    for dotted, owner, name, original in _originals:
        if vars(owner).get(name, _MISSING) is original:
            continue
        _note("monkeypatch", f"{dotted}.{name} replaced")
        try:
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        except (AttributeError, TypeError):
            pass


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass
    if not _uses_torch and "torch" not in sys.modules:
        return
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


class ProbeFailure(Exception):
    """A student call failed; carries the description the parent will judge."""

    def __init__(self, description: dict[str, Any]) -> None:
        super().__init__(description.get("error", "error"))
        self.description = description


def _student_frames(tb: Any) -> list[str]:
    """Keep the frames of the student's code, named as the student knows them: a notebook cell as `In[7]`
    (the parent turns that into "cell 12"), a module by its file name; the grader's own frames only confuse."""
    frames = traceback.extract_tb(tb)
    kept = [f for f in frames
            if not f.filename.startswith(_LIBRARY_DIRS) and "site-packages" not in f.filename]
    try:
        from IPython import get_ipython

        cells = dict(getattr(get_ipython().compile, "_filename_map", {}))
    except (ImportError, AttributeError):
        cells = {}
    named = []
    for frame in kept[-6:]:
        name = frame.filename
        if name in cells:
            name = f"In[{cells[name]}]"
        elif _private_root and name.startswith(_private_root.rstrip(os.sep) + os.sep):
            name = os.path.basename(name)
        named.append(traceback.FrameSummary(name, frame.lineno, frame.name, line=frame.line))
    return [line.rstrip() for line in traceback.format_list(named)]


def call(function: Callable[..., Any], *args: Any, label: str = "", **kwargs: Any) -> Any:
    """Call student code; on an exception raise ProbeFailure with a readable description."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any student error becomes an observation
        raise ProbeFailure({
            "error": f"{type(error).__name__}: {str(error)[:500]}",
            "call": label or getattr(function, "__name__", "call"),
            "traceback": _student_frames(error.__traceback__),
        }) from None


def observe(function: Callable[[], Any]) -> dict[str, Any]:
    """Run one observation; a failure becomes ``{"error": ...}`` instead of ending the probe."""
    try:
        return {"value": function()}
    except ProbeFailure as failure:
        return failure.description
    except Exception as error:  # noqa: BLE001 - e.g. a result of the wrong type while describing it
        return {"error": f"{type(error).__name__}: {str(error)[:500]}",
                "traceback": _student_frames(error.__traceback__)}


def describe(value: Any) -> Any:
    """A JSON-safe description of a value: arrays and tensors keep type, dtype, shape and data."""
    kind = type(value).__module__ + "." + type(value).__name__
    if kind.startswith("torch.") and hasattr(value, "detach"):
        tensor = value.detach().cpu()
        return _array("tensor", str(tensor.dtype).replace("torch.", ""), list(tensor.shape),
                      tensor.reshape(-1).tolist() if tensor.numel() <= MAX_ELEMENTS else None)
    if kind.startswith("numpy.") and hasattr(value, "shape"):
        return _array("ndarray", str(value.dtype), list(value.shape),
                      value.reshape(-1).tolist() if value.size <= MAX_ELEMENTS else None)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"type": "float", "repr": repr(value)}
    if isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "items": [describe(item) for item in value[:256]],
                "length": len(value)}
    if isinstance(value, dict):
        return {"type": "dict", "items": {str(k)[:100]: describe(v) for k, v in list(value.items())[:64]}}
    return {"type": kind, "repr": repr(value)[:200]}


MAX_STATE_ELEMENTS = 1 << 20  # one trained model's parameters, all together (part 3's is ~45k)
_STATE_CONFIG = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first",
                 "bidirectional", "in_features", "out_features", "proj_size", "dropout")


def describe_state(model: Any) -> dict[str, Any]:
    """A trained model as data the parent can evaluate itself: its layers (type and settings, in order)
    and every parameter as float32 bytes in base64 (exact, and a fraction of JSON's size)."""
    import base64

    import torch

    modules = []
    for path, module in list(model.named_modules())[:64]:
        config = {key: getattr(module, key) for key in _STATE_CONFIG
                  if isinstance(getattr(module, key, None), (bool, int, float, str))}
        modules.append({"path": path[:100], "type": type(module).__name__[:60],
                        "library": type(module).__module__.startswith("torch.nn."), "config": config})
    params, total = {}, 0
    for name, parameter in list(model.named_parameters())[:64]:
        tensor = parameter.detach().to("cpu", torch.float32).contiguous()
        total += tensor.numel()
        data = base64.b64encode(tensor.numpy().tobytes()).decode("ascii") if total <= MAX_STATE_ELEMENTS else None
        params[name[:100]] = {"shape": list(tensor.shape), "b64": data}
    return {"modules": modules, "params": params}


def _array(kind: str, dtype: str, shape: list[int], data: list[Any] | None) -> dict[str, Any]:
    if data is not None:
        data = [x if not isinstance(x, float) or math.isfinite(x) else repr(x) for x in data]
    return {"type": kind, "dtype": dtype, "shape": shape, "data": data}


def run_probe(namespace: dict[str, Any], part_id: str, request_path: str, result_path: str,
              bound: dict[tuple[str, str], Callable[..., Any]]) -> None:
    """Entry point called from the probe cell, through the magic of `bind_probes` (which supplies `bound`)."""
    restore_patched()
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    if _IMPORT_ROOT not in sys.path:
        sys.path.insert(0, _IMPORT_ROOT)
    try:
        key = (request["module"], request["probe"])
        probe = bound[key]
        seed_everything(int(request.get("seed", 0)))
        observation = {"ok": True, "observation": probe(namespace, request)}
    except Exception as error:  # noqa: BLE001 - reported to the parent, judged there
        observation = {"ok": False, "error": f"{type(error).__name__}: {error}",
                       "traceback": _student_frames(error.__traceback__)}
    temporary = result_path + ".part"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(observation, handle)
    except OSError as error:  # e.g. over the file size limit: say so instead of leaving a broken file
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"ok": False, "reason": "too_large", "error": f"{type(error).__name__}: {error}"}, handle)
    os.replace(temporary, result_path)
