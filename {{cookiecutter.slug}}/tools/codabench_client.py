"""A small client for Codabench's API: the calls its own pages make to upload a bundle or a submission.

    client = Codabench("https://www.codabench.org", token)
    key, answer = client.upload_file(Path("dist/bundle.zip"), "competition_bundle", name)
    client.get("/api/competitions/12/")

Every failure is a CodabenchError whose message is one line naming the fix. Requests are retried
with back-off only on transient network errors, and only when a retry cannot do anything twice:
a GET or a PUT to the storage URL is retried whatever happened; a request that creates something
(a POST, or marking an upload completed, which starts the unpacking) is retried only when it
certainly never reached Codabench (no connection, or the connection broke while sending it). When
the answer was lost after the request was sent, MaybeSent is raised and the caller checks on the
site before doing anything again. The token is sent in a header and appears in no message.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from file_rules import human

DEFAULT_SERVER = "https://www.codabench.org"
TRIES = 4  # a transient error is tried again up to 3 times, 2, 4 then 8 s apart
PAUSE = 2.0
TIMEOUT = 60.0  # seconds without a byte from the server
TRANSIENT_STATUS = {502, 503, 504}  # a proxy in front of Codabench that could not reach it
REDIRECT = {301, 302, 303, 307, 308}  # never followed: the token and the body would go where the answer says
BLOCK = 1 << 20
FILE_NAME_MAX, NAME_MAX = 64, 255  # Data.file_name and Data.name (src/apps/datasets/models.py)


TOKEN_VARIABLE = "CODABENCH_TOKEN"
SITE_PAGE = re.compile(r"/(competitions|api|datasets|profiles|forums|submissions|queues|server_status)(/.*)?$")


class CodabenchError(Exception):
    """One line for the organizer: what went wrong and the fix."""


# What a command stops on with one line (see failure): ours, a file's, or an answer of a shape this client does not know.
FAILURES = (CodabenchError, OSError, KeyError, TypeError, AttributeError, ValueError)


class NotFound(CodabenchError):
    """Codabench answered 404: the thing is not there (deleted, or another site's)."""


class MaybeSent(CodabenchError):
    """The request was sent, then the connection broke before the answer: it may have been done."""


class CompletionLost(MaybeSent):
    """The answer to "upload completed" was lost: Codabench may be unpacking (or running) it."""


def normalize_server(server: str) -> str:
    """"codabench.org/" -> "https://codabench.org"; a pasted page address keeps its site only; refuses what is not
    an http(s) address."""
    server = (server or DEFAULT_SERVER).strip()
    if "://" not in server:
        server = "https://" + server
    parts = urllib.parse.urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CodabenchError(f"CODABENCH={server!r} is not a Codabench address: give one like {DEFAULT_SERVER}")
    path = SITE_PAGE.sub("", parts.path).rstrip("/")  # .../competitions/12/ -> the site
    return f"{parts.scheme}://{parts.netloc}{path}"


def where_to(url: str, location: str | None) -> str:
    """The site a redirect points to ("https://host"), or "somewhere it does not say"."""
    if not location:
        return "somewhere it does not say"
    parts = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
    return f"{parts.scheme}://{parts.netloc}"


def unexpected(server: str, error: Exception) -> str:
    """The one line for an answer of a shape this client does not know (a site of another version, or not one)."""
    return (f"ERROR: {server} answered in a shape this tool does not know ({type(error).__name__}: {error}): is "
            f"CODABENCH= a Codabench site? If it is, the site's API has changed: please report it")


def failure(server: str, error: Exception) -> int:
    """Print the one line a command stops on (ours, a file's, or an answer of an unknown shape); the exit status 1."""
    if isinstance(error, CodabenchError):
        line = f"ERROR: {error}"
    elif isinstance(error, OSError):
        line = f"ERROR: {error.filename or 'a file'}: {error.strerror or error}"
    else:
        line = unexpected(server, error)
    print(line, file=sys.stderr)
    return 1


def login_hint(server: str) -> str:
    """The make login command for `server`."""
    return "`make login`" if server == DEFAULT_SERVER else f"`make login CODABENCH={server}`"


class _Progress:
    """A file read by http.client, saying how far the transfer is every 10 % or 5 s (on stderr)."""

    def __init__(self, handle, size: int, label: str, say: Callable[[str], None]):
        self.handle, self.size, self.label, self.say = handle, size, label, say
        self.sent, self.started, self.said_at, self.said_share = 0, time.monotonic(), time.monotonic(), 0

    def read(self, amount: int = BLOCK) -> bytes:
        chunk = self.handle.read(amount)
        self.sent += len(chunk)
        now, share = time.monotonic(), self.sent * 10 // max(self.size, 1)
        if self.size and (share > self.said_share or now - self.said_at >= 5) and self.sent < self.size:
            rate = self.sent / max(now - self.started, 1e-6)
            self.say(f"  {self.label}: {human(self.sent)} of {human(self.size)} "
                     f"({100 * self.sent // self.size} %, {human(int(rate))}/s)")
            self.said_at, self.said_share = now, share
        return chunk


def _describe(error: BaseException) -> str:
    text = str(getattr(error, "reason", None) or error).strip()
    return text or type(error).__name__


class Codabench:
    """Codabench's API at `server`, as the user whose API token is `token`."""

    def __init__(self, server: str, token: str | None, *, timeout: float = TIMEOUT, tries: int = TRIES,
                 pause: float = PAUSE, say: Callable[[str], None] | None = None):
        self.server = normalize_server(server)
        self.token, self.timeout, self.tries, self.pause = token, timeout, tries, pause
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))

    # -- one HTTP exchange -------------------------------------------------------------------------
    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)  # explicit: http.client would read "::1" as ":" port 1
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        proxy = None
        if not urllib.request.proxy_bypass(parts.hostname or ""):
            proxy = urllib.request.getproxies().get(parts.scheme)
        if parts.scheme == "https":
            context = ssl.create_default_context()
            if proxy:
                via = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
                connection = http.client.HTTPSConnection(via.hostname, via.port or 8080, timeout=self.timeout,
                                                         context=context, blocksize=BLOCK)
                connection.set_tunnel(parts.hostname, port)
            else:
                connection = http.client.HTTPSConnection(parts.hostname, port, timeout=self.timeout,
                                                         context=context, blocksize=BLOCK)
        elif proxy:
            via = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
            connection = http.client.HTTPConnection(via.hostname, via.port or 8080, timeout=self.timeout,
                                                    blocksize=BLOCK)
            target = url
        else:
            connection = http.client.HTTPConnection(parts.hostname, port, timeout=self.timeout, blocksize=BLOCK)
        return connection, target

    def _exchange(self, method: str, url: str, body, headers: dict) -> tuple[int, bytes, str | None]:
        """(status, body, Location) of one request. Raises ConnectionError (never reached Codabench in full), MaybeSent, or
        CodabenchError (TLS)."""
        connection, target = self._connection(url)
        where = urllib.parse.urlsplit(url).netloc
        try:
            try:
                connection.connect()
            except ssl.SSLError as error:
                plain = "WRONG_VERSION_NUMBER" in str(error) or "wrong version number" in str(error)
                fix = (f"this site may not speak TLS: try CODABENCH=http://{where}" if plain else
                       "check the address (CODABENCH=), the clock and this machine's certificates (a proxy that "
                       "inspects TLS needs its certificate installed)")
                raise CodabenchError(f"TLS error talking to {where}: {_describe(error)}: {fix}") from None
            except socket.gaierror as error:  # no such host: trying again will not help
                raise CodabenchError(f"cannot find the host of {where} ({_describe(error)}): check the address "
                                     f"(CODABENCH=) and this machine's network") from None
            except (OSError, http.client.HTTPException) as error:
                raise ConnectionError(f"cannot connect to {where}: {_describe(error)}") from None
            try:
                connection.request(method, target, body=body, headers=headers)
            except (OSError, http.client.HTTPException) as error:
                try:  # a server may answer before the body is in, and close: a storage refusing the signature
                    response = connection.getresponse()
                    return response.status, response.read(), response.getheader("Location")
                except (OSError, http.client.HTTPException):
                    pass
                raise ConnectionError(f"the connection to {where} broke while sending: {_describe(error)}") from None
            try:
                response = connection.getresponse()
                return response.status, response.read(), response.getheader("Location")
            except (OSError, http.client.HTTPException) as error:
                raise MaybeSent(f"{where} did not answer {method} {urllib.parse.urlsplit(url).path}: "
                                f"{_describe(error)}") from None
        finally:
            connection.close()

    def _attempts(self, method: str, url: str, *, headers: dict, body_from: Callable[[], object], repeatable: bool
                  ) -> tuple[int, bytes]:
        """Try the request up to self.tries times on transient errors. `repeatable`: doing it twice is harmless."""
        for attempt in range(1, self.tries + 1):
            last = attempt == self.tries
            try:
                status, data, location = self._exchange(method, url, body_from(), headers)
            except MaybeSent as error:
                if not repeatable:
                    raise
                if last:
                    raise CodabenchError(f"{error} (tried {self.tries} times): check the address (CODABENCH=) and "
                                         f"this machine's network, then run the command again") from None
                problem = "no answer"
            except ConnectionError as error:
                if last:
                    raise CodabenchError(f"{error} (tried {self.tries} times): check the address (CODABENCH=) and "
                                         f"this machine's network, then run the command again") from None
                problem = str(error)
            else:
                if status in REDIRECT:
                    raise CodabenchError(f"{urllib.parse.urlsplit(url).netloc} answered HTTP {status}, sending to "
                                         f"{where_to(url, location)}: give that site as CODABENCH=")
                if status not in TRANSIENT_STATUS or last:
                    return status, data
                if not repeatable:
                    raise MaybeSent(f"{urllib.parse.urlsplit(url).netloc} answered {status} to {method} "
                                    f"{urllib.parse.urlsplit(url).path}")
                problem = f"HTTP {status}"
            wait = self.pause * 2 ** (attempt - 1)
            self.say(f"  {problem}; trying again in {wait:.0f} s ({attempt} of {self.tries - 1} retries)")
            time.sleep(wait)
        raise AssertionError("unreachable")

    # -- the API -----------------------------------------------------------------------------------
    def _headers(self, url: str, extra: dict | None = None) -> dict:
        """The token goes to the site only: never to a storage URL or any other host."""
        headers = {"Accept": "application/json", "User-Agent": "codabench-template"}
        if self.token and url.startswith(self.server + "/"):
            headers["Authorization"] = f"Token {self.token}"
        headers.update(extra or {})
        return headers

    def call(self, method: str, path: str, payload: dict | None = None, *, repeatable: bool | None = None,
             ok: tuple[int, ...] = (200, 201, 204)):
        """The JSON answer of `method path` with a JSON body; a refusal is a CodabenchError in Codabench's words."""
        url = path if "://" in path else self.server + path
        body = None if payload is None else json.dumps(payload).encode()
        headers = self._headers(url, {"Content-Type": "application/json"} if body is not None else None)
        status, data = self._attempts(method, url, headers=headers, body_from=lambda: body,
                                      repeatable=method == "GET" if repeatable is None else repeatable)
        if status not in ok:
            raise self.refusal(method, path, status, data)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise CodabenchError(f"{self.server} answered {method} {path} with something other than JSON "
                                 f"(HTTP {status}): is CODABENCH= the address of a Codabench site?") from None

    def page(self, competition: int) -> str:
        """The competition's page on the site."""
        return f"{self.server}/competitions/{competition}/"

    def get(self, path: str):
        return self.call("GET", path)

    def fetch(self, url: str) -> bytes:
        """The bytes at a signed storage URL (a log, a result), fetched without the token."""
        status, data = self._attempts("GET", url, headers={"User-Agent": "codabench-template"},
                                      body_from=lambda: None, repeatable=True)
        if status != 200:
            raise CodabenchError(f"could not fetch {urllib.parse.urlsplit(url).path} (HTTP {status})")
        return data

    def refusal(self, method: str, path: str, status: int, data: bytes) -> CodabenchError:
        text = _codabench_text(data)
        if status in (401, 403) and text in ("Invalid token.", "Authentication credentials were not provided."):
            if os.environ.get(TOKEN_VARIABLE, "").strip():
                return CodabenchError(f"{self.server} refused the API token in {TOKEN_VARIABLE} ({text}): set it to a "
                                      f"token of this site, or unset it to use the one {login_hint(self.server)} keeps")
            return CodabenchError(f"{self.server} refused the API token ({text}): {login_hint(self.server)} for a new one")
        if status == 404:
            return NotFound(f"{self.server} has no {path} (HTTP 404{': ' + text.rstrip('.') if text else ''})")
        return CodabenchError(f"{self.server} refused {method} {path} (HTTP {status}): {text or 'no reason given'}")

    def put_file(self, url: str, path: Path, label: str) -> None:
        """PUT the file's bytes to a signed storage URL, as the site's upload page does (repeatable: it overwrites)."""
        size = path.stat().st_size
        handles = []

        def body():
            while handles:
                handles.pop().close()
            handle = path.open("rb")
            handles.append(handle)
            return _Progress(handle, size, label, self.say)

        headers = {"Content-Type": "application/zip", "Content-Length": str(size)}
        if ".blob.core.windows.net" in url:
            headers["x-ms-blob-type"] = "BlockBlob"  # Azure storage
        try:
            status, data = self._attempts("PUT", url, headers=headers, body_from=body, repeatable=True)
        finally:
            while handles:
                handles.pop().close()
        if status not in (200, 201, 204):
            raise CodabenchError(f"the storage behind {self.server} refused {path.name} (HTTP {status}): "
                                 f"{_codabench_text(data)[:300] or 'no reason given'}")

    @staticmethod
    def sent_name(path: Path) -> str:
        """The file's name as Codabench keeps it: cut to its field's 64 characters."""
        return path.name if len(path.name) <= FILE_NAME_MAX else path.stem[:FILE_NAME_MAX - 4] + path.suffix[:4]

    def create_dataset(self, path: Path, kind: str, name: str) -> tuple[str, str]:
        """(key, signed upload URL) of a new dataset of type `kind` for the file at `path`."""
        file_name = self.sent_name(path)
        payload = {"name": name[:NAME_MAX], "type": kind, "request_sassy_file_name": file_name, "file_name": file_name,
                   "file_size": path.stat().st_size}
        answer = self.call("POST", "/api/datasets/", payload, repeatable=False, ok=(201,))
        return answer["key"], answer["sassy_url"]

    def upload_file(self, path: Path, kind: str, name: str, before_completion: Callable[[str], None] | None = None
                    ) -> tuple[str, dict]:
        """Create the dataset, PUT the file, mark it completed: (key, the completion's answer).

        The dataset's creation and its completion each create something on the site; when their answer is lost
        they are not repeated blindly: a lost creation is made again under a new name (the first, if it was made,
        is an empty dataset the site never uses), and a lost completion raises CompletionLost for the caller to
        check. `before_completion(key)` runs just before the completion is asked for (to record it).
        """
        self.say(f"  creating the upload on {self.server}")
        try:
            key, url = self.create_dataset(path, kind, name)
        except MaybeSent:
            self.say("  no answer to the upload's creation: making a new one under another name")
            try:
                key, url = self.create_dataset(path, kind, f"{name} (retry {int(time.time())})")
            except MaybeSent as error:
                raise CodabenchError(f"{error}, twice: nothing was uploaded; run the command again later") from None
        self.put_file(url, path, f"sending {path.name}")
        self.say(f"  sent {path.name} ({human(path.stat().st_size)})")
        if before_completion:
            before_completion(key)
        try:
            return key, self.call("PUT", f"/api/datasets/completed/{key}/", repeatable=False)
        except MaybeSent as error:
            raise CompletionLost(str(error)) from None


def _codabench_text(data: bytes) -> str:
    """The message in a DRF or storage error body, flattened to one line: "file_size: This field is required."."""
    try:
        answer = json.loads(data)
    except ValueError:
        text = data.decode("utf-8", "replace")
        if text.lstrip().startswith("<"):  # an HTML or XML error page: its title or code says most
            for tag in ("title", "Message", "Code", "h1"):
                start = text.find(f"<{tag}>")
                if start >= 0:
                    return " ".join(text[start + len(tag) + 2:text.find(f"</{tag}>", start)].split())[:300]
            return ""
        return " ".join(text.split())[:300]
    return " ".join(_flatten(answer).split())[:500]


def _flatten(answer, prefix: str = "") -> str:
    if isinstance(answer, dict):
        if set(answer) <= {"detail", "error", "error_msg", "non_field_errors"}:
            return "; ".join(_flatten(value) for value in answer.values())
        return "; ".join(_flatten(value, f"{key}: ") for key, value in answer.items())
    if isinstance(answer, list):
        return prefix + " ".join(_flatten(value) for value in answer)
    return prefix + str(answer)

