// The local console: plain JavaScript over /console/api/* (imagepipe.local.console.app),
// whose answers are what the commands' --json prints. Views by the URL's hash:
//   #/                      executions, newest first, live
//   #/executions/<arn>      one execution: graph, states, renditions, catalogue record
//   #/catalogue             every upload's record
//   #/dead-letters          the dead-letter queue, with Redrive
"use strict";

const POLL_MS = 2000;
const state = { stack: null, timer: null, view: null, uploads: [], steps: [], selected: null };

// -- small helpers ------------------------------------------------------------------

function $(selector) { return document.querySelector(selector); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options) {
  const response = await fetch("api/" + path, options);
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const message = (body && body.message) || response.statusText;
    throw new Error(`${message} (${response.status})`);
  }
  return body;
}

function postJson(path, document) {
  return api(path, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(document || {}),
  });
}

function showError(error) {
  const box = $("#error");
  if (!error) { box.hidden = true; return; }
  box.textContent = String(error.message || error);
  box.hidden = false;
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(2)} s`;
}

function bytes(value) {
  if (value === null || value === undefined) return "";
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${(value / 1024 / 1024).toFixed(2)} MiB`;
}

function moment(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function statusBadge(status) {
  return el("span", { class: `status ${status}`, text: status });
}

function executionLink(arn, text) {
  return el("a", { href: "#/executions/" + encodeURIComponent(arn), text: text || arn.split(":").pop() });
}

function result(execution) {
  const outcome = execution.outcome;
  if (outcome) {
    return el("span", { class: `reason ${outcome.kind}`, title: outcome.message || "" },
      `${outcome.kind}: ${outcome.reason}`);
  }
  if (execution.status === "SUCCEEDED") return "processed";
  return "";
}

function renditionUrl(rendition) {
  if (rendition.url) return rendition.url;
  const base = state.stack && state.stack.outputs.renditionsBaseUrl;
  if (!base || !rendition.key) return null;
  return base.replace(/\/$/, "") + "/" + rendition.key.split("/").map(encodeURIComponent).join("/");
}

function schedule(fn, ms) {
  clearTimeout(state.timer);
  state.timer = setTimeout(fn, ms === undefined ? POLL_MS : ms);
}

// -- executions ---------------------------------------------------------------------

async function loadExecutions() {
  if (document.hidden && !pending()) {
    schedule(loadExecutions);  // a tab in the background asks the stack nothing
    return;
  }
  const status = $("#status-filter").value;
  const query = "executions?limit=50" + (status ? "&status=" + status : "");
  try {
    const listing = await api(query);
    // A listing asked for before the filter changed may answer after the one asked for
    // since: it is stale, and the newer call draws the table and schedules the next poll.
    if (status !== $("#status-filter").value) return;
    renderExecutions(listing.executions);
    if (status) await trackPending();  // the filter may hide an upload's execution
    else trackUploads(listing.executions);
    showError(null);
  } catch (error) {
    showError(error);
  }
  if (state.view === "executions") schedule(loadExecutions);
}

function renderExecutions(executions) {
  const body = $("#executions tbody");
  const rows = executions.map((e) => el("tr", { "data-key": e.key || "", "data-status": e.status },
    el("td", {}, moment(e.startDate)),
    el("td", {}, statusBadge(e.status)),
    el("td", { class: "num" }, seconds(e.seconds)),
    el("td", { class: "key" }, e.key || "-"),
    el("td", {}, result(e)),
    el("td", {}, executionLink(e.arn, e.name.slice(0, 8) + "…")),
  ));
  if (!rows.length) rows.push(el("tr", {}, el("td", { class: "empty", colspan: 6, text: "No executions yet: upload an image." })));
  body.replaceChildren(...rows);
  $("#executions-note").textContent = `${executions.length} shown, refreshed ${new Date().toLocaleTimeString()}`;
}

// -- uploads through the upload API ---------------------------------------------------

function uploadRow(file) {
  const status = el("span", { class: "muted", text: "asking for an upload URL…" });
  const row = el("li", {}, el("span", { class: "name", text: file.name }), status);
  $("#uploads").prepend(row);
  return { file, row, status, key: null, done: false };
}

function say(upload, ...parts) {
  upload.status.replaceChildren(...parts.map((p) => (p instanceof Node ? p : document.createTextNode(p))));
}

async function uploadFile(file) {
  const upload = uploadRow(file);
  state.uploads.push(upload);
  try {
    const root = state.stack && state.stack.uploadApi;
    if (!root) throw new Error("this stack has no upload API (config uploadApi)");
    // 1. A token from the local test issuer, the stand-in for the app's identity provider.
    const issued = await fetch(root + "/issuer/token", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sub: "console" }),
    });
    const { access_token: token, message } = await issued.json();
    if (!issued.ok) throw new Error(`issuer: ${message}`);
    // 2. The upload API (JWT authorizer, then the upload function): a presigned POST.
    const asked = await fetch(root + "/uploads", {
      method: "POST",
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify(file.type ? { filename: file.name, contentType: file.type } : { filename: file.name }),
    });
    const grant = await asked.json();
    if (!asked.ok) throw new Error(`upload API: ${grant.error}: ${grant.message}`);
    // 3. The file to S3, with the fields the API signed.
    say(upload, `uploading ${bytes(file.size)} to ${grant.key}…`);
    const form = new FormData();
    for (const [name, value] of Object.entries(grant.fields)) form.append(name, value);
    form.append("file", file);
    const stored = await fetch(grant.url, { method: "POST", body: form });
    if (!stored.ok) throw new Error(`S3 refused the upload (${stored.status}): ${(await stored.text()).slice(0, 300)}`);
    upload.key = grant.key;
    upload.row.dataset.key = grant.key;
    say(upload, el("span", { class: "mono", text: grant.key }), " uploaded, waiting for its execution…");
    if (state.view === "executions") schedule(loadExecutions, 200);
    else pollUploads();
  } catch (error) {
    upload.done = true;
    upload.row.classList.add("failed");
    say(upload, el("span", { class: "error", text: String(error.message || error) }));
  }
}

