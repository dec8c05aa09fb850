"""A real JupyterLab server for the tests, and a client speaking its REST API and kernel websocket.

:class:`LabServer` starts ``python -m jupyterlab`` on 127.0.0.1 with a free port and a token, in a root folder
of the test's own, with Jupyter's config, runtime and IPython folders isolated inside it (no user settings, no
browser, no update check or news feed), and shuts it down through ``/api/shutdown``.
:class:`LabClient` opens notebooks through ``/api/contents``, starts kernels through ``/api/sessions`` and runs
code over ``/api/kernels/<id>/channels`` with tornado's websocket client (the one jupyter_server runs on),
collecting every message the kernel sends back for each cell.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from nbformat.v4 import output_from_msg
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

START_TIMEOUT = 120
CELL_TIMEOUT = 600


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``python -m jupyterlab`` serving ``root`` on loopback; use as a context manager."""

    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home
        self.token = secrets.token_hex(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "jupyterlab.log"
        # kernels talk over Unix sockets in this folder, not TCP ports: a port picked free and bound a moment
        # later can be taken in between ("Address already in use"); a socket path is the kernel's alone
        self.runtime = tempfile.mkdtemp(prefix="lab-rt-")
        self.process: subprocess.Popen | None = None

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
        for name, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipython")):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
            env[name] = str(self.home / sub)
        env["JUPYTER_RUNTIME_DIR"] = self.runtime  # short: kernels' sockets live there
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        return env

    def start(self) -> LabServer:
        argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
                "--KernelManager.transport=ipc"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
            argv.append("--allow-root")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=self.root, env=self._env(), stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if self.request("GET", "/api/status")[0] == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {START_TIMEOUT}s:\n{self.log.read_text()}")

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        """One REST call with the token; (HTTP status, decoded JSON or None)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, None

    def stop(self) -> int | None:
        """Shut the server down through its API (it stops its kernels); its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                self.request("POST", "/api/shutdown")
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait(timeout=30)
        return self.process.returncode

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.runtime, ignore_errors=True)


@dataclass
class CellRun:
    """What the kernel sent back for one cell."""

    reply: dict = field(default_factory=dict)           # execute_reply content
    messages: list[dict] = field(default_factory=list)  # iopub messages (type and content)

    def of_type(self, *types: str) -> list[dict]:
        return [m for m in self.messages if m["msg_type"] in types]

    def outputs(self) -> list:
        """The cell's outputs as a front end keeps them: display updates applied to their display id."""
        out, by_id = [], {}
        for m in self.messages:
            kind, content = m["msg_type"], m["content"]
            display_id = content.get("transient", {}).get("display_id")
            if kind == "update_display_data":
                for output in by_id.get(display_id, []):
                    output["data"], output["metadata"] = content["data"], content.get("metadata", {})
            elif kind in ("stream", "display_data", "execute_result", "error"):
                output = output_from_msg({"msg_type": kind, "header": {"msg_type": kind}, "content": content})
                out.append(output)
                if display_id:
                    by_id.setdefault(display_id, []).append(output)
        return out


class KernelChannel:
    """The websocket of one kernel: execute code, wait for its reply and its iopub messages."""

    def __init__(self, server: LabServer, kernel_id: str):
        self.server, self.kernel_id = server, kernel_id
        self.session = uuid.uuid4().hex
        self.ws = None

    async def __aenter__(self) -> KernelChannel:
        url = (f"ws://127.0.0.1:{self.server.port}/api/kernels/{self.kernel_id}/channels"
               f"?session_id={self.session}")
        self.ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {self.server.token}"}),
                                          max_message_size=1 << 30)
        return self

    async def __aexit__(self, *exc) -> None:
        self.ws.close()

    def _message(self, code: str) -> dict:
        header = {"msg_id": uuid.uuid4().hex, "username": "analyst", "session": self.session,
                  "msg_type": "execute_request", "version": "5.3",
                  "date": dt.datetime.now(dt.UTC).isoformat()}
        return {"header": header, "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}

    async def execute(self, code: str) -> CellRun:
        """Run ``code``; returns once the kernel replied and went idle for it."""
        msg = self._message(code)
        await self.ws.write_message(json.dumps(msg))
        run, idle = CellRun(), False
        while not (run.reply and idle):
            raw = await asyncio.wait_for(self.ws.read_message(), CELL_TIMEOUT)
            if raw is None:
                raise ConnectionError("the kernel websocket closed")
            got = json.loads(raw)
            if got.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                continue
            kind = got["header"]["msg_type"]
            if got["channel"] == "shell" and kind == "execute_reply":
                run.reply = got["content"]
            elif got["channel"] == "iopub":
                if kind == "status":
                    idle = got["content"]["execution_state"] == "idle"
                else:
                    run.messages.append({"msg_type": kind, "content": got["content"]})
        return run


def notebook_path(name: str) -> str:
    return "/api/contents/notebooks/" + quote(name)
