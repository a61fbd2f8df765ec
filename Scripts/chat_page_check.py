#!/usr/bin/env python3
"""The chat page at `/` of `peregrine serve`, driven in headless Chromium over the DevTools protocol.

    Scripts/chat_page_check.py [--peregrine .build/release/peregrine] [--out DIR]

1. serves the default model and opens `/` in headless Chromium (--remote-debugging-port);
2. sets temperature 0 and 48 max tokens, types a message and submits the form;
3. waits for the streamed reply to finish and checks that it is exactly the greedy chat output of
   `peregrine generate --chat` for the same message;
4. takes a screenshot (DIR/chat.png);
5. renders a reply holding `<script>` and an `<img onerror>`: it must show as text, run nothing
   and add no element but the page's own.
Needs the PyPI package websocket-client and Chromium (CHROMIUM, or chromium on PATH).
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

MESSAGE = "What is the capital of France? Answer in one sentence."
MAX_TOKENS = 48


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"chat_page_check: {url} did not come up")


class DevTools:
    def __init__(self, port: int):
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True, timeout=120)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, seconds: float = 120):
        deadline = time.time() + seconds
        while time.time() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        sys.exit(f"chat_page_check: timed out waiting for {expression}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peregrine", default=".build/release/peregrine")
    ap.add_argument("--out", default=tempfile.mkdtemp())
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        sys.exit("chat_page_check: no Chromium (apt-get install chromium, or set CHROMIUM)")

    expected = subprocess.run([args.peregrine, "generate", "--chat", MESSAGE, "--temperature", "0", "--max-tokens", str(MAX_TOKENS)],
                              capture_output=True, text=True, check=True).stdout
    server_port, devtools_port = free_port(), free_port()
    server = subprocess.Popen([args.peregrine, "serve", "--port", str(server_port), "--log-level", "warning"])
    chrome = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                               f"--remote-debugging-port={devtools_port}", f"--user-data-dir={args.out}/profile", "about:blank"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{server_port}/health")
        wait_for(f"http://127.0.0.1:{devtools_port}/json/version")
        tools = DevTools(devtools_port)
        tools.call("Page.enable")
        tools.call("Page.navigate", url=f"http://127.0.0.1:{server_port}/")
        tools.wait("document.body && document.body.dataset.ready === '1'")
        tools.evaluate(f"""(() => {{
            document.getElementById('temperature').value = '0';
            document.getElementById('max_tokens').value = '{MAX_TOKENS}';
            document.getElementById('input').value = {json.dumps(MESSAGE)};
            document.getElementById('form').requestSubmit();
        }})()""")
        tools.wait("document.querySelectorAll('.msg.assistant').length === 1 && document.body.dataset.state === 'idle'")
        got = tools.evaluate("JSON.parse(localStorage.getItem('peregrine.conversations'))[0].messages[1].content")
        stats = tools.evaluate("document.querySelector('.msg.assistant .stats').textContent")
        print(f"reply: {got!r}\nstats: {stats}")
        if got.strip() != expected.strip():
            sys.exit(f"chat_page_check: the page's reply differs from `peregrine generate --chat`:\n  page:     {got!r}\n  generate: {expected!r}")
        if "tokens/s" not in stats:
            sys.exit(f"chat_page_check: no speed shown under the reply: {stats!r}")
        png = base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"])
        with open(os.path.join(args.out, "chat.png"), "wb") as f:
            f.write(png)
        hostile = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\"> and **bold** `code`"
        verdict = tools.evaluate(f"""(() => {{
            const view = appendMessage('assistant', {json.dumps(hostile)});
            return {{pwned: window.pwned === undefined ? null : window.pwned,
                     elements: [...view.body.querySelectorAll('*')].map((e) => e.tagName),
                     text: view.body.textContent}};
        }})()""")
        time.sleep(0.5)
        pwned = tools.evaluate("window.pwned === undefined ? null : window.pwned")
        if pwned is not None or verdict["pwned"] is not None:
            sys.exit(f"chat_page_check: model text ran as code: {verdict}")
        if set(verdict["elements"]) - {"P", "STRONG", "CODE"} or "<script>" not in verdict["text"]:
            sys.exit(f"chat_page_check: model text became HTML: {verdict}")
        print(f"chat_page_check: the reply equals generate --chat; <script> shows as text; screenshot {args.out}/chat.png ({len(png)} bytes)")
    finally:
        chrome.terminate()
        server.terminate()
        chrome.wait()
        server.wait()


if __name__ == "__main__":
    main()