function trackUploads(executions) {
  for (const upload of state.uploads) {
    if (!upload.key || upload.done) continue;
    const execution = executions.find((e) => e.key === upload.key);
    if (!execution) continue;
    const finished = execution.status !== "RUNNING";
    upload.done = finished;
    upload.row.dataset.status = execution.status;
    say(upload, el("span", { class: "mono", text: upload.key }), " ", statusBadge(execution.status), " ",
      result(execution), " ", executionLink(execution.arn, "open execution"));
  }
}

function pending() {
  return state.uploads.some((u) => u.key && !u.done);
}

// The uploads still waiting, found in the unfiltered listing.
async function trackPending() {
  if (pending()) trackUploads((await api("executions?limit=50")).executions);
}

async function pollUploads() {
  if (!pending()) return;
  try {
    await trackPending();
  } catch (error) { /* shown by the next view load */ }
  if (state.view !== "executions") setTimeout(pollUploads, POLL_MS);
}

function setUpUploads() {
  const zone = $("#dropzone");
  const input = $("#file-input");
  input.addEventListener("change", () => {
    for (const file of input.files) uploadFile(file);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    for (const file of event.dataTransfer.files) uploadFile(file);
  });
}

// -- one execution ------------------------------------------------------------------

async function loadExecution(arn) {
  try {
    const [shown, svg] = await Promise.all([
      api("execution?id=" + encodeURIComponent(arn)),
      api("graph.svg?id=" + encodeURIComponent(arn)),
    ]);
    renderExecution(shown, svg);
    showError(null);
    if (shown.execution.status === "RUNNING" && state.view === "execution") {
      schedule(() => loadExecution(arn));
    }
  } catch (error) {
    showError(error);
  }
}

