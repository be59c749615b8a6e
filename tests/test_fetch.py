"""karman.fetch: a download is verified, bounded, follows only safe redirects, and names no secret.

Every server here is a local HTTP server on 127.0.0.1 that misbehaves on purpose.
"""

import hashlib
import http.server
import logging
import threading
import time
import urllib.request

import pytest

from karman.fetch import DownloadError, SafeRedirects, download, fetch, public_url, without_secrets

BODY = b"karman " * 1000
SHA256 = hashlib.sha256(BODY).hexdigest()
SECRET = "s3cr3t-token"


class Misbehaving(http.server.BaseHTTPRequestHandler):
    """/file: BODY; /drip: a byte every 50 ms, forever; /endless: 64 kB chunks, forever, no
    Content-Length; /huge: says 10 GB; /to-ftp, /to-http: redirects."""

    protocol_version = "HTTP/1.0"  # a body without Content-Length ends when the connection does

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, dict(self.headers)))
        path = self.path.split("?", 1)[0]
        if path == "/file":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(10**10))
            self.end_headers()
            self.wfile.write(BODY)
        elif path in ("/drip", "/endless"):
            self.send_response(200)
            self.end_headers()
            chunk, pause = (b"x", 0.05) if path == "/drip" else (b"x" * 65536, 0.0)
            try:
                for _ in range(100000):
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    time.sleep(pause)
            except OSError:  # the client gave up, as it should
                pass
        elif path.startswith("/to-"):
            self.send_response(302)
            self.send_header("Location", {"/to-ftp": "ftp://127.0.0.1/file", "/to-http": f"http://localhost:{self.server.server_port}/file"}[path])
            self.end_headers()
        else:
            self.send_error(404)


