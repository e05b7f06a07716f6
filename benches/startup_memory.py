#!/usr/bin/python3
"""Start-to-tray time and idle memory of the whole process tree of a Grantkeeper build.

Runs inside tests/e2e/desktop-session.sh (scripts/bench.sh does that). For each run it starts the
app with a StatusNotifierWatcher on the bus and measures:
  - start to tray: from exec to the app's StatusNotifierItem registering with the watcher;
  - idle RSS/PSS of the app and all its descendants (WebKit helpers) after SETTLE seconds:
    window never opened; window opened from the tray menu; window closed again;
  - idle context switches per second (all threads) with the window never opened.
Prints a Markdown table (median over --runs for the start time).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import tray as traymod  # noqa: E402

SETTLE = 5.0
IDLE_SAMPLE = 20.0


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory(pid):
    """(processes, RSS MiB, PSS MiB, names) of pid and its descendants."""
    rss = pss = 0
    names = []
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            with open(f"/proc/{p}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            continue
    return len(names), rss / 1024, pss / 1024, names


def switches(pid):
    """Context switches so far of pid and its descendants (threads included)."""
    total = 0
    for p in descendants(pid):
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            total += int(line.split()[1])
        except OSError:
            continue
    return total


def wakeups_per_second(pid, seconds=IDLE_SAMPLE):
    before = switches(pid)
    time.sleep(seconds)
    return (switches(pid) - before) / seconds


def close_window(title):
    """Ask the window to close the way a window manager would (WM_DELETE_WINDOW)."""
    from Xlib import X, display, protocol

    d = display.Display()
    root = d.screen().root
    wm_protocols = d.intern_atom("WM_PROTOCOLS")
    wm_delete = d.intern_atom("WM_DELETE_WINDOW")
    net_name = d.intern_atom("_NET_WM_NAME")
    utf8 = d.intern_atom("UTF8_STRING")
    for w in root.query_tree().children:
        prop = w.get_full_property(net_name, utf8)
        name = prop.value.decode() if prop else (w.get_wm_name() or "")
        if name == title:
            ev = protocol.event.ClientMessage(window=w, client_type=wm_protocols,
                                              data=(32, [wm_delete, X.CurrentTime, 0, 0, 0]))
            w.send_event(ev, event_mask=X.NoEventMask)
            d.flush()
            return True
    return False


def window_exists(title):
    from Xlib import display

    d = display.Display()
    net_name = d.intern_atom("_NET_WM_NAME")
    utf8 = d.intern_atom("UTF8_STRING")
    for w in d.screen().root.query_tree().children:
        prop = w.get_full_property(net_name, utf8)
        if prop and prop.value.decode() == title:
            return True
    return False


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def one_run(app, log_path, full):
    open(log_path, "w").close()
    env = dict(os.environ, RUST_LOG="warn")
    t0 = time.time()
    proc = subprocess.Popen([app], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def registered():
        with open(log_path) as f:
            return [e for e in map(json.loads, f) if e.get("event") == "item-registered"]

    wait(lambda: registered(), 20, "the tray to register")
    start_ms = (registered()[0]["t"] - t0) * 1000
    result = {"start_ms": start_ms}
    if full:
        time.sleep(SETTLE)
        result["never_opened"] = memory(proc.pid)
        result["idle_switches"] = wakeups_per_second(proc.pid)
        bus = traymod.session_bus()
        traymod.wait_for_item(bus).click("Open Grantkeeper")
        wait(lambda: window_exists("Grantkeeper"), 20, "the window")
        time.sleep(SETTLE)
        result["window_open"] = memory(proc.pid)
        assert close_window("Grantkeeper"), "window found to close"
        wait(lambda: not window_exists("Grantkeeper"), 20, "the window to close")
        time.sleep(SETTLE)
        result["after_close"] = memory(proc.pid)
    proc.terminate()
    proc.wait(10)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("app")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    log_path = os.path.join(tmp, "watcher.jsonl")
    watcher = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e",
                                                             "sni_watcher.py"), "--log", log_path])
    time.sleep(0.5)
    try:
        one_run(args.app, log_path, False)  # warm the page cache
        starts = [one_run(args.app, log_path, False)["start_ms"] for _ in range(args.runs)]
        full = one_run(args.app, log_path, True)
    finally:
        watcher.terminate()
    print(f"start to tray (median of {args.runs}, warm): {statistics.median(starts):.0f} ms "
          f"(min {min(starts):.0f}, max {max(starts):.0f})")
    print(f"idle context switches, window never opened (over {IDLE_SAMPLE:.0f} s): "
          f"{full['idle_switches']:.1f}/s")
    print()
    print("| state | processes | RSS MiB | PSS MiB |")
    print("|---|---|---|---|")
    for key, label in [("never_opened", "window never opened"), ("window_open", "window open"),
                       ("after_close", "window closed after use")]:
        n, rss, pss, names = full[key]
        print(f"| {label} | {n} ({', '.join(names)}) | {rss:.0f} | {pss:.0f} |")


if __name__ == "__main__":
    main()
