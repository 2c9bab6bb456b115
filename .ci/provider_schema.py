#!/usr/bin/env python3
"""Check a Terraform JSON root module against a provider's schema as the
CDK for Terraform's prebuilt bindings record it, for providers that are
not in the offline mirror (so `terraform validate` cannot run): the
vSphere provider of the city example.

    provider_schema.py PACKAGE_DIR MODULE_DIR...
    provider_schema.py --self-test PACKAGE_DIR MODULE_DIR

PACKAGE_DIR is an unpacked npm package such as @cdktf/provider-vsphere
(`npm pack`, then `tar xzf`): for every resource and data source, its
`lib/<name>/index.js` holds the arguments and nested blocks the provider
accepts (`synthesizeHclAttributes`, one `attrs` table per block, with
`isBlock` and the value's type) and the attributes it exports (getters),
and `index.d.ts` says which arguments are required (no `?`).

Checked, for every `resource` and `data` block of every `*.tf.json`:
- the type exists in the provider;
- every argument exists at its level; a block is given as a block (an
  object or a list of objects), an argument as a value of its type (a
  number, a bool, a string, a list, a map; any `${...}` string passes);
- every required argument is given, at every level;
- every `data.T.N.attr` / `T.N.attr` reference names an attribute T has.

That is what `terraform validate` would check of these blocks, less the
provider's own validation functions (value ranges, conflicting
arguments). --self-test breaks a copy of the module in each of those ways
and requires each break to be found.
"""

import copy
import json
import os
import re
import sys

META = {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}


def module_dir(package, kind, tf_type, prefix):
    stem = tf_type[len(prefix) + 1 :].replace("_", "-")
    name = ("data-" + prefix + "-" + stem) if kind == "data" else stem
    return os.path.join(package, "lib", name)


def block_tables(js):
    """Every `attrs` table of index.js: the main block's (key None) and
    each nested block's (key: its `...ToHclTerraform` function). A table
    maps argument → (is_block, type, nested function or None)."""
    tables = {}
    current = None
    lines = js.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^function (\w+ToHclTerraform)\(struct\)", line)
        if m:
            current = m.group(1)
        elif re.match(r"^\s+synthesizeHclAttributes\(\) \{", line):
            current = None
        if re.match(r"^\s+const attrs = \{\s*$", line):
            table = {}
            i += 1
            depth = 1
            entry = None
            while i < len(lines) and depth > 0:
                l = lines[i]
                m = re.match(r"^\s+(\w+): \{\s*$", l)
                if m and depth == 1:
                    entry = {"name": m.group(1), "block": False, "type": None, "nested": None}
                    depth += 1
                elif depth == 2 and entry is not None:
                    v = re.match(r"^\s+value: (.*)$", l)
                    if v:
                        f = re.search(r"(\w+ToHclTerraform)", v.group(1))
                        entry["nested"] = f.group(1) if f else None
                    b = re.match(r"^\s+isBlock: (true|false),", l)
                    if b:
                        entry["block"] = b.group(1) == "true"
                    t = re.match(r'^\s+type: "(\w+)",', l)
                    if t:
                        entry["type"] = t.group(1)
                    s = re.match(r'^\s+storageClassType: "(\w+)",', l)
                    if s:
                        entry["storage"] = s.group(1)
                    if re.match(r"^\s+\},?\s*$", l):
                        table[entry["name"]] = entry
                        entry = None
                        depth -= 1
                elif re.match(r"^\s+\};?\s*$", l) and depth == 1:
                    depth = 0
                i += 1
            tables[current] = table
            continue
        i += 1
    return tables


