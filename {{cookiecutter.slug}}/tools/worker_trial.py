"""One submission through Codabench's own compute worker code, on this machine, before a real one arrives.

    python worker_trial.py plan.json        # run by `make worker-check`, inside the compute worker's image

`make worker-check` writes plan.json (the zips of the baseline and of the phase's first task, the image and
the time limit) and runs this file with the worker's code importable: inside Codabench's compute worker
image, with the worker's .env, its /codabench folder and the engine's socket, as a worker started by
worker/compose.yaml would be. It stands in for the site only: a server on 127.0.0.1 in this process gives
the worker its files, takes what it uploads, its status updates, its scores and its websockets (the
worker needs them: without one it fails a step that exited 0). The worker code itself runs unmodified:
`compute_worker.run_wrapper`, the function of its Celery task, once for the prediction step, then once
for scoring, with the arguments Codabench's site gives it (src/apps/competitions/tasks.py:120-237 at
c7dbc756). It pulls the competition's image, runs the programs in containers and posts the scores, so
this says what the queue's submissions will meet here. The report goes to the plan's `report` path.
Only the standard library and what the worker image has (websockets) are used.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PLAN = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")) if __name__ == "__main__" else {}
SUBMISSION_ID, USER = 1, 1
SECRET = secrets.token_hex(16)
STEP_NAMES = {"prediction": ("prediction_stdout", "prediction_stderr", "prediction_ingestion_stdout",
                             "prediction_ingestion_stderr"),
              "scoring": ("scoring_stdout", "scoring_stderr", "scoring_ingestion_stdout", "scoring_ingestion_stderr")}
STORED: dict[str, bytes] = {}  # what the worker PUT, by name
EVENTS: list[dict] = []  # status updates and scores, in order
LOCK = threading.Lock()


class Site(BaseHTTPRequestHandler):
    """The few routes of Codabench's site that its worker calls."""

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: bytes = b"{}") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _name(self) -> str:
        path = urlsplit(self.path).path
        return path.removeprefix("/files/") if path.startswith("/files/") else ""

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        name = self._name()
        if name in PLAN["files"]:
            return self._answer(200, Path(PLAN["files"][name]).read_bytes())
        if name in STORED:
            return self._answer(200, STORED[name])
        self._answer(404)

    def do_PUT(self):
        data = self._body()
        with LOCK:
            STORED[self._name()] = data
        self._answer(200, b"")

    def do_PATCH(self):
        body = {k: v[-1] for k, v in parse_qs(self._body().decode("utf-8"), keep_blank_values=True).items()}
        ok = self.path == f"/api/submissions/{SUBMISSION_ID}/" and body.get("secret") == SECRET
        if ok:
            with LOCK:
                EVENTS.append({"status": body.get("status"), "details": body.get("status_details"), "time": time.time()})
        self._answer(200 if ok else 403)

    def do_POST(self):
        try:
            body = json.loads(self._body())
        except ValueError:
            body = {}
        ok = self.path == f"/api/upload_submission_scores/{SUBMISSION_ID}/" and body.get("secret") == SECRET
        if ok:
            with LOCK:
                EVENTS.append({"scores": body.get("scores"), "time": time.time()})
        self._answer(200 if ok else 403, b"")

    def _websocket(self):
        serve_websocket(self, f"/submission_input/{USER}/{SUBMISSION_ID}/{SECRET}/")


def serve_websocket(handler: BaseHTTPRequestHandler, path: str, on_text=None) -> int:
    """Answer the websocket request `handler` holds as the site's SubmissionIOConsumer does: accepted only at `path`,
    then each text frame the worker sends goes to on_text until it closes. The HTTP status answered (101 or 403).
    The template's tests use it too (tests/codabench_worker.py)."""
    from websockets.frames import Opcode  # the worker's own dependency
    from websockets.server import ServerProtocol

    protocol = ServerProtocol()
    head = [handler.raw_requestline] + [f"{k}: {v}\r\n".encode("latin-1") for k, v in handler.headers.items()]
    protocol.receive_data(b"".join(head) + b"\r\n")
    (request,) = protocol.events_received()
    ok = urlsplit(handler.path).path == path
    response = protocol.accept(request) if ok else protocol.reject(403, "wrong submission or secret\n")
    protocol.send_response(response)
    handler.close_connection = True
    try:
        while True:
            for out in protocol.data_to_send():
                if not out:
                    return response.status_code
                handler.wfile.write(out)
            if not ok:
                return response.status_code
            data = handler.rfile.read1(65536)
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            for frame in protocol.events_received():
                if on_text is not None and frame.opcode == Opcode.TEXT:
                    on_text(frame.data.decode("utf-8", "replace"))
            if not data:
                return response.status_code
    except OSError:
        return response.status_code


def run_args(site: str, step: str) -> dict:
    """What Codabench's site sends the worker for one step, on a private queue (tasks.py:120-237)."""
    def url(name: str) -> str:
        return f"{site}/files/{name}?signature={secrets.token_hex(8)}"

    scoring = step == "scoring"
    files = PLAN["files"]
    during_scoring = bool(PLAN.get("ingestion_only_during_scoring"))
    args = {"user_pk": USER, "submissions_api_url": f"{site}/api", "secret": SECRET, "docker_image": PLAN["docker_image"],
            "execution_time_limit": int(PLAN["execution_time_limit"]), "id": SUBMISSION_ID, "is_scoring": scoring,
            "prediction_result": url("prediction_result.zip"), "ingestion_only_during_scoring": during_scoring,
            "program_data": url("scoring_program" if scoring else "submission")}
    if scoring:
        args["scoring_result"] = url("scoring_result.zip")
        if PLAN.get("detailed_results"):
            args["detailed_results_url"] = url("detailed_results.html")
        if "reference_data" in files:
            args["reference_data"] = url("reference_data")
    if "ingestion_program" in files and during_scoring == scoring:
        args["ingestion_program"] = url("ingestion_program")
    if "input_data" in files and (not scoring or during_scoring):
        args["input_data"] = url("input_data")
    for name in STEP_NAMES[step]:
        args[name] = url(f"{name}.txt")
    return args


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_port}"
    import compute_worker  # Codabench's worker, as its image (or CODABENCH_WORKER_PATH) has it

    report = {"steps": [], "events": EVENTS}
    for step in ("prediction", "scoring"):
        if step == "scoring" and not any(e.get("status") == "Scoring" for e in EVENTS):
            break  # the site queues scoring only once the prediction step says "Scoring"
        args = run_args(site, step)
        started, error = time.monotonic(), None
        print(f"[worker-check] {step} step through Codabench's worker", flush=True)
        try:
            compute_worker.run_wrapper(args)
        except Exception:  # noqa: BLE001 - whatever the worker's code raises is reported with the rest
            error = traceback.format_exc(limit=3)
        report["steps"].append({"step": step, "seconds": round(time.monotonic() - started, 2), "error": error})
        for key in ("input_data", "reference_data"):  # these URLs are never fetched again: drop their cache entries
            if key in args:
                digest = hashlib.sha256(args[key].split("?")[0].encode("utf8")).hexdigest()
                Path(compute_worker.CACHE_DIR, digest).unlink(missing_ok=True)
    time.sleep(0.2)  # the last websocket frames
    server.shutdown()
    with LOCK:
        report["logs"] = {name: STORED.get(f"{name}.txt", b"").decode("utf-8", "replace")[-2000:]
                          for names in STEP_NAMES.values() for name in names}
    Path(PLAN["report"]).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
