"""Windows lock calls: ``LockFile`` on byte 0 (``windows``) and a share-mode-none open
(``exclusive-open``).

Only importable on Windows; the style table in ``_styles`` never imports it elsewhere.
"""

from __future__ import annotations

import ctypes
import msvcrt
import os
import sys
from ctypes import wintypes
from pathlib import Path

from migration_harness.locks._base import LockBusy, NothingToRefresh

assert sys.platform == "win32"  # for mypy: the rest is Windows-only

_ERROR_SHARING_VIOLATION = 32
_ERROR_LOCK_VIOLATION = 33
_GENERIC_READ = 0x80000000
_GENERIC_WRITE = 0x40000000
_OPEN_ALWAYS = 4
_FILE_ATTRIBUTE_NORMAL = 0x80
_FILE_FLAG_DELETE_ON_CLOSE = 0x04000000
_INVALID_HANDLE_VALUE = wintypes.HANDLE(-1).value

_kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
_CreateFileW = _kernel32.CreateFileW
_CreateFileW.argtypes = [
    wintypes.LPCWSTR,
    wintypes.DWORD,
    wintypes.DWORD,
    wintypes.LPVOID,
    wintypes.DWORD,
    wintypes.DWORD,
    wintypes.HANDLE,
]
_CreateFileW.restype = wintypes.HANDLE
_CloseHandle = _kernel32.CloseHandle
_CloseHandle.argtypes = [wintypes.HANDLE]
_CloseHandle.restype = wintypes.BOOL


class MsvcrtLock(NothingToRefresh):
    """``msvcrt.locking(LK_NBLCK)`` on byte 0: the C runtime's ``LockFile``, the same
    byte-range lock ``LockFileEx`` takes (Go's ``lockedfile``, Python's filelock)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_BINARY, 0o666)
        try:
            msvcrt.locking(self._fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            os.close(self._fd)
            raise LockBusy(f"byte 0 of {path} is locked by another process ({exc})") from exc

    def release(self) -> None:
        os.lseek(self._fd, 0, os.SEEK_SET)
        msvcrt.locking(self._fd, msvcrt.LK_UNLCK, 1)
        os.close(self._fd)


class ExclusiveOpen(NothingToRefresh):
    """``CreateFileW`` with share mode 0 and ``FILE_FLAG_DELETE_ON_CLOSE``: nobody else can
    open the file while the handle lives, and the file goes away with the handle, even
    when the holder is killed (the kernel closes its handles)."""

    def __init__(self, path: Path) -> None:
        handle = _CreateFileW(
            str(path),
            _GENERIC_READ | _GENERIC_WRITE,
            0,
            None,
            _OPEN_ALWAYS,
            _FILE_ATTRIBUTE_NORMAL | _FILE_FLAG_DELETE_ON_CLOSE,
            None,
        )
        if handle is None or handle == _INVALID_HANDLE_VALUE:
            code = ctypes.get_last_error()
            if code in (_ERROR_SHARING_VIOLATION, _ERROR_LOCK_VIOLATION):
                raise LockBusy(f"{path} is open exclusively by another process")
            raise ctypes.WinError(code)
        self._handle = handle

    def release(self) -> None:
        _CloseHandle(self._handle)
