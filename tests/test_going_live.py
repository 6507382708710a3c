"""make login, upload, submit and leaderboard: the bundle's Codabench client, on Codabench's own site and worker.

The fast tests hold the client to its own promises with small local servers (what is retried, what
is never sent twice, one line per failure, where a token may go). The slow ones run the commands
against Codabench's site and compute worker from the source snapshot (tests/codabench_site.py):
what Codabench stores, scores, ranks and refuses is its own code's answer, never a stand-in's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import PYTHON

TOKEN_NAME = "CODABENCH_TOKEN"


# -- the client's own promises, on local servers ----------------------------------------------
class Listener:
    """A TCP server on 127.0.0.1 that runs `handle(connection)` for each connection and counts them."""

    def __init__(self, handle):
        self.handle, self.connections = handle, 0
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                self.handle(connection)

    def close(self):
        self.socket.close()


def read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        body += connection.recv(65536)
    return head


@pytest.fixture
def client_module(tools):
    import codabench_client

    return codabench_client


def quiet_client(module, url, token="t0ken-never-shown"):
    said = []
    return module.Codabench(url, token, pause=0, timeout=5, say=said.append), said


def test_a_request_whose_answer_is_lost_is_sent_once_unless_it_is_harmless_to_repeat(client_module):
    listener = Listener(lambda connection: read_request(connection))  # reads the request, closes without answering
    try:
        client, said = quiet_client(client_module, f"http://127.0.0.1:{listener.port}")
        with pytest.raises(client_module.MaybeSent):
            client.call("POST", "/api/submissions/", {"phase": 1}, repeatable=False)
        assert listener.connections == 1
        with pytest.raises(client_module.CodabenchError, match=f"tried {client_module.TRIES} times"):
            client.get("/api/competitions/1/")
        assert listener.connections == 1 + client_module.TRIES
        assert len(said) == client_module.TRIES - 1 and all("trying again" in line for line in said)
    finally:
        listener.close()


def test_an_unreachable_site_is_one_line_naming_the_fix(client_module):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, said = quiet_client(client_module, f"http://127.0.0.1:{port}")
    with pytest.raises(client_module.CodabenchError) as error:
        client.call("POST", "/api/datasets/", {}, repeatable=False)  # never reached the site: retried
    message = str(error.value)
    assert "\n" not in message and f"127.0.0.1:{port}" in message and "CODABENCH=" in message
    assert f"tried {client_module.TRIES} times" in message and len(said) == client_module.TRIES - 1


def test_a_tls_failure_is_named_as_such(client_module):  # an https:// address of a site that speaks plain HTTP
    listener = Listener(lambda connection: connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"))  # no TLS here
    try:
        client, _ = quiet_client(client_module, f"https://127.0.0.1:{listener.port}")
        with pytest.raises(client_module.CodabenchError) as error:
            client.get("/api/competitions/")
        assert str(error.value).startswith(f"TLS error talking to 127.0.0.1:{listener.port}: WRONG_VERSION_NUMBER")
        assert str(error.value).endswith(f"this site may not speak TLS: try CODABENCH=http://127.0.0.1:{listener.port}")
        assert listener.connections == 1  # a TLS error is not transient: not retried
    finally:
        listener.close()


def test_the_token_goes_to_the_site_and_nowhere_else(client_module):
    heads = []

    def answer(connection):
        heads.append(read_request(connection))
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")

    site, storage = Listener(answer), Listener(answer)
    try:
        client, _ = quiet_client(client_module, f"http://127.0.0.1:{site.port}", token="s3cr3t-token")
        client.get("/api/competitions/")
        client.fetch(f"http://127.0.0.1:{storage.port}/private/log.txt?Signature=x")
        assert b"Authorization: Token s3cr3t-token" in heads[0]
        assert b"s3cr3t-token" not in heads[1] and b"Authorization" not in heads[1]
    finally:
        site.close()
        storage.close()


def test_a_proxy_from_the_environment_is_used(client_module, monkeypatch):
    heads = []

    def answer(connection):
        heads.append(read_request(connection))
        if heads[-1].startswith(b"CONNECT"):
            connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        else:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    proxy = Listener(answer)
    try:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        client, _ = quiet_client(client_module, "http://codabench.invalid")
        assert client.get("/api/competitions/") == {}
        assert heads[0].startswith(b"GET http://codabench.invalid/api/competitions/ HTTP/1.1")
        client, _ = quiet_client(client_module, "https://codabench.invalid")
        with pytest.raises(client_module.CodabenchError):
            client.get("/api/competitions/")  # the proxy refuses the tunnel
        assert heads[1].startswith(b"CONNECT codabench.invalid:443 HTTP/1.")
    finally:
        proxy.close()


def test_a_redirect_is_not_followed_and_names_the_site(client_module):
    def answer(connection):
        read_request(connection)
        connection.sendall(b"HTTP/1.1 301 Moved\r\nLocation: https://codabench.example/api/x/\r\nContent-Length: 0\r\n\r\n")

    listener = Listener(answer)
    try:
        client, _ = quiet_client(client_module, f"http://127.0.0.1:{listener.port}")
        with pytest.raises(client_module.CodabenchError) as error:
            client.get("/api/x/")
        assert str(error.value) == (f"127.0.0.1:{listener.port} answered HTTP 301, sending to "
                                    "https://codabench.example: give that site as CODABENCH=")
        assert listener.connections == 1
    finally:
        listener.close()


def test_a_storage_refusal_is_said_in_its_own_words_and_not_retried(client_module, tmp_path):
    def answer(connection):
        read_request(connection)
        body = b"<Error><Code>SignatureDoesNotMatch</Code><Message>The signature did not match</Message></Error>"
        connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    listener = Listener(answer)
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(b"0" * 2_000_000)
    try:
        client, _ = quiet_client(client_module, "http://127.0.0.1:1")
        with pytest.raises(client_module.CodabenchError) as error:
            client.put_file(f"http://127.0.0.1:{listener.port}/private/bundle.zip?Signature=x", archive, "sending")
        assert str(error.value).endswith("refused bundle.zip (HTTP 403): The signature did not match")
        assert listener.connections == 1
    finally:
        listener.close()


def test_a_token_with_a_line_break_is_refused_before_any_request(tools, monkeypatch, tmp_path):
    import credentials

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv(TOKEN_NAME, "abc\ndef0123456789")
    with pytest.raises(credentials.CodabenchError, match="has characters or a length no token has") as error:
        credentials.find_token("https://www.codabench.org")
    assert "0123456789" not in str(error.value)


@pytest.mark.parametrize(("given", "expected"), [
    ("", "https://www.codabench.org"), ("codabench.org/", "https://codabench.org"),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"), ("ftp://example.org", None), ("https://", None),
])
def test_the_site_address(client_module, given, expected):
    if expected is None:
        with pytest.raises(client_module.CodabenchError, match="is not a Codabench address"):
            client_module.normalize_server(given)
    else:
        assert client_module.normalize_server(given) == expected


def test_tokens_come_from_the_environment_or_an_owner_only_file(tools, tmp_path, monkeypatch):
    import credentials

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv(TOKEN_NAME, raising=False)
    with pytest.raises(credentials.CodabenchError, match=r"run `make login CODABENCH=http://x.org` once"):
        credentials.find_token("http://x.org")
    path = credentials.save_token("http://x.org", "abc")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and credentials.find_token("http://x.org") == "abc"
    monkeypatch.setenv(TOKEN_NAME, "from-env")
    assert credentials.find_token("http://x.org") == "from-env"
    monkeypatch.delenv(TOKEN_NAME)
    path.chmod(0o644)
    with pytest.raises(credentials.CodabenchError, match=r"can be read by other users, so it is not used: `chmod 600"):
        credentials.find_token("http://x.org")


# -- on Codabench's own site and compute worker -------------------------------------------------
def make(bundle: Path, *arguments: str, token: str | None = None, config: Path | None = None, timeout: int = 900,
         stdin: str | None = None) -> subprocess.CompletedProcess:
    """`make ARGUMENTS` in the bundle, with the token (if any) in the environment only, and a config folder of its own."""
    env = {key: value for key, value in os.environ.items() if key != TOKEN_NAME}
    env.update(PYTHONDONTWRITEBYTECODE="1", XDG_CONFIG_HOME=str(config or bundle.parent / "config"))
    if token:
        env[TOKEN_NAME] = token
    return subprocess.run(["make", "--no-print-directory", *arguments, f"PYTHON={PYTHON}"], cwd=bundle, env=env,
                          capture_output=True, text=True, timeout=timeout, input=stdin, check=False)


@pytest.fixture
def live_bundle(bundle, tmp_path) -> Path:
    """A copy of the bundle (with its data) of its own: each test has its own .codabench record."""
    root = tmp_path / bundle.name
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns(".venv", "runs", "dist", "__pycache__", ".pytest_cache",
                                                               ".codabench"))
    return root


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


@pytest.mark.slow
def test_upload_creates_the_competition_the_bundle_declares(codabench_site, live_bundle):
    token = codabench_site.token("declaring-organizer")
    done = make(live_bundle, "upload", f"CODABENCH={codabench_site.url}", token=token)
    assert done.returncode == 0, output(done)[-3000:]
    record = json.loads((live_bundle / ".codabench" / "live.json").read_text())[codabench_site.url]
    assert "pending" not in record and f"Competition {record['competition']} is on Codabench" in done.stdout

    declared = yaml.safe_load((live_bundle / "competition.yaml").read_text(encoding="utf-8"))
    stored = json.loads(codabench_site.django(f"""
