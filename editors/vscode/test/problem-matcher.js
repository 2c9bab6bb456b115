// The problem matchers in package.json, applied to what `iotc check
// --color never` really prints (the binary from ../../target/debug, built
// by `cargo build -p iotc`; set IOTC to use another), the way VS Code
// applies a multi-line pattern: one regexp per consecutive line.
"use strict";
const path = require("path");
const { spawnSync } = require("child_process");
const pkg = require("../package.json");

const repo = path.resolve(__dirname, "..", "..", "..");
const iotc = process.env.IOTC || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, "target"), "debug", "iotc");
const run = spawnSync(
  iotc,
  ["check", "--color", "never", "examples/errors/E0105_misspelled_field.iot", "examples/errors/W0102_unused_param.iot"],
  { cwd: repo, encoding: "utf8" },
);
if (run.error) {
  console.error(`cannot run ${iotc}: ${run.error.message} (build it with \`cargo build -p iotc\`)`);
  process.exit(1);
}
const lines = run.stderr.split("\n");

function matches(matcher) {
  const found = [];
  const pats = matcher.pattern;
  for (let i = 0; i + pats.length <= lines.length; i++) {
    const m = pats.map((p, k) => new RegExp(p.regexp).exec(lines[i + k]));
    if (m.some((x) => x === null)) continue;
    const r = { severity: matcher.severity };
    pats.forEach((p, k) => {
      for (const key of ["code", "message", "file", "line", "column"]) {
        if (p[key] !== undefined) r[key] = m[k][p[key]];
      }
    });
    found.push(r);
  }
  return found;
}

const byName = Object.fromEntries(pkg.contributes.problemMatchers.map((m) => [m.name, m]));
const got = [...matches(byName["iotc-error"]), ...matches(byName["iotc-warning"])];
const want = [
  { severity: "error", code: "E0105", message: "a service has no field `memroy`", file: "examples/errors/E0105_misspelled_field.iot", line: "24", column: "3" },
  { severity: "warning", code: "W0102", message: "param `lines` is never used", file: "examples/errors/W0102_unused_param.iot", line: "13", column: "7" },
];
if (JSON.stringify(got) !== JSON.stringify(want)) {
  console.error("problem matchers: expected\n" + JSON.stringify(want, null, 2) + "\ngot\n" + JSON.stringify(got, null, 2));
  console.error("from:\n" + run.stderr);
  process.exit(1);
}
console.log("problem matchers: 2 of 2 diagnostics matched");
