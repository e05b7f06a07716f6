#!/usr/bin/python3
"""Drive a tray app's menu over D-Bus, the way a panel would.

libayatana-appindicator exports an ``org.kde.StatusNotifierItem`` on the app's unique bus name and
its menu as ``com.canonical.dbusmenu`` at the item's ``Menu`` property. ``sni_watcher.py`` learns
the unique name when the app registers; this module reads the menu layout
(``GetLayout``), finds items by label (mnemonic underscores stripped, recursively), clicks them
(``AboutToShow`` on the parent submenus, then ``Event(id, "clicked", <int32 0>, 0)``) and waits for
labels to appear or disappear.

As a program (inside the desktop session):
    tray.py items                 registered StatusNotifierItems
    tray.py dump                  the menu of the newest item, as an indented tree
    tray.py click LABEL [PARENT]  click an item (optionally inside the submenu labelled PARENT)
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import dbus

WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
WATCHER_IFACE = "org.kde.StatusNotifierWatcher"
SNI_IFACE = "org.kde.StatusNotifierItem"
MENU_IFACE = "com.canonical.dbusmenu"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
CALL_TIMEOUT = 10  # seconds, per D-Bus call


class TrayError(AssertionError):
    """The tray did not show what was expected."""


def strip_mnemonic(label: str) -> str:
    """'_Quit Grant__keeper' -> 'Quit Grant_keeper' (dbusmenu: '_' marks a mnemonic, '__' is '_')."""
    return re.sub(r"_(_?)", lambda m: m.group(1), label)


@dataclass
class MenuItem:
    id: int
    label: str  # mnemonics stripped
    raw_label: str
    props: dict
    children: list["MenuItem"] = field(default_factory=list)
    parent: "MenuItem | None" = field(default=None, repr=False)

    @property
    def visible(self) -> bool:
        return bool(self.props.get("visible", True))

    @property
    def enabled(self) -> bool:
        return bool(self.props.get("enabled", True))

    @property
    def is_separator(self) -> bool:
        return self.props.get("type") == "separator"

    @property
    def is_submenu(self) -> bool:
        return bool(self.children) or self.props.get("children-display") == "submenu"

    def walk(self) -> Iterator["MenuItem"]:
        for child in self.children:
            yield child
            yield from child.walk()

    def ancestors(self) -> list["MenuItem"]:
        out, node = [], self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return list(reversed(out))

    def labels(self) -> list[str]:
        """Labels of all visible, non-separator items, depth first."""
        return [i.label for i in self.walk() if i.visible and not i.is_separator]

    def render(self, depth: int = 0) -> str:
        lines = []
        for c in self.children:
            if not c.visible:
                continue
            flags = [] if c.enabled else ["disabled"]
            text = "----" if c.is_separator else c.label
            lines.append("  " * depth + f"[{c.id}] {text}" + (f" ({', '.join(flags)})" if flags else ""))
            if c.children:
                lines.append(c.render(depth + 1))
        return "\n".join(line for line in lines if line)


def _to_py(value):
    if isinstance(value, (dbus.String, dbus.ObjectPath)):
        return str(value)
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.Int16, dbus.Int32, dbus.Int64, dbus.UInt16, dbus.UInt32, dbus.UInt64, dbus.Byte)):
        return int(value)
    if isinstance(value, dbus.Array):
        return [_to_py(v) for v in value]
    if isinstance(value, dbus.Dictionary):
        return {str(k): _to_py(v) for k, v in value.items()}
    if isinstance(value, dbus.Struct):
        return tuple(_to_py(v) for v in value)
    return value


def _parse_layout(node, parent=None) -> MenuItem:
    item_id, props, children = node
    props = {str(k): _to_py(v) for k, v in props.items()}
    raw = props.get("label", "")
    item = MenuItem(int(item_id), strip_mnemonic(raw), raw, props, parent=parent)
    item.children = [_parse_layout(c, item) for c in children]
    return item


def session_bus() -> dbus.Bus:
    return dbus.SessionBus()


def registered_items(bus: dbus.Bus) -> list[str]:
    """Entries of the watcher's RegisteredStatusNotifierItems ('unique-name/object/path')."""
    watcher = bus.get_object(WATCHER_NAME, WATCHER_PATH)
    items = watcher.Get(WATCHER_IFACE, "RegisteredStatusNotifierItems", dbus_interface=PROPS_IFACE, timeout=CALL_TIMEOUT)
    return [str(i) for i in items]


