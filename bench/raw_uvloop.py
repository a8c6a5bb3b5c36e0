"""The ceiling: a raw uvloop protocol answering each request with canned bytes.

No parsing beyond counting request ends, no ASGI: what any Python server on
uvloop could at most do on this machine with this load generator.  A
websocket upgrade gets a canned 101, then each 32-byte masked frame from
bench/ws_load.py is answered with a canned unmasked one: the ceiling of the
ws echo scenario, and a check that the load client is not the bottleneck.
"""
import sys

import uvloop

RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n"
            b"server: raw\r\n\r\nHello, world!")


SWITCHING = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
MASKED_FRAME_SIZE = 2 + 4 + 32
ECHO_FRAME = bytes([0x81, 32]) + b"x" * 32


class Canned:
    def connection_made(self, transport):
        self.transport = transport
        self.websocket = False

    def data_received(self, data):
        if self.websocket:
            self.transport.write(ECHO_FRAME * (len(data) // MASKED_FRAME_SIZE))
            return
        if b"Upgrade: websocket" in data:
            self.websocket = True
            self.transport.write(SWITCHING)
            return
        count = data.count(b"\r\n\r\n")
        if count:
            self.transport.write(RESPONSE * count)

    def connection_lost(self, exc):
        pass

    def eof_received(self):
        pass


async def main(port):
    import asyncio

    server = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", port, backlog=2048)
    print(f"raw uvloop running on http://127.0.0.1:{port} ", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
