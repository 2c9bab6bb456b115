F = '''solution demo { version = "1.0.0" }
import std.devices
fleet plants {
  device = std.devices.rpi4  runtime = k3s
  site north { gateways = 2  hosts = "gw{n}.north.example.internal" }
}
'''
C = '''solution demo { version = "1.0.0" }
import std.cloud
cluster dc {
  provider = baremetal { hosts = "ops{n}.example.internal" }
  node = std.cloud.baremetal_server  nodes = 3
}
'''

PAGES = {}

PAGES["E0001"] = dict(
    about="""
The text of an item does not follow the grammar. Each top-level item
(`solution`, `import`, `param`, `fleet`, `service`, …) is parsed on its
own, so a syntax error makes only that item unreadable: it is skipped and
the rest of the file is still checked. A field is always `name = value`;
the message lists what could come next at the point where reading stopped.
""",
    snippet=F + '''service broker on plants {
  image "eclipse-mosquitto:2.0.18"
}
''',
    fix="Write the missing token; here, the `=` between the field and its value:",
    fixed='''  image = "eclipse-mosquitto:2.0.18"''',
)

PAGES["E0002"] = dict(
    about="""
A `{` is never closed by a matching `}`. Braces are counted (not those in
strings and comments), not guessed from indentation, so the error points at
the brace still open when the item ends: at the end of the file, or at the
next line that starts with a top-level keyword such as `service`. One
missing brace costs only the item it is in, which is skipped, unchecked,
until the brace is added.
""",
    snippet=F + '''service collector on plants {
  image = "ghcr.io/acme/collector:1.4.2"
  env {
    MQTT_URL = "mqtt://broker:1883"
}
''',
    fix="Add the missing `}`. Here the last `}` closed `env`, so the service needs one more:",
    fixed='''  env {
    MQTT_URL = "mqtt://broker:1883"
  }
}''',
)

PAGES["E0003"] = dict(
    about="""
An item nests brackets more deeply than the compiler reads: at most 64
brackets (`(`, `[` and block braces `{`, counted together, not those in
strings or comments) may be open at once. Every stage that reads the tree
(the parser, the checker, the count evaluator, the formatter, the language
server) follows nesting, so the depth is bounded before the item is parsed:
the item is skipped, with this one error, and the rest of the file is
still checked. No hand-written program comes near the limit; it stops
generated or corrupted input from exhausting the stack.
""",
    snippet=F + 'service s on plants {\n  image    = "ghcr.io/acme/s:1.0.0"\n  replicas = ' + "(" * 64 + "1" + ")" * 64 + '\n}\n',
    show=F + 'service s on plants {\n  image    = "ghcr.io/acme/s:1.0.0"\n  replicas = ((((((((((…1…))))))))))   // 64 pairs of parentheses\n}\n',
    fix="Remove the redundant brackets, or split the value with params:",
    fixed='''  replicas = 1''',
)

PAGES["E0004"] = dict(
    about="""
One value has more than 256 operators (`+`, `-`, `*`, `/`, counting those
inside brackets and inside blocks within the value). A chain of operators
is a tree as deep as the chain is long, and the checker, the formatter and
the language server all walk that tree, so its length is bounded before
the item is parsed: the item is skipped, with this one error, and the rest
of the file is still checked. Each field's value counts on its own.
""",
    snippet=F + 'service s on plants {\n  image    = "ghcr.io/acme/s:1.0.0"\n  replicas = 1'
    + "".join((" +\n   " if i % 16 == 15 else "") + " + 1" for i in range(256)) + '\n}\n',
    show=F + 'service s on plants {\n  image    = "ghcr.io/acme/s:1.0.0"\n  replicas = 1 + 1 + 1 + …   // 257 terms\n}\n',
    fix="Compute the value elsewhere and use it: a param, or a ratio over a count:",
    fixed='''  replicas = 1 per 10 gateways of plants''',
)

PAGES["E0005"] = dict(
    about="""
The source contains the NUL character, as a byte or as the escape
`\\u{0}` in a string. No tool that iotc writes for (Kubernetes, Compose,
Ansible, Terraform, the shell) accepts a NUL in a name, label, path or
value; most would cut the string there. A NUL byte usually means a binary
or corrupted file was given as source.
""",
    snippet=F + 'service s on plants {\n  image = "ghcr.io/acme/s:1.0.0"\n  env { SEPARATOR = "\\u{0}" }\n}\n',
    fix="Remove the character; choose a printable separator:",
    fixed='''  env { SEPARATOR = "|" }''',
)

PAGES["E0101"] = dict(
    about="""
A name does not refer to anything in scope. The root file and the files it
imports (`import "./x.iot"`) share one scope; the prelude `std.runtimes`
(`k3s`, `microk8s`, `docker`) is always visible; other stdlib items are
written `std.MODULE.NAME` after `import std.MODULE`. The same code covers
`std.MODULE.NAME` without the import, a `talks_to` entry that is not a
workload, and an unknown function in a count (there are `min`, `max`,
`ceil` and `floor`).
""",
    snippet=F + '''service broker on plant {
  image = "eclipse-mosquitto:2.0.18"
}
''',
    fix="Use the declared name (the help suggests the closest one), or declare the item:",
    fixed='''service broker on plants {''',
)

