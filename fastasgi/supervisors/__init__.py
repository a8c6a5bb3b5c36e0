"""Process supervisors: --workers (multiprocess) and --reload."""
import logging
import os

logger = logging.getLogger("fastasgi.error")


def stop_if_orphaned(server, supervisor_pid):
    """Called from a child's server tick: once the supervisor is gone (killed
    with SIGKILL, its terminal closed), drain and stop instead of serving on
    the inherited socket with nobody left to stop the child."""
    if not server.should_exit and os.getppid() != supervisor_pid:
        logger.warning("Supervisor process [%d] is gone: shutting down.", supervisor_pid)
        server.should_exit = True
