"""An app module whose import fails: it needs a package that is not installed."""
import fastasgi_test_no_such_package  # noqa: F401


async def app(scope, receive, send):
    pass