PAGES["E0102"] = dict(
    about="""
Two items have the same name. Names identify items in `on`, `from`,
`talks_to`, counts (`replicas of broker`) and the generated manifests, and
all items of the root file and its imports share one scope whatever their
kind. The same rule holds for repeatable named blocks inside one block
(sites, pools, volumes); a program has one `solution`, and the pool name
`default` is reserved for the cluster's own `node`/`nodes`.
""",
    snippet=F + '''service broker on plants { image = "eclipse-mosquitto:2.0.18" }
service broker on plants { image = "ghcr.io/acme/opcua-bridge:3.2.0" }
''',
    fix="Rename one of them, and the references that meant it:",
    fixed='''service opcua_bridge on plants { image = "ghcr.io/acme/opcua-bridge:3.2.0" }''',
)

PAGES["E0103"] = dict(
    about="""
Files import each other in a circle. `import "./x.iot"` merges the items of
`x.iot` into one shared scope, so a cycle never makes a name visible that
would not be visible otherwise; it does mean none of the files can be
checked or reused on its own, and it usually hides a definition in the
wrong file. The error points at the import that closes the cycle; the
other imports on it are listed as notes.
""",
    files={
        "main.iot": '// main.iot\nsolution demo { version = "1.0.0" }\nimport "./a.iot"\n',
        "a.iot": '// a.iot\nimport "./b.iot"\n',
        "b.iot": '// b.iot\nimport "./a.iot"\n',
    },
    show='// main.iot\nsolution demo { version = "1.0.0" }\nimport "./a.iot"\n\n// a.iot\nimport "./b.iot"\n\n// b.iot\nimport "./a.iot"\n',
    fix="""
Remove the import that points back. If both files need the same items,
move those into a third file that both import and that imports neither.
""",
    fixed='''// main.iot
solution demo { version = "1.0.0" }
import "./a.iot"
import "./b.iot"

// a.iot and b.iot no longer import each other''',
)

PAGES["E0104"] = dict(
    about="""
An import cannot be resolved. A file import (`import "./edge.iot"`) is a
path relative to the importing file, and the file must exist: a missing
file would silently leave out everything it defines. A module import must
name a stdlib module: `std.cloud`, `std.devices`, `std.ml`, `std.runtimes`
or `std.services` (the help suggests the closest one for a typo).
""",
    snippet='solution demo { version = "1.0.0" }\nimport "./edge.iot"\n',
    fix="""
Fix the path (relative to the file that contains the `import`) or the
module name, or remove the import:
""",
    fixed='''import "./fleet.iot"   // the file was renamed
import std.devices     // not std.device''',
)

PAGES["E0105"] = dict(
    about="""
A block contains a field or nested block that its kind does not have.
Every block has a fixed list of fields (the list the language server
completes from). An unknown one is an error rather than ignored, because a
misspelt field would silently fall back to its default: here a broker with
128Mi of memory instead of 512Mi. The help suggests the closest field.
""",
    snippet=F + '''service broker on plants {
  image  = "eclipse-mosquitto:2.0.18"
  memroy = 512Mi
}
''',
    fix="Spell the field as the block defines it, or remove it:",
    fixed='''  memory = 512Mi''',
)

PAGES["E0106"] = dict(
    about="""
Something required has not been written. Required fields have no sensible
default: a workload's `image`, a fleet's `device` and `runtime`, a site's
`gateways` and `hosts`, a cluster's `provider` and `node`, a model's
`format`, `version` and `artifact`, the solution's `version`. The code also
covers a workload, `train` or `serve` without `on`, a param without a
default, a fleet without sites, `health` without a `port`, and a program
without a `solution`. Templates may leave fields to the workloads that use
them.
""",
    snippet=F + '''service broker on plants {
  port = 1883
}
''',
    fix="Add the field (the help says what it takes), or take it from a template with `from`:",
    fixed='''service broker on plants {
  image = "eclipse-mosquitto:2.0.18"
  port  = 1883
}''',
)

PAGES["E0107"] = dict(
    about="""
A field is set twice in one block. Rather than silently keeping the first
or the last value, the checker asks which one was meant; for `cpu` and
`memory` the answer changes the capacity check. The same holds for a block
allowed once (`env`, `autoscale`, `reserve`, …), a key repeated in `env` or
`labels`, and a `secret` also set in `env`. A template's fields are not
duplicates: the workload's own value overrides them.
""",
    snippet=F + '''service broker on plants {
  image = "eclipse-mosquitto:2.0.18"
  cpu   = 100m
  cpu   = 250m
}
''',
    fix="Keep one of them:",
    fixed='''service broker on plants {
  image = "eclipse-mosquitto:2.0.18"
  cpu   = 250m
}''',
)

PAGES["E0108"] = dict(
    about="""
A name resolves, but to the wrong kind of item. `on` takes a cluster or a
fleet; `device` and `node` take a device profile; a fleet's `runtime` takes
a container runtime (`k3s`, `docker`, …) while `serve { runtime }` takes a
serving runtime (`std.ml.onnxruntime`, …); `from` takes a template of the
workload's kind; `train` runs on a cluster, not a fleet.
""",
    snippet=F + '''model defects {
  format   = onnx
  version  = "3"
  artifact = "s3://acme-models/defects/3/model.onnx"
  serve on plants { runtime = k3s }
}
''',
    fix="Name an item of the expected kind (here after `import std.ml`):",
    fixed='''  serve on plants { runtime = std.ml.onnxruntime }''',
)

