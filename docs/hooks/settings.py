"""MkDocs hook: the settings page, generated from the click command and Config.

docs/settings.md holds the prose and a marker; at build time the marker
becomes one table per group of options, read from `fastasgi.cli.main`
(flags, types, help, the CLI's defaults, environment variables) and from
the signature of `fastasgi.Config` (the keyword and its default from
Python).  Nothing about an option is written twice, so the page cannot
drift from the command.
"""
import inspect

import click

MARKER = "<!-- settings: generated -->"

# Options are grouped by what they are about: the first rule that matches
# an option's name wins; a new option lands in "Other" until it has a group.
GROUPS = [
    ("Application", lambda name: name in {"app", "factory", "app_dir", "interface", "lifespan", "root_path",
                                          "env_file", "reset_contextvars"}),
    ("Socket", lambda name: name in {"host", "port", "uds", "fd", "backlog"}),
    ("Processes", lambda name: name in {"workers", "timeout_worker_healthcheck", "limit_max_requests",
                                        "limit_max_requests_jitter"} or name.startswith("reload")),
    ("Implementation and protocols", lambda name: name in {"loop", "http", "http2"} or name.startswith("ws")),
    ("Limits", lambda name: name.startswith("limit_") or name == "h11_max_incomplete_event_size"),
    ("Timeouts", lambda name: name.startswith("timeout_")),
    ("Logging", lambda name: name.startswith("log") or name in {"access_log", "use_colors"}
                             or name.startswith("access_log")),
    ("Proxies", lambda name: name.startswith("proxy") or name == "forwarded_allow_ips"),
    ("Metrics and health", lambda name: name.startswith(("metrics", "health"))),
    ("Response headers", lambda name: name in {"server_header", "date_header", "headers"}),
    ("TLS", lambda name: name.startswith("ssl_")),
]
OTHER = "Other"
APP_HELP = "The ASGI app to serve, as module:attribute (with --factory, a callable that returns it)."


def group_of(name):
    for title, matches in GROUPS:
        if matches(name):
            return title
    return OTHER


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, settings_markdown())


def settings_markdown():
    from fastasgi.cli import main
    from fastasgi.config import Config

    config_defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(Config.__init__).parameters.items()
        if name != "self"
    }
    prefix = (main.context_settings or {}).get("auto_envvar_prefix")
    grouped = {}
    for param in main.params:
        if param.expose_value is False:  # --version: an action, not a setting
            continue
        grouped.setdefault(group_of(param.name), []).append(param)
    sections = []
    order = [title for title, _ in GROUPS] + [OTHER]
    for title in order:
        params = grouped.get(title)
        if not params:
            continue
        rows = ["| Option | Default | Description |", "|---|---|---|"]
        rows += [option_row(param, config_defaults, prefix) for param in params]
        sections.append(f"## {title}\n\n" + "\n".join(rows))
    cli_names = {param.name for param in main.params}
    python_only = [name for name in config_defaults if name not in cli_names]
    if python_only:
        rows = ["| `Config` keyword | Default |", "|---|---|"]
        rows += [f"| `{name}` | {python_default(config_defaults[name])} |" for name in python_only]
        sections.append("## Only from Python\n\nKeywords of `Config` (and `fastasgi.run()`) that have no flag:\n\n"
                        + "\n".join(rows))
    return "\n\n".join(sections)


def option_row(param, config_defaults, prefix):
    anchor = param.name.replace("_", "-")
    if isinstance(param, click.Argument):
        name = f"`{param.human_readable_name}`"
    else:
        flags = " / ".join(f"`{flag}`" for flag in param.opts + param.secondary_opts)
        metavar = "" if param.is_flag else f" `{type_name(param)}`"
        name = flags + metavar
    where = []
    environment = envvar_of(param, prefix)
    if environment:
        where.append(f"env `{environment}`")
    if param.name in config_defaults:
        where.append(f"`Config({param.name}=...)`")
    default = cli_default(param)
    config_default = config_defaults.get(param.name, inspect.Parameter.empty)
    if config_default is not inspect.Parameter.empty and not same_default(param, config_default):
        default += f"<br>Python: {python_default(config_default)}"
    # click arguments take no help text: APP's is written here.
    help_text = param.help if isinstance(param, click.Option) else APP_HELP
    description = escape(help_text or "").strip()
    if description and not description.endswith("."):
        description += "."
    if isinstance(param.type, click.Choice):
        description += " One of: " + ", ".join(f"`{choice}`" for choice in param.type.choices) + "."
    if getattr(param, "multiple", False):
        description += " May be given more than once."
    description += "<br><small>" + " · ".join(where) + "</small>"
    return f'| <span id="{anchor}"></span>{name} | {default} | {description} |'


def type_name(param):
    if isinstance(param.type, click.Choice):
        return "CHOICE"
    return param.type.name.upper()


def envvar_of(param, prefix):
    if param.envvar:
        return param.envvar if isinstance(param.envvar, str) else param.envvar[0]
    if prefix and isinstance(param, click.Option) and param.allow_from_autoenv:
        return f"{prefix}_{param.name.upper()}"
    return None


def cli_default(param):
    default = param.default
    if isinstance(param, click.Argument) and param.required:
        return "required"
    if callable(default):  # click computes it when the command runs
        return "computed at startup (see the description)"
    # None, an empty `multiple`, or click's own "not set" sentinel
    if not isinstance(default, (str, int, float, tuple, list)) or (getattr(param, "multiple", False) and not default):
        return "none"
    if isinstance(default, bool):
        if param.secondary_opts:
            return f"`{(param.opts if default else param.secondary_opts)[0]}`"
        return "on" if default else "off"
    if isinstance(default, str) and default == "":
        return '`""`'
    return f"`{default}`"


def same_default(param, config_default):
    default = param.default
    if not isinstance(default, (str, int, float, tuple, list)) or (getattr(param, "multiple", False) and not default):
        default = None
    if config_default is None and default in (None, ()):
        return True
    try:
        return type(config_default)(default) == config_default and default is not None
    except (TypeError, ValueError):
        return False


def python_default(value):
    if isinstance(value, dict):
        return "fastasgi's logging config (`fastasgi.logging.LOGGING_CONFIG`)"
    if value is None:
        return "none"
    return f"`{value!r}`"


def escape(text):
    """Help text as literal Markdown: no emphasis from globs, no HTML from <...>."""
    for character, escaped in (("|", "\\|"), ("*", "\\*"), ("<", "&lt;"), (">", "&gt;"), ("\n", " ")):
        text = text.replace(character, escaped)
    return text