def stored():
    import json
    from competitions.models import Competition
    c = Competition.objects.get(pk={record['competition']})
    boards = {{p.leaderboard_id for p in c.phases.all()}}
    board = c.phases.first().leaderboard
    print(json.dumps({{
      "title": c.title, "docker_image": c.docker_image, "published": c.published,
      "registration_auto_approve": c.registration_auto_approve,
      "phases": [{{"name": p.name, "start": p.start.isoformat(), "end": p.end.isoformat() if p.end else None,
                  "max_submissions_per_day": p.max_submissions_per_day, "max_submissions_per_person": p.max_submissions_per_person,
                  "execution_time_limit": p.execution_time_limit, "auto_migrate": p.auto_migrate_to_this_phase,
                  "tasks": [t.name for t in p.tasks.all()],
                  "files": {{kind: getattr(t, kind).data_file.size for t in p.tasks.all()
                            for kind in ("scoring_program", "ingestion_program", "reference_data", "input_data")
                            if getattr(t, kind)}}}}
                 for p in c.phases.order_by("index")],
      "boards": len(boards), "board": {{"key": board.key, "rule": board.submission_rule,
                "columns": [[col.key, col.title, col.sorting, col.precision, col.hidden] for col in board.columns.order_by("index")]}},
      "pages": [page.title for page in c.pages.order_by("index")],
    }}))
