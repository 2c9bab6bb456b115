// Browser tests of `iotc studio` in a real headless Chromium (the system's,
// /usr/bin/chromium by default; CHROMIUM=path overrides), driven by
// puppeteer-core. The expected numbers come from `iotc plan --set … --format
// json` run on the same files, never from this script.
//
//   IOTC=target/debug/iotc npm test      (from this folder; see docs/studio.md)
//   UPDATE_SCREENSHOTS=1 npm test        (rewrites docs/studio/*.png)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, cpSync, readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname, basename } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
const iotc = resolve(repo, process.env.IOTC || "target/debug/iotc");
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
// Screenshots go to docs/studio/ with UPDATE_SCREENSHOTS=1 (then commit
// them), else to a temporary folder, so a test run leaves the tree clean.
const shots = process.env.UPDATE_SCREENSHOTS === "1" ? join(repo, "docs/studio") : mkdtempSync(join(tmpdir(), "iotc-studio-shots-"));

let browser;

before(async () => {
  assert.ok(existsSync(iotc), `build iotc first: ${iotc} is missing`);
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  if (browser) await browser.close();
});

/** Copy an example into a fresh folder; returns the folder. */
function copyExample(name) {
  const dir = mkdtempSync(join(tmpdir(), `iotc-studio-${name}-`));
  cpSync(join(repo, "examples", name), dir, { recursive: true });
  return dir;
}

/** Start `iotc studio` on a free loopback port; resolves to { url, stop }. */
function startStudio(file) {
  return new Promise((resolvePromise, reject) => {
    // From the example's folder, so the page (and its screenshot) names
    // `factory.iot`, not a temporary path.
    const child = spawn(iotc, ["studio", basename(file), "--port", "0"], { cwd: dirname(file), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`no URL from iotc studio: ${out} ${err}`)), 20000);
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/^open (http:\/\/\S+)$/m);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ url: m[1], stop: () => child.kill() });
      }
    });
    child.on("exit", (code) => reject(new Error(`iotc studio exited (${code}): ${err}`)));
  });
}