PAGES["E0110"] = dict(
    about="""
Something valid elsewhere is written where it does not belong: `secret`,
`device` or `alert` statements outside the blocks that take them, a field
written as a block, `on`/`where`/`from`/`template` on an item that is not a
workload, a name on a block that takes none, bounds on a `bool` or `string`
param, a volume with both `size` and `host_path`, a `monitor` on a model
that is not served, and `replicas` next to `autoscale` (both decide the
replica count). An item keyword with a name inside a block (`fleet f {
solution x { } }`) is reported by the parser with this code: on a line of
its own, as `iotc fmt` would print it, such a word starts a new item, so
the program would mean something else once formatted.
""",
    snippet=F + '''service ingest on plants {
  image    = "ghcr.io/acme/ingest:2.3.1"
  replicas = 2
  autoscale { min = 1  max = 4 }
}
''',
    fix="Remove the statement or move it where it belongs; here, keep one way of sizing the service:",
    fixed='''service ingest on plants {
  image = "ghcr.io/acme/ingest:2.3.1"
  autoscale { min = 1  max = 4 }
}''',
)

PAGES["E0201"] = dict(
    about="""
A value has the wrong type for its field. Fields take numbers, quantities
with units (`500m`, `256Mi`, `30s`), strings, `true`/`false`, words,
lists or references, and nothing is converted implicitly: a quoted number
is a string, a memory size is no CPU quantity, a `cpu` param cannot stand
for an `int`. Paths that must be absolute (`health`, `mount`,
`device "/dev/…"`) are checked here too.
""",
    snippet=F + '''service broker on plants {
  image = "eclipse-mosquitto:2.0.18"
  port  = "1883"
}
''',
    fix="Write the value in the field's type, as the help shows:",
    fixed='''  port  = 1883''',
)

PAGES["E0202"] = dict(
    about="""
A value has the right type but is outside its field's range: ports are
1–65535; counts and most numbers are zero or more; containers never run as
`user = 0` (root); `cpu_percent` is 1–100; a param's default must lie
within its `min` and `max`; a `rollout` with `max_unavailable = 0` and
`max_surge = 0` never progresses; CPU is never finer than a millicore.
A count (gateways of a site, nodes of a pool, replicas) is at most
1,000,000, a site or cluster has at most 1,000,000 devices (gateways plus
standby) and a solution at most 10,000,000: host names and copies are made
from counts, so they are bounded before anything is built from them.
Kubernetes or Docker would reject such values on the device, at deploy time.
""",
    snippet=F + '''service dashboard on plants {
  image = "grafana/grafana:11.2.0"
  port  = 80800
}
''',
    fix="Use a value inside the range the message gives:",
    fixed='''  port  = 8080''',
)

PAGES["E0203"] = dict(
    about="""
A quantity has a unit the language does not know, or lacks one it needs.
CPU is written in cores (`2`, `0.5`) or millicores (`500m`); memory with
`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei` (powers of two) or `k`, `M`, `G`, `T`,
`P`, `E` (powers of ten); durations with `ms`, `s`, `m`, `h` or `d`. Memory
and durations always need a unit. `MB` or `GB` are rejected, not guessed:
they mean 10^6 to some and 2^20 to others, and capacity depends on it.
""",
    snippet=F + '''service broker on plants {
  image  = "eclipse-mosquitto:2.0.18"
  memory = 256MB
}
''',
    fix="Write the quantity with one of the units above:",
    fixed='''  memory = 256Mi''',
)

PAGES["E0204"] = dict(
    about="""
A `schedule` is not a valid cron schedule. It has five fields: minute
(0–59), hour (0–23), day of month (1–31), month (1–12 or `jan`–`dec`) and
day of week (0–7 or `sun`–`sat`), each `*`, a number, a range `a-b`, a list
`a,b` or a step `*/n`; or it is a macro (`@hourly`, `@daily`, `@weekly`,
`@monthly`, `@yearly`). Kubernetes would reject the CronJob only when it is
applied; the checker reports it before any file is generated.

A schedule that restricts both the day of month and the day of week
(`0 3 1 * 1`) is refused too: cron and Kubernetes run it on either day (the
1st, and every Monday), while the systemd timers of Docker fleets run it only
on days that are both (a Monday the 1st). Keep one of the two `*`.
""",
    snippet=F + '''job upload on plants {
  image    = "ghcr.io/acme/uploader:1.2.0"
  schedule = "*/15 * * *"
}
''',
    fix="Write all five fields; this is every 15 minutes:",
    fixed='''  schedule = "*/15 * * * *"''',
)

PAGES["E0205"] = dict(
    about="""
An `image` is not a valid, pinned image reference. A reference is
`[registry/]path[:tag][@sha256:digest]` with a lowercase path, and it must
carry a tag or a digest: no tag means `latest`, and `latest` is rejected
too. A floating tag makes the same source deploy different code from one
day to the next, and a gateway that re-pulls silently changes version.
""",
    snippet=F + '''service broker on plants {
  image = "eclipse-mosquitto"
}
''',
    fix="Pin a release tag (or a digest):",
    fixed='''  image = "eclipse-mosquitto:2.0.18"''',
)

