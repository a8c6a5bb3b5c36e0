"""The ceiling: a raw uvloop protocol answering each request with canned bytes.

No parsing beyond counting request ends, no ASGI: what any Python server on
uvloop could at most do on this machine with this load generator.
"""
import sys

import uvloop

RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n"
            b"server: raw\r\n\r\nHello, world!")


class Canned:
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
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
