"""NDJSON --points in chunks: split on "\\n" only, in bounded memory, the points counted,
and read column-wise when every line holds plain numbers.

A chunk is (the number of its first line, its text, where its lines over the cap are, how
many lines it has): the text is its lines joined by "\\n", one `bytes` (a worker process gets
it as it is), and `chunk_lines` splits it when the lines are needed one by one.
"""

from __future__ import annotations

import unicodedata
from operator import itemgetter

import numpy as np

#: A chunk of --points: read, evaluated and written once it holds this many lines or
#: CHUNK_BYTES (the last one when the input ends), so memory stays bounded however long
#: the input is. Small chunks are faster too: their buffers are reused from one chunk to the
#: next instead of mapped and faulted in anew (1e6 points: about 0.8 s less system time at
#: 512 KiB than at 16 MiB, and half the peak memory; benchmarks/RESULTS.md, W7).
CHUNK = 1 << 16
CHUNK_BYTES = 2**19
#: The bytes read at a time.
READ = 1 << 16
#: What a JSON number is written with (what the shape of a line leaves out).
NUMBER = b"0123456789.eE+-"
#: A line of numbers as a JSON array of its tokens: `{"x": 1, "y": 2}` -> ` "x", 1, "y", 2,`.
TOKENS = bytes(32 if c in b"{\n \t\r" else 44 if c in b"}:," else c for c in range(256))


def chunks(stream):
    """The chunks of a stream of --points (see the module's docstring): a line over the
    cap is empty in the text, its bytes dropped as they are read, never held."""
    from ..lang.points import MAX_TEXT_BYTES as cap

    number, carried, skipping, held = 1, 0, False, 0
    carry: list[bytes] = []
    pieces: list[bytes] = []  # the texts of whole lines, read so far
    over: list[int] = []  # the lines over the cap, by their place in the chunk
    count = 0
    while True:
        data = stream.read(READ)
        if isinstance(data, str):  # a text stream (a test's stand-in for stdin)
            data = data.encode("utf-8", "surrogateescape")
        if data and skipping:  # the rest of a line over the cap, up to its end
            end = data.find(b"\n")
            data, skipping = (b"", True) if end < 0 else (data[end + 1 :], False)
            if not data:
                continue
        cut = data.rfind(b"\n")
        if cut >= 0:
            text = b"".join([*carry, data[:cut]])
            first = text.find(b"\n")
            if (first if first >= 0 else len(text)) > cap:
                over.append(count)
                text = text[first:] if first >= 0 else b""
            pieces.append(text)
            count += text.count(b"\n") + 1
            carry, carried = [data[cut + 1 :]], len(data) - cut - 1
        elif data:
            carry.append(data)
            carried += len(data)
            if carried > cap:
                over.append(count)
                pieces.append(b"")
                count += 1
                carry, carried, skipping = [], 0, True
        elif carried:
            pieces.append(b"".join(carry))
            count += 1
        held += len(data)
        if count and (count >= CHUNK or held >= CHUNK_BYTES or not data):
            yield number, b"\n".join(pieces), tuple(over), count
            number += count
            pieces, over, count, held = [], [], 0, 0
        if not data:
            return


def chunk_lines(text: bytes, over: tuple[int, ...]) -> list:
    """The lines of a chunk, None for those over the cap."""
    lines: list = text.split(b"\n")
    for k in over:
        lines[k] = None
    return lines


def chunk_points(text: bytes, over: tuple[int, ...], count: int) -> int:
    """How many points a chunk holds: a line but a blank one (a line over the cap is one,
    to become its error record). With no whitespace-only line (a test on the whole text),
    every line."""
    bare = text.translate(None, b" \t\r")
    if not over and bare and b"\n\n" not in bare and bare[:1] != b"\n" != bare[-1:]:
        return count
    return sum(1 for line in chunk_lines(text, over) if line is None or line.strip(b" \t\r"))