/** `iotc plan --format json` with extra arguments, parsed. */
function plan(file, ...args) {
  const out = execFileSync(iotc, ["plan", file, "--format", "json", "--color", "never", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  return JSON.parse(out.toString());
}

/** Wait until the page shows the answer to its latest request. */
async function settled(page) {
  // The figures, then the picture that follows them.
  await page.waitForFunction(() => document.body.dataset.busy === "0" && document.body.dataset.picture !== "pending", { timeout: 30000 });
}

async function openStudio(file) {
  const studio = await startStudio(file);
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  await page.goto(studio.url);
  await settled(page);
  return { page, studio, problems };
}

/** Set an int knob by typing into its number field. */
async function setKnob(page, name, value) {
  await page.focus(`#knob-${name}-number`);
  await page.keyboard.down("Control");
  await page.keyboard.press("KeyA");
  await page.keyboard.up("Control");
  await page.keyboard.type(String(value));
  await settled(page);
  assert.equal(await page.$eval(`#knob-${name}-number`, (e) => e.value), String(value));
}

/** What the page shows: nodes per pool, replicas per workload, gateways per site. */
async function shown(page) {
  return page.evaluate(() => {
    const now = (cell) => {
      const t = cell.textContent.trim();
      return Number(t.includes("→") ? t.split("→")[1].trim() : t);
    };
    const map = (sel, key, cls) => Object.fromEntries([...document.querySelectorAll(sel)].map((r) => [r.getAttribute(key), now(r.querySelector(cls))]));
    return {
      pools: map("tr[data-pool]", "data-pool", ".nodes"),
      replicas: map("tr[data-workload]", "data-workload", ".replicas .count"),
      gateways: map("tr[data-site]", "data-site", ".gateways"),
    };
  });
}

/** The same numbers from the IR. */
function fromPlan(p) {
  const pools = {};
  for (const c of p.clusters) for (const pool of c.pools) pools[`${c.name}/${pool.name}`] = pool.nodes;
  const replicas = {};
  for (const w of p.workloads) {
    replicas[w.name] = w.placement.tier === "cluster" ? w.placement.replicas : w.placement.sites.reduce((n, s) => n + s.replicas, 0);
  }
  const gateways = {};
  for (const f of p.fleets) for (const s of f.sites) gateways[s.name] = s.gateways;
  return { pools, replicas, gateways };
}

test("factory: the knob moves every tier as `iotc plan --set` says, and the save means the same as --set", async () => {
  const dir = copyExample("factory");
  const file = join(dir, "factory.iot");
  const values = join(dir, "factory.values.toml");
  writeFileSync(values, "# agreed with the plant managers\nfactor = 2 # lines per plant unit\n");
  const { page, studio, problems } = await openStudio(file);
  try {
    assert.equal(await page.$eval("#knob-factor-origin", (e) => e.textContent), "values file");
    assert.equal(await page.$eval("#knob-factor-label", (e) => e.textContent.startsWith("Production scale")), true);
    assert.deepEqual(await shown(page), fromPlan(plan(file, "--set", "factor=2")));

    // Keyboard: focus the slider and press the right arrow three times.
    await page.focus("#knob-factor-range");
    for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
    await settled(page);
    assert.equal(await page.$eval("#knob-factor-number", (e) => e.value), "5");
    assert.deepEqual(await shown(page), fromPlan(plan(file, "--set", "factor=5")));
    assert.match(await page.$eval("#knob-factor-origin", (e) => e.textContent), /unsaved change/);
    const changes = await page.$$eval("#changes li", (l) => l.map((x) => x.textContent));
    assert.ok(changes.some((c) => c.includes("plant-a 8 → 20 gateways")), changes.join("\n"));
    assert.ok(changes.some((c) => c.includes("ingest 2 → 4 replicas")), changes.join("\n"));

    // Far enough for the cloud to grow: 20 → 140 gateways, 9 EKS nodes.
    await setKnob(page, "factor", 20);
    const at20 = fromPlan(plan(file, "--set", "factor=20"));
    assert.deepEqual(await shown(page), at20);
    assert.equal(at20.pools["cloud/default"], 9);
    const changes20 = await page.$$eval("#changes li", (l) => l.map((x) => x.textContent));
    assert.ok(changes20.some((c) => c.includes("+6 EKS nodes in cloud/default (3 → 9)")), changes20.join("\n"));
    assert.match(await page.$eval("#cost", (e) => e.textContent), /Estimate/);
    const toml = await page.$eval("#toml", (e) => e.textContent);
    assert.equal(toml, "# agreed with the plant managers\nfactor = 20 # lines per plant unit\n");
    await page.screenshot({ path: join(shots, "factory-unsaved.png"), fullPage: true });

    await page.click("#save");
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Saved"), { timeout: 30000 });
    await settled(page);
    const written = readFileSync(values, "utf8");
    assert.equal(written, toml, "the file is what the page said it would write");
    // The file means what --set means.
    const withFile = plan(file, "--values", values);
    const withSet = plan(file, "--set", "factor=20");
    for (const p of [withFile, withSet]) for (const param of p.params) delete param.source;
    assert.deepEqual(withFile, withSet);
    assert.equal(await page.$eval("#knob-factor-origin", (e) => e.textContent), "values file");

    // Someone edits the file on disk; the next browser save is refused
    // with the difference, and the file is left as they wrote it.
    writeFileSync(values, "# agreed with the plant managers\nfactor = 7 # lines per plant unit\n");
    await setKnob(page, "factor", 9);
    await page.click("#save");
    await page.waitForSelector("#conflict:not([hidden])", { timeout: 30000 });
    const diff = await page.$eval("#conflict-diff", (e) => e.textContent);
    assert.match(diff, /^- factor = 20 # lines per plant unit$/m);
    assert.match(diff, /^\+ factor = 7 # lines per plant unit$/m);
    assert.equal(readFileSync(values, "utf8"), "# agreed with the plant managers\nfactor = 7 # lines per plant unit\n");
    await page.screenshot({ path: join(shots, "factory-conflict.png"), fullPage: true });
    // The refused save is the one error the browser logs.
    assert.deepEqual(problems, ["Failed to load resource: the server responded with a status of 409 (Conflict)"]);
  } finally {
    studio.stop();
    await page.close();
  }
});

test("factory without linked cloud nodes: pushed past what fits, the page says which group and which knob", async () => {
  // The cloud pool fixed at 3 nodes (and the knob's max raised): ingest
  // grows with the plants until the pool is full.
  const dir = copyExample("factory");
  const file = join(dir, "factory.iot");
  const cloud = join(dir, "cloud.iot");
  const src = readFileSync(cloud, "utf8");
  assert.ok(src.includes("nodes = 1 per 16 gateways of plants min 3"));
  writeFileSync(cloud, src.replace("nodes = 1 per 16 gateways of plants min 3", "nodes = 3"));
  writeFileSync(file, readFileSync(file, "utf8").replace("max = 20", "max = 40"));
  const { page, studio, problems } = await openStudio(file);
  try {
    await setKnob(page, "factor", 22);
    assert.equal(await page.$eval("#errors-box", (e) => e.hidden), true);
    assert.deepEqual(await shown(page), fromPlan(plan(file, "--set", "factor=22")));
    await setKnob(page, "factor", 23);
    await page.waitForSelector("#errors-box:not([hidden])");
    const err = await page.$eval("#errors li[data-code]", (e) => ({ code: e.dataset.code, text: e.textContent }));
    // The checker agrees.
    assert.throws(() => plan(file, "--set", "factor=23"));
    assert.equal(err.code, "E0401");
    assert.match(err.text, /cloud\/default/);
    assert.match(err.text, /over capacity/);
    assert.match(err.text, /turn “Production scale” back to 22 or lower/);
    assert.equal(await page.$eval("#save", (e) => e.disabled), true);
    await page.screenshot({ path: join(shots, "factory-over-capacity.png"), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    studio.stop();
    await page.close();
  }
});

for (const example of ["factory", "city", "energy"]) {
  test(`screenshot of ${example}`, async () => {
    const dir = copyExample(example);
    const { page, studio, problems } = await openStudio(join(dir, `${example}.iot`));
    try {
      assert.equal(await page.$eval("#errors-box", (e) => e.hidden), true);
      const picture = await page.$eval("#picture svg", (e) => e.getAttribute("aria-label"));
      assert.match(picture, /^Picture of /);
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, `${example}.png`), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      studio.stop();
      await page.close();
    }
  });
}
