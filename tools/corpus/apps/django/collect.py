"""Run Django's collectstatic with ManifestStaticFilesStorage.

Usage: python collect.py STATIC_ROOT
Needs the binary assets (siteapp/static/siteapp/img/hero.png and
siteapp/static/siteapp/fonts/lato.woff2) copied in by build.sh first.
"""
import os
import sys

import django
from django.conf import settings
from django.core.management import call_command

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)

settings.configure(
    DEBUG=False,
    SECRET_KEY="corpus-only",
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
        "rest_framework",
        "siteapp",
    ],
    STATIC_URL="static/",
    STATIC_ROOT=sys.argv[1],
    STORAGES={
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
        },
    },
)
django.setup()
call_command("collectstatic", interactive=False, verbosity=1)
