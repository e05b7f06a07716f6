#!/usr/bin/python3
"""A stand-in tray app for testing the harness itself (test_harness.py), not Grantkeeper.

It uses the same stack as the real app's tray on Linux (GTK 3 menu + libayatana-appindicator, which
exports it over com.canonical.dbusmenu) and mimics Grantkeeper's menu shape:

    Open Grantkeeper
    Log in with DNS manager          -> adds a grant submenu
    <identity> — DNS manager: healthy  (one submenu per grant)
        Copy token                   -> puts "fake-token-N" on the CLIPBOARD
        Revoke                       -> removes the submenu
    Quit Grantkeeper                 -> exits

Every click is printed to stdout as "clicked: <label>". Identities contain an underscore to check
that labels survive GTK's mnemonic handling.
"""

import signal
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
gi.require_version("AyatanaAppIndicator3", "0.1")
from gi.repository import AyatanaAppIndicator3 as AppIndicator  # noqa: E402
from gi.repository import Gdk, GLib, Gtk  # noqa: E402


class FakeApp:
    def __init__(self):
        self.grants = []
        self.counter = 0
        self.indicator = AppIndicator.Indicator.new(
            "grantkeeper-fake", "dialog-password", AppIndicator.IndicatorCategory.APPLICATION_STATUS
        )
        self.indicator.set_status(AppIndicator.IndicatorStatus.ACTIVE)
        self.clipboard = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD)
        self.rebuild()

    def item(self, label, handler=None):
        mi = Gtk.MenuItem.new_with_label(label)
        if handler:
            mi.connect("activate", lambda _w: (print(f"clicked: {label}", flush=True), handler()))
        return mi

    def rebuild(self):
        menu = Gtk.Menu()
        menu.append(self.item("Open Grantkeeper", lambda: None))
        menu.append(self.item("Log in with DNS manager", self.login))
        for grant in list(self.grants):
            sub = Gtk.Menu()
            sub.append(self.item("Copy token", lambda g=grant: self.copy(g)))
            sub.append(self.item("Revoke", lambda g=grant: self.revoke(g)))
            top = self.item(f"{grant} — DNS manager: healthy")
            top.set_submenu(sub)
            menu.append(top)
        menu.append(Gtk.SeparatorMenuItem())
        menu.append(self.item("Quit Grantkeeper", Gtk.main_quit))
        menu.show_all()
        self.indicator.set_menu(menu)
        self.menu = menu

    def login(self):
        self.counter += 1
        self.grants.append(f"user_{self.counter}@example.test")
        GLib.timeout_add(200, lambda: (self.rebuild(), False)[1])  # like an async token exchange

    def copy(self, grant):
        self.clipboard.set_text(f"fake-token-{grant}", -1)
        self.clipboard.store()

    def revoke(self, grant):
        self.grants.remove(grant)
        self.rebuild()


def main():
    FakeApp()
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, Gtk.main_quit)
    print("fake tray app ready", flush=True)
    Gtk.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