PAGES["E0206"] = dict(
    about="""
A name is not valid where it ends up. Names of the solution, clusters,
pools, fleets, sites, workloads and volumes become Kubernetes object names
and host-name parts, which must be DNS-1123 labels: lowercase letters,
digits and `-`, starting with a letter, at most 63 characters. In iotc
names `_` is allowed and becomes `-`, and generated names such as
`<workload>-<site>` must fit too. Strings are used as written, so a
`namespace` cannot contain `_`. Alert metric names are letters, digits and
`_`.
""",
    snippet='''solution demo {
  version   = "1.0.0"
  namespace = "plant_monitoring"
}
''',
    fix="Use lowercase letters, digits and `-`:",
    fixed='''  namespace = "plant-monitoring"''',
)

PAGES["E0207"] = dict(
    about="""
A label or environment-variable name or value is malformed. Labels (in
`labels { }` and `where`) become Kubernetes labels and node selectors: a
key is `[prefix/]name` with a DNS-subdomain prefix; the name and the value
are at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a
letter or digit (a value may be empty). `env { }` keys are letters, digits
and `_`, not starting with a digit. The cluster would refuse the objects.
""",
    snippet=F.replace('site north { gateways = 2  hosts = "gw{n}.north.example.internal" }',
                      'site north {\n    gateways = 2\n    hosts    = "gw{n}.north.example.internal"\n    labels { building = "north hall" }\n  }'),
    fix="Use letters, digits, `-`, `_` and `.` only:",
    fixed='''    labels { building = "north-hall" }''',
)

PAGES["E0208"] = dict(
    about="""
A `hosts` pattern (of a site, or of a `baremetal` provider) does not expand
to valid, distinct host names. It is expanded once per gateway or node for
the Ansible inventory and node names: `{n}` is the number from 1, `{site}`
the site name, and there is no other placeholder. With more than one
device the pattern needs `{n}`, or all would get the same name, and every
result must be a DNS name (lowercase letters, digits, inner `-`).
""",
    snippet=F.replace("gateways = 2  hosts = \"gw{n}.north", "gateways = 3  hosts = \"gw.north"),
    fix="Number the devices with `{n}`:",
    fixed='''  site north { gateways = 3  hosts = "gw{n}.north.example.internal" }''',
)

PAGES["E0209"] = dict(
    about="""
A word is not one of the values its field accepts. Such fields take a word
from a fixed set: `arch` (`amd64`, `arm64`, `armv7`), a model's `format`,
a cluster's `distribution`, `protocol` (`tcp`, `udp`), a device's `power`,
a runtime's `kind`, a param's type (`int`, `bool`, `string`, `cpu`,
`memory`, `duration`) and the `provider` (`aws`, `vsphere`, `baremetal`).
The help suggests the closest word or lists them all.
""",
    snippet=F + '''service api on plants {
  image    = "ghcr.io/acme/line-api:0.9.3"
  port     = 8080
  protocol = http
}
''',
    fix="""
Use one of the listed words. `protocol` is the transport, and HTTP runs
over TCP (declare HTTP endpoints with `health` and `metrics`):
""",
    fixed='''  protocol = tcp''',
)

PAGES["E0210"] = dict(
    about="""
A param override is invalid. Params are overridden by a values file
(`--values FILE.toml`, or `X.values.toml` next to `X.iot`) and by
`--set name=value`, which wins over the file. An override must name a
declared param, have its type and lie within its `min` and `max`, exactly
like the default: a values file cannot deploy what the author ruled out. A
values file is flat TOML, one `name = value` per line.
""",
    snippet=F.replace("import std.devices\n", "import std.devices\nparam lines: int = 2 { min = 1  max = 12 }\n").replace("gateways = 2", "gateways = lines"),
    command="Checked with `iotc check main.iot --set lines=40`:",
    args=["--set", "lines=40"],
    fix="Give a value of the param's type within its bounds, or widen the bounds in the source:",
    fixed_lang="toml",
    fixed='''# main.values.toml (or: --set lines=12)
lines = 12''',
)

PAGES["E0211"] = dict(
    about="""
A model `artifact` (or training `data`) is not a URI the deployment can
fetch, or a `checksum` is malformed. Devices download the model when the
server starts, so the artifact says where from: `s3://bucket/key`,
`oci://registry/repo:tag` (a pinned reference), `https://…`/`http://…`, or
`file://…` on the device. A checksum is `sha256:` and 64 hex digits; it is
verified when the artifact is fetched.
""",
    snippet='''solution demo { version = "1.0.0" }
model defects {
  format   = onnx
  version  = "3"
  artifact = "models/defects/3/model.onnx"
}
''',
    fix="Write the artifact as a full URI:",
    fixed='''  artifact = "s3://acme-models/defects/3/model.onnx"''',
)

PAGES["E0212"] = dict(
    about="""
A string that the outputs use as a file or folder name is not safe as one.
A model's `version` names the folder the model is kept in on every device
(`/models/<model>/<version>/`): the Ansible copy and the init container
write there. A name is one path component: ASCII letters, digits, `.`,
`_` and `-`, not starting with `.` or `-` (so never `..`), at most 255
bytes. Anything else could place the file outside the models folder.
""",
    snippet='''solution demo { version = "1.0.0" }
model defects {
  format   = onnx
  version  = "../../../../etc/cron.d"
  artifact = "s3://acme-models/defects/3/model.onnx"
}
''',
    fix="Use a plain version name:",
    fixed='''  version  = "3"''',
)

