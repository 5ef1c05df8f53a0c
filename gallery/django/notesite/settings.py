"""Minimal settings: one app, one SQLite file named by NOTES_DB (default notes.sqlite3)."""

import os

SECRET_KEY = "gallery-sample-not-secret"
DEBUG = False
INSTALLED_APPS = ["notes"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("NOTES_DB", "notes.sqlite3"),
    }
}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