@pytest.fixture
def server(monkeypatch):
    """The base URL of a Misbehaving server; its `requests` (path, headers) are recorded."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    httpd.daemon_threads = True
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_dripping_server_is_stopped_at_the_deadline_and_nothing_is_kept(server, tmp_path):
    _, base = server
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"/drip: the download took longer than its deadline of 1 s, after \d+ bytes; "
                                            r"stopped, nothing kept\. raise it"):
        download(f"{base}/drip", SHA256, tmp_path, deadline=1.0, timeout=0.5, bounds_hint="raise it")
    assert time.monotonic() - start < 3  # the deadline plus at most one read's timeout
    assert list(tmp_path.iterdir()) == []


def test_a_body_without_length_stops_at_the_cap(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=r"/endless: the server sent \d+ bytes, more than the cap of 1 MB for a file "
                                            r"without a `size`; stopped, nothing kept\."):
        download(f"{base}/endless", SHA256, tmp_path, max_bytes=10**6)
    assert list(tmp_path.iterdir()) == []


def test_an_announced_size_beyond_the_files_size_is_refused_before_the_body(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=r"/huge: the server announced 10000000000 bytes, more than the 7000 bytes its `size` gives"):
        fetch(f"{base}/huge", SHA256, tmp_path / "huge", size=len(BODY))
    assert not (tmp_path / "huge").exists()


def test_a_file_of_another_size_than_its_entry_gives_is_refused(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=r"7000 bytes came back; expected the 8000 bytes that flow\.download\.files\.300\.size gives"):
        fetch(f"{base}/file", SHA256, tmp_path / "file", size=8000, setting="flow.download.files.300.sha256")
    assert fetch(f"{base}/file", SHA256, tmp_path / "file", size=len(BODY)) == len(BODY)


@pytest.mark.parametrize("target, scheme", [("/to-ftp", "ftp")])
def test_a_redirect_to_another_scheme_is_refused(server, tmp_path, target, scheme):
    _, base = server
    with pytest.raises(DownloadError, match=rf"{target}: the server redirected to a {scheme}:// URL"):
        download(f"{base}{target}", SHA256, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("old, new, followed", [
    ("https://example.org/a", "http://example.org/a", False),  # a downgrade
    ("http://example.org/a", "ftp://example.org/a", False),
    ("https://example.org/a", "file:///etc/passwd", False),
    ("http://example.org/a", "https://example.org/a", True),  # an upgrade
    ("https://example.org/a", "https://cdn.example.org/a", True),
])
def test_redirects_are_followed_only_to_https_or_within_http(old, new, followed):
    request = urllib.request.Request(old, headers={"Authorization": "Basic eA=="})
    if not followed:
        with pytest.raises(DownloadError, match="karman follows redirects to https"):
            SafeRedirects().redirect_request(request, None, 302, "Found", {}, new)
        return
    redirected = SafeRedirects().redirect_request(request, None, 302, "Found", {}, new)
    same_host = urllib.parse.urlsplit(redirected.full_url).netloc == "example.org"
    assert redirected.has_header("Authorization") == same_host  # a password goes to the host it was given with only


def test_a_redirect_within_http_is_followed(server, tmp_path):
    _, base = server
    assert download(f"{base}/to-http", SHA256, tmp_path).read_bytes() == BODY


def test_only_http_https_and_file_urls_are_fetched(tmp_path):
    with pytest.raises(DownloadError, match=r"ftp://example\.org/a: not a URL karman downloads \(ftp scheme\)"):
        fetch("ftp://example.org/a", SHA256, tmp_path / "a")


def test_secrets_of_a_url_are_used_but_never_logged_or_raised(server, tmp_path, caplog, monkeypatch):
    httpd, base = server
    host = base.removeprefix("http://")
    monkeypatch.setenv("KARMAN_TEST_TOKEN", SECRET)
    caplog.set_level(logging.INFO)
    url = f"http://alice:pa55@{host}/file?token=${{KARMAN_TEST_TOKEN}}&sig=literal-signature#fragment-x"
    fetch(url, SHA256, tmp_path / "file")
    path, headers = httpd.requests[-1]
    assert path == f"/file?token={SECRET}&sig=literal-signature"  # the server got the token, from the environment
    assert headers["Authorization"] == "Basic YWxpY2U6cGE1NQ=="  # alice:pa55
    with pytest.raises(DownloadError) as failed:
        fetch(url.replace("/file", "/missing"), SHA256, tmp_path / "missing")
    said = caplog.text + str(failed.value)
    assert f"{base}/file (7000 bytes" in said and "user info and query string are kept out of logs and outputs" in said
    assert f"{base}/missing: HTTP error 404" in said
    for secret in (SECRET, "literal-signature", "pa55", "alice", "KARMAN_TEST_TOKEN", "fragment-x"):
        assert secret not in said


def test_an_environment_variable_a_url_names_must_be_set(server, tmp_path, monkeypatch):
    _, base = server
    monkeypatch.delenv("KARMAN_TEST_TOKEN", raising=False)
    with pytest.raises(DownloadError, match=rf"{base}/file: the URL names the environment variable KARMAN_TEST_TOKEN"):
        fetch(f"{base}/file?token=${{KARMAN_TEST_TOKEN}}", SHA256, tmp_path / "file")


def test_public_urls_keep_scheme_host_port_and_path_only():
    assert public_url("https://u:p@example.org:8443/a/re300.npz?X-Amz-Signature=abc#f") == "https://example.org:8443/a/re300.npz"
    assert public_url("file:///data/re300.npz") == "file:///data/re300.npz"
    assert public_url("http://[::1]:8000/a?b") == "http://[::1]:8000/a"
    config = {"flow": {"download": {"files": {300: {"url": "https://example.org/a?token=abc", "sha256": "0" * 64}}}},
              "reynolds": [300, 600], "note": "see https://example.org/page"}
    assert without_secrets(config) == {"flow": {"download": {"files": {300: {"url": "https://example.org/a", "sha256": "0" * 64}}}},
                                       "reynolds": [300, 600], "note": "see https://example.org/page"}
