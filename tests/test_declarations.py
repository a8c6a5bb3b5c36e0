"""A module compiled in Cython's pure Python mode declares each field twice:
in the class's `__slots__` (the pure twin) and in its `.pxd` (the compiled
one).  Nothing in Cython checks that the two agree: a field missing from
the `.pxd` is an AttributeError only on the compiled twin, one missing
from `__slots__` only on the pure one.  This test reads both declarations
of every such module (`name.py` beside `name_c.pxd`) and compares them.
"""
import ast
import pathlib
import re

import pytest

pytestmark = pytest.mark.timeout(30)

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "fastasgi"
PXD_CLASS = re.compile(r"^cdef class (\w+)(?:\((\w+)\))?:", re.M)
# `cdef [public] TYPE a, b, c[N]`: TYPE may be several words (long long).
PXD_FIELD = re.compile(r"^\s+cdef (?:public |readonly )?(?:(?:unsigned|signed|long|short) )*[\w.]+ "
                       r"([\w, \[\]]+?)\s*(?:#.*)?$")


def pure_mode_pairs():
    """(source.py, source_c.pxd) for every module compiled as it is."""
    return sorted((pxd.with_name(pxd.stem[:-2] + ".py"), pxd)
                  for pxd in PACKAGE.rglob("*_c.pxd") if pxd.with_name(pxd.stem[:-2] + ".py").exists())


def pxd_classes(path):
    """{class: (base or None, {field, ...})} of the `cdef class` blocks of a .pxd."""
    text = path.read_text()
    aliases = {alias: name for name, alias in re.findall(r"(\w+) as (\w+)", text)}  # cimport X as Y
    classes = {}
    for match in PXD_CLASS.finditer(text):
        body_start = match.end()
        next_class = PXD_CLASS.search(text, body_start)
        body = text[body_start:next_class.start() if next_class else len(text)]
        fields = set()
        for line in body.splitlines():
            if line and not line[0].isspace():
                break  # the class block ends at the next top-level line
            field = PXD_FIELD.match(line)
            if field and "(" not in line.split("#")[0]:  # a method's parentheses; a comment's don't count
                fields.update(name.split("[")[0].strip() for name in field.group(1).split(","))
        fields.discard("__dict__")  # attributes of the user's own, not declared fields
        base = match.group(2)
        classes[match.group(1)] = (aliases.get(base, base), fields)
    return classes


def py_classes(path):
    """{class: ([base, ...], {field, ...})} of a module's classes: the fields
    are its `__slots__`, or for a class without them what `__init__` sets."""
    classes = {}
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.ClassDef):
            continue
        slots = None
        for statement in node.body:
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and getattr(statement.targets[0], "id", None) == "__slots__"):
                slots = set(ast.literal_eval(statement.value))
        if slots is None:
            slots = {target.attr for method in node.body
                     if isinstance(method, ast.FunctionDef) and method.name == "__init__"
                     for target in ast.walk(method)
                     if isinstance(target, ast.Attribute) and isinstance(target.ctx, ast.Store)
                     and getattr(target.value, "id", None) == "self"}
        bases = [base.id for base in node.bases if isinstance(base, ast.Name)]
        classes[node.name] = (bases, slots)
    return classes


def all_fields(classes, name, index):
    """The fields of `name` and of every base declared in `classes`."""
    fields = set()
    while name in classes:
        entry = classes[name]
        fields |= entry[1]
        bases = entry[0] if index == "py" else [entry[0]]
        name = bases[0] if bases else None
    return fields


def test_every_pure_mode_module_is_checked():
    names = {source.name for source, _ in pure_mode_pairs()}
    assert {"http.py", "cycle.py", "state.py", "flow.py", "wsframes.py", "headers.py", "response.py",
            "request.py", "grammar.py", "chunks.py"} <= names


def test_pxd_fields_match_slots():
    py, pxd = {}, {}
    for source, declaration in pure_mode_pairs():
        py.update(py_classes(source))
        pxd.update(pxd_classes(declaration))
    subclassed = {base for base, _ in pxd.values()}
    checked = []
    for name in pxd:
        if name in subclassed:
            continue  # an abstract base declares fields its subclasses set: compared through them
        assert name in py, f"{name} is declared in a .pxd but defined in no module compiled as it is"
        declared, slotted = all_fields(pxd, name, "pxd"), all_fields(py, name, "py")
        assert declared == slotted, (f"{name}: only in the .pxd: {sorted(declared - slotted)}; "
                                     f"only in __slots__: {sorted(slotted - declared)}")
        checked.append(name)
    assert {"HttpProtocol", "RequestResponseCycle", "ConnectionSettings", "ServerState",
            "ResponseEncoder", "FlowControl", "FrameReader", "RequestHead", "ChunkFraming"} <= set(checked)


def test_the_check_finds_a_missing_field(tmp_path):
    (tmp_path / "mod.py").write_text("class A:\n    __slots__ = ('x', 'y')\n")
    (tmp_path / "mod_c.pxd").write_text("cdef class A:\n    cdef public object x\n")
    py, pxd = py_classes(tmp_path / "mod.py"), pxd_classes(tmp_path / "mod_c.pxd")
    assert all_fields(py, "A", "py") - all_fields(pxd, "A", "pxd") == {"y"}


def test_c_types_and_arrays_are_read(tmp_path):
    (tmp_path / "mod_c.pxd").write_text("cdef class A:\n    cdef long long counts[15]  # n\n"
                                        "    cdef public unsigned int a, b\n    cpdef f(self)\n")
    assert pxd_classes(tmp_path / "mod_c.pxd")["A"][1] == {"counts", "a", "b"}


# Hand-written compiled sources: the byte loops, and the parser over llhttp
# (its pure counterpart, over h11, is a different library's adapter).
HAND_WRITTEN = {"byteloops", "parser"}


def test_compiled_modules_are_their_pure_twins_compiled():
    """Every compiled module but the hand-written ones is built from the very
    file that runs as its pure twin, with its C types in a `.pxd` beside it:
    no second copy of the code to keep in step."""
    from fastasgi._speedups.compiled import COMPILED_MODULES
    root = PACKAGE.parent
    for role, (compiled, source, pure) in COMPILED_MODULES.items():
        if role in HAND_WRITTEN:
            assert source.endswith(".pyx"), role
            continue
        assert source == pure.replace(".", "/") + ".py", (role, source, pure)
        assert (root / source).exists(), source
        pxd = root / (compiled.replace(".", "/") + ".pxd")
        assert pxd.exists() and pxd.with_name(pxd.stem[:-2] + ".py") == root / source, (role, pxd)
    pyx = {path.stem for path in (PACKAGE / "_speedups").glob("*.pyx")}
    assert pyx == {COMPILED_MODULES[role][1].rsplit("/", 1)[1][:-4] for role in HAND_WRITTEN}