def required_args(dts):
    """Interface name → the snake_case arguments it requires, read from
    each field's registry link (`...#snake_name`) and its missing `?`;
    and nested function → interface name."""
    required = {}
    current = None
    anchor = None
    for line in dts.splitlines():
        m = re.match(r"^export interface (\w+)", line)
        if m:
            current = m.group(1)
            required[current] = set()
            continue
        a = re.search(r"#(\w+) \w+#\w+\}", line)
        if a:
            anchor = a.group(1)
            continue
        f = re.match(r"^\s+readonly (\w+)(\??): ", line)
        if f and current is not None and anchor is not None:
            if f.group(2) != "?":
                required[current].add(anchor)
            anchor = None
    functions = {}
    for m in re.finditer(r"export declare function (\w+ToHclTerraform)\(struct\?: ([\w.| ]+)\)", dts):
        # `XOutputReference | X` or `X | cdktf.IResolvable`: the interface.
        names = [t.strip() for t in m.group(2).split("|")]
        functions[m.group(1)] = next((t for t in names if t in required), None)
    return required, functions


def main_interface(dts):
    m = re.search(r"export interface (\w+Config) extends cdktf\.TerraformMetaArguments", dts)
    return m.group(1) if m else None


def exported(js):
    """Every attribute name the class reads back (arguments and computed
    attributes alike)."""
    names = set(re.findall(r"(?:Attribute|interpolationForAttribute)\('(\w+)'\)", js))
    # Lists and maps of objects: `new XList(this, "disks", false)`, each
    # with a `// disks - computed: …` line.
    names |= set(re.findall(r'new \w+\(this, "(\w+)"', js))
    names |= set(re.findall(r"^\s+// (\w+) - computed: ", js, re.M))
    return names


class Provider:
    def __init__(self, package, prefix):
        self.package = package
        self.prefix = prefix
        self.cache = {}

    def schema(self, kind, tf_type):
        key = (kind, tf_type)
        if key in self.cache:
            return self.cache[key]
        d = module_dir(self.package, kind, tf_type, self.prefix)
        js_path = os.path.join(d, "index.js")
        if not os.path.exists(js_path):
            self.cache[key] = None
            return None
        js = open(js_path, encoding="utf-8").read()
        if ('tfResourceType = "%s"' % tf_type) not in js:
            self.cache[key] = None
            return None
        dts = open(os.path.join(d, "index.d.ts"), encoding="utf-8").read()
        required, functions = required_args(dts)
        s = {
            "tables": block_tables(js),
            "required": required,
            "functions": functions,
            "main": main_interface(dts),
            "exported": exported(js),
        }
        self.cache[key] = s
        return s


def is_interpolated(v):
    return isinstance(v, str) and "${" in v


def type_ok(entry, v):
    if is_interpolated(v):
        return True
    t, storage = entry.get("type"), entry.get("storage", "")
    if t == "simple":
        if storage == "number":
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        if storage == "boolean":
            return isinstance(v, bool)
        return isinstance(v, str)
    if t in ("list", "set"):
        return isinstance(v, list)
    if t == "map":
        return isinstance(v, dict)
    return True


def check_block(errors, where, schema, fn, body):
    table = schema["tables"].get(fn)
    if table is None:
        errors.append("%s: no schema for the block" % where)
        return
    iface = schema["main"] if fn is None else schema["functions"].get(fn)
    if iface is None:
        errors.append("%s: no interface for the block" % where)
    for name, v in body.items():
        if fn is None and name in META:
            continue
        entry = table.get(name)
        if entry is None:
            errors.append("%s: unknown argument or block `%s`" % (where, name))
            continue
        if entry["block"]:
            items = v if isinstance(v, list) else [v]
            for k, item in enumerate(items):
                if not isinstance(item, dict):
                    errors.append("%s.%s: a block must be an object" % (where, name))
                    continue
                check_block(errors, "%s.%s[%d]" % (where, name, k), schema, entry["nested"], item)
        elif not type_ok(entry, v):
            errors.append("%s.%s: %r is not a %s %s" % (where, name, v, entry.get("type"), entry.get("storage", "")))
    for name in sorted(schema["required"].get(iface, set())):
        if name not in body:
            errors.append("%s: required argument `%s` missing" % (where, name))


REF = re.compile(r"(?<![\w.])(data\.)?(%s_\w+)\.(\w+)(?:\[[^\]]*\])?\.(\w+)")


