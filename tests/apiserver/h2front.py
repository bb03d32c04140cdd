#!/usr/bin/python3
"""h2front.py - an HTTP/2 front for the test API server (see README.md, "HTTP/2 front").

apiserver.py speaks HTTP/1.1 only; a real kube-apiserver offers HTTP/2 by ALPN, and clients
(svcproxy's libcurl, kubectl) then use it. This front listens with TLS (the server certificate
of the test server's --dir), accepts only connections that negotiate ALPN "h2", and forwards
every HTTP/2 stream as one HTTP/1.1 request, on a TLS connection of its own, to the test
server. The answer goes back as it arrives: status and headers as HEADERS, the body as DATA
frames within the client's flow control windows (a watch never ends: each chunk is sent as
soon as the test server writes it), the end of the body as END_STREAM, and a reset or cut
backend connection as RST_STREAM (INTERNAL_ERROR). A stream the client resets closes its
backend connection. A backend that refuses connections (apiserver-ctl outage) gets 503 with
a Status body.

One line per request on stderr, when its answer starts and when it ends:
    h2front: conn 1 stream 3 h2 GET /api/v1/services?watch=1&... -> 200
    h2front: conn 1 stream 3 end: END_STREAM (4 DATA frames, 1234 bytes)
A client that does not negotiate h2 gets "HTTP/1.1 505" and is logged as refused.
SIGUSR1 sends GOAWAY on every connection (streams under way finish, new requests need a new
connection), as a kube-apiserver does with --goaway-chance.

Debian's Python with python3-h2: /usr/bin/python3.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
import urllib.parse

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import hyperframe.frame

# never forwarded in either direction (RFC 9113 8.2.2; Host comes from :authority)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
              "te", "host", "content-length", "trailer"}


def log(msg):
    print(f"h2front: {msg}", file=sys.stderr, flush=True)


def status_body(code, reason, message):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": message, "reason": reason,
                       "code": code}).encode()


class Stream:
    def __init__(self, sid, headers):
        self.sid = sid
        self.headers = headers
        self.body = bytearray()
        self.window = asyncio.Event()  # set when the flow control window may have grown
        self.task = None
        self.frames = 0
        self.bytes = 0


class BackendGone(Exception):
    """The backend connection was reset or cut in the middle of an answer."""


class Conn:
    def __init__(self, front, reader, writer, cid):
        self.front, self.reader, self.writer, self.cid = front, reader, writer, cid
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.streams = {}
        self.last_sid = None  # set by goaway(): streams above it are refused

    def flush(self):
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def run(self):
        self.h2.initiate_connection()
        self.flush()
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    log(f"conn {self.cid}: protocol error: {e}")
                    self.flush()
                    break
                for ev in events:
                    self.event(ev)
                self.flush()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            for st in list(self.streams.values()):
                if st.task:
                    st.task.cancel()
            self.writer.close()
            self.front.conns.discard(self)

    def event(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", 0))
        if isinstance(ev, h2.events.RequestReceived):
            if self.last_sid is not None and ev.stream_id > self.last_sid:
                log(f"conn {self.cid} stream {ev.stream_id}: after GOAWAY: REFUSED_STREAM")
                self.h2.reset_stream(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                return
            self.streams[ev.stream_id] = Stream(ev.stream_id, ev.headers)
        elif isinstance(ev, h2.events.DataReceived) and st:
            st.body += ev.data
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded) and st:
            st.task = asyncio.ensure_future(self.forward(st))
        elif isinstance(ev, h2.events.WindowUpdated) and ev.stream_id and st:
            st.window.set()
        elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            for s in self.streams.values():  # the connection window or initial window grew
                s.window.set()
        elif isinstance(ev, h2.events.StreamReset) and st:
            log(f"conn {self.cid} stream {st.sid}: RST_STREAM from the client ({ev.error_code})")
            if st.task:
                st.task.cancel()
            self.streams.pop(st.sid, None)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            log(f"conn {self.cid}: GOAWAY from the client")

    def goaway(self):
        """A graceful GOAWAY (RFC 9113 6.8): the streams under way go on, the connection
        closes when they have ended. Written by hand: h2's close_connection() would stop
        every stream at once."""
        self.flush()
        self.last_sid = self.h2.highest_inbound_stream_id
        frame = hyperframe.frame.GoAwayFrame(0)
        frame.last_stream_id = self.last_sid
        frame.error_code = h2.errors.ErrorCodes.NO_ERROR
        self.writer.write(frame.serialize())
        log(f"conn {self.cid}: GOAWAY sent (last stream {self.last_sid})")
        self.close_if_done()

    def close_if_done(self):
        if self.last_sid is not None and not self.streams:
            log(f"conn {self.cid}: closed after GOAWAY")
            self.writer.close()

    async def send(self, st, data, end=False):
        """data as DATA frames, each as large as both windows and the frame size allow."""
        data = memoryview(data)
        while data:
            n = min(self.h2.local_flow_control_window(st.sid), self.h2.max_outbound_frame_size,
                    len(data))
            if n <= 0:
                st.window.clear()
                await st.window.wait()
                continue
            self.h2.send_data(st.sid, bytes(data[:n]))
            st.frames += 1
            st.bytes += n
            data = data[n:]
            self.flush()
            await self.writer.drain()
        if end:
            self.h2.end_stream(st.sid)
            self.flush()

    def reply(self, st, code, reason, message):
        body = status_body(code, reason, message)
        self.h2.send_headers(st.sid, [(":status", str(code)),
                                      ("content-type", "application/json"),
                                      ("content-length", str(len(body)))])
        self.flush()
        return self.send(st, body, end=True)

    async def forward(self, st):
        hdr = dict((k, v) for k, v in st.headers if k.startswith(":"))
        what = f"conn {self.cid} stream {st.sid} h2 {hdr.get(':method')} {hdr.get(':path')}"
        w = None
        try:
            try:
                r, w = await asyncio.open_connection(*self.front.backend,
                                                     ssl=self.front.backend_ctx)
            except (OSError, ssl.SSLError) as e:
                log(f"{what} -> 503 (backend: {e})")
                await self.reply(st, 503, "ServiceUnavailable", f"h2front: backend: {e}")
                return
            w.write(self.request_head(st, hdr) + bytes(st.body))
            code, headers = await read_head(r)
            end = hdr.get(":method") == "HEAD" or code in (204, 304)
            log(f"{what} -> {code}")
            self.h2.send_headers(st.sid, [(":status", str(code))] + [
                (k, v) for k, v in headers if k not in HOP_BY_HOP], end_stream=end)
            self.flush()
            if not end:
                await self.copy_body(st, r, headers)
            log(f"conn {self.cid} stream {st.sid} end: END_STREAM "
                f"({st.frames} DATA frames, {st.bytes} bytes)")
        except (BackendGone, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError,
                ValueError) as e:
            log(f"conn {self.cid} stream {st.sid} end: backend connection lost "
                f"({type(e).__name__}: {e}): RST_STREAM")
            try:
                self.h2.reset_stream(st.sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
                self.flush()
            except h2.exceptions.H2Error:
                pass
        except h2.exceptions.StreamClosedError:
            pass  # the client reset it meanwhile (logged then)
        except Exception as e:  # a bug here: say so, and never leave the stream hanging
            log(f"conn {self.cid} stream {st.sid}: internal error {e!r}: closing the connection")
            self.writer.close()
        finally:
            if w:
                w.close()
            self.streams.pop(st.sid, None)
            self.close_if_done()

    def request_head(self, st, hdr):
        lines = [f"{hdr[':method']} {hdr[':path']} HTTP/1.1",
                 f"Host: {hdr.get(':authority', self.front.backend[0])}"]
        cookies = []
        for k, v in st.headers:
            if k == "cookie":
                cookies.append(v)  # HTTP/2 may split it (RFC 9113 8.2.3)
            elif not k.startswith(":") and k not in HOP_BY_HOP:
                lines.append(f"{k}: {v}")
        if cookies:
            lines.append("cookie: " + "; ".join(cookies))
        if st.body or hdr[":method"] in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(st.body)}")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def copy_body(self, st, r, headers):
        """The HTTP/1.1 body (chunked, Content-Length or until close) as DATA frames."""
        h = dict(headers)
        if "chunked" in h.get("transfer-encoding", ""):
            while True:
                line = await r.readline()
                if not line.endswith(b"\n"):
                    raise BackendGone("cut in a chunk size line")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (await r.readline()).strip():  # trailers, dropped
                        pass
                    break
                data = await r.readexactly(size)
                await r.readexactly(2)
                await self.send(st, data)
        elif "content-length" in h:
            left = int(h["content-length"])
            while left:
                data = await r.read(min(left, 65536))
                if not data:
                    raise BackendGone(f"{left} bytes short of Content-Length")
                left -= len(data)
                await self.send(st, data)
        else:
            while data := await r.read(65536):
                await self.send(st, data)
        await self.send(st, b"", end=True)


async def read_head(r):
    """Status code and [(lowercase name, value)] of an HTTP/1.1 answer."""
    line = await r.readline()
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise BackendGone(f"not an HTTP answer: {line[:60]!r}")
    headers = []
    while True:
        line = await r.readline()
        if not line.endswith(b"\n"):
            raise BackendGone("cut in the answer's headers")
        if not line.strip():
            return int(parts[1]), headers
        k, _, v = line.decode("latin-1").partition(":")
        headers.append((k.strip().lower(), v.strip()))


class Front:
    def __init__(self, args):
        d = os.path.abspath(args.dir)
        self.dir = d
        with open(os.path.join(d, "url")) as f:
            url = urllib.parse.urlsplit(args.backend or f.read().strip())
        self.backend = (url.hostname, url.port or 443)
        self.backend_ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
        self.backend_ctx.set_alpn_protocols(["http/1.1"])
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
        self.ctx.set_alpn_protocols(["h2"])
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 9113 9.2
        self.conns = set()
        self.next_cid = 1

    async def accept(self, reader, writer):
        cid, self.next_cid = self.next_cid, self.next_cid + 1
        alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
        peer = writer.get_extra_info("peername")
        if alpn != "h2":
            log(f"conn {cid} from {peer[0]}: ALPN {alpn or 'none'}, not h2: refused (505)")
            body = b"h2front serves HTTP/2 only (ALPN h2)\n"
            writer.write(b"HTTP/1.1 505 HTTP Version Not Supported\r\nConnection: close\r\n"
                         b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
            writer.close()
            return
        log(f"conn {cid} from {peer[0]}: ALPN h2")
        conn = Conn(self, reader, writer, cid)
        self.conns.add(conn)
        await conn.run()

    def goaway(self):
        for c in list(self.conns):
            c.goaway()


def write_state(d, url):
    """DIR/kubeconfig-h2 (DIR/kubeconfig with the front as server), DIR/h2front-url."""
    with open(os.path.join(d, "kubeconfig")) as f:
        cfg = json.load(f)
    for c in cfg["clusters"]:
        c["cluster"]["server"] = url
    for name, text in (("kubeconfig-h2", json.dumps(cfg, indent=1)), ("h2front-url", url)):
        tmp = os.path.join(d, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.chmod(tmp, 0o600)
        os.rename(tmp, os.path.join(d, name))


async def serve(args):
    front = Front(args)
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    server = await asyncio.start_server(front.accept, host, int(port), ssl=front.ctx)
    port = server.sockets[0].getsockname()[1]
    url = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    write_state(front.dir, url)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, front.goaway)
    log(f"serving {url} (HTTP/2 only), forwarding to https://{front.backend[0]}:"
        f"{front.backend[1]} over HTTP/1.1")
    await stop.wait()
    server.close()
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description="HTTP/2 (TLS, ALPN h2) front for apiserver.py")
    p.add_argument("--dir", required=True, help="the test server's --dir (certificates, url, "
                   "kubeconfig); receives kubeconfig-h2 and h2front-url")
    p.add_argument("--listen", default="127.0.0.1:6444", help="HOST:PORT (port 0: any)")
    p.add_argument("--backend", help="the test server's URL (default: the one in DIR/url)")
    return asyncio.run(serve(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