stored()
""").strip().splitlines()[-1])

    assert stored["title"] == declared["title"] and stored["docker_image"] == declared["docker_image"]
    assert stored["published"] is False
    assert stored["registration_auto_approve"] == declared.get("registration_auto_approve", False)
    assert [page["title"] for page in declared["pages"]] == stored["pages"]
    assert [phase["name"] for phase in declared["phases"]] == [phase["name"] for phase in stored["phases"]]
    tasks = {task["index"]: task for task in declared["tasks"]}
    with zipfile.ZipFile(live_bundle / "dist" / "bundle.zip") as archive:
        names = archive.namelist()
    for want, have in zip(declared["phases"], stored["phases"]):
        assert have["start"].startswith(str(want["start"]).replace(" ", "T")[:10]), (want, have)
        assert have["end"].startswith(str(want["end"]).replace(" ", "T")[:10]), (want, have)
        assert have["max_submissions_per_day"] == want["max_submissions_per_day"]
        assert have["max_submissions_per_person"] == want["max_submissions"]
        assert have["execution_time_limit"] == want["execution_time_limit"]
        assert have["auto_migrate"] == bool(want.get("auto_migrate_to_this_phase"))
        assert have["tasks"] == [tasks[index]["name"] for index in want["tasks"]]
        for kind in ("scoring_program", "ingestion_program", "reference_data", "input_data"):
            folder = tasks[want["tasks"][0]].get(kind)
            if folder:  # each folder is stored as a zip of its files: none is empty, and the folder shipped
                assert have["files"][kind] > 0 and any(name.startswith(folder + "/") for name in names), (kind, have)
    (board,) = declared["leaderboards"]
    assert stored["boards"] == 1  # every phase ranks on the one leaderboard
    assert stored["board"]["key"] == board["key"] and stored["board"]["rule"] == board["submission_rule"]
    assert stored["board"]["columns"] == [[col["key"], col["title"], col["sorting"], col.get("precision", 2),
                                           bool(col.get("hidden", False))] for col in board["columns"]]

    # The same bundle again is not a second competition, unless asked for.
    again = make(live_bundle, "upload", f"CODABENCH={codabench_site.url}", token=token)
    assert again.returncode != 0 and "was already made from this bundle on" in again.stderr
    assert "Wrote" not in again.stdout  # refused before the bundle was built
    assert "nothing was uploaded" in again.stderr and "make upload NEW=1" in again.stderr
    assert count_competitions(codabench_site, declared["title"], owner="declaring-organizer") == 1

    # Nothing of the token in what the commands wrote or printed.
    for path in [*live_bundle.rglob("*")]:
        if path.is_file() and ".venv" not in path.parts:
            assert token.encode() not in path.read_bytes(), path
    assert token not in output(done) + output(again)


def count_competitions(site, title: str, owner: str) -> int:
    return int(site.django(f"from competitions.models import Competition; print(Competition.objects.filter("
                           f"title={title!r}, created_by__username={owner!r}).count())").strip().splitlines()[-1])


@pytest.mark.slow
def test_a_bundle_codabench_refuses_gets_codabench_text(codabench_site, live_bundle, tmp_path):
    token = codabench_site.token("organizer")
    assert make(live_bundle, "bundle").returncode == 0
    broken = tmp_path / "broken.zip"  # what make bundle would never write: no leaderboards
    with zipfile.ZipFile(live_bundle / "dist" / "bundle.zip") as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "competition.yaml":
                competition = yaml.safe_load(data)
                del competition["leaderboards"]
                data = yaml.safe_dump(competition).encode()
            target.writestr(item, data)
    env = {**os.environ, TOKEN_NAME: token, "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run([PYTHON, "tools/upload.py", "--server", codabench_site.url, "--bundle", str(broken)],
                          cwd=live_bundle, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ERROR: Codabench could not create the competition: Could not find leaderboards in the competition yaml")
    assert codabench_site.url not in json.loads((live_bundle / ".codabench" / "live.json").read_text())


@pytest.mark.slow
def test_token_failures_and_login(codabench_site, live_bundle, tmp_path):
    url = codabench_site.url
    missing = make(live_bundle, "leaderboard", f"CODABENCH={url}")
    assert missing.returncode != 0
    assert f"ERROR: no Codabench API token for {url}: run `make login CODABENCH={url}` once" in missing.stderr
    wrong = make(live_bundle, "leaderboard", f"CODABENCH={url}", "COMPETITION=1", token="0" * 40)
    assert wrong.returncode != 0
    assert f"ERROR: {url} refused the API token in CODABENCH_TOKEN (Invalid token.): set it to a token of this site, " \
           f"or unset it to use the one `make login CODABENCH={url}` keeps" in wrong.stderr

    codabench_site.token("student", password="a-long-pass-phrase")
    config = tmp_path / "config"
    refused = make(live_bundle, "login", f"CODABENCH={url}", config=config, stdin="a-long-pass-phrase\n")
    assert refused.returncode != 0
    assert "without a terminal, make login reads the password from standard input and needs the username" in refused.stderr
    login = subprocess.run([PYTHON, "tools/credentials.py", "login", "--server", url, "--username", "student",
                            "--password-stdin"], cwd=live_bundle, input="wrong\n", capture_output=True, text=True,
                           env={**os.environ, "XDG_CONFIG_HOME": str(config)}, timeout=120, check=False)
    assert login.returncode == 1 and "did not accept that username and password" in login.stderr
    login = make(live_bundle, "login", f"CODABENCH={url}", "CODABENCH_USERNAME=student", config=config,
                 stdin="a-long-pass-phrase\n")
    assert login.returncode == 0, output(login)
    tokens = config / "codabench" / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    token = json.loads(tokens.read_text())[url]
    assert token == codabench_site.token("student") and token not in login.stdout + login.stderr
    board = make(live_bundle, "leaderboard", f"CODABENCH={url}", config=config)
    assert "has no competition on" in board.stderr  # the token worked; this bundle was never uploaded there


@pytest.mark.slow
def test_upload_submit_leaderboard_with_codabench_worker(codabench_site, live_bundle):
    """The Done of the issue: make upload SUBMIT=baseline puts the baseline on the leaderboard with make run's scores."""
    token = codabench_site.token("organizer")
    done = make(live_bundle, "upload", f"CODABENCH={codabench_site.url}", "SUBMIT=baseline", token=token, timeout=1200)
    assert done.returncode == 0, output(done)[-4000:] + codabench_site.log("compute-worker")[-3000:]
    assert "Finished" in done.stderr and "place 1 of 1 on the Development leaderboard" in done.stdout

    local = make(live_bundle, "run")
    assert local.returncode == 0, output(local)
    newest = max((live_bundle / "runs").iterdir(), key=lambda path: path.stat().st_mtime)
    (scores_file,) = newest.glob("task*/scoring/output/scores.json")
    local_scores = json.loads(scores_file.read_text())
    printed = dict(line.strip().split(": ", 1) for line in done.stdout.splitlines()
                   if line.startswith("  ") and ": " in line and not line.strip().startswith("phases"))
    for key, value in local_scores.items():
        if key != "duration":  # a time
            assert abs(float(printed[key]) - value) <= 1e-6 * max(1, abs(value)), (key, printed[key], value)

    board = make(live_bundle, "leaderboard", "CSV=board.csv", token=token)
    assert board.returncode == 0, output(board)
    lines = board.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("#"))
    assert lines[header - 1].startswith("Results: Development of competition ") and lines[header - 1].endswith("1 entry")
    assert lines[header].split()[:4] == ["#", "participant", "ROC", "AUC"], lines
    assert lines[header + 1].split()[:2] == ["1", "organizer"], lines
    rows = (live_bundle / "board.csv").read_text().splitlines()
    assert rows[0].startswith("rank,participant,") and rows[1].startswith("1,organizer,")

    failing = make(live_bundle, "submit", "SUBMISSION=starting_kit/failing_submission", token=token, timeout=1200)
    assert failing.returncode != 0
    expected = (live_bundle / "starting_kit" / "failing_submission" / "expected_error.txt").read_text().strip()
    assert re.search(r"ERROR: submission \d+ Failed: ", failing.stderr), failing.stderr[-3000:]
    # The participant's error is shown from the submission's logs: from prediction_ingestion_stderr, or, when
    # Codabench's worker loses the prediction step's log (its log loop races the program's start: about 1 run in 8
    # with two stacks at once here), from scoring_stderr, where the scoring program repeats the prediction step's error.
    core = expected.removeprefix("ERROR: ").split(";")[0]
    assert re.search(r"last lines of (prediction_ingestion|scoring)_stderr", failing.stderr), failing.stderr[-3000:]
    assert core in failing.stderr, failing.stderr[-3000:]


