"""Real upload tools, run against the local AWS as a user runs them.

Django's collectstatic (django-storages' S3ManifestStaticStorage), the AWS
CLI's `aws s3 sync --delete` and `aws s3 cp --recursive`, each in its own
process with the local AWS's endpoint and test credentials in the
environment, and their scratch files under the project's target/stack-tmp.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"


def tool(name: str) -> str:
    """A tool installed in the same venv as this Python (make stack-test's)."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: `make stack-test` installs tools/requirements-stack.txt into .venv/stack")
    return str(path)


def run(aws, args: list[str], work: Path, extra_env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Runs a tool with only the local AWS's settings; fails with its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env |= aws.environment() | {
        "TMPDIR": str(tmp),
        # No user configuration or credentials file may change what the tool does.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "HOME": str(work),
    }
    env |= extra_env or {}
    done = subprocess.run(args, cwd=cwd or work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def png(rgb: tuple[int, int, int]) -> bytes:
    """A 16x16 image of one colour."""
    raw = b"".join(b"\x00" + bytes(rgb) * 16 for _ in range(16))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def touch_later(path: Path) -> None:
    """collectstatic and sync skip a file whose copy in S3 is as new as it, to
    the second: an edit is dated a few seconds after the upload before it."""
    later = time.time() + 5
    os.utime(path, (later, later))


class DjangoSite:
    """tests/stack/site, copied to `work` so its edits stay there."""

    def __init__(self, work: Path):
        self.work = work
        self.root = work / "site"
        if self.root.exists():
            shutil.rmtree(self.root)
        shutil.copytree(SITE, self.root, ignore=shutil.ignore_patterns("__pycache__"))

    def collectstatic(self, aws, bucket: str) -> str:
        return run(
            aws,
            [sys.executable, "manage.py", "collectstatic", "--noinput"],
            self.work,
            {"STATIC_BUCKET": bucket, "PYTHONDONTWRITEBYTECODE": "1"},
            cwd=self.root,
        )

    def edit(self) -> None:
        """Between the two runs: an edited stylesheet and image, a new script,
        and a script removed from the source (collectstatic leaves its copy in
        S3, where it is still served, unchanged)."""
        static = self.root / "static"
        css = static / "css/site.css"
        css.write_text(css.read_text().replace("/* test 1 */", "/* test 2 */\nh1 { color: #c00; }"))
        (static / "img/logo.png").write_bytes(png((30, 30, 200)))
        (static / "js/new-widget.js").write_text('document.title += " (new)";\n')
        (static / "js/old-banner.js").unlink()
        for changed in ("css/site.css", "img/logo.png", "js/new-widget.js"):
            touch_later(static / changed)


# A static site's file names: spaces, '+', non-ASCII, '#', '%', '~', brackets,
# '?', and index documents at the top and in subdirectories.
STATIC_SITE = [
    "index.html",
    "about/index.html",
    "docs/index.html",
    "docs/annual report 2026.pdf",
    "docs/old draft.html",
    "lib/c++-primer.html",
    "img/café-crème.jpg",
    "日本語/index.html",
    "notes/issue#42.txt",
    "sale/50%-off.html",
    "data/items[2].json",
    "~alice/profile.html",
    "faq/why?.html",
    "a=b&c;d@e,f.txt",
]
# The second deploy: every file edited but about/index.html, one removed, one added.
REMOVED, ADDED, UNCHANGED = "docs/old draft.html", "docs/new+page (2).html", "about/index.html"


class StaticSite:
    def __init__(self, work: Path):
        self.root = work / "www"
        if self.root.exists():
            shutil.rmtree(self.root)

    def write(self, version: int) -> None:
        names = STATIC_SITE if version == 1 else [n for n in STATIC_SITE if n != REMOVED] + [ADDED]
        if version > 1:
            (self.root / REMOVED).unlink()
        for name in names:
            if version > 1 and name == UNCHANGED:
                continue
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            # Each version a different length, so sync sees the change even by size.
            path.write_text(f"<!-- {name} -->\nversion {version}{'!' * version}\n")
            if version > 1:
                touch_later(path)
            else:
                # Older than its upload to the second, so the second sync
                # leaves the unchanged file alone whatever the timing.
                earlier = time.time() - 60
                os.utime(path, (earlier, earlier))

    def sync(self, aws, bucket: str, work: Path) -> str:
        return run(aws, [tool("aws"), "s3", "sync", "--delete", "--no-progress", str(self.root), f"s3://{bucket}/"], work)


class Burst:
    """`count` files uploaded at once with `aws s3 cp --recursive`."""

    def __init__(self, work: Path, count: int):
        self.root, self.count = work / "burst", count

    def upload(self, aws, bucket: str, version: int, work: Path) -> str:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        for i in range(self.count):
            (self.root / f"part-{i:04d}.css").write_text(f".part-{i} {{ --version: {version}; }}\n")
        return run(
            aws, [tool("aws"), "s3", "cp", "--recursive", "--no-progress", str(self.root), f"s3://{bucket}/burst/"], work
        )


def enable_eventbridge(aws, bucket: str, work: Path) -> None:
    """docs/deploy.md's three commands for turning on EventBridge notifications of
    an existing bucket, keeping the configuration it has."""
    aws_cli = tool("aws")
    current = run(aws, [aws_cli, "s3api", "get-bucket-notification-configuration", "--bucket", bucket], work)
    config = json.loads(current) if current.strip() else {}
    config["EventBridgeConfiguration"] = {}
    (work / "notification.json").write_text(json.dumps(config))
    run(
        aws,
        [aws_cli, "s3api", "put-bucket-notification-configuration", "--bucket", bucket]
        + ["--notification-configuration", "file://notification.json"],
        work,
    )
    # docs/deploy.md's check. moto leaves EventBridgeConfiguration out of its
    # answer (it forwards the events all the same), so only the command is run.
    run(aws, [aws_cli, "s3api", "get-bucket-notification-configuration", "--bucket", bucket], work)
