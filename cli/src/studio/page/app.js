// iotc studio: the page. No framework and no build step; everything the
// server sends is inserted as text, except the picture, an SVG the server
// built with every name escaped.
"use strict";

const token = document.querySelector('meta[name="iotc-token"]').content;
let state = null; // the last State from the server (saved values)
let view = null; // the last View shown
let values = {}; // knob name → value as edited
let seq = 0; // previews asked
let shownSeq = 0; // the newest preview shown
let timer = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "id" || k === "for" || k === "title") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "X-Iotc-Token": token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const type = res.headers.get("Content-Type") || "";
  const data = type.startsWith("application/json") ? await res.json() : await res.text();
  return { status: res.status, data };
}

function setStatus(text) {
  $("status").textContent = text;
}

function setBusy(busy) {
  document.body.dataset.busy = busy ? "1" : "0";
}

// ------------------------------------------------------------------ knobs

function sliderMax(k) {
  if (k.max !== null) return Number(k.max);
  return Math.max(10, Number(k.default) * 4, Number(k.saved) * 2);
}

function knobInputs(k) {
  const id = `knob-${k.name}`;
  const desc = [k.description, `default ${k.default}`];
  if (k.min !== null || k.max !== null) desc.push(`allowed ${k.min ?? "…"} to ${k.max ?? "…"}`);
  const describedBy = `${id}-desc ${id}-origin`;
  const onInput = (e) => {
    const v = e.target.type === "checkbox" ? String(e.target.checked) : e.target.value;
    values[k.name] = v;
    for (const other of document.querySelectorAll(`[data-knob-input="${k.name}"]`)) {
      if (other !== e.target && other.type !== "checkbox") other.value = v;
    }
    schedulePreview();
  };
  let inputs;
  if (k.type === "int") {
    const common = { step: k.step ?? 1, "aria-describedby": describedBy, "data-knob-input": k.name, oninput: onInput };
    if (k.min !== null) common.min = k.min;
    const range = el("input", { ...common, type: "range", id: `${id}-range`, min: k.min ?? 0, max: sliderMax(k), value: k.value, "aria-labelledby": `${id}-label` });
    const number = el("input", { ...common, type: "number", id: `${id}-number`, value: k.value, inputMode: "numeric" });
    if (k.max !== null) number.max = k.max;
    inputs = [range, number];
  } else if (k.type === "bool") {
    inputs = [el("input", { type: "checkbox", id: `${id}-number`, checked: k.value === "true", "aria-describedby": describedBy, "data-knob-input": k.name, onchange: onInput })];
  } else {
    inputs = [el("input", { type: "text", id: `${id}-number`, value: k.value, "aria-describedby": describedBy, "data-knob-input": k.name, oninput: onInput, spellcheck: false })];
  }
  return el(
    "div",
    { class: "knob", "data-knob": k.name },
    el("label", { id: `${id}-label`, for: `${id}-number` }, k.label, el("span", { class: "muted" }, ` (${k.name}, ${k.type})`)),
    el("p", { id: `${id}-desc`, class: "muted small" }, desc.filter(Boolean).join(" · ")),
    el("div", { class: "inputs" }, inputs),
    el("p", { class: "origin small" }, "value from: ", el("span", { id: `${id}-origin`, class: "origin-value" }, k.origin)),
  );
}

function buildKnobs(knobs) {
  const form = $("knobs");
  form.replaceChildren(...knobs.map(knobInputs));
  if (knobs.length === 0) form.append(el("p", {}, "This solution declares no params."));
}

function updateKnobs(knobs) {
  for (const k of knobs) {
    const origin = $(`knob-${k.name}-origin`);
    if (!origin) continue;
    origin.textContent = k.origin === "unsaved change" ? `unsaved change (saved: ${k.saved})` : k.origin;
    origin.parentElement.classList.toggle("unsaved", k.origin === "unsaved change");
  }
}

function setKnobValues(knobs) {
  values = {};
  for (const k of knobs) {
    values[k.name] = k.value;
    for (const input of document.querySelectorAll(`[data-knob-input="${k.name}"]`)) {
      if (input.type === "checkbox") input.checked = k.value === "true";
      else input.value = k.value;
    }
  }
}

// ---------------------------------------------------------------- preview

function schedulePreview() {
  setBusy(true);
  clearTimeout(timer);
  timer = setTimeout(preview, 60);
}

async function preview() {
  const mine = ++seq;
  setStatus("Checking…");
  const { status, data } = await api("POST", "/api/preview", { values });
  if (mine < shownSeq) return;
  shownSeq = mine;
  if (status !== 200) {
    setStatus(`The studio answered ${status}: ${data}`);
  } else {
    render(data);
    setStatus(data.ok ? (data.dirty ? "Checked: not saved yet." : "Checked: matches the saved values.") : "Checked: this does not work, see below.");
  }
  if (mine === seq) setBusy(false);
}

