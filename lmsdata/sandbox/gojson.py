"""Parse request bodies the way Clever's Go backend does, with Go's exact syntax-error texts.

Clever's documented 400 messages ("invalid character ',' looking for beginning of value", …) are
Go `encoding/json` errors, so the sandbox reproduces that scanner's wording.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_WS = " \t\n\r"
_LITERALS = {"t": "true", "f": "false", "n": "null"}
MAX_DEPTH = 250  # Go allows 10000; Python's recursion (3 frames a level) would give out first


class GoJSONError(ValueError):
    pass


def _quote(char: str) -> str:
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    named = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}
    if char in named:
        return f"'{named[char]}'"
    return f"'\\x{ord(char):02x}'" if ord(char) < 0x20 or ord(char) == 0x7F else f"'{char}'"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.depth = text, 0, 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def fail(self, context: str) -> GoJSONError:
        char = self.peek()
        if not char:
            return GoJSONError("unexpected end of JSON input")
        return GoJSONError(f"invalid character {_quote(char)} {context}")

    def skip_ws(self) -> None:
        while self.peek() and self.peek() in _WS:
            self.pos += 1

    def value(self) -> None:
        self.skip_ws()
        char = self.peek()
        if char == "{":
            self.obj()
        elif char == "[":
            self.array()
        elif char == '"':
            self.string()
        elif char == "-" or (char.isdigit() and char.isascii()):
            self.number()
        elif char in _LITERALS:
            word = _LITERALS[char]
            for expected in word:
                if self.peek() != expected:
                    raise self.fail(f"in literal {word} (expecting {_quote(expected)})")
                self.pos += 1
        else:
            raise self.fail("looking for beginning of value")

    def obj(self) -> None:
        self.container("}", self.member, "after object key:value pair")

    def array(self) -> None:
        self.container("]", self.value, "after array element")

    def container(self, close: str, item: Callable[[], None], after_item: str) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise GoJSONError("exceeded max depth")
        self.pos += 1
        self.skip_ws()
        if self.peek() == close:
            self.pos += 1
            self.depth -= 1
            return
        while True:
            item()
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == close:
                self.pos += 1
                self.depth -= 1
                return
            else:
                raise self.fail(after_item)

    def member(self) -> None:
        self.skip_ws()
        if self.peek() != '"':
            raise self.fail("looking for beginning of object key string")
        self.string()
        self.skip_ws()
        if self.peek() != ":":
            raise self.fail("after object key")
        self.pos += 1
        self.value()

    def string(self) -> None:
        self.pos += 1
        while True:
            char = self.peek()
            if not char:
                raise self.fail("")
            self.pos += 1
            if char == '"':
                return
            if char < " ":
                self.pos -= 1
                raise self.fail("in string literal")
            if char == "\\":
                esc = self.peek()
                if esc == "u":
                    self.pos += 1
                    for _ in range(4):
                        if self.peek() == "" or self.peek() not in "0123456789abcdefABCDEF":
                            raise self.fail("in \\u hexadecimal character escape")
                        self.pos += 1
                elif esc and esc in '"\\/bfnrt':
                    self.pos += 1
                else:
                    raise self.fail("in string escape code")

    def number(self) -> None:
        if self.peek() == "-":
            self.pos += 1
        if not (self.peek().isdigit() and self.peek().isascii()):
            raise self.fail("in numeric literal")
        if self.peek() == "0":
            self.pos += 1
        else:
            self.digits()
        if self.peek() == ".":
            self.pos += 1
            if not self.peek().isdigit():
                raise self.fail("after decimal point in numeric literal")
            self.digits()
        if self.peek() in ("e", "E"):
            self.pos += 1
            if self.peek() in ("+", "-"):
                self.pos += 1
            if not self.peek().isdigit():
                raise self.fail("in exponent of numeric literal")
            self.digits()

    def digits(self) -> None:
        while self.peek().isdigit() and self.peek().isascii():
            self.pos += 1


def loads(body: bytes) -> Any:
    """Decode a JSON body or raise GoJSONError with Go's message for the first syntax error."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GoJSONError("invalid character in string literal") from exc
    scanner = _Scanner(text)
    scanner.value()
    scanner.skip_ws()
    if scanner.peek():
        raise scanner.fail("after top-level value")
    return json.loads(text)
