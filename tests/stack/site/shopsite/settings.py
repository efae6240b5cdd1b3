"""A small shop's settings, as far as its static files go: they are collected
into an S3 bucket (django-storages, with ManifestStaticFilesStorage's hashed
names) that a CloudFront distribution serves. The bucket and the endpoint come
from the environment: the stack tests point them at the local AWS."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "only-collectstatic-runs-here"
DEBUG = False
ALLOWED_HOSTS: list[str] = []
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_URL = f"https://{os.environ.get('CDN_DOMAIN', 'cdn.example.com')}/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "storages.backends.s3.S3ManifestStaticStorage",
        "OPTIONS": {
            "bucket_name": os.environ["STATIC_BUCKET"],
            # Objects go under static/ in the bucket; a distribution with the
            # origin path /static serves them at the root of its domain.
            "location": "static",
            "custom_domain": os.environ.get("CDN_DOMAIN", "cdn.example.com"),
            "endpoint_url": os.environ.get("AWS_ENDPOINT_URL"),
            "region_name": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "querystring_auth": False,
        },
    },
}
