"""Words and tokens of text search; pure functions shared by indexing and the compiler.

A token is a maximal run of letters and digits (Unicode categories L and N), compared in
lower case: the same split as SQLite FTS5's `unicode61` tokenizer with
`remove_diacritics 0`, so the vocabulary kept beside the FTS index (for wildcards) names
exactly the terms the index holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

TOKEN = re.compile(r"[^\W_]+")
ASCII_TOKEN = re.compile(r"[a-z0-9]+")  # TOKEN on lower-case ASCII
PATTERN = re.compile(r"(?:[^\W_]|[*?])+")


def tokens(text: str) -> list[str]:
    if text.isascii():  # the common case, about twice as fast: same tokens
        return ASCII_TOKEN.findall(text.lower())
    return [token.lower() for token in TOKEN.findall(text)]


def vocabulary(text: str) -> set[str]:
    """The distinct tokens of a (long) text; lower-casing it whole is faster than by token."""
    return set(TOKEN.findall(text.lower()))


def patterns(text: str) -> list[str]:
    """The words of a wildcard search: letters, digits, `*` and `?`, in lower case."""
    return [word.lower() for word in PATTERN.findall(text)]


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def prefix_of(pattern: str) -> str | None:
    """`abc` for `abc*`: a pattern FTS5 answers as a prefix query; None for the others."""
    head = pattern.rstrip("*")
    if head and head != pattern and not has_wildcard(head):
        return head
    return None


def fts_term(word: str, *, prefix: bool) -> str:
    # Tokens hold only letters and digits, so quoting cannot be broken out of.
    return f'"{word}"' + ("*" if prefix else "")


def fts_phrase(words: Iterable[str], *, prefix: bool) -> str:
    """Adjacent words in order: FTS5's `+` joins phrases, keeping a prefix mark per word."""
    return " + ".join(fts_term(word, prefix=prefix) for word in words)


@lru_cache(maxsize=256)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def wildcard_matches(pattern: str, token: str) -> bool:
    return _pattern_regex(pattern).fullmatch(token) is not None


def text_matches(text: str, mode: str, phrase: bool, words: list[str]) -> bool:
    """One value against one match element's words: the index-free evaluation."""
    found = tokens(text)
    test = {"fulltext": _starts, "token": _equals}.get(mode, wildcard_matches)
    if phrase:
        span = len(words)
        return any(
            all(test(w, t) for w, t in zip(words, found[i : i + span], strict=True))
            for i in range(len(found) - span + 1)
        )
    return all(any(test(word, token) for token in found) for word in words)


def _starts(word: str, token: str) -> bool:
    return token.startswith(word)


def _equals(word: str, token: str) -> bool:
    return token == word
