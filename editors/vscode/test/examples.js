// TextMate grammar snapshots over every example of the repository.
//
//   npm run test:examples            compare with the committed snapshots
//   npm run test:examples -- -u      accept the current tokenization
//
// Copies each `examples/**/*.iot` to `test/examples/<dir>__<file>.iot`
// (ignored by git), then runs `vscode-tmgrammar-snap` on them: the
// committed `.snap` files next to them record the scopes of every token,
// so a grammar change that alters how an example is highlighted shows up
// as a diff. Also fails if any token of an example is scoped `invalid`.
"use strict";
const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");

const here = __dirname;
const repo = path.resolve(here, "..", "..", "..");
const out = path.join(here, "examples");
fs.mkdirSync(out, { recursive: true });

function walk(dir, acc) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, acc);
    else if (e.name.endsWith(".iot")) acc.push(p);
  }
  return acc;
}

const sources = walk(path.join(repo, "examples"), []);
if (sources.length < 20) {
  console.error(`expected the examples under ${repo}/examples, found ${sources.length} files`);
  process.exit(1);
}
const wanted = new Set();
for (const src of sources) {
  const rel = path.relative(path.join(repo, "examples"), src).split(path.sep).join("__");
  wanted.add(rel);
  fs.copyFileSync(src, path.join(out, rel));
}
// Snapshots of examples that no longer exist are stale.
for (const f of fs.readdirSync(out)) {
  const base = f.endsWith(".snap") ? f.slice(0, -5) : f;
  if (!wanted.has(base)) {
    console.error(`stale: test/examples/${f} (no such example); delete it`);
    process.exit(1);
  }
}

const bin = path.join(here, "..", "node_modules", ".bin", "vscode-tmgrammar-snap");
const args = ["-g", path.join(here, "..", "syntaxes", "iot.tmLanguage.json"), path.join(out, "*.iot")];
if (process.argv.includes("-u")) args.unshift("-u");
const run = spawnSync(bin, args, { stdio: "inherit" });
if (run.status !== 0) process.exit(run.status === null ? 1 : run.status);

let bad = 0;
for (const f of fs.readdirSync(out).filter((f) => f.endsWith(".snap"))) {
  const text = fs.readFileSync(path.join(out, f), "utf8");
  text.split("\n").forEach((line, i) => {
    if (/\binvalid\b/.test(line)) {
      console.error(`${f}:${i + 1}: a token is scoped invalid: ${line.trim()}`);
      bad++;
    }
  });
}
if (bad) process.exit(1);
console.log(`grammar snapshots: ${wanted.size} examples`);