class FaultyProxy:
    """An HTTP proxy in front of the site that breaks chosen exchanges, as a flaky network or proxy would.

    faults: {("PUT", "/api/datasets/completed/"): "lose-answer", ("PUT", "/storage/"): "cut-body"}: the first
    request whose method and path prefix match gets the fault once. "lose-answer": forwarded to the site, whose
    answer is then dropped (the connection closes); "cut-body": the connection closes halfway through the request's
    body, which the site never sees. The storage URLs in the site's answers to POST /api/datasets/ are rewritten to
    go through the proxy (under /storage/) so that the file transfer can be cut too.
    """

    def __init__(self, site_url: str, faults: dict):
        import http.client
        import urllib.parse
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.faults, self.done, self.requests = dict(faults), [], []
        target = urllib.parse.urlsplit(site_url)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                fault = proxy._fault(self.command, self.path)
                proxy.requests.append((self.command, self.path, fault))
                if fault == "cut-body":
                    self.rfile.read(length // 2)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = self.rfile.read(length) if length else None
                path, host = self.path, (target.hostname, target.port)
                if path.startswith("/storage/"):  # the storage URL the site signed, unchanged but for its host
                    storage = urllib.parse.urlsplit(urllib.parse.unquote(path[len("/storage/"):].split("/", 1)[1]))
                    host, path = (storage.hostname, storage.port), storage.path + ("?" + storage.query if storage.query else "")
                upstream = http.client.HTTPConnection(*host, timeout=120)
                headers = {key: value for key, value in self.headers.items() if key.lower() not in ("host", "connection")}
                upstream.request(self.command, path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                if fault == "lose-answer":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if self.command == "POST" and self.path.startswith("/api/datasets/") and answer.status == 201:
                    created = json.loads(data)
                    created["sassy_url"] = f"{proxy.url}/storage/x/{urllib.parse.quote(created['sassy_url'], safe='')}"
                    data = json.dumps(created).encode()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _fault(self, method: str, path: str) -> str | None:
        for (want_method, prefix), fault in list(self.faults.items()):
            if method == want_method and path.startswith(prefix):
                del self.faults[(want_method, prefix)]
                self.done.append((method, path, fault))
                return fault
        return None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_a_connection_that_breaks_mid_upload_sends_nothing_twice(codabench_site, live_bundle):
    """The file transfer cut halfway, the answers to the upload's completion and to the submission lost: one
    competition and one submission all the same, and the baseline scored."""
    token = codabench_site.token("flaky-organizer")
    proxy = FaultyProxy(codabench_site.url, {("PUT", "/storage/"): "cut-body",
                                            ("PUT", "/api/datasets/completed/"): "lose-answer",
                                            ("POST", "/api/submissions/"): "lose-answer"})
    try:
        done = make(live_bundle, "upload", f"CODABENCH={proxy.url}", "SUBMIT=baseline", token=token, timeout=1200)
    finally:
        proxy.close()
    assert [fault for _, _, fault in proxy.done] == ["cut-body", "lose-answer", "lose-answer"], proxy.requests
    assert done.returncode == 0, output(done)[-4000:]
    assert "trying again" in done.stderr  # the transfer, after the cut
    assert "the answer to the upload's completion was lost" in done.stderr
    assert "the answer to the submission was lost" in done.stderr
    counts = json.loads(codabench_site.django("""
import json
from competitions.models import Competition, Submission
print(json.dumps([Competition.objects.filter(created_by__username="flaky-organizer").count(),
                  Submission.objects.filter(owner__username="flaky-organizer", parent__isnull=True).count()]))
""").strip().splitlines()[-1])
    assert counts == [1, 1]
    assert "place 1 of 1 on the Development leaderboard" in done.stdout


@pytest.mark.slow
def test_quota_and_a_slow_unpacking_are_one_line_each_and_the_wait_resumes(codabench_site, live_bundle, tmp_path):
    token = codabench_site.token("small-quota")
    assert make(live_bundle, "bundle").returncode == 0
    env = {**os.environ, TOKEN_NAME: token, "XDG_CONFIG_HOME": str(tmp_path)}

    def upload(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "tools/upload.py", "--server", codabench_site.url, *extra], cwd=live_bundle,
                              env=env, capture_output=True, text=True, timeout=300, check=False)

    codabench_site.django("from profiles.models import User; User.objects.filter(username='small-quota').update(quota=0)")
    full = upload()
    assert full.returncode == 1
    (last,) = [line for line in full.stderr.splitlines() if line.startswith("ERROR")]
    assert "refused POST /api/datasets/ (HTTP 400): data_file: Insufficient space. Your available space is" in last
    assert not (live_bundle / ".codabench" / "live.json").exists()

    codabench_site.django("from profiles.models import User; User.objects.filter(username='small-quota').update(quota=10)")
    impatient = upload("--timeout", "0")  # gives up at the first look: Codabench has not unpacked it yet
    assert impatient.returncode == 1
    assert "Codabench has not finished unpacking after 0 min" in impatient.stderr
    assert "`make upload` again waits for this same upload (nothing is sent twice)" in impatient.stderr
    resumed = upload()
    assert resumed.returncode == 0, output(resumed)
    assert "Resuming the wait for the upload of " in resumed.stderr and "Uploading" not in resumed.stderr
    assert count_competitions(codabench_site, yaml.safe_load((live_bundle / "competition.yaml").read_text())["title"],
                              owner="small-quota") == 1


@pytest.mark.slow
def test_a_phase_of_two_datasets_is_scored_and_ranked_per_dataset(codabench_site, bake, tmp_path):
    """Two datasets per phase: one task scoring each dataset into its own columns, all of them on the leaderboard."""
    root = bake(datasets_per_phase="2", task_type="regression")
    assert make(root, "data", config=tmp_path).returncode == 0
    token = codabench_site.token("two-dataset-organizer")
    done = make(root, "upload", f"CODABENCH={codabench_site.url}", "SUBMIT=baseline", token=token, config=tmp_path,
                timeout=1200)
    assert done.returncode == 0, output(done)[-4000:] + codabench_site.log("compute-worker")[-2000:]
    assert "place 1 of 1 on the Development leaderboard" in done.stdout
    (board_declared,) = yaml.safe_load((root / "competition.yaml").read_text())["leaderboards"]
    columns = [column for column in board_declared["columns"] if not column.get("hidden")]
    assert {"rmse_ds1", "rmse_ds2", "rmse_mean"} <= {column["key"] for column in columns}
    printed = {line.split(": ")[0].strip() for line in done.stdout.splitlines() if line.startswith("  ") and ": " in line}
    assert {column["key"] for column in columns} <= printed, done.stdout

    board = make(root, "leaderboard", token=token, config=tmp_path)
    assert board.returncode == 0, output(board)
    lines = board.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("#"))
    position = [lines[header].index(column["title"]) for column in columns]  # Codabench's order: the columns' index
    assert position == sorted(position), lines[header]
    assert lines[header + 1].split()[:2] == ["1", "two-dataset-organizer"]


