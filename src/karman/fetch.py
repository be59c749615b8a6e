"""One file downloaded, verified and bounded: the generic part of every system's `download` source.

- Verified: the SHA-256 of the bytes is the one the config names, and the body is not an HTML
  page (which servers send with status 200 for a login page, a missing file or a page about the
  file). The file streams into a partial name and is renamed only once verified.
- Bounded: an expected size per file (refused as soon as the server says or sends more), a cap
  for files without one, and a deadline for the whole download; each read returns what has
  arrived, so a server that drips bytes is stopped at the deadline (give or take one read's
  timeout). Only http(s) and file URLs are fetched, and a redirect is followed only from http or
  https to https, or from http to http: never from https to http, nor to another scheme.
- Secret-free: a URL's user info (user:password@), query string (a presigned URL's signature,
  `?token=…`) and fragment are used for the download only. `public_url` is the URL that logs,
  errors and outputs name. A token can also stay out of the config (and out of the params that
  Snakemake records under .snakemake/): `${NAME}` in a URL is replaced, at download time only,
  by the environment variable NAME.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from pathlib import Path

from karman import __version__
from karman.atomic import written_whole

log = logging.getLogger(__name__)

SCHEMES = ("http", "https", "file")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
CHUNK_BYTES = 1 << 20
HEAD_BYTES = 4096  # the start of a body, kept to recognise an HTML page
ENVIRONMENT_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class DownloadError(RuntimeError):
    """A file that cannot be downloaded, verified or read; the message names its public URL."""


def public_url(url: str) -> str:
    """`url` without what may be a secret: user info, query string and fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def has_secrets(url: str) -> bool:
    """Whether `public_url` leaves something out of `url`."""
    parts = urllib.parse.urlsplit(url)
    return bool(parts.username or parts.password or parts.query or parts.fragment)


def without_secrets(value):
    """`value` (config-like: mappings, lists, scalars) with every URL in it replaced by its public form."""
    if isinstance(value, dict):
        return {key: without_secrets(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_secrets(item) for item in value]
    if isinstance(value, str) and re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value) and has_secrets(value):
        return public_url(value)
    return value


