"""The function contract of the rnn-basics homework: the names students implement and the grader calls.

One table, read by the probes (to say "`srn_rnn` is not defined" or "takes the wrong arguments"), by the
tests (the reference must satisfy it) and mirrored in ``assignments/rnn-basics/CONTRACT.md``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from grader.messages import M, Msg, render


@dataclass(frozen=True)
class ContractName:
    name: str
    kind: str  # "function", "class" (parameters are those of __init__) or "value"
    part: str  # the first part id that uses it
    parameters: tuple[str, ...] = ()  # required leading parameters, in order
    methods: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (method, parameters) for classes


CONTRACT: tuple[ContractName, ...] = (
    ContractName("srn_numpy", "function", "1.1", ("inputs", "W", "U", "V", "h0", "activation")),
    ContractName("make_srn_cell", "function", "1.3", ("input_size", "hidden_size", "output_size")),
    ContractName("srn_cell", "function", "1.3", ("inputs", "h0", "cell", "linear")),
    ContractName("make_srn_rnn", "function", "1.4",
                 ("input_size", "hidden_size", "output_size", "num_layers")),
    ContractName("srn_rnn", "function", "1.4", ("inputs", "h0", "rnn", "linear")),
    ContractName("HELLO_VOCAB", "value", "2.1"),
    ContractName("encode", "function", "2.1", ("text", "vocab")),
    ContractName("one_hot", "function", "2.1", ("indices", "n_class")),
    ContractName("HelloCell", "class", "2.1", ("input_size", "hidden_size", "batch_size"),
                 (("forward", ("x_t", "hidden")), ("init_hidden", ()))),
    ContractName("train_hello_cell", "function", "2.1", ("model", "inputs", "labels", "epochs", "lr")),
    ContractName("HelloRNN", "class", "2.2", ("input_size", "hidden_size", "batch_size", "num_layers"),
                 (("forward", ("inputs",)),)),
    ContractName("train_hello_rnn", "function", "2.2", ("model", "inputs", "labels", "epochs", "lr")),
    ContractName("LETTERS", "value", "3"),
    ContractName("PAIRS", "value", "3"),
    ContractName("make_data", "function", "3", ("pairs", "n_step")),
    ContractName("Seq2Seq", "class", "3", ("n_class", "n_hidden"),
                 (("forward", ("enc_input", "enc_hidden", "dec_input")),)),
    ContractName("train_seq2seq", "function", "3",
                 ("model", "pairs", "epochs", "device", "lr", "batch_size")),
    ContractName("translate", "function", "3", ("model", "word", "device")),
    ContractName("RNN_SHAPES", "value", "4"),
)

RNN_SHAPE_KEYS: tuple[str, ...] = (
    "RNNCell.input", "RNNCell.hidden", "RNNCell.weight_ih", "RNNCell.weight_hh",
    "RNN.input", "RNN.h0", "RNN.output", "RNN.h_n",
)


def _positional_names(function: object, skip_self: bool) -> list[str]:
    parameters = list(inspect.signature(function).parameters.values())  # type: ignore[arg-type]
    if skip_self and parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    return [p.name for p in parameters
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def signature_issue(entry: ContractName, obj: object) -> Msg | None:
    """Why ``obj`` does not satisfy ``entry``, or None. Only the number of leading parameters is fixed."""
    if entry.kind == "value":
        return None
    if entry.kind == "function" and not callable(obj):
        return M("not_function", name=entry.name, found=type(obj).__name__)
    if entry.kind == "class" and not isinstance(obj, type):
        return M("not_class", name=entry.name, found=type(obj).__name__)
    checks: list[tuple[str, object, tuple[str, ...], bool]] = []
    if entry.kind == "function":
        checks.append((entry.name, obj, entry.parameters, False))
    else:
        checks.append((f"{entry.name}.__init__", obj.__init__, entry.parameters, True))  # type: ignore[misc]
        for method, parameters in entry.methods:
            checks.append((f"{entry.name}.{method}", getattr(obj, method, None), parameters, True))
    for label, function, expected, skip_self in checks:
        if function is None:
            return M("member_missing", label=label)
        try:
            found = _positional_names(function, skip_self)
            takes_any = any(p.kind == p.VAR_POSITIONAL
                            for p in inspect.signature(function).parameters.values())  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue  # builtins without a signature: let the call decide
        if takes_any:
            continue  # *args accepts whatever we pass
        if len(found) < len(expected):
            return M("bad_signature", label=label, found=", ".join(found), expected=", ".join(expected))
    return None


def signature_problem(entry: ContractName, obj: object) -> str | None:
    """The English text of ``signature_issue``."""
    issue = signature_issue(entry, obj)
    return render(issue) if issue else None


# Names only the handout's contract uses: assigning one says the student wrote to the contract.
_CONTRACT_ONLY_VALUES = ("HELLO_VOCAB", "RNN_SHAPES")


def contract_names_defined(sources: list[str], contract: tuple[ContractName, ...] = CONTRACT) -> set[str]:
    """The contract names the student's code defines *as the contract has them*, read without running it
    (each source parsed once). The tutorials this homework points to also have a `Seq2Seq` (taking no
    arguments) and a `make_data(seq_data)`: a function or class counts only with at least the contract's
    leading parameters, so such a script is still recognised as written without the contract."""
    import ast

    from grader import pysource

    entries = {entry.name: entry for entry in contract}
    defined: set[str] = set()
    for source in sources:
        tree = pysource.parse(source)
        if tree is None:
            continue  # a cell with magics or broken code: the other cells decide
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name in entries:
                entry = entries[node.name]
                if entry.kind == "function" and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    taken = len(node.args.posonlyargs) + len(node.args.args)
                    if node.args.vararg is not None or taken >= len(entry.parameters):
                        defined.add(node.name)
                elif entry.kind == "class" and isinstance(node, ast.ClassDef):
                    init = next((item for item in node.body if isinstance(item, ast.FunctionDef)
                                 and item.name == "__init__"), None)
                    taken = len(init.args.posonlyargs) + len(init.args.args) - 1 if init else 0
                    if init is not None and (init.args.vararg is not None or taken >= len(entry.parameters)):
                        defined.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                defined.update(t.id for t in targets if isinstance(t, ast.Name) and t.id in _CONTRACT_ONLY_VALUES
                               and t.id in entries)
    return defined


def defines_contract(sources: list[str]) -> bool:
    """Whether any of the student's code is written to the contract (see contract_names_defined)."""
    return bool(contract_names_defined(sources))