def wait_for_item(bus: dbus.Bus, timeout: float = 20.0, exclude: set[str] | None = None,
                  owner_alive: Callable[[], bool] | None = None) -> "Tray":
    """Wait until an item not in ``exclude`` is registered and its owner is on the bus."""
    exclude = exclude or set()
    deadline = time.monotonic() + timeout
    last_err = None
    while time.monotonic() < deadline:
        if owner_alive is not None and not owner_alive():
            raise TrayError("the app exited before its tray icon registered")
        try:
            for entry in reversed(registered_items(bus)):
                if entry in exclude:
                    continue
                name, path = entry.split("/", 1)
                if bus.name_has_owner(name):
                    return Tray(bus, name, "/" + path)
        except dbus.DBusException as e:
            last_err = e
        time.sleep(0.05)
    raise TrayError(f"no StatusNotifierItem registered within {timeout:.0f}s" + (f" (last error: {last_err})" if last_err else ""))


class Tray:
    """One app's tray item and its dbusmenu."""

    def __init__(self, bus: dbus.Bus, bus_name: str, item_path: str):
        self.bus = bus
        self.bus_name = bus_name
        self.item_path = item_path
        item = bus.get_object(bus_name, item_path, introspect=False)
        self.menu_path = str(item.Get(SNI_IFACE, "Menu", dbus_interface=PROPS_IFACE, timeout=CALL_TIMEOUT))
        self._menu = dbus.Interface(bus.get_object(bus_name, self.menu_path, introspect=False), MENU_IFACE)

    def __repr__(self):
        return f"Tray({self.bus_name}{self.item_path}, menu {self.menu_path})"

    @property
    def entry(self) -> str:
        return f"{self.bus_name}{self.item_path}"

    def alive(self) -> bool:
        return bool(self.bus.name_has_owner(self.bus_name))

    def item_property(self, name: str):
        item = self.bus.get_object(self.bus_name, self.item_path, introspect=False)
        return _to_py(item.Get(SNI_IFACE, name, dbus_interface=PROPS_IFACE, timeout=CALL_TIMEOUT))

    def layout(self) -> MenuItem:
        _revision, root = self._menu.GetLayout(0, -1, dbus.Array([], signature="s"), timeout=CALL_TIMEOUT)
        return _parse_layout(root)

    # -- finding ----------------------------------------------------------------------------------

    @staticmethod
    def _matches(item: MenuItem, label=None, prefix=None, regex=None, contains=None) -> bool:
        if not item.visible or item.is_separator:
            return False
        if label is not None and item.label != label:
            return False
        if prefix is not None and not item.label.startswith(prefix):
            return False
        if contains is not None and contains not in item.label:
            return False
        if regex is not None and not re.search(regex, item.label):
            return False
        return True

    def find_all(self, label=None, *, prefix=None, regex=None, contains=None, within: MenuItem | None = None,
                 root: MenuItem | None = None) -> list[MenuItem]:
        root = root or self.layout()
        scope = within if within is not None else root
        return [i for i in scope.walk() if self._matches(i, label, prefix, regex, contains)]

    def find(self, label=None, *, prefix=None, regex=None, contains=None, within: MenuItem | None = None,
             root: MenuItem | None = None) -> MenuItem | None:
        found = self.find_all(label, prefix=prefix, regex=regex, contains=contains, within=within, root=root)
        if len(found) > 1:
            raise TrayError(f"{len(found)} menu items match {label or prefix or regex or contains!r}: {[i.label for i in found]}")
        return found[0] if found else None

    def get(self, label=None, **kw) -> MenuItem:
        item = self.find(label, **kw)
        if item is None:
            raise TrayError(f"no menu item {label or kw!r}; the menu is:\n{self.layout().render()}")
        return item

    # -- acting -----------------------------------------------------------------------------------

    def click(self, item: MenuItem | str, **kw) -> None:
        if isinstance(item, str):
            item = self.get(item, **kw)
        # The app may rebuild its menu between our GetLayout and the click (item ids change), as
        # under a real panel: find the same item by its label path in the new layout and retry.
        for attempt in range(3):
            try:
                return self._click_once(item)
            except dbus.DBusException as e:
                if "does not refer to a menu item" not in str(e) or attempt == 2:
                    raise
                item = self._refind(item)

    def _refind(self, stale: MenuItem) -> MenuItem:
        path = [a.label for a in stale.ancestors() if a.id != 0] + [stale.label]
        node = self.layout()
        for label in path:
            node = next((c for c in node.children if c.label == label), None)
            if node is None:
                raise TrayError(f"menu item {' > '.join(path)!r} is gone; the menu is:\n{self.layout().render()}")
        return node

    def _click_once(self, item: MenuItem) -> None:
        if not item.enabled:
            raise TrayError(f"menu item {item.label!r} is disabled")
        for parent in item.ancestors():
            if parent.id == 0:
                continue
            try:
                self._menu.AboutToShow(dbus.Int32(parent.id), timeout=CALL_TIMEOUT)
            except dbus.DBusException:
                pass  # optional in some libdbusmenu versions
        self._menu.Event(
            dbus.Int32(item.id),
            "clicked",
            dbus.Int32(0, variant_level=1),
            dbus.UInt32(int(time.time()) & 0xFFFFFFFF),
            signature="isvu",
            timeout=CALL_TIMEOUT,
        )

    def click_in(self, parent: MenuItem, label: str) -> None:
        """Click the item labelled ``label`` inside the submenu ``parent``."""
        self.click(self.get(label, within=parent))

    # -- waiting ----------------------------------------------------------------------------------

    def wait_until(self, predicate: Callable[[MenuItem], object], timeout: float = 15.0, what: str = "a menu change",
                   interval: float = 0.1):
        """Poll the layout until predicate(root) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        root = None
        while True:
            if not self.alive():
                raise TrayError(f"the app left the bus while waiting for {what}")
            try:
                root = self.layout()
                value = predicate(root)
                if value:
                    return value
            except dbus.DBusException:
                pass  # the menu may be mid-rebuild
            if time.monotonic() >= deadline:
                menu = root.render() if root is not None else "(no layout)"
                raise TrayError(f"timed out after {timeout:.0f}s waiting for {what}; the menu is:\n{menu}")
            time.sleep(interval)

    def wait_for(self, label=None, *, timeout: float = 15.0, **kw) -> MenuItem:
        """Wait for exactly one item matching (label / prefix= / regex= / contains=) and return it."""
        what = f"menu item {label or kw!r}"
        return self.wait_until(lambda root: self.find(label, root=root, **kw), timeout, what)

    def wait_gone(self, label=None, *, timeout: float = 15.0, **kw) -> None:
        what = f"menu item {label or kw!r} to disappear"
        self.wait_until(lambda root: not self.find_all(label, root=root, **kw), timeout, what)


def main(argv: list[str]) -> int:
    bus = session_bus()
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv[0] == "items":
        print("\n".join(registered_items(bus)))
        return 0
    tray = wait_for_item(bus, timeout=5)
    if argv[0] == "dump":
        print(f"{tray}\n{tray.layout().render()}")
        return 0
    if argv[0] == "click" and len(argv) in (2, 3):
        within = tray.get(argv[2]) if len(argv) == 3 else None
        tray.click(tray.get(argv[1], within=within))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