def expand_environment(url: str) -> str:
    """`url` with each `${NAME}` replaced by the environment variable NAME (which must be set)."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise DownloadError(f"{public_url(url)}: the URL names the environment variable {name} (${{{name}}}), which is not "
                                f"set; expected it to hold the token or password: `export {name}=...` before snakemake")
        return os.environ[name]
    return ENVIRONMENT_VARIABLE.sub(value, url)


def checksum_hint(url: str, setting: str) -> str:
    name = Path(urllib.parse.urlsplit(url).path).name or "FILE"
    return (
        f"To fill in the checksum, download the file once (e.g. `curl -LO {public_url(url)}`, with its query string if it has one), "
        f"make sure it is the file you mean, and run `sha256sum {name}` (or `python -c \"import hashlib, sys; "
        f"print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())\" {name}`); "
        f"paste the 64 hexadecimal digits into {setting}."
    )


def expected_checksum(url: str, sha256: str, setting: str) -> str:
    """The checksum `sha256` in lowercase, or DownloadError if it is not 64 hexadecimal digits."""
    expected = str(sha256).strip().lower()
    if not SHA256_PATTERN.fullmatch(expected):
        raise DownloadError(f"{public_url(url)}: the expected sha256 {sha256!r} is not 64 hexadecimal digits. {checksum_hint(url, setting)}")
    return expected


def credentials(url: str) -> tuple[str, dict[str, str]]:
    """`url` without its user info, and the request headers: user:password@ becomes HTTP Basic authorisation."""
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": f"karman/{__version__}"}
    if parts.username is None:
        return url, headers
    pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), headers


class SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect from http or https to https, or from http to http; refuses every other."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old = urllib.parse.urlsplit(req.full_url).scheme
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl)).scheme
        if new != "https" and not (old == new == "http"):
            raise DownloadError(f"{public_url(req.full_url)}: the server redirected to a {new}:// URL ({public_url(newurl)}); "
                                "karman follows redirects to https (or from http to http) only. Use the final URL if you trust it.")
        redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
        if redirected is not None and urllib.parse.urlsplit(redirected.full_url).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            redirected.remove_header("Authorization")  # the password is for the host it was given with
        return redirected


OPENER = urllib.request.build_opener(SafeRedirects)


def fetch(url: str, sha256: str, path: str | os.PathLike, *, size: int | None = None, max_bytes: int | None = None,
          deadline: float = 3600.0, timeout: float = 60.0, progress_every: float = 10.0, setting: str = "sha256",
          bounds_hint: str = "") -> int:
    """Download `url` into the file `path` and return its size once it is verified.

    `size` is the file's size in bytes where the config gives it; without it, `max_bytes` (if
    set) caps the body. `deadline` bounds the whole download in seconds, `timeout` each read.
    Any failure raises DownloadError naming the public URL, what came back and what was
    expected, and removes `path`. `setting` names the config key of the checksum in the advice
    given, `bounds_hint` how to raise `max_bytes` and `deadline`.
    """
    expected = expected_checksum(url, sha256, setting)
    shown = public_url(url)
    path = Path(path)
    limit = size if size is not None else max_bytes
    try:
        with open(path, "wb") as out:
            actual, received, head, content_type = _stream(expand_environment(url), shown, out, limit=limit, exact=size is not None,
                                                           deadline=deadline, timeout=timeout, progress_every=progress_every,
                                                           bounds_hint=bounds_hint)
        if looks_like_html(head):
            raise DownloadError(html_page_message(url, head, content_type, received, actual, expected, setting))
        if size is not None and received != size:
            raise DownloadError(f"{shown}: {received} bytes came back; expected the {size} bytes that {setting.rsplit('.', 1)[0]}.size gives. "
                                "The file is not the one the configuration names (or it changed on the server).")
        if actual != expected:
            raise DownloadError(
                f"{shown}: checksum mismatch: expected sha256 {expected}, got {actual} ({received} bytes). "
                "The file is not the one the configuration names (or it changed on the server). " + checksum_hint(url, setting)
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info("downloaded %s (%d bytes, sha256 %s)%s", shown, received, expected,
             "; its user info and query string are kept out of logs and outputs" if has_secrets(url) else "")
    return received


def download(url: str, sha256: str, destination_dir: str | os.PathLike, **bounds) -> Path:
    """Download `url` into `destination_dir` and return the file's path once it is verified (see `fetch`).

    The file streams into a partial name in `destination_dir` (`karman.atomic.partial_path`)
    and is renamed only after it was verified; any failure leaves nothing behind.
    """
    expected_checksum(url, sha256, bounds.get("setting", "sha256"))
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name or "download"
    target = Path(destination_dir) / name
    with written_whole(target) as partial:
        fetch(url, sha256, partial, **bounds)
    return target


def looks_like_html(head: bytes) -> bool:
    """Whether a body that starts with `head` is an HTML page (none of the data formats starts with '<')."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return True
    return text.startswith(b"<") and any(tag in text for tag in (b"<html", b"<head", b"<body"))


def html_page_message(url: str, head: bytes, content_type: str, size: int, actual: str, expected: str, setting: str) -> str:
    """What to tell the user when an HTML page came back from `url` instead of the data file."""
    match = re.search(rb"<title[^>]*>(.*?)</title", head, re.IGNORECASE | re.DOTALL)
    title = " ".join(html.unescape(match.group(1).decode("utf-8", "replace")).split())[:100] if match else ""
    found = (f'titled "{title}"' if title else "untitled") + f", {size} bytes" + (f", Content-Type {content_type}" if content_type else "")
    shown = public_url(url)
    parsed = urllib.parse.urlsplit(shown)
    github = (f" (on GitHub that is the 'raw' link: {shown.replace('/blob/', '/raw/', 1)})"
              if parsed.hostname in ("github.com", "www.github.com") and "/blob/" in parsed.path else "")
    url_setting = setting.rsplit(".", 1)[0] + ".url"
    if actual == expected:
        checksum = (f" Its sha256 is the one in {setting}: that checksum was taken of this page, not of the data; "
                    "take it again from the real file.")
    else:
        checksum = f" (Its sha256 {actual} is not the expected {expected} either.)"
    return (
        f"{shown}: an HTML page came back, not the data file (a web page {found}). Servers send such a page with status 200 "
        "for a login or access page, a file that is not there, or a web page about the file rather than the file itself. "
        f"Expected the file's own bytes: open the URL in a browser, find the direct download link{github} and put it in "
        f"{url_setting}.{checksum}"
    )