PAGES["E0213"] = dict(
    about="""
An external dependency's address is malformed. `external` declares
something outside the solution that workloads connect to (a PLC on the
plant network, a database, an object store). Its `cidr` is what the
outputs allow: Kubernetes NetworkPolicy `ipBlock`s, AWS security-group
rules and host firewalls all take an IPv4 range in canonical form, never a
host name, and AWS refuses a range with host bits set. Its `host` is what
callers connect to (`plc.url`, `plc.host`): a DNS name or an IPv4 address.
Its `scheme` starts the derived URL (`opc.tcp://…`) and is written without
`://`.
""",
    snippet='''solution demo { version = "1.0.0" }
external plc {
  host = "plc.line.local"
  cidr = "10.20.0.15/24"
  port = 4840
  scheme = "opc.tcp"
}
''',
    fix="Write the range the PLC answers from, or `/32` for its one address:",
    fixed='''  cidr = "10.20.0.15/32"''',
)

PAGES["E0214"] = dict(
    about="""
A `registry` block's `host` is not a registry host as images name it. The
host is the first part of an image reference when it has a `.` or a port
(`ghcr.io/acme/ingest:2.3.1` is pulled from `ghcr.io`), and it is what the
pull credential is filed under on every target: the key of k3s's
`registries.yaml`, the `auths` entry of the pull Secret and the server of
`docker login`. A scheme (`https://`) or a path would match no image, so
the credential would silently never be used.
""",
    snippet='''solution demo {
  version = "1.0.0"
  registry acme {
    host = "https://ghcr.io/acme"
    username = "acme-deploy"
    secret password from env "ACME_GHCR_TOKEN"
  }
}
''',
    fix="Name the host alone; the credential applies to every image from it:",
    fixed='''    host = "ghcr.io"''',
)

PAGES["E0301"] = dict(
    about="""
A count does not come out as a whole number. Counts (`nodes`, `gateways`,
`replicas`, autoscale bounds) are evaluated exactly, as fractions, from
numbers, `int` params and other counts (`nodes of dc`, `gateways of
plants`, `replicas of ingest`), and the result must be whole: the checker
never rounds silently. Rounding is explicit: `A per B gateways of F` is
ceil(A × gateways ÷ B), and `ceil(…)`/`floor(…)` round any expression.
""",
    snippet=C + '''service ingest on dc {
  image    = "ghcr.io/acme/ingest:2.3.1"
  replicas = nodes of dc / 2
}
''',
    fix="Say how to round, with a ratio (rounds up) or `ceil(…)`/`floor(…)`:",
    fixed='''  replicas = 1 per 2 nodes of dc     // ceil(3 ÷ 2) = 2''',
)

PAGES["E0302"] = dict(
    about="""
A count comes out below zero. Counts are evaluated exactly from numbers,
params and other counts; a negative number of nodes, gateways or replicas
is always a mistake in the expression, typically a subtraction that assumed
a larger input than the program has (the label shows the values used). Zero
is allowed: a workload with zero replicas is declared but not run.
""",
    snippet=C.replace("nodes = 3", "nodes = 2") + '''service ingest on dc {
  image    = "ghcr.io/acme/ingest:2.3.1"
  replicas = nodes of dc - 3
}
''',
    fix="Change the expression, or bound it with `min`:",
    fixed='''  replicas = nodes of dc - 3  min 1''',
)

PAGES["E0303"] = dict(
    about="""
A lower bound is greater than the upper bound, so no value satisfies both:
a param's `min` and `max`, the bounds of a count
(`1 per 10 gateways of plants  min 2  max 8`), or an `autoscale` block's
`min` and `max`. Rather than picking one bound, the checker reports the
empty range; the bounds were usually swapped, or one changed without the
other.
""",
    snippet=C + '''service ingest on dc {
  image    = "ghcr.io/acme/ingest:2.3.1"
  replicas = 1 per node  min 4  max 2
}
''',
    fix="Swap the bounds, or correct the wrong one:",
    fixed='''  replicas = 1 per node  min 2  max 4''',
)

PAGES["E0304"] = dict(
    about="""
Counts depend on each other in a circle, so none can be computed. A count
may use other counts (`replicas of cache`, `nodes of dc`, `gateways of
plants`), evaluated on demand; a chain that returns to its start has no
solution. The message lists the chain and labels each step. Usually the
edge (gateways, set by params) should drive both, or one should be a number.
""",
    snippet=C + '''service api on dc {
  image    = "ghcr.io/acme/line-api:0.9.3"
  replicas = replicas of cache
}
service cache on dc {
  image    = "valkey/valkey:8.0.1"
  replicas = 1 per 2 replicas of api
}
''',
    fix="Break the cycle: make one count a number, a param, or depend on something outside it:",
    fixed='''  replicas = 4   // in api''',
)

