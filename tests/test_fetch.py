"""URL fetching: only public http(s) addresses unless allowed, every redirect re-checked, limits."""

from __future__ import annotations

import ipaddress

import pytest
from predict_helpers import local_server, redirect, respond, trickle

from gifemo.inference.fetch import (
    BlockedAddressError,
    FetchError,
    FetchTimeoutError,
    FetchTooLargeError,
    fetch_url,
    is_public_address,
    is_url,
)

GIF_BYTES = b"GIF89a" + bytes(range(200))


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),  # loopback
        ("127.8.9.10", False),
        ("::1", False),
        ("10.1.2.3", False),  # private
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("fc00::1", False),  # unique local
        ("169.254.169.254", False),  # link-local: cloud metadata
        ("fe80::1", False),
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("0.0.0.0", False),  # unspecified
        ("240.0.0.1", False),  # reserved
        ("224.0.1.1", False),  # multicast
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
    ],
)
def test_public_address_classification(address, public):
    assert is_public_address(address) is public
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_is_url():
    assert is_url("http://x/a.gif") and is_url("HTTPS://x/a.gif")
    assert not is_url("ftp://x/a.gif") and not is_url("cat.gif") and not is_url("http.gif")


def test_loopback_is_refused_by_default_and_served_with_allow_private():
    with local_server({"/a.gif": respond(200, GIF_BYTES, {"Content-Type": "image/gif"})}) as base:
        with pytest.raises(BlockedAddressError, match="non-public address 127.0.0.1"):
            fetch_url(f"{base}/a.gif")
        port = base.rsplit(":", 1)[1]
        with pytest.raises(BlockedAddressError):
            fetch_url(f"http://localhost:{port}/a.gif")  # a *name* resolving to loopback
        fetched = fetch_url(f"{base}/a.gif", allow_private=True)
    assert fetched.content == GIF_BYTES
    assert fetched.content_type == "image/gif"
    assert fetched.final_url == f"{base}/a.gif"


@pytest.mark.parametrize(
    "url", ["http://[::1]:9/x.gif", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"]
)
def test_private_literals_are_refused_before_connecting(url):
    with pytest.raises(BlockedAddressError):
        fetch_url(url, timeout_s=2)


def test_redirects_are_followed_and_every_hop_is_checked():
    routes = {"/a.gif": respond(200, GIF_BYTES)}
    with local_server(routes) as base:
        port = base.rsplit(":", 1)[1]
        routes["/moved"] = redirect("/a.gif", 301)
        # 127.0.0.2 is loopback too, but outside the one network this test allows.
        routes["/to-other-host"] = redirect(f"http://127.0.0.2:{port}/a.gif")
        routes["/to-file"] = redirect("file:///etc/passwd")
        routes["/loop"] = redirect("/loop")
        only_this_host = ["127.0.0.1/32"]

        fetched = fetch_url(f"{base}/moved", allowed_networks=only_this_host)
        assert fetched.content == GIF_BYTES and fetched.final_url == f"{base}/a.gif"
        with pytest.raises(BlockedAddressError, match="127.0.0.2"):
            fetch_url(f"{base}/to-other-host", allowed_networks=only_this_host)
        with pytest.raises(FetchError, match="only http and https.*file:///etc/passwd"):
            fetch_url(f"{base}/to-file", allow_private=True)
        with pytest.raises(FetchError, match="more than 3 redirects"):
            fetch_url(f"{base}/loop", allow_private=True, max_redirects=3)


def test_size_limit_applies_to_declared_and_streamed_bodies():
    routes = {"/declared": respond(200, b"x" * 5000), "/streamed": trickle(b"y" * 1000, 5, 0.0)}
    with local_server(routes) as base:
        with pytest.raises(FetchTooLargeError, match="5000 bytes exceeds the limit of 4096"):
            fetch_url(f"{base}/declared", allow_private=True, max_bytes=4096)
        with pytest.raises(FetchTooLargeError, match="exceeds the limit of 4096 bytes"):
            fetch_url(f"{base}/streamed", allow_private=True, max_bytes=4096)
        assert (
            len(fetch_url(f"{base}/streamed", allow_private=True, max_bytes=5000).content) == 5000
        )


def test_time_limit_covers_the_whole_download():
    # Each piece arrives well within the per-read limit; only the total deadline can stop this.
    with local_server({"/slow": trickle(b"z", 40, 0.05)}) as base:
        with pytest.raises(FetchTimeoutError, match="timed out"):
            fetch_url(f"{base}/slow", allow_private=True, timeout_s=0.5)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.gif", "only http and https"),
        ("http:///a.gif", "no host"),
        ("http://name.invalid/a.gif", "cannot resolve host"),
    ],
)
def test_bad_urls_give_clear_errors(url, message):
    with pytest.raises(FetchError, match=message) as info:
        fetch_url(url, timeout_s=5)
    assert info.value.url == url


def test_http_errors_and_refused_connections():
    with local_server({}) as base:
        with pytest.raises(FetchError, match="HTTP 404"):
            fetch_url(f"{base}/missing.gif", allow_private=True)
    # The server is gone: nothing listens on that port any more.
    with pytest.raises(FetchError, match="could not"):
        fetch_url(f"{base}/missing.gif", allow_private=True, timeout_s=2)