// ----------------------------------------------------------------- render

const saved = () => (state && state.view.overview) || null;

function delta(now, before) {
  if (before === undefined || before === null || before === now) return el("span", { class: "count" }, String(now));
  return el("span", { class: `count changed ${now > before ? "up" : "down"}`, title: `saved: ${before}` }, `${before} → ${now}`);
}

function hostsText(hosts) {
  if (hosts.length === 0) return "–";
  if (hosts.length === 1) return hosts[0];
  return `${hosts[0]} … ${hosts[hosts.length - 1]}`;
}

function renderClusters(o) {
  const old = saved();
  const box = $("clusters");
  if (o.clusters.length === 0) return box.replaceChildren(el("p", { class: "muted" }, "No clusters."));
  box.replaceChildren(
    ...o.clusters.map((c) => {
      const oc = old && old.clusters.find((x) => x.name === c.name);
      return el(
        "div",
        { class: "cluster", "data-cluster": c.name },
        el("h3", {}, `cluster ${c.name} `, el("span", { class: "muted" }, `${c.distribution} · ${c.provider} · `), el("span", { class: "total-nodes" }, delta(c.nodes, oc && oc.nodes)), " nodes"),
        el(
          "table",
          {},
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Pool"), el("th", { scope: "col" }, "Node"), el("th", { scope: "col" }, "Nodes"))),
          el(
            "tbody",
            {},
            c.pools.map((p) => {
              const op = oc && oc.pools.find((x) => x.name === p.name);
              return el("tr", { "data-pool": `${c.name}/${p.name}` }, el("th", { scope: "row" }, p.name), el("td", {}, p.instance_type || p.profile), el("td", { class: "nodes" }, delta(p.nodes, op && op.nodes)));
            }),
          ),
        ),
      );
    }),
  );
}

function renderFleets(o) {
  const old = saved();
  const box = $("fleets");
  if (o.fleets.length === 0) return box.replaceChildren(el("p", { class: "muted" }, "No fleets."));
  box.replaceChildren(
    ...o.fleets.map((f) => {
      const of = old && old.fleets.find((x) => x.name === f.name);
      return el(
        "div",
        { class: "fleet", "data-fleet": f.name },
        el("h3", {}, `fleet ${f.name} `, el("span", { class: "muted" }, `${f.device} · ${f.runtime}`)),
        el("p", {}, "Gateways: ", el("span", { class: "gateways" }, delta(f.gateways, of && of.gateways)), f.standby ? ` + ${f.standby} standby` : "", " · devices to register in ", f.registry, ": ", el("span", { class: "registered" }, delta(f.registered, of && of.registered))),
        el(
          "table",
          {},
          el("thead", {}, el("tr", {}, ["Site", "Region", "Gateways", "Standby", "Host names"].map((h) => el("th", { scope: "col" }, h)))),
          el(
            "tbody",
            {},
            f.sites.map((s) => {
              const os = of && of.sites.find((x) => x.name === s.name);
              const hosts = s.hosts.length > 2
                ? el("details", {}, el("summary", {}, hostsText(s.hosts)), el("p", { class: "small hostlist" }, s.hosts.concat(s.standby_hosts).join(", ")))
                : hostsText(s.hosts);
              return el(
                "tr",
                { "data-site": s.name },
                el("th", { scope: "row" }, s.name),
                el("td", {}, s.region || "–"),
                el("td", { class: "gateways" }, delta(s.gateways, os && os.gateways)),
                el("td", { class: "standby" }, delta(s.standby, os && os.standby)),
                el("td", { class: "hosts" }, hosts),
              );
            }),
          ),
        ),
      );
    }),
  );
}

