"""Helpers of the live checks that start `peregrine` processes (pd_check.py, ep_check.py): free
ports, processes with their logs, health waits, Prometheus metrics and check lines."""
import os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Process:
    """A process whose output goes to a temporary log (`prefix` names it)."""

    def __init__(self, args, name, prefix="peregrine"):
        self.log = tempfile.NamedTemporaryFile(prefix=f"{prefix}-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.name = name

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        """Ends the process as an operator would (SIGTERM, so that it removes what it made, such
        as expert workers' sockets; SIGKILL after 15 s) and removes its log: call it at the end,
        after any failure has printed `tail()`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        os.unlink(self.log.name)

    def tail(self):
        with open(self.log.name) as f:
            return f.read()[-3000:]


def wait_healthy(port, name, seconds=60):
    for _ in range(seconds * 10):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200:
                return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{name} did not become healthy")


def metrics(port, key):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {key}"})
    return urllib.request.urlopen(req, timeout=5).read().decode()


def metric(port, key, name, labels=""):
    """The value of `peregrine:NAME{…LABELS…}`, or None."""
    m = re.search(rf"^peregrine:{name}{{[^}}]*{labels}[^}}]*}} ([0-9.e+-]+)$", metrics(port, key), re.M)
    return float(m.group(1)) if m else None


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}")
