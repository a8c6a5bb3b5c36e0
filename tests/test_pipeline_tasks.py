"""Pipelined requests share a task, not what a task of their own would give them.

When a response frees the next pipelined request and its app returns in
the same loop turn, that request runs in the same task (no task to create,
no loop turn to wait).  These tests pin what must not change with that:
each request starts from a clean context, a request never waits for an
app still running after its response, and the task's cancellation reaches
the app it is meant for.
"""
import pytest

from .conftest import read_response

pytestmark = pytest.mark.timeout(30)

LOOPS = ["auto", "asyncio"]  # auto: uvloop where installed


def get(path):
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n"


def responses(server, requests, timeout=5):
    """Send `requests` in one write; the (status, body) of each response, in order."""
    answers = []
    with server.connect() as sock:
        sock.sendall(b"".join(requests))
        rest = b""
        for _ in requests:
            status, _, body, _, rest = read_response(sock, timeout=timeout, buffer=rest)
            answers.append((status, body))
    return answers


@pytest.mark.parametrize("loop", LOOPS)
def test_pipelined_requests_do_not_see_each_others_context_variables(start_server, implementation, loop):
    server = start_server("tests.apps:app", implementation, "--loop", loop)
    requests = [get(b"/context?mark=%d" % index) for index in range(20)]
    assert responses(server, requests) == [(200, b"unset")] * 20
    # And on a connection that sends them one by one.
    with server.connect() as sock:
        for index in range(3):
            sock.sendall(get(b"/context?mark=%d" % index))
            status, _, body, _, _ = read_response(sock)
            assert (status, body) == (200, b"unset")


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("handed_over", [False, True], ids=["own-task", "handed-over"])
def test_a_pipelined_request_does_not_wait_for_the_app_before_it_to_return(
        start_server, implementation, loop, handed_over):
    # An app answers, then waits for the next request to release it.  Were
    # that request run only once the app returned, it would come 20 s late,
    # past the client's 5 s timeout.  The waiting app is either the first
    # of its task or one handed over to the task of a request before it.
    server = start_server("tests.apps:app", implementation, "--loop", loop)
    before = [get(b"/")] if handed_over else []
    requests = before + [get(b"/answer-then-wait?name=a&s=20"), get(b"/release?name=a"), get(b"/")]
    expected = [(200, b"answered"), (200, b"released"), (200, b"Hello, world!")]
    assert responses(server, requests) == [(200, b"Hello, world!")] * len(before) + expected


@pytest.mark.parametrize("loop", LOOPS)
def test_a_pipelined_app_is_cancelled_alone(start_server, implementation, loop):
    # The app cancels its own task; the cancellation reaches that app, which
    # handles it, and the requests after it are answered as usual.
    server = start_server("tests.apps:app", implementation, "--loop", loop)
    requests = [get(b"/"), get(b"/cancelled"), get(b"/context?mark=x"), get(b"/cancelled"), get(b"/context")]
    assert responses(server, requests) == [
        (200, b"Hello, world!"), (200, b"cancelled"), (200, b"unset"), (200, b"cancelled"), (200, b"unset")]
