"""--log-config: apply a logging configuration (dict, .json, .yaml/.yml, .ini).

A config written for uvicorn keeps working: loggers named uvicorn,
uvicorn.error, uvicorn.access and uvicorn.asgi also configure their
fastasgi twins (unless the config names those itself), and uvicorn's
formatter classes are swapped for fastasgi's, which read the same records,
so the file works whether or not uvicorn is installed.
"""
import configparser
import copy
import json
import logging.config
import os

from .importer import require
from .logging import alias_uvicorn_loggers, detach_uvicorn_aliases

UVICORN_TWINS = {
    "uvicorn": "fastasgi",
    "uvicorn.error": "fastasgi.error",
    "uvicorn.access": "fastasgi.access",
    "uvicorn.asgi": "fastasgi.asgi",
}
FORMATTER_PREFIX = ("uvicorn.logging.", "fastasgi.logging.")


def apply_log_config(log_config, use_colors=None):
    detach_uvicorn_aliases()
    try:
        _apply(log_config, use_colors)
    finally:
        # A uvicorn logger the config made hands its handlers over to fastasgi's.
        alias_uvicorn_loggers()


def _apply(log_config, use_colors):
    if isinstance(log_config, dict):
        config = copy.deepcopy(log_config)  # never edit the caller's (or the default) dict
        if use_colors in (True, False):
            for name in ("default", "access"):
                if name in config.get("formatters", {}):
                    config["formatters"][name]["use_colors"] = use_colors
        logging.config.dictConfig(translate_dict(config))
    elif isinstance(log_config, configparser.RawConfigParser):
        logging.config.fileConfig(translate_ini(log_config), disable_existing_loggers=False)
    else:
        path = os.fspath(log_config)
        if path.endswith(".json"):
            with open(path) as file:
                logging.config.dictConfig(translate_dict(json.load(file)))
        elif path.endswith((".yaml", ".yml")):
            yaml = require("yaml", "--log-config with a YAML file", "PyYAML")
            with open(path) as file:
                logging.config.dictConfig(translate_dict(yaml.safe_load(file)))
        else:
            parser = configparser.ConfigParser()
            with open(path) as file:
                parser.read_file(file)
            logging.config.fileConfig(translate_ini(parser), disable_existing_loggers=False)


def _formatter_class(name):
    old, new = FORMATTER_PREFIX
    return new + name[len(old):] if isinstance(name, str) and name.startswith(old) else name


def translate_dict(config):
    loggers = config.get("loggers", {})
    for uvicorn_name, ours in UVICORN_TWINS.items():
        if uvicorn_name in loggers and ours not in loggers:
            loggers[ours] = copy.deepcopy(loggers[uvicorn_name])
    for formatter in config.get("formatters", {}).values():
        for key in ("()", "class"):
            if key in formatter:
                formatter[key] = _formatter_class(formatter[key])
    return config


def translate_ini(parser):
    keys = [key.strip() for key in parser.get("loggers", "keys", fallback="").split(",") if key.strip()]
    qualnames = {key: parser.get(f"logger_{key}", "qualname", fallback="root" if key == "root" else key)
                 for key in keys}
    for key, qualname in list(qualnames.items()):
        ours = UVICORN_TWINS.get(qualname)
        if ours is None or ours in qualnames.values():
            continue
        twin = f"{key}_fastasgi_twin"
        parser[f"logger_{twin}"] = dict(parser.items(f"logger_{key}", raw=True), qualname=ours)
        keys.append(twin)
        qualnames[twin] = ours
    if parser.has_section("loggers"):
        parser.set("loggers", "keys", ",".join(keys))
    for section in parser.sections():
        if section.startswith("formatter_") and parser.has_option(section, "class"):
            parser.set(section, "class", _formatter_class(parser.get(section, "class", raw=True)))
    return parser
