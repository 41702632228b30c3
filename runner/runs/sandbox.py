"""The Jinja sandbox that renders email templates, with limits on time and memory.

Templates come from the repository, so whoever can commit a template must not be able to reach
Python internals, nor stall or exhaust the process that runs tasks. Jinja's immutable sandbox
closes attribute access to internals; it leaves open what grows without bound: `**` on
integers, `*` and `+` on strings and lists, printf widths, padding filters, `range`, and loops
that never end. Here each of those is capped before it allocates, every growth is charged to a
per-render budget, and a render that runs past its deadline stops at the next loop
iteration, call or filter: the code generator puts a clock check at the top of every `for`
body, because a loop over a string calls nothing that could check a clock otherwise.
"""

from __future__ import annotations

import inspect
import re
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RANGE = 10_000
MAX_STRING = 1_000_000
MAX_ITEMS = 100_000
MAX_WIDTH = 1_000
MAX_INT_BITS = 4_096
BUDGET = 20_000_000
MAX_OUTPUT = 5_000_000
TIME_LIMIT = 2.0
SLOW_FILTER_INPUT = 100_000

# Methods a template may call on strings: none of them returns more than it was given.
STR_METHODS = frozenset(
    {
        *("capitalize", "casefold", "count", "endswith", "find", "index", "lower", "lstrip"),
        *("partition", "removeprefix", "removesuffix", "rfind", "rindex", "rpartition"),
        *("rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase"),
        *("title", "upper", "striptags", "unescape", "isalnum", "isalpha", "isdecimal"),
        *("isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper"),
    }
)
DICT_METHODS = frozenset({"items", "keys", "values", "get"})
LIST_METHODS = frozenset({"count", "index"})
# No attribute of these is for templates: classes and functions lead to internals, and
# numbers' methods allocate (`(1).to_bytes(10**9)`).
OPAQUE = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    int,
    float,
    complex,
)
PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


class TemplateLimit(SecurityError):
    """A template went past a limit on time, size or numbers; the render stops."""


@dataclass
class Limits:
    """What one render may use; `spent` is what its growing operations have charged."""

    time_limit: float = TIME_LIMIT
    budget: int = BUDGET
    max_output: int = MAX_OUTPUT
    spent: int = 0
    deadline: float = 0.0

    def charge(self, size: int) -> None:
        self.spent += size
        if self.spent > self.budget:
            raise TemplateLimit(f"the template built more than {self.budget:,} characters")

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"the template ran longer than {self.time_limit} s")


_active: ContextVar[Limits | None] = ContextVar("runner_template_limits", default=None)


def charge(size: int) -> None:
    limits = _active.get()
    if limits is not None:
        limits.charge(size)


def _capped(size: int, what: str, cap: int = MAX_STRING) -> int:
    if size > cap:
        raise TemplateLimit(f"{what} would have {size:,} items or characters (limit {cap:,})")
    charge(size)
    return size


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