PAGES["E0305"] = dict(
    about="""
A count divides by zero, with `/` or with a ratio `per 0`. Counts are
exact, and there is no infinite number of replicas. The divisor is usually
a param whose default or override is 0 (the label shows the value used).
Give such a param `min = 1`, so neither its default nor an override can be
zero, or guard the divisor with `max(…, 1)`.
""",
    snippet=C.replace("import std.cloud\n", "import std.cloud\nparam nodes_per_replica: int = 0\n") + '''service ingest on dc {
  image    = "ghcr.io/acme/ingest:2.3.1"
  replicas = nodes of dc / nodes_per_replica
}
''',
    fix="Make the divisor at least 1:",
    fixed='''param nodes_per_replica: int = 1 { min = 1 }''',
)

PAGES["E0306"] = dict(
    about="""
A count counts something the named item does not have. Fleets have
`gateways` and `sites` (`nodes` means gateways); clusters have `nodes`;
workloads and models have `replicas`. Without `of`, a ratio counts its
context: `per gateway` on a fleet is the site's gateways, `per node` on a
cluster its nodes. Typically a ratio meant to follow the edge names the
cluster instead of the fleet.
""",
    snippet=C + '''service ingest on dc {
  image    = "ghcr.io/acme/ingest:2.3.1"
  replicas = 1 per 10 gateways of dc
}
''',
    fix="Count what the item has, or name the item that has it (a fleet):",
    fixed='''  replicas = 1 per 10 gateways of plants''',
)

PAGES["E0307"] = dict(
    about="""
Evaluating a count goes through too many other counts. A count may use
other counts (`replicas of x`, `nodes of dc`, `gateways of plants`), which
are evaluated on demand, recursively; to bound that recursion, evaluating
one count may take at most 256 steps, where going into another count
costs 4 steps and going into a bracket, a function call, a ratio or a
bound costs 1 (chains of `+`, `-`, `*`, `/` cost nothing). In practice
that is about 50 counts in a row. Only one E0307 is reported, at the
reference that went one step too far; the chain it was in is in the note.
""",
    snippet=C + ''.join(f'service s{i} on dc {{ image = "ghcr.io/acme/s:1.0.0"  replicas = replicas of s{i+1} }}\n' for i in range(60))
    + 'service s60 on dc { image = "ghcr.io/acme/s:1.0.0"  replicas = 2 }\n',
    show=C + 'service s0 on dc { image = "ghcr.io/acme/s:1.0.0"  replicas = replicas of s1 }\n'
    + 'service s1 on dc { image = "ghcr.io/acme/s:1.0.0"  replicas = replicas of s2 }\n'
    + '// … and so on, to s59 …\n'
    + 'service s60 on dc { image = "ghcr.io/acme/s:1.0.0"  replicas = 2 }\n',
    fix="Let the counts depend on a common source instead of on each other, e.g. a param:",
    fixed='''param replicas: int = 2
service s0 on dc { image = "ghcr.io/acme/s:1.0.0"  replicas = replicas }''',
)

PAGES["E0401"] = dict(
    about="""
What is placed on one node does not fit it. On a fleet, per site, the
checker adds up the requests that land on each gateway (a daemon 1 copy, a
service or model server ceil(replicas ÷ gateways) copies, a job 1 copy)
and compares CPU, memory and GPUs with the device profile minus its
`reserve`. On a cluster, each pool's total must fit nodes × allocatable and
one replica must fit one node. Otherwise pods stay Pending or are killed.
""",
    snippet=F + '''daemon recorder on plants { image = "acme/recorder:4.0.1"  memory = 2Gi }
service vision on plants { image = "acme/vision:2.7.0"  replicas = 2  memory = 1536Mi }
''',
    before="""
An rpi4 has 4Gi minus a 768Mi reserve; each gateway gets one `recorder`
and ceil(2 replicas ÷ 2 gateways) = 1 copy of `vision`: 2Gi + 1.5Gi.
""",
    fix="""
Lower the requests, spread replicas over more gateways, or use a larger
device profile (an 8 GB `std.devices.rpi5` leaves 7Gi):
""",
    fixed='''  device = std.devices.rpi5  runtime = k3s''',
)

PAGES["E0402"] = dict(
    about="""
A workload's image is not built for the CPU architecture of its devices.
`arch` lists the architectures the image is built for (unset means
multi-arch; a model server takes its serving runtime's `arch`). Every
device profile the workload lands on (the fleet's `device`, the pool's
`node`) must be one of them, or the container fails with "exec format
error" on every device.
""",
    snippet=F + '''service opcua_bridge on plants {
  image = "registry.vendor.example/opcua-bridge:5.1.2"
  arch  = [amd64]
}
''',
    fix="Use a multi-arch image, or place the workload on devices of its architecture:",
    fixed='''  device = std.devices.x86_gateway  runtime = k3s   // amd64''',
)

PAGES["E0403"] = dict(
    about="""
A workload asks for GPUs its devices do not have. On a fleet, the device
profile must have a `gpu`; on a cluster, a pool (among those its `where`
selects) must have nodes with at least as many GPUs as one replica asks
for. Kubernetes would accept the workload and never schedule it: it would
stay Pending forever.
""",
    snippet=C + '''job retrain on dc {
  image = "ghcr.io/acme/defect-trainer:0.8.2"
  gpu   = 1
}
''',
    fix="Add a GPU pool (GPU work lands there), use a device with an accelerator, or remove `gpu`:",
    fixed='''cluster dc {
  # …
  pool gpu { node = std.cloud.aws_g5_xlarge  nodes = 1 }
}'''.replace("#", "//"),
)

