"""Who may set a request's priority: the trusted callers the shedder honours a claim from.

A priority header is a claim. From a client it is worthless (any client escapes shedding by
claiming `critical`), so it counts only from a peer in a configured network or with the shared
secret the service's own gateway sets. Read only when a claim is present: a request without the
header pays nothing here.
"""

from __future__ import annotations

import hmac
import ipaddress

from hardened.shed._config import ShedConfig

__all__ = ["PriorityTrust"]

_MAX_CACHED_PEERS = 4096


class PriorityTrust:
    """Decides whether a request's priority claim is honoured, and counts both outcomes."""

    def __init__(self, config: ShedConfig) -> None:
        self._networks = tuple(
            ipaddress.ip_network(n, strict=False) for n in config.trusted_networks
        )
        header = config.trusted_secret_header
        self.secret_header = header.encode() if header is not None else None
        self._secret = config.trusted_secret.encode() if config.trusted_secret else None
        self._peers: dict[str, bool] = {}
        self.honoured = 0
        self.ignored = 0

    @property
    def source(self) -> str:
        """Whose priority claims count: "networks", "secret", "networks or secret", "nobody"."""
        sources = [
            name for name, on in (("networks", self._networks), ("secret", self._secret)) if on
        ]
        return " or ".join(sources) or "nobody"

    def _peer_trusted(self, host: str) -> bool:
        trusted = self._peers.get(host)
        if trusted is None:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:  # a unix socket path or a name: not an address we configured
                trusted = False
            else:
                trusted = any(address in network for network in self._networks)
            if len(self._peers) >= _MAX_CACHED_PEERS:
                self._peers.clear()
            self._peers[host] = trusted
        return trusted

    def trusted(self, client: tuple[str, int] | None, secret: bytes | None) -> bool:
        """Whether a claim from peer `client` carrying `secret` (or None) is honoured."""
        ok = (
            self._secret is not None
            and secret is not None
            and hmac.compare_digest(secret, self._secret)
        ) or (bool(self._networks) and client is not None and self._peer_trusted(client[0]))
        if ok:
            self.honoured += 1
        else:
            self.ignored += 1
        return ok
