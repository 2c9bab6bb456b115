#!/usr/bin/env python3
"""Generate docs/errors/<CODE>.md from the snippets in pages.py, running the
real checker so every rendered error in the docs is what iotc prints.

    cargo build -p iotc && python3 tools/error-pages/gendocs.py [CODE ...]
"""
import json, os, re, shutil, subprocess, sys, tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IOTC = f"{ROOT}/target/debug/iotc"

titles = dict(re.findall(r'^\s+([EW]\d{4}) = "([^"]*)",', open(f"{ROOT}/compiler/src/diag.rs").read(), re.M))

sys.path.insert(0, os.path.dirname(__file__))
from pages import PAGES  # noqa: E402

def run(files, args):
    d = tempfile.mkdtemp()
    try:
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        j = subprocess.run([IOTC, "check", "--format", "json", "main.iot", *args], cwd=d, capture_output=True, text=True)
        codes = [x["code"] for x in json.loads(j.stdout)["diagnostics"]]
        t = subprocess.run([IOTC, "check", "--color", "never", "main.iot", *args], cwd=d, capture_output=True, text=True)
        return codes, t.stderr
    finally:
        shutil.rmtree(d)

def trim(text):
    lines = text.rstrip("\n").split("\n")
    if lines and re.match(r"^\d+ error\(s\), \d+ warning\(s\)$", lines[-1]):
        lines = lines[:-1]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(l.rstrip() for l in lines)

only = set(sys.argv[1:])
for code, p in PAGES.items():
    if only and code not in only:
        continue
    files = p["files"] if "files" in p else {"main.iot": p["snippet"]}
    codes, text = run(files, p.get("args", []))
    if codes != [code]:
        print(f"!! {code}: got {codes}", file=sys.stderr)
    shown = p.get("show") or files["main.iot"]
    out = f"# {code}: {titles[code]}\n\n{p['about'].strip()}\n\n## Example\n\n"
    if p.get("before"):
        out += p["before"].strip() + "\n\n"
    out += f"```iot\n{shown.strip()}\n```\n\n"
    if p.get("values"):
        out += f"```toml\n{p['values'].strip()}\n```\n\n"
    if p.get("command"):
        out += p["command"].strip() + "\n\n"
    out += f"```text\n{trim(text)}\n```\n\n## How to fix\n\n{p['fix'].strip()}\n"
    if p.get("fixed"):
        out += f"\n```{p.get('fixed_lang', 'iot')}\n{p['fixed'].strip(chr(10))}\n```\n"
    with open(f"{ROOT}/docs/errors/{code}.md", "w") as f:
        f.write(out)
    print(f"{code}: {len(out.splitlines())} lines, codes {codes}")
