#!/usr/bin/python3
"""A minimal org.kde.StatusNotifierWatcher for headless tests.

A tray app built on libayatana-appindicator registers its StatusNotifierItem with the watcher on
the session bus (``RegisterStatusNotifierItem`` with its object path; the watcher pairs it with the
caller's unique bus name). There is no desktop here, so this stands in for the panel's watcher; the
tests then learn the app's unique bus name from ``RegisteredStatusNotifierItems`` (entries look like
``:1.42/org/ayatana/NotificationItem/grantkeeper``) instead of guessing it by PID (D-Bus reported
PIDs don't match in some sandboxes). It also claims that a host is registered, so apps that check
``IsStatusNotifierHostRegistered`` don't fall back to an XEmbed icon.

Items are dropped when their owner leaves the bus. Each registration and removal is appended to the
log file given with ``--log`` (one JSON object per line).

Usage: sni_watcher.py [--log FILE]   (runs until SIGTERM/SIGINT; needs python3-dbus and python3-gi)
"""

import argparse
import json
import signal
import sys
import time

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
WATCHER_IFACE = "org.kde.StatusNotifierWatcher"
PROPS_IFACE = "org.freedesktop.DBus.Properties"


class Watcher(dbus.service.Object):
    def __init__(self, bus, log_path):
        super().__init__(bus, WATCHER_PATH)
        self.bus = bus
        self.log_path = log_path
        self.items = []  # "unique-name/object/path", in registration order
        self.hosts = []
        bus.add_signal_receiver(
            self._name_owner_changed,
            signal_name="NameOwnerChanged",
            dbus_interface="org.freedesktop.DBus",
            bus_name="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
        )

    def _log(self, event, **fields):
        if not self.log_path:
            return
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"t": time.time(), "event": event, **fields}) + "\n")

    # -- the watcher interface ------------------------------------------------------------------

    @dbus.service.method(WATCHER_IFACE, in_signature="s", out_signature="", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        if service.startswith("/"):
            bus_name, path = sender, service
        else:
            bus_name, path = service, "/StatusNotifierItem"
        if not bus_name.startswith(":"):
            # A well-known name: resolve it so the entry names the unique connection.
            try:
                bus_name = self.bus.get_name_owner(bus_name)
            except dbus.DBusException:
                bus_name = sender
        item = f"{bus_name}{path}"
        if item not in self.items:
            self.items.append(item)
            self._log("item-registered", item=item, sender=sender)
            self.StatusNotifierItemRegistered(item)
            self._changed("RegisteredStatusNotifierItems")

    @dbus.service.method(WATCHER_IFACE, in_signature="s", out_signature="", sender_keyword="sender")
    def RegisterStatusNotifierHost(self, service, sender=None):
        if sender not in self.hosts:
            self.hosts.append(sender)
            self._log("host-registered", host=sender)
            self.StatusNotifierHostRegistered()

    @dbus.service.signal(WATCHER_IFACE, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.signal(WATCHER_IFACE, signature="s")
    def StatusNotifierItemUnregistered(self, item):
        pass

    @dbus.service.signal(WATCHER_IFACE, signature="")
    def StatusNotifierHostRegistered(self):
        pass

    @dbus.service.signal(WATCHER_IFACE, signature="")
    def StatusNotifierHostUnregistered(self):
        pass

    # -- properties -----------------------------------------------------------------------------

    def _props(self):
        return {
            "RegisteredStatusNotifierItems": dbus.Array(self.items, signature="s"),
            "IsStatusNotifierHostRegistered": dbus.Boolean(True),
            "ProtocolVersion": dbus.Int32(0),
        }

    @dbus.service.method(PROPS_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        props = self._props()
        if interface != WATCHER_IFACE or name not in props:
            raise dbus.exceptions.DBusException(
                f"no property {interface}.{name}", name="org.freedesktop.DBus.Error.UnknownProperty"
            )
        return props[name]

    @dbus.service.method(PROPS_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return self._props() if interface == WATCHER_IFACE else {}

    @dbus.service.method(PROPS_IFACE, in_signature="ssv", out_signature="")
    def Set(self, interface, name, value):
        raise dbus.exceptions.DBusException(
            f"{name} is read-only", name="org.freedesktop.DBus.Error.PropertyReadOnly"
        )

    @dbus.service.signal(PROPS_IFACE, signature="sa{sv}as")
    def PropertiesChanged(self, interface, changed, invalidated):
        pass

    def _changed(self, name):
        self.PropertiesChanged(WATCHER_IFACE, {name: self._props()[name]}, dbus.Array([], signature="s"))

    # -- bookkeeping ----------------------------------------------------------------------------

    def _name_owner_changed(self, name, old_owner, new_owner):
        if new_owner:
            return
        gone = [i for i in self.items if i.split("/", 1)[0] in (name, old_owner)]
        for item in gone:
            self.items.remove(item)
            self._log("item-unregistered", item=item)
            self.StatusNotifierItemUnregistered(item)
        if gone:
            self._changed("RegisteredStatusNotifierItems")
        if name in self.hosts:
            self.hosts.remove(name)
            self.StatusNotifierHostUnregistered()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", help="append registrations to this file (JSON lines)")
    args = parser.parse_args(argv)

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    loop = GLib.MainLoop()
    watcher = Watcher(bus, args.log)
    # Claim the name only once the object exists, so "name has an owner" means "ready".
    name = dbus.service.BusName(WATCHER_NAME, bus, do_not_queue=True)
    watcher._log("ready", unique_name=bus.get_unique_name())
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    loop.run()
    del name
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
