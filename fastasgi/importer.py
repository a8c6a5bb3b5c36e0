"""Resolve "package.module:attribute" to an object, with one-line errors,
and import the optional libraries a flag needs."""
import importlib


class ImportFromStringError(Exception):
    pass


class MissingDependency(ImportError):
    """An optional library a flag needs is not installed: a one-line error."""


def require(module, feature, package):
    """Import `module`, or say which package `feature` needs."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(
            f"{feature} needs the {package} package: pip install 'fastasgi[standard]'"
        ) from None


def import_from_string(import_str):
    if not isinstance(import_str, str):
        return import_str
    module_str, _, attrs_str = import_str.partition(":")
    if not module_str or not attrs_str:
        raise ImportFromStringError(
            f'Import string "{import_str}" must be in format "<module>:<attribute>".'
        )
    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        if exc.name != module_str and not module_str.startswith(f"{exc.name}."):
            # The app's module exists but something it imports does not.
            raise ImportFromStringError(
                f'Could not import module "{module_str}": {exc}.'
            ) from exc
        raise ImportFromStringError(f'Could not import module "{module_str}".') from exc
    except ImportError as exc:
        raise ImportFromStringError(f'Could not import module "{module_str}": {exc}.') from exc
    except Exception as exc:  # the app's module itself raised while importing
        raise ImportFromStringError(
            f'Error importing module "{module_str}": {type(exc).__name__}: {exc}{_where(exc)}'
        ) from exc
    instance = module
    try:
        for attr_str in attrs_str.split("."):
            instance = getattr(instance, attr_str)
    except AttributeError:
        raise ImportFromStringError(
            f'Attribute "{attrs_str}" not found in module "{module_str}".'
        ) from None
    return instance


def _where(exc):
    """' (file:line)' of the innermost frame that raised, for a one-line error."""
    tb = exc.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f" ({tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})"
