"""The ceiling: a raw protocol answering each request with canned bytes.

No parsing beyond finding request ends and the few bytes that pick the
answer, no ASGI: what any Python server on the same event loop could at
most do on this machine with this load generator.

    python raw_server.py PORT                 # on uvloop: the "raw-uvloop" ceiling
    pypy3 raw_server.py PORT --loop asyncio   # asyncio's loop: PyPy's ceiling

- a request for /big gets a canned 1 MiB response, as bench/app.py's;
- a request that says `Connection: close` gets its response with
  `connection: close`, then the connection is closed, as any HTTP/1.1
  server does (wrk only reconnects when the response says so: without
  this the new-connection ceiling would measure keep-alive);
- a websocket upgrade gets a canned 101, then each 32-byte masked frame
  from bench/ws_load.py is answered with a canned unmasked one;
- any other request gets a canned hello.
"""
import argparse
import asyncio

RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n"
            b"server: raw\r\n\r\nHello, world!")
CLOSE_RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n"
                  b"connection: close\r\nserver: raw\r\n\r\nHello, world!")
BIG_BODY = b"x" * (1024 * 1024)
BIG_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
            b"server: raw\r\n\r\n" % len(BIG_BODY))

SWITCHING = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
MASKED_FRAME_SIZE = 2 + 4 + 32
ECHO_FRAME = bytes([0x81, 32]) + b"x" * 32


class Canned(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.websocket = False

    def data_received(self, data):
        if self.websocket:
            self.transport.write(ECHO_FRAME * (len(data) // MASKED_FRAME_SIZE))
            return
        count = data.count(b"\r\n\r\n")
        if not count:
            return
        # The scenarios never mix kinds of request on one connection, so
        # the first request of a read says what all of them want.
        if data.startswith(b"GET /big "):
            for _ in range(count):
                self.transport.writelines([BIG_HEAD, BIG_BODY])
        elif b"Connection: close" in data:
            self.transport.write(CLOSE_RESPONSE)
            self.transport.close()
        elif b"Upgrade: websocket" in data:
            self.websocket = True
            self.transport.write(SWITCHING)
        else:
            self.transport.write(RESPONSE * count)


async def serve(port):
    server = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", port, backlog=2048)
    print(f"raw server running on http://127.0.0.1:{port}", flush=True)
    await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    options = parser.parse_args()
    if options.loop == "uvloop":
        import uvloop

        uvloop.run(serve(options.port))
    else:
        asyncio.run(serve(options.port))


if __name__ == "__main__":
    main()
