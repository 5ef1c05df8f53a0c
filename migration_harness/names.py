"""Windows-safe names: one path component valid on Windows, macOS and Linux.

pathvalidate does the rule work (forbidden characters, reserved device
names, trailing dots and spaces); this module adds what it lacks: ``.`` and
``..``, ``CONIN$``/``CONOUT$``, device names followed by spaces before the
extension (``"NUL .txt"`` opens NUL), a length bound for deep repos under
MAX_PATH, and a short stable hash so that distinct inputs stay distinct even on
case-insensitive file systems.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from pathvalidate import sanitize_filename

__all__ = ["HASH_LEN", "is_reserved", "plain_name", "safe_name"]

#: Hex digits of the SHA-256 of the original text appended when a name was changed.
HASH_LEN = 8
_MIN_LEN = HASH_LEN + 2

# Device names Windows resolves in every directory; superscript digits count
# as digits there (COM¹ is a device). pathvalidate knows most but not CONIN$/CONOUT$.
_RESERVED = re.compile(
    r"(CON|PRN|AUX|NUL|CLOCK\$|CONIN\$|CONOUT\$|(COM|LPT)[0-9¹²³])", re.IGNORECASE
)
# Windows ignores trailing spaces and dots of the base name: "NUL .txt" is NUL.
_BASE = re.compile(r"^([^.]*?)[ .]*(\..*)?$", re.DOTALL)


def is_reserved(name: str) -> bool:
    """True when Windows would open a device for ``name`` (``CON``, ``com1.txt``, ``NUL .log``)."""
    base = name.split(".", 1)[0].rstrip(" ")
    return _RESERVED.fullmatch(base) is not None


def safe_name(text: str, *, max_len: int = 48) -> str:
    """Turn any text (a test id, a user string) into one portable path component.

    Invalid characters (``<>:"/\\|?*``, control characters, lone surrogates)
    become ``_``; reserved device names get a ``_`` after the device part;
    trailing dots and spaces go; the text is NFC-normalised (macOS). When the
    result is not the text itself, is longer than ``max_len``, or has
    upper-case letters (which collide on case-insensitive file systems), a
    ``-`` and the first 8 hex digits of the text's SHA-256 are appended, so
    distinct inputs give distinct names. Deterministic across runs and OSes.

    >>> safe_name("test_migrate[1-2]")
    'test_migrate[1-2]'
    >>> safe_name("CON.txt")
    'CON_.txt-09c8cc7e'
    """
    if max_len < _MIN_LEN:
        raise ValueError(f"max_len must be at least {_MIN_LEN}, got {max_len}")
    name = _clean(text)
    needs_hash = not name or name != text or name != name.casefold() or len(name) > max_len
    if not needs_hash:
        return name
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LEN]
    keep = max_len - HASH_LEN - 1
    head = _strip_trailing(name[:keep])
    return f"{head}-{digest}" if head else f"_-{digest}"


def _clean(text: str) -> str:
    normal = unicodedata.normalize("NFC", _replace_unencodable(text))
    name = sanitize_filename(normal, replacement_text="_", platform="universal")
    name = _strip_trailing(name)
    if is_reserved(name):
        name = _defuse_reserved(name)
    if name in ("", ".", ".."):
        return ""
    return name


def _replace_unencodable(text: str) -> str:
    # Lone surrogates (from os.fsdecode of bad bytes) cannot be written on
    # Windows or macOS; C0/C1 control characters are invalid or invisible.
    return "".join("_" if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)


def _strip_trailing(name: str) -> str:
    return name.rstrip(" .")


def _defuse_reserved(name: str) -> str:
    """``CON.txt`` -> ``CON_.txt``, ``nul .log`` -> ``nul_.log``."""
    match = _BASE.match(name)
    assert match is not None  # the pattern matches every string
    base, ext = match.group(1), match.group(2) or ""
    return _strip_trailing(f"{base}_{ext}")


_NOT_PLAIN = re.compile(r"[^A-Za-z0-9._-]+")


def plain_name(text: str, *, max_len: int = 48) -> str:
    """Only letters, digits, ``.``, ``_`` and ``-``: a name no URL parser, glob, shell or
    format string reads as anything but itself (``forward[0-5]`` becomes ``forward-0-5``).

    The contract names its scratch directories this way, so that every contract but
    ``hostile-paths`` tests what it names and not how a tool copes with a ``[`` in a path.
    """
    name = _NOT_PLAIN.sub("-", text).strip("-.") or "x"
    return name[:max_len].rstrip("-.") or "x"