PAGES["E0404"] = dict(
    about="""
A fleet workload uses a feature its container runtime cannot express. Each
runtime in `std.runtimes` says what it can do: `critical` needs `standby`
(fail-over to an idle device), `autoscale { }` needs `autoscale`, and a
`daemon` needs `daemons`. Docker Compose runs one fixed project per
gateway, with neither fail-over nor autoscaling; k3s and microk8s have
both. The generated files would otherwise silently ignore the request.
""",
    snippet=F.replace("std.devices.rpi4  runtime = k3s", "std.devices.cm4_solar  runtime = docker") + '''service ingest on plants {
  image = "ghcr.io/acme/ingest:2.3.1"
  autoscale { min = 1  max = 3 }
}
''',
    fix="Use a fixed `replicas` count, or a Kubernetes runtime (`k3s`, `microk8s`) for the fleet:",
    fixed='''service ingest on plants {
  image    = "ghcr.io/acme/ingest:2.3.1"
  replicas = 2
}''',
)

PAGES["E0405"] = dict(
    about="""
A model is served by a runtime that cannot load its format. Each serving
runtime lists its `formats`: `std.ml.onnxruntime` loads `onnx`,
`std.ml.tflite` loads `tflite` and `savedmodel`, `std.ml.triton` loads
`onnx`, `tensorrt`, `torchscript` and `savedmodel`. Otherwise the server
would start and then fail to load the model on every device.
""",
    snippet=F.replace("import std.devices\n", "import std.devices\nimport std.ml\n") + '''model defects {
  format   = onnx
  version  = "3"
  artifact = "s3://acme-models/defects/3/model.onnx"
  serve on plants { runtime = std.ml.tflite }
}
''',
    fix="Serve the model with a runtime that loads its format, or convert the model:",
    fixed='''  serve on plants { runtime = std.ml.onnxruntime }''',
)

PAGES["E0501"] = dict(
    about="""
A `secret` is given its value in the source. Everything in a `.iot` file
ends up in version control and in the generated manifests, Compose files
and playbooks, so a secret is always a reference resolved on the target:
`from env "VAR"`, `from file "/path"` (a file on the device) or
`from vault "path#key"`.
""",
    snippet=F + '''service historian on plants {
  image = "ghcr.io/acme/historian:1.1.0"
  secret DB_PASSWORD = "s3cr3t-pl4nt"
}
''',
    fix="Reference the secret instead, and rotate the value that was committed:",
    fixed='''  secret DB_PASSWORD from vault "kv/data/plants/historian#db-password"''',
)

PAGES["E0502"] = dict(
    about="""
A secret reference is malformed. The source is `env`, `file` or `vault`,
and the reference must fit it: `from env` names an environment variable,
`from file` an absolute path, `from vault` a `path#key` (the vault entry and
the field in it). The secret's name is the variable the container sees, so
it must be a valid variable name. A wrong reference would only show when
the pod fails to start.
""",
    snippet=F + '''service historian on plants {
  image = "ghcr.io/acme/historian:1.1.0"
  secret DB_PASSWORD from vault "kv/data/plants/historian"
}
''',
    fix="Write the reference in the form its source expects:",
    fixed='''  secret DB_PASSWORD from vault "kv/data/plants/historian#db-password"''',
)

PAGES["E0503"] = dict(
    about="""
A `registry` block's credential is missing or cannot be used. A registry
takes one secret, `password` (a password or access token), as a reference
the Ansible controller can read: `from env "VAR"` or `from vault
"path#key"`. Ansible writes it where each target pulls with it (the pull
Secret of a Kubernetes site or cluster, k3s's `registries.yaml`, `docker
login` on Docker gateways). `from file` is refused, since a file on a
gateway is not there on the controller, and a registry without a
password would leave every pull from it failing with `unauthorized`.
""",
    snippet='''solution demo {
  version = "1.0.0"
  registry acme {
    host = "ghcr.io"
    username = "acme-deploy"
    secret password from file "/etc/acme/ghcr-token"
  }
}
''',
    fix="Reference the token where the controller can read it:",
    fixed='''    secret password from vault "kv/data/acme/registry#ghcr-token"''',
)

PAGES["E0504"] = dict(
    about="""
A workload's command or arguments read a secret through the `<NAME>_FILE`
convention (`$NAME_FILE`, `${NAME_FILE:-…}`), but the workload declares
no `secret NAME`. On Docker fleets a secret reaches the container as a
file whose path is in `<NAME>_FILE`. Without the declaration the variable
is never set, and the process starts without its credential. The MQTT
broker of `std.services` is the usual case. It refuses anonymous clients
and reads its password file, in `mosquitto_passwd` format, from the
secret `MQTT_PASSWORDS`, which you declare where you use the template.
""",
    snippet=F + '''import std.services
service broker on plants from std.services.mqtt_broker { replicas = 1 }
''',
    fix="Declare the secret, as a reference:",
    fixed='''service broker on plants from std.services.mqtt_broker {
  replicas = 1
  secret MQTT_PASSWORDS from vault "kv/data/acme/mqtt#passwd"
}''',
)

