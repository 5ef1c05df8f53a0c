"""Copied into the Wine-provisioned site-packages and imported at start by a ``.pth`` line.

It works around Windows API calls that CPython 3.13 makes and Wine 8 does not
implement. Such a call does not raise: Wine aborts the whole process (and the
exit status it reports is truncated to 8 bits, often 0). Each fix makes CPython
take the fallback path it already has for older Windows versions, so the
*Windows semantics* under test (sharing violations, names, PATHEXT, ...) are
unchanged. This file must stay standalone: it runs before anything else is
importable. It is never installed on a real Windows machine.
"""

import sys


def _apply() -> None:
    # shutil.copy2/copytree call kernel32!CopyFile2 when _winapi has it, else fall back
    # to copyfile + copystat. Wine 8: "unimplemented function KERNEL32.dll.CopyFile2".
    import _winapi

    if hasattr(_winapi, "CopyFile2"):
        del _winapi.CopyFile2
    # platform.machine()/uname() query WMI through _wmi when it imports, else read the
    # registry/environment. Wine 8: "unimplemented function propsys.dll.VariantToString".
    sys.modules.setdefault("_wmi", None)  # type: ignore[arg-type]


if sys.platform == "win32":
    _apply()
