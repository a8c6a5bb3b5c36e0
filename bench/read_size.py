"""What one socket read costs, by how it is asked for (no server involved).

    python bench/read_size.py                 # CPython, glibc's malloc defaults
    python bench/read_size.py --malloc-tuning # CPython, with fastasgi's malloc settings
    pypy3 bench/read_size.py                  # PyPy: every recv() allocates its whole buffer

Sends a 16.5 KiB request-sized payload over a socketpair and reads it back
with recv(256 KiB) (asyncio's selector transports), recv(64 KiB), and
recv_into() a kept 64 KiB buffer plus a copy out (fastasgi's protocols on
asyncio's own loop: see fastasgi/protocols/asyncio_loop.py).  Prints the
mean time per send + read, best of --repeat runs.
"""
import argparse
import socket
import time

PAYLOAD = b"x" * 16_500


def per_read(read, count):
    sender, receiver = socket.socketpair()
    try:
        started = time.perf_counter()
        for _ in range(count):
            sender.send(PAYLOAD)
            read(receiver)
        return (time.perf_counter() - started) / count * 1e6
    finally:
        sender.close()
        receiver.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--malloc-tuning", action="store_true",
                        help="apply fastasgi.allocator.tune_malloc() first, as a serving process does")
    args = parser.parse_args()
    if args.malloc_tuning:
        from fastasgi.allocator import tune_malloc

        print("malloc tuning applied:", tune_malloc())
    kept = memoryview(bytearray(64 * 1024))

    def recv_into(sock):
        return bytes(kept[:sock.recv_into(kept)])

    ways = {
        "recv(256 KiB)": lambda sock: sock.recv(256 * 1024),
        "recv(64 KiB)": lambda sock: sock.recv(64 * 1024),
        "recv_into(kept 64 KiB) + copy": recv_into,
    }
    for name, read in ways.items():
        best = min(per_read(read, args.count) for _ in range(args.repeat))
        print(f"{name:32} {best:6.2f} us")


if __name__ == "__main__":
    main()