function renderWorkloads(o) {
  const old = saved();
  const siteNames = Object.fromEntries(o.fleets.map((f) => [f.name, f.sites.map((s) => s.name)]));
  const rows = o.workloads.map((w) => {
    const ow = old && old.workloads.find((x) => x.name === w.name);
    let where = w.on;
    if (w.tier === "edge") {
      const names = siteNames[w.on] || [];
      // The server lists per-site replicas for fleets of at most 8 sites;
      // for larger ones it sends the range.
      const range = w.site_range ? (w.site_range[0] === w.site_range[1] ? `, ${w.site_range[0]} each` : `, ${w.site_range[0]}–${w.site_range[1]} each`) : "";
      where = w.per_site.length > 0 ? `${w.on}: ${names.map((n, i) => `${n} ${w.per_site[i] ?? 0}`).join(", ")}` : `${w.on}: ${names.length} sites${range}`;
    }
    return el(
      "tr",
      { "data-workload": w.name },
      el("th", { scope: "row" }, w.name),
      el("td", {}, w.kind),
      el("td", {}, w.tier),
      el("td", { class: "small" }, where),
      el("td", { class: "replicas" }, delta(w.replicas, ow && ow.replicas), w.autoscale ? el("span", { class: "muted small" }, ` (autoscale ${w.autoscale[0]}–${w.autoscale[1]})`) : ""),
    );
  });
  $("workloads").replaceChildren(
    el("table", {}, el("thead", {}, el("tr", {}, ["Workload", "Kind", "Tier", "Runs on", "Replicas"].map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows)),
  );
}

function bar(label, used, cap, text) {
  const pct = cap > 0 ? Math.round((used * 100) / cap) : 0;
  const over = used > cap;
  return el(
    "div",
    { class: `bar ${over ? "over" : pct >= 85 ? "high" : ""}` },
    el("span", { class: "bar-label" }, label),
    el("span", { class: "bar-track", role: "img", "aria-label": `${label}: ${text}, ${pct} percent${over ? ", over capacity" : ""}` }, el("span", { class: "bar-fill", style: `width:${Math.min(pct, 100)}%` })),
    el("span", { class: "bar-text" }, `${text} (${pct}%)`),
  );
}

function renderCapacity(o) {
  $("capacity").replaceChildren(
    ...o.capacity.map((c) =>
      el(
        "div",
        { class: "capacity", "data-group": c.group },
        el("h3", {}, c.group, el("span", { class: "muted small" }, ` · ${c.nodes} × ${c.device} · ${c.per_node ? "per gateway" : "pool total"}`)),
        bar("CPU", c.cpu_used_millis, c.cpu_capacity_millis, c.cpu_text),
        bar("Memory", c.memory_used_bytes, c.memory_capacity_bytes, c.memory_text),
        c.gpu_capacity > 0 || c.gpu_used > 0 ? bar("GPU", c.gpu_used, c.gpu_capacity, `${c.gpu_used} / ${c.gpu_capacity}`) : "",
      ),
    ),
  );
}

function money(micros) {
  return Math.round(micros / 1e6).toLocaleString("en-US");
}

function renderCost(o) {
  const c = o.cost;
  const old = saved();
  const parts = [el("p", { class: "estimate" }, el("strong", {}, "Estimate"), ` at list prices: nodes × hourly price × ${c.hours_per_month} h a month. Not included: discounts, storage, traffic, load balancers, the managed control plane.`)];
  if (c.lines.length > 0) {
    parts.push(
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, ["Pool", "Nodes", "Per hour", "Per month", "Price as of"].map((h) => el("th", { scope: "col" }, h)))),
        el(
          "tbody",
          {},
          c.lines.map((l) =>
            el("tr", { "data-cost": l.group }, el("th", { scope: "row" }, `${l.group} (${l.instance_type || "?"})`), el("td", {}, String(l.nodes)), el("td", {}, `${l.hourly} ${l.currency}`), el("td", { class: "monthly" }, `${money(l.monthly_micros)} ${l.currency}`), el("td", { class: "small", title: l.source || "" }, l.as_of)),
          ),
        ),
      ),
    );
  }
  for (const [cur, m] of Object.entries(c.monthly_micros)) {
    const before = old && old.cost.monthly_micros[cur];
    parts.push(el("p", { class: "cost-total", "data-currency": cur }, "Estimated total: ", delta(`${money(m)} ${cur}`, before === undefined ? undefined : `${money(before)} ${cur}`), " a month"));
  }
  if (c.unpriced.length > 0) parts.push(el("p", { class: "muted small" }, `No price for: ${c.unpriced.join(", ")} (add a price { } to the node profile, cluster or pool).`));
  const devices = o.fleets.map((f) => `${f.name}: ${f.registered} devices (${f.gateways} gateways${f.standby ? `, ${f.standby} standby` : ""})`);
  if (devices.length > 0) parts.push(el("p", { class: "small" }, "Edge, bought once rather than by the hour: ", devices.join("; ")));
  $("cost").replaceChildren(...parts);
}

function renderChanges(changes) {
  const list = $("changes");
  if (changes.length === 0) return list.replaceChildren(el("li", { class: "muted" }, "Nothing: these are the saved values."));
  list.replaceChildren(...changes.map((c) => el("li", { class: `change ${c.direction}`, "data-tier": c.tier }, el("span", { class: "tier-tag" }, c.tier), " ", c.text)));
}

function renderProblems(listId, boxId, problems) {
  $(boxId).hidden = problems.length === 0;
  $(listId).replaceChildren(
    ...problems.map((p) =>
      el(
        "li",
        { class: "problem", "data-code": p.code },
        el("p", { class: "message" }, p.message),
        p.fix ? el("p", { class: "fix" }, "What to do: ", p.fix) : p.help ? el("p", { class: "fix" }, p.help) : "",
        el("p", { class: "code small" }, "For the engineer: ", el("code", {}, p.code), ` ${p.title} · ${p.at} · iotc explain ${p.code}`),
      ),
    ),
  );
}