def check_module(provider, doc, errors, path):
    for kind in ("resource", "data"):
        for tf_type, blocks in doc.get(kind, {}).items():
            if not tf_type.startswith(provider.prefix + "_"):
                continue
            schema = provider.schema(kind, tf_type)
            if schema is None:
                errors.append("%s: %s type `%s` is not in the provider" % (path, kind, tf_type))
                continue
            for name, body in blocks.items():
                check_block(errors, "%s: %s.%s.%s" % (path, kind, tf_type, name), schema, None, body)
    ref = re.compile(REF.pattern % re.escape(provider.prefix))
    for m in ref.finditer(json.dumps(doc)):
        kind = "data" if m.group(1) else "resource"
        tf_type, attr = m.group(2), m.group(4)
        if m.group(3) not in doc.get(kind, {}).get(tf_type, {}):
            errors.append("%s: reference to undeclared %s %s.%s" % (path, kind, tf_type, m.group(3)))
            continue
        schema = provider.schema(kind, tf_type)
        if schema is not None and attr not in schema["exported"]:
            errors.append("%s: %s `%s` has no attribute `%s`" % (path, kind, tf_type, attr))


def modules(dirs):
    for d in dirs:
        for root, _, files in os.walk(d):
            for f in sorted(files):
                if f.endswith(".tf.json"):
                    yield os.path.join(root, f)


def check(package, dirs, prefix="vsphere"):
    provider = Provider(package, prefix)
    errors = []
    checked = 0
    for path in modules(dirs):
        doc = json.load(open(path, encoding="utf-8"))
        check_module(provider, doc, errors, path)
        checked += sum(
            len(blocks)
            for kind in ("resource", "data")
            for t, blocks in doc.get(kind, {}).items()
            if t.startswith(prefix + "_")
        )
    return errors, checked


def self_test(package, module):
    """Each way of breaking the module must be found."""
    provider = Provider(package, "vsphere")
    paths = list(modules([module]))
    assert paths, "no *.tf.json under " + module
    doc = json.load(open(paths[0], encoding="utf-8"))
    base = []
    check_module(provider, doc, base, "ok")
    assert not base, base
    vm = next(iter(doc["resource"]["vsphere_virtual_machine"].values()))

    def broken(change):
        d = copy.deepcopy(doc)
        change(d, next(iter(d["resource"]["vsphere_virtual_machine"].values())))
        errs = []
        check_module(provider, d, errs, "broken")
        return errs

    cases = {
        "unknown argument": lambda d, v: v.__setitem__("num_cpu", 2),
        "unknown nested argument": lambda d, v: v["disk"][0].__setitem__("size_gb", 10),
        "argument given as a block": lambda d, v: v.__setitem__("num_cpus", {"count": 2}),
        "block given as a value": lambda d, v: v.__setitem__("disk", ["disk0"]),
        "wrong type": lambda d, v: v.__setitem__("enable_disk_uuid", "yes"),
        "missing required argument": lambda d, v: v.pop("resource_pool_id"),
        "missing required nested argument": lambda d, v: v["clone"].pop("template_uuid"),
        "unknown resource type": lambda d, v: d["resource"].__setitem__("vsphere_virtual_machines", {"x": {}}),
        "unknown exported attribute": lambda d, v: v.__setitem__(
            "guest_id", "${data.vsphere_virtual_machine.template.guest_type}"
        ),
        "undeclared data source": lambda d, v: v.__setitem__(
            "datastore_id", "${data.vsphere_datastore.other.id}"
        ),
    }
    assert "clone" in vm and "disk" in vm, "the module has no clone or disk block to break"
    for what, change in cases.items():
        errs = broken(change)
        assert errs, "not found: " + what
        print("  found: %s (%s)" % (what, errs[0]))
    print("self-test: %d breaks found" % len(cases))


def main(argv):
    if len(argv) >= 3 and argv[0] == "--self-test":
        self_test(argv[1], argv[2])
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    errors, checked = check(argv[0], argv[1:])
    for e in errors:
        print("error: " + e)
    if errors:
        return 1
    if checked == 0:
        print("error: no vsphere resource or data block found", file=sys.stderr)
        return 1
    print("provider schema: %d blocks checked, no errors" % checked)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
