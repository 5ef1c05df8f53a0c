#!/usr/bin/env python
"""Django's command-line entry point for the sample project (NOTES_DB names the SQLite file)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notesite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