class SafeEnvironment(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment with StrictUndefined and the caps described above."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, loader: BaseLoader, autoescape: Callable[[str | None], bool]) -> None:
        super().__init__(
            loader=loader,
            autoescape=autoescape,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.code_generator_class = _LimitedCode
        self.globals["range"] = capped_range
        self.globals.pop("lipsum", None)
        self.filters = {name: guarded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "+":
            _check_sum(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        result = self.binop_table[operator](left, right)
        charge(_size(result))
        return result

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, OPAQUE):
            return False
        if isinstance(obj, str):
            return attr in STR_METHODS
        if isinstance(obj, dict):
            return attr in DICT_METHODS
        if isinstance(obj, list | tuple):
            return attr in LIST_METHODS
        return True

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # str.format pads to any width ('{:>999999999}'); denying it is simpler than parsing
        return None

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        result = super().call(context, obj, *args, **kwargs)
        charge(_size(result))
        return result

    def concat(self, parts: Iterable[Any]) -> str:
        """Joins block, macro and filter-block output: sized before it is joined."""
        texts = list(parts)
        _capped(sum(len(text) for text in texts), "a block's output")
        return "".join(texts)

    def checked_parts(self, parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """For `a ~ b`: the joined length is checked before joining."""
        _capped(sum(len(str(part)) for part in parts), "a `~` concatenation")
        return parts

    def tick(self) -> None:
        """Called at the top of every loop body (see _LimitedCode)."""
        _tick()


def _tick_node(lineno: int) -> nodes.ExprStmt:
    """`environment.tick()`: templates cannot write EnvironmentAttribute nodes, we can."""
    call = nodes.Call(nodes.EnvironmentAttribute("tick"), [], [], None, None, lineno=lineno)
    return nodes.ExprStmt(call, lineno=lineno)


class _LimitedCode(CodeGenerator):
    """Checks the clock in every loop iteration; sizes the operands of `~` before joining."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        node.body = [_tick_node(node.lineno), *node.body]
        super().visit_For(node, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        target = node.node
        if isinstance(target, nodes.EnvironmentAttribute) and target.name == "tick":
            self.write("environment.tick()")  # direct: the sandbox's call() costs 10x more
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}(environment.checked_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


def _tick() -> None:
    limits = _active.get()
    if limits is not None:
        limits.check_time()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_power(base: Any, exponent: Any) -> None:
    if _is_int(base) and _is_int(exponent) and exponent > 0:
        _check_bits(abs(base).bit_length() * exponent)


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateLimit(f"a number of about {bits:,} bits is too large (limit {MAX_INT_BITS})")


def _check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        _check_bits(abs(left).bit_length() + abs(right).bit_length())
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and _is_int(times):
            cap = MAX_STRING if isinstance(sequence, str) else MAX_ITEMS
            _capped(len(sequence) * max(times, 0), "a repetition", cap)


def _check_sum(left: Any, right: Any) -> None:
    if isinstance(left, str) and isinstance(right, str):
        _capped(len(left) + len(right), "a concatenation")
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        _capped(len(left) + len(right), "a concatenation", MAX_ITEMS)


def _check_printf(template: str) -> None:
    """Widths and precisions of printf formats: `%999999999s` pads to a gigabyte."""
    for match in PRINTF.finditer(template):
        for number in match.group(1, 2):
            if number == "*" or (number is not None and int(number) > MAX_WIDTH):
                raise TemplateLimit(f"a format width or precision over {MAX_WIDTH} in {template!r}")


def capped_range(*args: int) -> range:
    """`range` in templates: at most MAX_RANGE items."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise TemplateLimit(f"range() of {len(result):,} items (limit {MAX_RANGE:,})")
    return result


# Filters whose output can be far larger than their input: each guard receives the bound
# arguments and returns the size the result will have, checked before the filter runs.
Guard = Callable[[dict[str, Any]], int]


def _guard_center(args: dict[str, Any]) -> int:
    return max(len(str(args["value"])), int(args["width"]))


def _guard_indent(args: dict[str, Any]) -> int:
    text, width = str(args["s"]), args["width"]
    prefix = len(width) if isinstance(width, str) else int(width)
    return len(text) + (text.count("\n") + 1) * prefix


def _slow_input(text: str, name: str) -> str:
    # these filters run regular expressions or textwrap over their input: keep it small
    if len(text) > SLOW_FILTER_INPUT:
        raise TemplateLimit(f"{name} of {len(text):,} characters (limit {SLOW_FILTER_INPUT:,})")
    return text


def _guard_wordwrap(args: dict[str, Any]) -> int:
    text, width = _slow_input(str(args["s"]), "wordwrap"), max(int(args["width"]), 1)
    wrap = args["wrapstring"]
    breaks = len(text) // width + text.count("\n") + 1
    return len(text) + breaks * len(wrap if isinstance(wrap, str) else "\n")


def _guard_urlize(args: dict[str, Any]) -> int:
    text = _slow_input(str(args["value"]), "urlize")
    extra = sum(len(str(args[key] or "")) for key in ("target", "rel"))
    return len(text) * 3 + (text.count(" ") + 1) * (extra + 40)


def _guard_replace(args: dict[str, Any]) -> int:
    text, old, new = str(args["s"]), str(args["old"]), str(args["new"])
    found = text.count(old) if old else len(text) + 1
    count = args["count"]
    if _is_int(count) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _guard_join(args: dict[str, Any]) -> int:
    items = list(args["value"])  # may be a generator: keep what was drawn for the filter
    args["value"] = items
    if len(items) > MAX_ITEMS:
        raise TemplateLimit(f"join of {len(items):,} items (limit {MAX_ITEMS:,})")
    separator = len(str(args["d"])) * max(len(items) - 1, 0)
    return separator + sum(len(str(item)) for item in items)


def _guard_format(args: dict[str, Any]) -> int:
    template = str(args["value"])
    _check_printf(template)
    values = [*args["args"], *args["kwargs"].values()]
    specs = len(PRINTF.findall(template))
    return len(template) + sum(len(str(v)) for v in values) + specs * MAX_WIDTH


def _guard_count(key: str) -> Guard:
    def guard(args: dict[str, Any]) -> int:
        return int(args[key])

    return guard


def _guard_tojson(args: dict[str, Any]) -> int:
    indent = args["indent"]
    if indent is not None and (len(indent) if isinstance(indent, str) else int(indent)) > 16:
        raise TemplateLimit("tojson indent over 16")
    return 0


def _guard_sum(args: dict[str, Any]) -> int:
    if not isinstance(args["start"], int | float):
        raise TemplateLimit("sum() adds numbers only")
    return 0


GUARDS: dict[str, tuple[Guard, int]] = {
    "center": (_guard_center, MAX_STRING),
    "indent": (_guard_indent, MAX_STRING),
    "wordwrap": (_guard_wordwrap, MAX_STRING),
    "urlize": (_guard_urlize, MAX_STRING * 10),
    "replace": (_guard_replace, MAX_STRING),
    "join": (_guard_join, MAX_STRING),
    "format": (_guard_format, MAX_STRING),
    "batch": (_guard_count("linecount"), MAX_ITEMS),
    "slice": (_guard_count("slices"), MAX_ITEMS),
    "tojson": (_guard_tojson, MAX_STRING),
    "sum": (_guard_sum, MAX_STRING),
}


def guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """The filter with its guard (if it has one) and the per-render budget charged."""
    guard = GUARDS.get(name)
    signature = inspect.signature(function)

    @wraps(function)  # keeps Jinja's pass_context/pass_environment marker
    def filtered(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if guard is not None:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            _capped(guard[0](bound.arguments), f"the {name} filter's result", guard[1])
            args, kwargs = bound.args, bound.kwargs
        result = function(*args, **kwargs)
        charge(_size(result))
        return result

    return filtered


@contextmanager
def limited(limits: Limits) -> Iterator[Limits]:
    """Within: growth is charged to `limits` and its deadline is enforced."""
    limits.deadline = time.monotonic() + limits.time_limit
    token = _active.set(limits)
    try:
        yield limits
    finally:
        _active.reset(token)


def render_limited(chunks: Callable[[], Iterator[str]], limits: Limits) -> str:
    """Draws a template's output within the limits; the output itself is capped as well."""
    parts: list[str] = []
    size = 0
    with limited(limits):
        for chunk in chunks():
            size += len(chunk)
            if size > limits.max_output:
                raise TemplateLimit(f"the output is longer than {limits.max_output:,} characters")
            parts.append(chunk)
    return "".join(parts)
