"""Guess the encoding of a CSV export: UTF-8 (with or without BOM), UTF-16 with BOM, GBK, Latin-1."""

from __future__ import annotations

import codecs
import re
from collections import Counter

# characters a Western European text plausibly holds besides letters
_LATIN_SYMBOLS = frozenset("°£€§©®±µ·«»¿¡–—‘’‚“”„•…×÷¼½¾¹²³¤¢¥¦¨ª¬¯´¸º†‡‰‹›™\u00a0")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_UNUSUAL = re.compile(r"[^\x20-\x7e\t\r\n]")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class SheetDecodeError(ValueError):
    """A file none of the supported encodings reads; names the file and the byte offset."""


def decode_text(data: bytes, *, where: str) -> tuple[str, str]:
    """Return ``(text, encoding)``; raise SheetDecodeError naming ``where`` and a byte offset.

    Order: a BOM decides; else strict UTF-8; else GBK when the double-byte pairs look like
    Chinese (Latin-1 read as GBK pairs an accented letter with the next ASCII letter); else
    Windows-1252/Latin-1 when the result is letters and common symbols, not control characters.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _no_nul(data.decode(encoding), where=where, skip=0), encoding
            except UnicodeDecodeError as exc:
                raise SheetDecodeError(
                    f"{where}: starts with a {encoding} byte-order mark but byte offset {exc.start}"
                    f" (0x{data[exc.start]:02x}) is not valid {encoding}"
                ) from None
    try:
        return _no_nul(data.decode("utf-8"), where=where, skip=0), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("gbk")
    except UnicodeDecodeError:
        pass
    else:
        if _plausible_gbk(text):
            return _no_nul(text, where=where, skip=0), "gbk"
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _plausible_latin(text):
            return text, encoding
    offset = utf8_error.start
    raise SheetDecodeError(
        f"{where}: cannot decode: byte offset {offset} (0x{data[offset]:02x}) is not valid UTF-8,"
        " and the file is not plausible GBK or Latin-1 text; re-export it as UTF-8"
    )


def _no_nul(text: str, *, where: str, skip: int) -> str:
    position = text.find("\x00", skip)
    if position >= 0:
        raise SheetDecodeError(
            f"{where}: NUL character at character {position}: binary data or UTF-16 without a"
            " byte-order mark; re-export it as UTF-8"
        )
    return text


def _plausible_gbk(text: str) -> bool:
    counts = Counter(_NON_ASCII.findall(text))
    total = sum(counts.values())
    if not total:
        return True
    ascii_trail = sum(n for c, n in counts.items() if len(b := c.encode("gbk")) == 2 and b[1] < 0x80)
    return ascii_trail <= total / 2


def _plausible_latin(text: str) -> bool:
    counts = Counter(_UNUSUAL.findall(text))
    return all(c.isalpha() or c in _LATIN_SYMBOLS for c in counts)