@pytest.mark.slow
def test_what_can_be_refused_is_refused_before_anything_is_made(codabench_site, live_bundle, tmp_path):
    token = codabench_site.token("careful-organizer")
    url = codabench_site.url
    title = yaml.safe_load((live_bundle / "competition.yaml").read_text())["title"]

    typo = make(live_bundle, "upload", f"CODABENCH={url}", "SUBMIT=baselin", token=token)
    assert typo.returncode != 0 and "ERROR: SUBMIT=baselin: no such file or folder" in typo.stderr
    phase = make(live_bundle, "upload", f"CODABENCH={url}", "SUBMIT=baseline", "PHASE=Nope", token=token)
    assert phase.returncode != 0 and "competition.yaml has no phase 'Nope' to submit to: PHASE= one of" in phase.stderr
    assert not (live_bundle / "dist").exists() and count_competitions(codabench_site, title, "careful-organizer") == 0

    first = make(live_bundle, "upload", f"CODABENCH={url}", token=token)
    assert first.returncode == 0, output(first)
    record = live_bundle / ".codabench" / "live.json"
    live = json.loads(record.read_text())[url]

    # A second upload that Codabench refuses leaves the first competition recorded.
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(live_bundle / "dist" / "bundle.zip") as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            if not item.filename.startswith("scoring_program/"):
                target.writestr(item, source.read(item))
    env = {**os.environ, TOKEN_NAME: token, "XDG_CONFIG_HOME": str(tmp_path)}
    refused = subprocess.run([PYTHON, "tools/upload.py", "--server", url, "--bundle", str(broken), "--new"],
                             cwd=live_bundle, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode == 1 and "Codabench could not create the competition: " in refused.stderr
    assert json.loads(record.read_text())[url] == live

    # A zip that is not one is refused here, not after minutes on the worker.
    (tmp_path / "model.zip").write_text("import numpy\n")
    notzip = make(live_bundle, "submit", f"SUBMISSION={tmp_path / 'model.zip'}", token=token)
    assert notzip.returncode != 0 and "is not a zip Codabench can open" in notzip.stderr

    # The competition deleted on the site: submit and upload say so (it may as well be another account's token),
    # and NEW=1 makes a new one.
    codabench_site.django(f"from competitions.models import Competition; Competition.objects.filter(pk={live['competition']}).delete()")
    gone = make(live_bundle, "submit", token=token)
    assert gone.returncode != 0
    assert f"competition {live['competition']}, where `make upload` put this bundle, is no longer on {url}" in gone.stderr
    refused = make(live_bundle, "upload", f"CODABENCH={url}", token=token)
    assert refused.returncode != 0 and "(deleted there, or the token is another account's)" in refused.stderr
    assert "`make upload NEW=1` makes a new one" in refused.stderr
    again = make(live_bundle, "upload", f"CODABENCH={url}", "NEW=1", token=token)
    assert again.returncode == 0, output(again)
    assert json.loads(record.read_text())[url]["competition"] != live["competition"]