PAGES["W0101"] = dict(
    about="""
A stdlib module is imported but nothing in the importing file uses it.
Uses are counted per importing file, so import a module in the file that
uses it. An unused import does not change the output, but it misleads
readers about what the solution depends on. The prelude `std.runtimes` is
always in scope and never needs an import.
""",
    snippet='solution demo { version = "1.0.0" }\nimport std.ml\n',
    fix="Remove the import, or use the module (for example `runtime = std.ml.onnxruntime`):",
    fixed='''solution demo { version = "1.0.0" }''',
)

PAGES["W0102"] = dict(
    about="""
A param is declared but no count or field uses it. Params are the knobs
operators turn in a values file or with `--set`; one that nothing reads
accepts a new value and changes nothing, which is worse than not offering
it at all.
""",
    snippet=F.replace("import std.devices\n", "import std.devices\nparam lines: int = 2 { min = 1  max = 12 }\n"),
    fix="Use the param where it was meant to apply, or remove it:",
    fixed='''  site north { gateways = lines  hosts = "gw{n}.north.example.internal" }''',
)

PAGES["W0401"] = dict(
    about="""
A workload's `where` selects no site of its fleet (or no pool of its
cluster). Sites carry their own `labels { }` plus the fleet's, pools their
own plus the cluster's. A selector that matches nothing is legal (the
workload runs nowhere, or on a cluster falls back to the default pool), so
this is a warning, but it is almost always a typo in the key or value.
""",
    snippet=F.replace('site north { gateways = 2  hosts = "gw{n}.north.example.internal" }',
                      'site north {\n    gateways = 2  hosts = "gw{n}.north.example.internal"\n    labels { cameras = "yes" }\n  }') + '''daemon camera_reader on plants where camera = "yes" {
  image = "ghcr.io/acme/camera-reader:1.0.4"
}
''',
    fix="Fix the selector, or add the label to the sites that should run the workload:",
    fixed='''daemon camera_reader on plants where cameras = "yes" {''',
)

PAGES["W0402"] = dict(
    about="""
A workload is `critical`, but no site of its fleet has a standby device.
`critical = true` asks the runtime to move the workload to an idle standby
device when its gateway fails; sites declare those with `standby = N`
(named after the gateways). Without any there is nothing to fail over to,
and `critical` has no effect.
""",
    snippet=F + '''service line_controller on plants {
  image    = "ghcr.io/acme/line-controller:3.0.2"
  critical = true
}
''',
    fix="Add standby devices to the sites that need them, or drop `critical`:",
    fixed='''  site north { gateways = 2  standby = 1  hosts = "gw{n}.north.example.internal" }''',
)

PAGES["W0403"] = dict(
    about="""
On a Docker fleet, a service with fewer copies than the site has gateways
(an MQTT broker, a recorder) runs on the site's hub, and the other
gateways reach it at the hub's address. By default the hub is the site's
first gateway. When the fleet's device runs on a battery, that choice
matters: when the hub's battery is flat, every gateway of the site loses
its broker. Name the gateway you keep powered (the largest panel and
battery, the one by the substation) with `hub`. iotc then deals those
services to it, and `iotc plan` shows it. Naming the first gateway is a
choice too, and silences the warning.
""",
    snippet='''solution demo { version = "1.0.0" }
import std.devices
import std.services
fleet masts {
  device = std.devices.cm4_solar  runtime = docker
  site ridge { gateways = 3  hosts = "m{n}.ridge.example.internal" }
}
service broker on masts from std.services.mqtt_broker {
  replicas = 1
  secret MQTT_PASSWORDS from vault "kv/data/masts/mqtt#passwd"
}
daemon logger on masts {
  image    = "ghcr.io/acme/logger:1.0.0"
  talks_to = [broker]
}
''',
    fix="Name the gateway that carries the site's shared services:",
    fixed='''  site ridge { gateways = 3  hosts = "m{n}.ridge.example.internal"  hub = "m2.ridge.example.internal" }''',
)

PAGES["W0501"] = dict(
    about="""
An `env` entry whose name looks like a secret has a plain value. Names
containing `PASSWORD`, `PASSWD`, `SECRET`, `TOKEN`, `API_KEY`, `APIKEY`,
`PRIVATE_KEY`, `CREDENTIAL` or `ACCESS_KEY` suggest a secret, and `env`
values are written as they are into the generated files (and so into
version control). It is a warning because a name can mislead; if the value
is a secret, reference it with `secret`.
""",
    snippet=F + '''service collector on plants {
  image = "ghcr.io/acme/collector:1.4.2"
  env { MQTT_PASSWORD = "collector-2024" }
}
''',
    fix="Move the value out of the source and reference it:",
    fixed='''  secret MQTT_PASSWORD from file "/etc/acme/collector/mqtt-password"''',
)

PAGES["W0601"] = dict(
    about="""
A container runs `privileged`: it has every device and kernel capability
of its host, so a bug or a compromise in it takes over the gateway. It is
usually asked for only to reach one device (a serial adapter, a camera);
`device "/dev/…"` passes exactly that device in and nothing else. The
warning stays for the rare workload that needs the whole host.
""",
    snippet=F + '''daemon modbus_bridge on plants {
  image      = "ghcr.io/acme/modbus-bridge:2.2.0"
  privileged = true
}
''',
    fix="Pass the device the container needs instead:",
    fixed='''daemon modbus_bridge on plants {
  image = "ghcr.io/acme/modbus-bridge:2.2.0"
  device "/dev/ttyUSB0"
}''',
)