def _too_large(shown: str, amount: str, limit: int, exact: bool, bounds_hint: str) -> DownloadError:
    bound = f"the {limit} bytes its `size` gives" if exact else f"the cap of {limit / 1e6:g} MB for a file without a `size`"
    hint = "" if exact else " " + bounds_hint
    return DownloadError(f"{shown}: the server {amount}, more than {bound}; stopped, nothing kept.{hint}".rstrip())


def _stream(url: str, shown: str, out, *, limit: int | None, exact: bool, deadline: float, timeout: float,
            progress_every: float, bounds_hint: str) -> tuple[str, int, bytes, str]:
    """Copy the body at `url` to the open file `out` within the bounds; return its SHA-256, its
    size, its first HEAD_BYTES bytes and the Content-Type the server gave. Errors name `shown`."""
    def said(error) -> str:  # what a library says of `url`, which may hold a secret
        return str(error).replace(url, shown)

    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise DownloadError(f"{shown}: not a URL karman downloads ({scheme or 'no'} scheme); expected http://, https:// or file://")
    digest = hashlib.sha256()
    received = 0
    head = b""
    content_type = ""
    start = time.monotonic()
    try:
        address, headers = credentials(url)
        request = urllib.request.Request(address, headers=headers)
        with OPENER.open(request, timeout=min(timeout, deadline)) as response:
            length = response.headers.get("Content-Length")
            content_type = response.headers.get("Content-Type") or ""
            total = int(length) if length and length.isdigit() else None
            if limit is not None and total is not None and total > limit:
                raise _too_large(shown, f"announced {total} bytes", limit, exact, bounds_hint)
            log.info("downloading %s (%s)", shown, f"{total / 1e6:.1f} MB" if total is not None else "size unknown")
            last_report = start
            while chunk := response.read1(CHUNK_BYTES):  # what has arrived: a slow server cannot hold one read forever
                received += len(chunk)
                if limit is not None and received > limit:
                    raise _too_large(shown, f"sent {received} bytes", limit, exact, bounds_hint)
                out.write(chunk)
                digest.update(chunk)
                if len(head) < HEAD_BYTES:
                    head += chunk[:HEAD_BYTES - len(head)]
                now = time.monotonic()
                if now - start > deadline:
                    raise DownloadError(f"{shown}: the download took longer than its deadline of {deadline:g} s, "
                                        f"after {received} bytes; stopped, nothing kept. {bounds_hint}".rstrip())
                if now - last_report > progress_every:
                    rate = received / (now - start)
                    left = f", {(total - received) / rate:.0f} s left" if total else ""
                    log.info("%s: %.1f of %s MB, %.1f MB/s%s", shown, received / 1e6,
                             f"{total / 1e6:.1f}" if total else "?", rate / 1e6, left)
                    last_report = now
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{shown}: HTTP error {error.code} ({error.reason}); expected HTTP 200 with the file. Check the URL.") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"{shown}: cannot connect ({said(error.reason)}); expected to reach the server and download the file.") from None
    except ValueError as error:  # not a URL urllib understands
        raise DownloadError(f"{shown}: not a valid URL ({said(error)}); expected http://, https:// or file://") from None
    except (HTTPException, OSError) as error:  # timeouts, resets, truncated bodies
        raise DownloadError(f"{shown}: the download failed after {received} bytes ({type(error).__name__}: {said(error)}); "
                            "expected the whole file. Try again.") from None
    if total is not None and received != total:
        raise DownloadError(f"{shown}: the connection closed after {received} of {total} bytes; expected the whole file. Try again.")
    return digest.hexdigest(), received, head, content_type