function render(v) {
  view = v;
  updateKnobs(v.knobs);
  renderProblems("errors", "errors-box", v.errors);
  renderProblems("warnings", "warnings-box", v.warnings);
  document.querySelector("main").classList.toggle("stale", !v.ok);
  if (v.overview) {
    renderChanges(v.changes);
    renderClusters(v.overview);
    renderFleets(v.overview);
    renderWorkloads(v.overview);
    renderCapacity(v.overview);
    renderCost(v.overview);
    drawPicture();
  } else {
    renderChanges([]);
    $("changes").replaceChildren(el("li", { class: "muted" }, "Nothing can be shown until the problem above is fixed; the figures below are from the last values that worked."));
  }
  $("toml").textContent = v.toml_error ? `cannot write: ${v.toml_error}` : v.toml;
  $("save").disabled = !(v.ok && v.dirty && !v.toml_error);
  $("reset").disabled = !v.dirty;
}

// The picture follows the numbers in a second request (the server keeps
// the solution it just checked), so the figures never wait for it.
let pictureSeq = 0;
async function drawPicture() {
  const mine = ++pictureSeq;
  document.body.dataset.picture = "pending";
  const { status, data } = await api("POST", "/api/picture", { values });
  if (mine !== pictureSeq) return;
  if (status === 200 && data.svg) $("picture").innerHTML = data.svg; // built and escaped by the server
  document.body.dataset.picture = "done";
}

function renderState(s) {
  state = s;
  $("files").textContent = `${s.file} · values file ${s.values_file}${s.values_file_exists ? "" : " (not there yet; created on save)"}`;
  $("toml-file").textContent = `${s.values_file}:`;
  $("solution-name").textContent = s.solution ? `· ${s.solution}` : "";
  document.title = s.solution ? `iotc studio · ${s.solution}` : "iotc studio";
  buildKnobs(s.view.knobs);
  setKnobValues(s.view.knobs);
  render(s.view);
}

// ---------------------------------------------------------- save & reload

async function save() {
  setBusy(true);
  setStatus("Saving…");
  const { status, data } = await api("POST", "/api/save", { values, base: state.base });
  if (status === 200) {
    $("conflict").hidden = true;
    renderState(data.state);
    setStatus(`Saved ${data.state.values_file}.`);
  } else if (status === 409) {
    $("conflict").hidden = false;
    $("conflict-message").textContent = data.message;
    $("conflict-diff").replaceChildren(...data.diff.map((l) => el("span", { class: `diff-line ${l.op === "+" ? "add" : l.op === "-" ? "del" : "same"}` }, `${l.op} ${l.text}\n`)));
    setStatus("Not saved: the values file changed on disk.");
  } else if (status === 422) {
    render(data.view);
    setStatus("Not saved: these values do not check.");
  } else {
    setStatus(`Not saved: ${data.message || data}`);
  }
  setBusy(false);
}

async function reload() {
  setBusy(true);
  const { status, data } = await api("POST", "/api/reload");
  if (status === 200) {
    $("conflict").hidden = true;
    renderState(data);
    setStatus("Reloaded from disk.");
  } else setStatus(`Reload failed: ${data}`);
  setBusy(false);
}

async function poll() {
  try {
    const { status, data } = await api("GET", "/api/poll");
    if (status === 200 && state && data.generation !== state.generation) {
      const edited = { ...values };
      const s = await api("GET", "/api/state");
      renderState(s.data);
      // Keep the operator's unsaved edits over the new source.
      let kept = false;
      for (const [k, v] of Object.entries(edited)) {
        if (k in values && values[k] !== v) {
          values[k] = v;
          kept = true;
        }
      }
      if (kept) {
        setKnobValues(Object.entries(values).map(([name, value]) => ({ name, value })));
        schedulePreview();
      }
      setStatus("The source changed on disk: reloaded.");
    } else if (status === 200 && data.values_changed_on_disk) {
      setStatus("The values file changed on disk since it was loaded: a save will be refused until you reload.");
    }
  } catch (e) {
    setStatus("The studio is not answering (stopped?).");
  }
  setTimeout(poll, 2000);
}

async function start() {
  $("save").addEventListener("click", save);
  $("reset").addEventListener("click", () => {
    setKnobValues(state.view.knobs);
    schedulePreview();
  });
  $("reload").addEventListener("click", reload);
  $("knobs").addEventListener("submit", (e) => e.preventDefault());
  const { status, data } = await api("GET", "/api/state");
  if (status !== 200) {
    setStatus(`The studio refused: ${data}`);
    return;
  }
  renderState(data);
  setStatus("Ready: move a knob.");
  setBusy(false);
  setTimeout(poll, 2000);
}

start();
