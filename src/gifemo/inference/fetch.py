"""Download a GIF from an http(s) URL without becoming a tool for reaching internal services.

A prediction server that fetches URLs on a user's behalf can be aimed at ``http://127.0.0.1:...``,
``http://169.254.169.254/`` (cloud metadata) or a host on the private network (server-side request
forgery). :func:`fetch_url` guards against that:

* only ``http`` and ``https``;
* the host name is resolved once and **every** address it resolves to must be public (not
  loopback, private, link-local, shared/CGNAT, reserved, multicast or unspecified, IPv4-mapped
  IPv6 included); the connection then goes to the address that was checked, so a DNS answer that
  changes between the check and the connection (DNS rebinding) cannot slip a private address in.
  TLS still verifies the certificate against the host name;
* redirects are followed by hand, at most ``max_redirects``, each hop checked the same way;
* the body is streamed and the download stops as soon as it passes ``max_bytes``; every read and
  the whole download are bounded by ``timeout_s``;
* environment proxies are ignored (a proxy would make the address check meaningless).

``allow_private=True`` (the CLI's ``--allow-private``) lifts the address check, for a trusted
network or tests against a local server; ``allowed_networks`` lifts it for some networks only.
Residual risk: name resolution itself (``getaddrinfo``) has no timeout of its own.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore

#: Default limits for one download.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MAX_REDIRECTS = 5

_REDIRECT_CODES = {301, 302, 303, 307, 308}
_USER_AGENT = "gifemo (+https://github.com/gifemo/gifemo)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(ValueError):
    """A URL could not be fetched (refused, unreachable, too large, too slow, HTTP error).

    Attributes:
        url: the URL asked for (the first one, not the redirect hop that failed).
        reason: what went wrong, in words.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")

    def __reduce__(self):
        return (type(self), (self.url, self.reason))


class BlockedAddressError(FetchError):
    """The URL (or a redirect) points at a loopback, private or otherwise non-public address."""


class FetchTimeoutError(FetchError):
    """The download did not finish within its time limit."""


class FetchTooLargeError(FetchError):
    """The body is (or is announced to be) larger than the size limit."""


@dataclass(frozen=True)
class FetchedData:
    """The body of a successful download."""

    url: str  #: the URL asked for
    final_url: str  #: the URL the body came from, after redirects
    content: bytes
    content_type: str | None


def is_url(text: str) -> bool:
    """True when ``text`` looks like an http(s) URL (the case-insensitive scheme decides)."""
    return text[:8].lower().startswith(("http://", "https://"))


def is_public_address(address: str | IPAddress) -> bool:
    """True for a globally routable unicast address; False for everything an SSRF would target."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1; judge the IPv4 address it carries.
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def fetch_url(
    url: str,
    *,
    allow_private: bool = False,
    allowed_networks: Iterable[str | IPNetwork] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
) -> FetchedData:
    """GET ``url`` under the guards described in the module docstring.

    Args:
        allow_private: skip the address check entirely (trusted networks, tests).
        allowed_networks: networks (``"10.1.2.0/24"``) allowed even though not public.
        max_bytes: refuse a body larger than this (checked against Content-Length, then counted).
        timeout_s: limit for connecting, for each read, and for the whole download.
        max_redirects: how many redirects to follow.

    Raises:
        BlockedAddressError: the host (or a redirect target) is not a public address.
        FetchError: anything else: bad URL, connection failure, HTTP status >= 400, too many
            redirects, body too large, too slow.
    """
    guard = _AddressGuard(allow_private, [ipaddress.ip_network(n) for n in allowed_networks])
    deadline = time.monotonic() + timeout_s
    backend = _GuardedBackend(guard, url)
    current = url
    with httpcore.ConnectionPool(network_backend=backend, max_connections=1) as pool:
        for _ in range(max_redirects + 1):
            _check_scheme(url, current)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchTimeoutError(url, f"timed out after {timeout_s:g} s")
            body, location, content_type = _get(pool, url, current, remaining, deadline, max_bytes)
            if location is None:
                return FetchedData(url, current, body, content_type)
            current = urljoin(current, location)
    raise FetchError(url, f"more than {max_redirects} redirects")


def _check_scheme(url: str, current: str) -> None:
    parts = urlsplit(current)
    if parts.scheme.lower() not in ("http", "https"):
        where = "" if current == url else f" (redirected to {current})"
        raise FetchError(url, f"only http and https URLs are allowed{where}")
    if not parts.hostname:
        raise FetchError(url, f"no host in {current!r}")


def _get(
    pool: httpcore.ConnectionPool,
    url: str,
    current: str,
    remaining: float,
    deadline: float,
    max_bytes: int,
) -> tuple[bytes, str | None, str | None]:
    """One GET: ``(body, redirect location or None, content type)``."""
    timeouts = {"connect": remaining, "read": remaining, "write": remaining, "pool": remaining}
    headers = [
        (b"User-Agent", _USER_AGENT.encode()),
        # No compression: the size limit then applies to what is stored, and no zip bomb.
        (b"Accept-Encoding", b"identity"),
        (b"Accept", b"image/gif,image/webp,image/apng,image/png,image/*;q=0.8,*/*;q=0.5"),
    ]
    try:
        with pool.stream("GET", current, headers=headers, extensions={"timeout": timeouts}) as resp:
            response_headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in resp.headers
            }
            if resp.status in _REDIRECT_CODES and "location" in response_headers:
                return b"", response_headers["location"], None
            if resp.status >= 400:
                raise FetchError(url, f"HTTP {resp.status} from {current}")
            declared = response_headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchTooLargeError(
                    url, f"body of {int(declared)} bytes exceeds the limit of {max_bytes}"
                )
            chunks, size = [], 0
            for chunk in resp.iter_stream():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchTooLargeError(url, f"body exceeds the limit of {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise FetchTimeoutError(url, "timed out while downloading")
                chunks.append(chunk)
            return b"".join(chunks), None, response_headers.get("content-type")
    except FetchError:
        raise
    except httpcore.TimeoutException as error:
        raise FetchTimeoutError(url, f"timed out ({type(error).__name__})") from None
    except (httpcore.UnsupportedProtocol, httpcore.LocalProtocolError) as error:
        raise FetchError(url, f"bad URL {current!r}: {error}") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError) as error:
        raise FetchError(
            url, f"could not fetch {current}: {error or type(error).__name__}"
        ) from None


@dataclass(frozen=True)
class _AddressGuard:
    allow_private: bool
    allowed_networks: Sequence[IPNetwork]

    def allows(self, ip: IPAddress) -> bool:
        if self.allow_private or is_public_address(ip):
            return True
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, resolving and vetting the host itself before connecting.

    httpcore hands the host name to ``connect_tcp``; resolving it here and connecting to the
    checked address is what closes the DNS-rebinding window. TLS is set up afterwards by httpcore
    with the original host name (SNI and certificate check).
    """

    def __init__(self, guard: _AddressGuard, url: str) -> None:
        self._guard = guard
        self._url = url

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise FetchError(self._url, f"cannot resolve host {host!r}: {error.strerror}") from None
        addresses = list(
            dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos)
        )
        blocked = [ip for ip in addresses if not self._guard.allows(ip)]
        if blocked:
            raise BlockedAddressError(
                self._url,
                f"host {host!r} resolves to non-public address {blocked[0]} "
                "(pass allow_private / --allow-private to allow it)",
            )
        last_error: Exception | None = None
        for ip in addresses:
            try:
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:  # try the next address, as a browser would
                last_error = error
        raise FetchError(self._url, f"could not connect to {host}:{port}: {last_error}")
