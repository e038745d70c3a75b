#!/usr/bin/python3
"""An RTSP server built on GStreamer's gst-rtsp-server, for citywatch's integration tests.

Usage: gst_rtsp_server.py PORT PATH LAUNCH

Serves the GStreamer launch description LAUNCH (its payloader named pay0) at rtsp://127.0.0.1:PORT/PATH,
prints READY once bound, and exits on SIGTERM, SIGINT or when its stdin closes (the test that started it
is gone).
"""
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gst_rtsp_server.py PORT PATH LAUNCH")
    port, path, launch = sys.argv[1], sys.argv[2], sys.argv[3]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( " + launch + " )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/" + path.lstrip("/"), factory)
    if server.attach(None) == 0:
        sys.exit("gst_rtsp_server: cannot bind 127.0.0.1:" + port)
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)

    def stdin_closed(_fd, _cond):
        loop.quit()
        return False

    GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT,
                      GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR, stdin_closed)
    print("READY", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
