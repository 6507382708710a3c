"""The queue's broker, asked from here: does it speak TLS, does it take the broker URL's login and open its vhost.

Used by `make worker` before it writes anything and by `make worker-check`. A few AMQP 0-9-1 frames from the
standard library (the bundle has no AMQP client, and a login is all that is needed): nothing is published or
consumed. The worker itself connects with TLS without checking the certificate (celery_config.py), and so do
these. No message here holds the password.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from urllib.parse import unquote, urlsplit

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = 0xCE
MAX_FRAME = 128 * 1024  # a Connection.Start or Tune is a few hundred bytes


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # as celery_config.py: ssl.CERT_NONE
    return context


def broker_speaks_tls(url: str, timeout: float = 5.0) -> bool | None:
    """Ask the broker: True when it speaks TLS, False when plain AMQP, None when it cannot be reached or told."""
    try:
        parts = urlsplit(url)
        address = (parts.hostname, parts.port or 5672)
    except ValueError:
        return None
    try:
        with socket.create_connection(address, timeout=timeout) as plain:
            plain.settimeout(timeout)
            plain.sendall(AMQP_HEADER)
            first = plain.recv(8)
        if first[:1] == b"\x01" or first.startswith(b"AMQP"):  # Connection.Start, or the broker's own header
            return False
    except OSError:
        pass
    try:
        with socket.create_connection(address, timeout=timeout) as raw, \
                _context().wrap_socket(raw, server_hostname=parts.hostname) as tls:
            tls.settimeout(timeout)
            tls.sendall(AMQP_HEADER)
            return tls.recv(8)[:1] == b"\x01" or None
    except (OSError, ssl.SSLError):
        return None


def _frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", kind, 0, len(payload)) + payload + bytes([FRAME_END])


def _shortstr(text: str) -> bytes:
    data = text.encode("utf-8")
    return bytes([len(data)]) + data


def _method(connection: socket.socket, deadline: float) -> tuple[int, int, bytes] | None:
    """The next method frame: (class, method, arguments); None when the broker closed the connection or sent
    something else. TimeoutError once `deadline` (time.monotonic()) has passed, however slowly bytes come."""
    head = _exactly(connection, 7, deadline)
    if head is None:
        return None
    kind, _, size = struct.unpack(">BHI", head)
    if size > MAX_FRAME:
        return None
    body = _exactly(connection, size + 1, deadline)
    if body is None or kind != 1:
        return None
    class_id, method_id = struct.unpack(">HH", body[:4])
    return class_id, method_id, body[4:-1]


def _exactly(connection: socket.socket, size: int, deadline: float) -> bytes | None:
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        connection.settimeout(left)
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _closed_why(arguments: bytes) -> str:
    code = struct.unpack(">H", arguments[:2])[0]
    return f"{code} {arguments[3:3 + arguments[2]].decode('utf-8', 'replace')}"


def amqp_login(url: str, tls: bool, timeout: float = 10.0) -> str | None:
    """Log in to the broker and open the URL's vhost, as the worker's AMQP client does; None when both work,
    else what went wrong, in words that never hold the password. All of it within `timeout` seconds."""
    try:
        parts = urlsplit(url)
        address = (parts.hostname, parts.port or 5672)
    except ValueError:
        return "BROKER_URL is not a URL with a host and a port"
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    vhost = unquote(parts.path[1:]) or "/"
    if max(len(user.encode()), len(vhost.encode())) > 255:
        return "the user or the vhost of BROKER_URL is longer than AMQP allows (255 bytes)"
    deadline = time.monotonic() + timeout
    where = f"{address[0]}:{address[1]}"
    try:
        raw = socket.create_connection(address, timeout=timeout)
    except OSError as error:
        return f"cannot connect to {where} ({error.strerror or type(error).__name__})"
    try:
        connection = raw
        if tls:
            try:
                connection = _context().wrap_socket(raw, server_hostname=parts.hostname)
            except (ssl.SSLError, OSError) as error:
                return f"BROKER_USE_SSL is set, and {where} does not speak TLS ({type(error).__name__})"
        connection.sendall(AMQP_HEADER)
        start = _method(connection, deadline)
        if start is None or start[:2] != (10, 10):
            hint = "" if tls else ", perhaps because it speaks TLS (BROKER_USE_SSL=True)"
            return f"{where} does not answer as an AMQP broker{hint}"
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        connection.sendall(_frame(1, struct.pack(">HH", 10, 11) + struct.pack(">I", 0) + _shortstr("PLAIN")
                                  + struct.pack(">I", len(response)) + response + _shortstr("en_US")))
        try:
            tune = _method(connection, deadline)
        except ConnectionError:  # RabbitMQ resets the connection of a refused login
            tune = None
        if tune is None or tune[:2] == (10, 50):
            return "the broker refused the user and password of BROKER_URL (ACCESS_REFUSED)"
        channel_max, frame_max, _ = struct.unpack(">HIH", tune[2][:8])
        connection.sendall(_frame(1, struct.pack(">HHHIH", 10, 31, channel_max, frame_max, 0)))
        connection.sendall(_frame(1, struct.pack(">HH", 10, 40) + _shortstr(vhost) + _shortstr("") + b"\x00"))
        opened = _method(connection, deadline)
        if opened is None:
            return f"the broker closed the connection when vhost {vhost} was opened"
        if opened[:2] == (10, 50):
            return f"the broker would not open vhost {vhost}: {_closed_why(opened[2])}"
        connection.sendall(_frame(1, struct.pack(">HHHH", 10, 50, 200, 0) + b"\x00\x00\x00\x00"))
        return None
    except TimeoutError:
        return f"{where} did not finish the login within {timeout:.0f} s"
    except (OSError, struct.error, ValueError, IndexError) as error:
        return f"the conversation with {where} broke off ({type(error).__name__})"
    finally:
        raw.close()
