"""A small reader for the block-style YAML subset that deploy manifests use.

Enough for Kubernetes manifests and compose files: block mappings and sequences, flow
sequences and mappings of scalars, quoted and plain scalars (YAML 1.1 booleans, as
Kubernetes tooling reads them), literal/folded block scalars, comments, `---` documents.
Anchors, aliases, tags and multi-line flow collections are refused with `YamlError`
rather than misread; a test checks agreement with PyYAML on the shipped manifests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["YamlError", "load_all"]

_BOOLS = {
    **dict.fromkeys(("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"), True),
    **dict.fromkeys(("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"), False),
}
_NULLS = {"", "~", "null", "Null", "NULL"}
_INT = re.compile(r"[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"[-+]?([0-9][0-9_]*)?\.[0-9_]+([eE][-+][0-9]+)?$")


class YamlError(ValueError):
    """The text is not in the supported subset (or is not YAML)."""


@dataclass(slots=True)
class _Line:
    number: int
    indent: int
    text: str  # without indentation; comments still in place


def _strip_comment(text: str) -> str:
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and (index == 0 or text[index - 1] in " [{,:"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip()
    return text.rstrip()


def _split_flow(body: str) -> list[str]:
    items, current, quote = [], "", ""
    for char in body:
        if quote:
            current += char
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current += char
        elif char == ",":
            items.append(current.strip())
            current = ""
        elif char in "[]{}":
            raise YamlError("nested flow collections are not supported")
        else:
            current += char
    if current.strip():
        items.append(current.strip())
    return items


def _scalar(text: str) -> Any:  # noqa: PLR0911 - one return per YAML scalar kind
    text = text.strip()
    if text[:1] in ("&", "*", "!"):
        raise YamlError(f"anchors, aliases and tags are not supported: {text!r}")
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(item) for item in _split_flow(text[1:-1])]
    if text.startswith("{") and text.endswith("}"):
        pairs = (_split_key(item) for item in _split_flow(text[1:-1]))
        return {key: _scalar(value) for key, value in pairs}
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _FLOAT.match(text):
        return float(text.replace("_", ""))
    return text


def _split_key(text: str) -> tuple[str, str]:
    """`key: value` → (key, value); the colon must be followed by a space or end the line."""
    if text[:1] in "'\"":
        end = text.find(text[0], 1)
        key, rest = text[1:end], text[end + 1 :]
        if not rest.startswith(":"):
            raise YamlError(f"expected ':' after a quoted key: {text!r}")
        return key, rest[1:].strip()
    match = re.search(r":(\s|$)", text)
    if match is None:
        raise YamlError(f"expected 'key: value': {text!r}")
    return text[: match.start()].strip(), text[match.end() :].strip()


def _is_mapping_entry(text: str) -> bool:
    return text[:1] not in "[{'\"" and re.search(r":(\s|$)", text) is not None


class _Parser:
    def __init__(self, raw_lines: list[str]) -> None:
        self.raw = raw_lines
        self.lines: list[_Line] = []
        for number, raw in enumerate(raw_lines):
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                raise YamlError(f"line {number + 1}: tabs are not allowed in indentation")
            stripped = _strip_comment(raw.lstrip(" "))
            if stripped:
                self.lines.append(_Line(number, len(raw) - len(raw.lstrip(" ")), stripped))
        self.pos = 0

    def parse(self) -> Any:
        if not self.lines:
            return None
        value = self.node(self.lines[0].indent)
        if self.pos < len(self.lines):
            raise YamlError(f"line {self.lines[self.pos].number + 1}: unexpected indentation")
        return value

    def node(self, indent: int) -> Any:
        line = self.lines[self.pos]
        if line.text == "-" or line.text.startswith("- "):
            return self.sequence(indent)
        if _is_mapping_entry(line.text):
            return self.mapping(indent)
        self.pos += 1
        return _scalar(line.text)

    def sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent != indent or not (line.text == "-" or line.text.startswith("- ")):
                break
            rest = line.text[1:].lstrip(" ")
            if not rest:
                self.pos += 1
                items.append(self.child(indent))
            elif _is_mapping_entry(rest):
                # "- key: value": a mapping whose first entry sits on the dash's line.
                column = indent + len(line.text) - len(rest)
                self.lines[self.pos] = _Line(line.number, column, rest)
                items.append(self.mapping(column))
            else:
                self.pos += 1
                items.append(_scalar(rest))
        return items

    def mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent != indent or line.text.startswith("- ") or line.text == "-":
                break
            if line.indent > indent:
                raise YamlError(f"line {line.number + 1}: unexpected indentation")
            key, value = _split_key(line.text)
            self.pos += 1
            if value[:1] in ("|", ">"):
                result[key] = self.block_scalar(line, value)
            elif value:
                result[key] = _scalar(value)
            else:
                result[key] = self.child(indent, allow_same_indent_sequence=True)
        return result

    def child(self, indent: int, *, allow_same_indent_sequence: bool = False) -> Any:
        if self.pos >= len(self.lines):
            return None
        nxt = self.lines[self.pos]
        if nxt.indent > indent:
            return self.node(nxt.indent)
        if allow_same_indent_sequence and nxt.indent == indent and nxt.text.startswith("- "):
            return self.sequence(indent)
        return None

    def block_scalar(self, line: _Line, header: str) -> str:
        body: list[str] = []
        block_indent: int | None = None
        end = line.number + 1
        for raw in self.raw[line.number + 1 :]:
            width = len(raw) - len(raw.lstrip(" "))
            if raw.strip() and width <= line.indent:
                break
            if raw.strip() and block_indent is None:
                block_indent = width
            body.append(raw[block_indent or 0 :] if raw.strip() else "")
            end += 1
        while self.pos < len(self.lines) and self.lines[self.pos].number < end:
            self.pos += 1
        while body and not body[-1]:
            body.pop()
        text = "\n".join(body) if header[0] == "|" else " ".join(body)
        return text if header.endswith("-") else text + "\n"


def load_all(text: str) -> list[Any]:
    """Every document in `text`, as Python values (dict, list, str, int, float, bool, None)."""
    documents: list[list[str]] = [[]]
    for raw in text.splitlines():
        if raw.rstrip() in ("---", "..."):
            documents.append([])
        elif raw.startswith("--- "):
            raise YamlError("content on a '---' line is not supported")
        else:
            documents[-1].append(raw.rstrip())
    parsed = [_Parser(lines).parse() for lines in documents]
    return [document for document in parsed if document is not None]