def number_columns(text: bytes) -> dict[str, np.ndarray] | None:
    """The points of a chunk's text as float64 columns, if every line holds a JSON object
    with the same names, each once, all plain numbers, written as Python reads them
    (NFKC); else None (the general path then reads, and judges, line by line; blank lines
    too, but for a last one). Lines written alike (the same names in the same order, the
    same spacing: what a program writes) are read as one array of numbers; others as
    objects."""
    import orjson

    last = text.rfind(b"\n") + 1
    if not text[last:].strip(b" \t\r"):  # a last blank line: no point
        text = text[: max(last - 1, 0)]
        if not last:
            return None
    head = text[: text.find(b"\n")] if b"\n" in text else text
    try:
        first = orjson.loads(head)
    except orjson.JSONDecodeError:
        return None
    if (
        type(first) is not dict
        or not first
        or not all(type(v) in (int, float) for v in first.values())
        or not all(unicodedata.is_normalized("NFKC", k) for k in first)
    ):
        return None
    got = _alike(text, head, list(first))
    return got if got is not None else _objects(text, head, list(first))


def _alike(text: bytes, head: bytes, names: list[str]) -> dict[str, np.ndarray] | None:
    """The columns of a text whose lines all have the shape of the first, `head` (what is
    left of a line without the characters of numbers): the text as a JSON array of tokens
    (`TOKENS`) must then alternate the names, in order, with numbers. A number out of its
    place is text JSON refuses (`"x"5` or `1 5`), or changes a name."""
    import orjson

    lines = text.count(b"\n") + 1
    shape = head.translate(None, NUMBER)
    if text.translate(None, NUMBER) != b"\n".join([shape] * lines):
        return None
    tokens = text.translate(TOKENS).rstrip(b" ")
    if tokens[-1:] != b",":
        return None
    try:
        values = orjson.loads(b"[" + tokens[:-1] + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(values) != 2 * len(names) * lines or values[0::2] != names * lines:
        return None
    numbers = np.array(values[1::2], np.float64).reshape(lines, len(names))
    return {name: np.ascontiguousarray(numbers[:, k]) for k, name in enumerate(names)}


def _objects(text: bytes, head: bytes, names: list[str]) -> dict[str, np.ndarray] | None:
    """The columns of a text of JSON objects, each line one with the names of the first
    line, `head`, in any order (see `number_columns`), read as objects."""
    import orjson

    whole = b"[" + text.replace(b"\n", b",") + b"]"
    try:
        rows = orjson.loads(whole)
        same = set(map(len, rows)) == {len(names)} and len(set(names).union(*rows)) == len(names)
    except (orjson.JSONDecodeError, TypeError):  # (TypeError: a row that is a number)
        return None
    if not same or len(rows) != text.count(b"\n") + 1:  # (a line `{…}, {…}`: two rows)
        return None
    # Every row has the names of the first, each once (orjson keeps the last of a name
    # given twice: such a line must fail). Its values must be numbers, as the first row's
    # are: no string ("NaN" or "2.5", which NumPy would read as numbers: names are the only
    # strings), no literal (true, false and null, which bools would pass as 0 and 1: with no
    # escape, every line writes the names as the first does, so a line with a literal has
    # a "u" or an "a" more). Counted by NumPy, faster than bytes.count or `in`.
    data = np.frombuffer(whole, np.uint8)
    times = {c: int(np.count_nonzero(data == ord(c))) for c in '"\\ua'}
    if (
        times['"'] != 2 * len(names) * len(rows)
        or times["\\"]
        or times["u"] != len(rows) * head.count(b"u")
        or times["a"] != len(rows) * head.count(b"a")
    ):
        return None
    try:
        return {k: np.fromiter(map(itemgetter(k), rows), np.float64, len(rows)) for k in names}
    except (TypeError, ValueError):  # an array or an object among the values
        return None