function renderExecution(shown, svg) {
  const e = shown.execution;
  $("#execution-name").textContent = e.name;
  $("#execution-status").replaceChildren(statusBadge(e.status));
  const facts = [
    ["Upload", e.key || "-"], ["Started", moment(e.startDate)], ["Duration", seconds(e.seconds)],
    ["ARN", e.arn],
  ];
  $("#execution-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  const outcome = $("#execution-outcome");
  outcome.hidden = !shown.outcome;
  if (shown.outcome) {
    outcome.className = `outcome ${shown.outcome.kind}`;
    outcome.replaceChildren(el("strong", { text: `${shown.outcome.kind}: ${shown.outcome.reason}` }),
      " — ", shown.outcome.message || e.cause || "");
  }
  state.steps = shown.states;
  renderGraph(svg);
  renderStates(shown.states);
  renderRenditions(shown.catalogue && shown.catalogue.renditions.length ? shown.catalogue.renditions : shown.renditions);
  renderRecord(shown.catalogue);
  if (state.selected) selectState(state.selected);
}

function renderGraph(svgText) {
  const parsed = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const svg = document.importNode(parsed.documentElement, true);
  svg.querySelectorAll("g.state").forEach((g) => {
    g.addEventListener("click", () => selectState(g.dataset.state));
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${g.dataset.state}: ${g.classList[1]}`;
    g.prepend(title);
  });
  state.graphWidth = Number(svg.getAttribute("width"));
  state.graphHeight = Number(svg.getAttribute("height"));
  $("#graph").replaceChildren(svg);
  zoom(state.zoom === "kept" ? "kept" : "fit");
}

// The diagram is drawn at its natural size; it is shown fitted to the page's width
// unless asked otherwise (the zoom is kept while the execution refreshes).
function zoom(how) {
  const svg = $("#graph svg");
  if (!svg || !state.graphWidth) return;
  const fit = Math.min(1, ($("#graph").clientWidth - 4) / state.graphWidth);
  if (how === "fit" || !state.scale) {
    state.zoom = "fit";
    state.scale = fit;
  }
  if (how === "full" || how === "in" || how === "out") {
    const scale = how === "full" ? 1 : state.scale * (how === "in" ? 1.25 : 0.8);
    state.zoom = "kept";
    state.scale = Math.max(0.1, Math.min(2, scale));
  }
  svg.setAttribute("width", Math.round(state.graphWidth * state.scale));
  svg.setAttribute("height", Math.round(state.graphHeight * state.scale));
}

function stepLabel(step) {
  const item = step.iteration === null ? "" : ` (${step.item || "#" + step.iteration})`;
  return step.name + item;
}

function renderStates(steps) {
  const rows = steps.map((step, index) => el("tr", { class: "clickable", "data-state": step.name, "data-index": index, onclick: () => selectState(step.name, index) },
    el("td", {}, ...Array(step.depth).fill(0).map(() => el("span", { class: "indent" })), step.name,
      step.iteration === null ? null : el("span", { class: "item", text: ` (${step.item || "#" + step.iteration})` })),
    el("td", { text: step.type }),
    el("td", { class: "num", text: "+" + seconds(step.offsetSeconds) }),
    el("td", { class: "num", text: seconds(step.seconds) }),
    el("td", { class: "num", text: step.attempts ? String(step.retries) : "" }),
    el("td", { class: "error", text: step.error ? `${step.error}${step.cause ? ": " + step.cause : ""}` : "" }),
  ));
  $("#states tbody").replaceChildren(...rows);
}

function pretty(value) {
  if (value === null || value === undefined) return "—";
  return JSON.stringify(value, null, 2);
}

function selectState(name, index) {
  state.selected = name;
  document.querySelectorAll("g.state.selected").forEach((g) => g.classList.remove("selected"));
  document.querySelectorAll(`g.state[data-state="${CSS.escape(name)}"]`).forEach((g) => g.classList.add("selected"));
  document.querySelectorAll("#states tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.state === name));
  const runs = state.steps.filter((s, i) => s.name === name && (index === undefined || i === index));
  const detail = $("#state-detail");
  if (!runs.length) {
    detail.replaceChildren(el("h3", { text: name }), el("p", { class: "muted", text: "Not reached in this execution." }));
    return;
  }
  detail.replaceChildren(el("h3", { text: name }), ...runs.map((step) => el("div", { class: "run" },
    el("strong", { text: stepLabel(step) }), " ",
    el("span", { class: "muted", text: `${step.type} · +${seconds(step.offsetSeconds)} · ${seconds(step.seconds) || "running"}` +
      (step.attempts ? ` · ${step.retries} ${step.retries === 1 ? "retry" : "retries"}` : "") }),
    step.error ? el("p", { class: "error", text: `${step.error}${step.cause ? ": " + step.cause : ""}` }) : null,
    el("div", { class: "muted", text: "Input" }), el("pre", { text: pretty(step.input) }),
    el("div", { class: "muted", text: "Output" }), el("pre", { text: pretty(step.output) }),
  )));
}

function renderRenditions(renditions) {
  const box = $("#renditions");
  if (!renditions || !renditions.length) {
    box.replaceChildren(el("p", { class: "muted", text: "No renditions." }));
    return;
  }
  box.replaceChildren(...renditions.map((r) => {
    const url = renditionUrl(r);
    return el("figure", { "data-rendition": r.name },
      url ? el("a", { href: url, target: "_blank", rel: "noopener" }, el("img", { src: url, alt: r.name })) : null,
      el("figcaption", {}, el("strong", { text: r.name }), ` ${r.width}×${r.height} ${r.format || ""} · ${bytes(r.bytes)}`,
        el("br"), el("span", { class: "mono", text: r.key })));
  }));
}

function renderRecord(record) {
  const box = $("#record");
  if (!record) {
    box.replaceChildren(el("dd", { class: "muted", text: "No record." }));
    return;
  }
  const rows = [
    ["Status", statusBadge(record.status)], ["Reason", record.reason], ["Message", record.message],
    ["Original", record.width ? `${record.width}×${record.height} ${record.format} · ${bytes(record.bytes)}` : ""],
    ["Same bytes as", record.duplicateOf], ["Received", record.receivedAt], ["Updated", record.updatedAt],
  ].filter(([, v]) => v);
  box.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
}

// -- catalogue and dead letters -----------------------------------------------------

async function loadCatalogue() {
  try {
    const listing = await api("catalogue?limit=200");
    const counts = Object.entries(listing.counts).map(([s, n]) => `${n} ${s}`).join(", ");
    $("#catalogue-note").textContent = `${listing.table}: ${counts || "no records"}`;
    const rows = listing.records.map((r) => el("tr", {},
      el("td", { class: "key", text: r.key }), el("td", {}, statusBadge(r.status)),
      el("td", { class: "reason", text: r.reason || "" }),
      el("td", { text: r.width ? `${r.width}×${r.height}` : "" }),
      el("td", { class: "num", text: r.renditions.length || "" }),
      el("td", { text: moment(r.updatedAt) }),
      el("td", {}, r.executionArn ? executionLink(r.executionArn) : ""),
    ));
    if (!rows.length) rows.push(el("tr", {}, el("td", { class: "empty", colspan: 7, text: "No records yet." })));
    $("#catalogue tbody").replaceChildren(...rows);
    showError(null);
  } catch (error) {
    showError(error);
  }
  if (state.view === "catalogue") schedule(loadCatalogue, POLL_MS * 2);
}

function renderDeadLetters(report, done) {
  const rows = report.messages.map((m) => el("tr", { "data-action": m.action },
    el("td", { class: "mono", text: m.messageId.slice(0, 8) }),
    el("td", { class: "key", text: m.key || "-" }),
    el("td", { class: `reason ${m.kind}`, text: `${m.kind}: ${m.reason}` }),
    el("td", { text: m.action === "would restart" ? "to redrive" : m.action }),
    el("td", {}, m.executionArn ? executionLink(m.executionArn, "new execution") : "",
      m.executionArn ? " " : "", m.note || "",
      m.previousExecutionArn ? el("span", {}, " (was ", executionLink(m.previousExecutionArn, "this execution"), ")") : ""),
  ));
  if (!rows.length) rows.push(el("tr", {}, el("td", { class: "empty", colspan: 5, text: "The dead-letter queue is empty." })));
  $("#dead-letters tbody").replaceChildren(...rows);
  const s = report.summary;
  $("#dead-letters-note").textContent = done
    ? `Redrive: ${s.restarted} restarted, ${s.skipped} skipped, ${s.failed} refused.`
    : `${report.messages.length} message(s): ${s.wouldRestart} to redrive, ${s.skipped} skipped.`;
  $("#redrive").disabled = !done && s.wouldRestart === 0 && !$("#include-rejected").checked;
}

async function loadDeadLetters() {
  try {
    renderDeadLetters(await api("dead-letters"), false);
    showError(null);
  } catch (error) {
    showError(error);
  }
}

async function redrive() {
  const button = $("#redrive");
  button.disabled = true;
  try {
    const report = await postJson("redrive", { includeRejected: $("#include-rejected").checked });
    renderDeadLetters(report, true);
    showError(null);
  } catch (error) {
    showError(error);
    button.disabled = false;
  }
}

// -- routing ------------------------------------------------------------------------

function route() {
  clearTimeout(state.timer);
  const hash = location.hash.replace(/^#/, "") || "/";
  let view = "executions";
  if (hash.startsWith("/executions/")) view = "execution";
  else if (hash === "/catalogue") view = "catalogue";
  else if (hash === "/dead-letters") view = "dead-letters";
  state.view = view;
  document.querySelectorAll(".view").forEach((section) => { section.hidden = section.id !== "view-" + view; });
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active",
    a.dataset.nav === view || (view === "execution" && a.dataset.nav === "executions")));
  if (view === "execution") {
    state.selected = null;
    state.zoom = "fit";
    state.scale = null;
    $("#state-detail").replaceChildren(el("p", { class: "muted", text: "Click a state in the graph or the table for its input, output, error, retries and duration." }));
    loadExecution(decodeURIComponent(hash.slice("/executions/".length)));
  } else if (view === "catalogue") loadCatalogue();
  else if (view === "dead-letters") loadDeadLetters();
  else loadExecutions();
  if (view !== "executions") pollUploads();
}

async function start() {
  setUpUploads();
  $("#status-filter").addEventListener("change", () => { clearTimeout(state.timer); loadExecutions(); });
  $("#refresh-dead-letters").addEventListener("click", loadDeadLetters);
  $("#redrive").addEventListener("click", redrive);
  $("#include-rejected").addEventListener("change", loadDeadLetters);
  document.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => zoom(b.dataset.zoom)));
  window.addEventListener("resize", () => { if (state.zoom === "fit") zoom("fit"); });
  window.addEventListener("hashchange", route);
  try {
    state.stack = await api("stack");
    // The presigned POSTs name the server as the stack knows it (127.0.0.1): opened under
    // another name (localhost), the page moves there, so its uploads stay same-origin.
    const home = new URL(state.stack.endpoint);
    if (location.origin !== home.origin) {
      location.replace(home.origin + location.pathname + location.hash);
      return;
    }
    $("#stack").textContent = `stack ${state.stack.stack} · ${state.stack.region} · ${state.stack.endpoint}`;
    if (!state.stack.uploadApi) {
      $("#upload-how").textContent = "This stack has no upload API (uploadApi config): upload with the AWS CLI or imagepipe upload --local.";
    }
  } catch (error) {
    showError(error);
  }
  route();
}

document.addEventListener("DOMContentLoaded", start);
