// The reference backend's web view. Everything it shows and does goes through
// the admin API (fetch + JSON). What devices and gateways sent is only ever
// put into the page as text (textContent), never as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 5000;
  const MAX_DEVICES_READ = 200; // latest readings fetched per refresh, at most
  const FOLLOW_MS = 1000, FOLLOW_MAX = 300; // an operation is followed for 5 min at most

  const state = { stats: null, devices: [], models: [], rules: [], ops: [], events: [], latest: new Map() };
  const docs = new Map(); // "id@version" → model document (immutable, so kept)
  let panelDevice = null;
  let refreshTimer = 0;

  // h builds an element: attrs sets properties ("class", "data-*", others as
  // attributes); children are nodes or strings (text).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("data-")) el.setAttribute(k, String(v));
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // The admin token, when the backend asks for one: kept for this tab only.
  const TOKEN_KEY = "fieldgate-admin-token";
  let adminToken = sessionStorage.getItem(TOKEN_KEY) || "";

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (adminToken) init.headers["Authorization"] = "Bearer " + adminToken;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!resp.ok) {
      const msg = data && data.error ? data.error.code + ": " + data.error.message : resp.status + " " + text.slice(0, 200);
      const err = new Error(msg);
      err.unauthorized = resp.status === 401;
      throw err;
    }
    return data;
  }

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    adminToken = $("admin-token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, adminToken);
    $("admin-token").value = "";
    $("login").hidden = true;
    refresh();
  });

  function ago(t) {
    if (!t) return "never";
    const ms = Date.now() - Date.parse(t);
    if (!isFinite(ms)) return "?";
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }
  const when = (t) => h("span", { title: t || "" }, ago(t));
  const fmt = (v) => (v === null || v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
  const modelKey = (m, v) => m + "@" + v;

  function docOf(d) {
    return d && d.instance ? docs.get(modelKey(d.instance.model, d.instance.version)) : undefined;
  }

  async function fetchDoc(id, version) {
    const key = modelKey(id, version);
    if (docs.has(key)) return;
    try {
      docs.set(key, await api("GET", "/admin/models/" + encodeURIComponent(id) + "/versions/" + encodeURIComponent(version)));
    } catch (e) { /* a model gone or odd: shown without units */ }
  }

  async function load() {
    const [stats, devices, models, rules, ops, events] = await Promise.all([
      api("GET", "/admin/stats"), api("GET", "/admin/devices"), api("GET", "/admin/models"),
      api("GET", "/admin/rules"), api("GET", "/admin/operations?limit=20"), api("GET", "/admin/events?limit=20"),
    ]);
    const wanted = new Map();
    for (const m of models.slice(0, 100)) wanted.set(modelKey(m.id, m.version), m);
    for (const d of devices) if (d.instance) wanted.set(modelKey(d.instance.model, d.instance.version), { id: d.instance.model, version: d.instance.version });
    const latest = new Map();
    await Promise.all([
      ...[...wanted.values()].map((m) => fetchDoc(m.id, m.version)),
      ...devices.slice(0, MAX_DEVICES_READ).map(async (d) => {
        try { latest.set(d.id, await api("GET", "/admin/devices/" + encodeURIComponent(d.id) + "/latest")); } catch (e) { latest.set(d.id, []); }
      }),
    ]);
    Object.assign(state, { stats, devices, models, rules, ops, events, latest });
  }

  async function refresh() {
    clearTimeout(refreshTimer);
    if (document.hidden) return; // a tab in the background costs the backend nothing; shown again, it refreshes
    try {
      await load();
      render();
      $("load-error").hidden = true;
      $("refresh-state").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      $("load-error").textContent = "Could not load from the admin API: " + e.message;
      $("load-error").hidden = false;
      $("refresh-state").textContent = "not updated";
      if (e.unauthorized) {
        // Asked again only once a token is given: no refreshes with a wrong one.
        $("login").hidden = false;
        $("admin-token").focus();
        return;
      }
    }
    refreshTimer = setTimeout(refresh, REFRESH_MS);
  }

  function render() {
    const st = state.stats;
    const pending = state.devices.filter((d) => d.status === "pending").length;
    $("summary").textContent = `${state.devices.length} devices (${pending} pending), ${st.samples} samples (${st.values} values), ` +
      `${st.events} events, ${st.duplicates} duplicates dropped, ${st.operations} operations.`;
    renderGateways();
    renderOperations();
    renderEvents();
    renderModels();
    renderRules();
  }

  function health(g) {
    const seen = g.lastSeen ? Date.now() - Date.parse(g.lastSeen) : Infinity;
    if ((g.inbox && g.inbox.waiting > 0) || seen < 60000) return ["online", "ok"];
    if (seen < 600000) return ["quiet", "warn"];
    return ["silent", "bad"];
  }

  function renderGateways() {
    const byGw = new Map();
    for (const g of state.stats.gateways) byGw.set(g.id, { rec: g, devices: [] });
    for (const d of state.devices) {
      if (!byGw.has(d.gateway)) byGw.set(d.gateway, { rec: null, devices: [] });
      byGw.get(d.gateway).devices.push(d);
    }
    const list = $("gateway-list");
    list.replaceChildren();
    if (byGw.size === 0) list.append(h("p", { class: "card muted" }, "No gateway has said hello yet."));
    for (const [id, { rec, devices }] of [...byGw.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      list.append(gatewayCard(id, rec, devices));
    }
  }

  function gatewayCard(id, g, devices) {
    const facts = h("dl", { class: "facts" });
    const fact = (k, ...v) => facts.append(h("dt", null, k), h("dd", null, ...v));
    let badge = h("span", { class: "badge bad" }, "no hello");
    if (g) {
      const [text, cls] = health(g);
      badge = h("span", { class: "badge " + cls }, text);
      const hello = g.hello || {};
      fact("fieldgate", hello.version || "?");
      fact("API version", hello.apiVersion || "not said (before v1.1)");
      fact("last hello", when(g.helloAt || (g.hello ? g.lastSeen : "")));
      fact("last telemetry", when(g.telemetryAt));
      const ib = g.inbox || { last: 0, cursor: 0, waiting: 0 };
      const behind = Math.max(0, ib.last - ib.cursor);
      fact("inbox", `cursor ${ib.cursor} of ${ib.last}` + (ib.polledAt ? (behind ? `, ${behind} not taken yet` : ", all taken") : ""),
        ib.polledAt ? [", polled ", when(ib.polledAt), ib.waiting > 0 ? " (waiting now)" : ""] : " (no poll since the backend started)");
      if (hello.buses && hello.buses.length) fact("buses", hello.buses.map((b) => b.name + " (" + b.protocol + ")").join(", "));
    }
    const grid = h("div", { class: "devices" });
    for (const d of devices) grid.append(deviceCard(d));
    if (!devices.length) grid.append(h("p", { class: "muted" }, "no devices registered"));
    return h("article", { class: "card gateway", "data-gateway": id },
      h("div", { class: "row between" }, h("h3", { class: "wrap" }, "Gateway ", h("code", null, id)), badge), facts, grid);
  }

  // Vendor, product and revision first (what a person looks for), then the rest by name.
  const IDENTITY_FIRST = ["vendor", "product", "revision"];
  function identityOrder([a], [b]) {
    const ia = IDENTITY_FIRST.indexOf(a), ib = IDENTITY_FIRST.indexOf(b);
    if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function fingerprintSummary(fp) {
    const parts = [];
    if (fp.identity) parts.push(Object.entries(fp.identity).sort(identityOrder).map(([k, v]) => k + "=" + v).join(", "));
    if (fp.usb) parts.push("usb " + Object.entries(fp.usb).sort().map(([k, v]) => k + "=" + v).join(", "));
    if (fp.probes && fp.probes.length) parts.push(fp.probes.length + " probe answers");
    if (fp.links && fp.links.length) parts.push(fp.links.length + " links (" + fp.links.slice(0, 3).map((l) => l.target).join(" ") + (fp.links.length > 3 ? " …" : "") + ")");
    if (fp.hint) parts.push("hint " + fp.hint);
    return parts.join("; ") || "no identity";
  }

  function deviceCard(d) {
    const doc = docOf(d);
    const units = new Map((doc && doc.properties || []).map((p) => [p.name, p.unit || ""]));
    const facts = h("dl", { class: "facts" });
    const fact = (k, ...v) => facts.append(h("dt", null, k), h("dd", null, ...v));
    if (d.status === "assigned" && d.instance) {
      fact("model", `${d.instance.model}@${d.instance.version} (rev ${d.instance.revision})` + (d.rule ? ` by rule ${d.rule}` : " by an admin"));
    } else if (d.status === "rejected") {
      fact("reason", h("span", { class: "reason" }, d.reason || "—"));
    } else {
      fact("waiting", h("span", { class: "reason" }, "for a model: assign one, or add a rule"));
    }
    const fp = d.fingerprint || {};
    fact("fingerprint", h("span", { class: "fingerprint" }, `${fp.protocol || "?"}/${fp.transport || "?"} ${fp.address || ""}: ${fingerprintSummary(fp)}`),
      " ", h("code", { title: d.fingerprintHash }, (d.fingerprintHash || "").slice(0, 12)));
    fact("device id", h("code", null, d.id), d.bus ? " on bus " + d.bus : "");
    fact("registered", when(d.registeredAt), ", changed ", when(d.updatedAt));

    const rows = (state.latest.get(d.id) || []).map((r) => h("tr", { "data-property": r.property },
      h("td", null, r.property),
      h("td", { class: "value" }, fmt(r.value), units.get(r.property) ? " " + units.get(r.property) : ""),
      h("td", { class: "num" }, when(r.time)),
      h("td", { class: r.quality === "good" ? "" : "bad" }, r.quality === "good" ? "" : r.quality)));
    const readings = rows.length
      ? h("div", { class: "scroll" }, h("table", { class: "readings" }, h("tbody", null, rows)))
      : h("p", { class: "muted" }, "no readings yet");

    const actions = h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary assign" }, d.status === "pending" ? "Assign or reject…" : "Re-assign or reject…"),
      h("button", { type: "button", class: "operate", disabled: d.status !== "assigned" }, "Operate…"));
    actions.querySelector(".assign").addEventListener("click", () => openPanel(d.id, "assign"));
    actions.querySelector(".operate").addEventListener("click", () => openPanel(d.id, "operate"));
    return h("article", { class: "device", "data-id": d.id, "data-local-id": d.localId, "data-status": d.status },
      h("div", { class: "head" }, h("span", { class: "id" }, d.localId), h("span", { class: "badge " + d.status }, d.status)),
      facts, readings, actions);
  }

  function cell(label, ...v) { return h("td", { "data-label": label }, ...v); }

  function statusText(op) {
    return op.status + (op.error ? ": " + op.error.code + " " + (op.error.message || "") : "") + (op.output ? " → " + JSON.stringify(op.output) : "");
  }

  function history(op) {
    return h("ol", { class: "history" }, (op.history || []).map((e) => h("li", null, e.status + " ", when(e.time),
      e.reported ? " (gateway: " + new Date(e.reported).toLocaleTimeString() + ")" : "")));
  }

  function renderOperations() {
    const body = $("op-table").tBodies[0];
    body.replaceChildren();
    for (const op of state.ops) {
      body.append(h("tr", { "data-op-id": op.id, "data-status": op.status },
        cell("created", when(op.created)),
        cell("device", op.localId + " @ " + op.gateway),
        cell("operation", op.name),
        cell("input", h("code", null, op.input ? JSON.stringify(op.input) : "")),
        cell("status", h("details", null, h("summary", { class: op.status }, statusText(op)), history(op)))));
    }
    if (!state.ops.length) body.append(h("tr", null, h("td", { colspan: 5, class: "muted" }, "no operations yet")));
  }

  function renderEvents() {
    const body = $("event-table").tBodies[0];
    body.replaceChildren();
    for (const e of state.events) {
      body.append(h("tr", null, cell("time", when(e.time)), cell("device", (e.localId || "(gateway)") + " @ " + e.gateway),
        cell("event", e.event), cell("detail", e.detail || "")));
    }
    if (!state.events.length) body.append(h("tr", null, h("td", { colspan: 4, class: "muted" }, "no events yet")));
  }

  function limits(p) {
    const parts = [];
    if (p.min !== undefined || p.max !== undefined) parts.push((p.min ?? "−∞") + " … " + (p.max ?? "∞"));
    if (p.enum) parts.push("one of " + p.enum.map(fmt).join(", "));
    return parts.join("; ");
  }

  function renderModels() {
    const list = $("model-list");
    const open = new Set([...list.querySelectorAll("details[open]")].map((d) => d.dataset.model));
    list.replaceChildren();
    for (const m of state.models) {
      const key = modelKey(m.id, m.version);
      const doc = docs.get(key);
      const det = h("details", { "data-model": key, open: open.has(key) },
        h("summary", null, h("strong", null, key), " — " + [m.manufacturer, m.product].filter(Boolean).join(" ")));
      if (doc) {
        det.append(h("div", { class: "scroll" }, h("table", { class: "stack" },
          h("thead", null, h("tr", null, ["property", "type", "unit", "access", "limits"].map((c) => h("th", null, c)))),
          h("tbody", null, (doc.properties || []).map((p) => h("tr", null, cell("property", p.name), cell("type", p.type),
            cell("unit", p.unit || ""), cell("access", p.access || "r"), cell("limits", limits(p))))))));
        for (const o of doc.operations || []) {
          det.append(h("p", null, h("strong", null, o.name), "(" + (o.inputs || []).map((i) => i.name + ": " + i.type + (limits(i) ? " " + limits(i) : "")).join(", ") + ")",
            o.description ? " — " + o.description : ""));
        }
      }
      list.append(det);
    }
    if (!state.models.length) list.append(h("p", { class: "muted" }, "no models (add with POST /admin/models)"));
  }

  function renderRules() {
    const body = $("rule-table").tBodies[0];
    body.replaceChildren();
    for (const r of state.rules) {
      const match = Object.entries(r.match || {}).sort().map(([k, v]) => k + ": " + v).join("\n");
      body.append(h("tr", null, cell("rule", r.name), cell("priority", String(r.priority)),
        cell("match", h("code", { class: "pre" }, match)),
        cell("then", r.reject ? h("span", { class: "bad" }, "reject: " + r.reject) :
          modelKey(r.model, r.version) + (r.pollIntervalMs ? ", poll every " + r.pollIntervalMs + " ms" : ""))));
    }
    if (!state.rules.length) body.append(h("tr", null, h("td", { colspan: 4, class: "muted" }, "no rules: every new device waits for an admin")));
  }

  // The action panel: one dialog, outside what a refresh redraws.
  function openPanel(id, mode) {
    const d = state.devices.find((x) => x.id === id);
    if (!d) return;
    panelDevice = d;
    $("panel-title").textContent = d.localId;
    $("panel-facts").textContent = `${d.status} on gateway ${d.gateway}; ` + fingerprintSummary(d.fingerprint || {});
    $("assign-section").hidden = mode !== "assign";
    $("operate-section").hidden = mode !== "operate";
    $("assign-result").textContent = "";
    delete $("assign-result").dataset.status;
    if (mode === "assign") fillAssign(d); else fillOperate(d);
    const dlg = $("panel");
    if (!dlg.open) dlg.showModal();
  }

  function fillAssign(d) {
    const sel = $("assign-model");
    sel.replaceChildren();
    const id = d.fingerprint && d.fingerprint.identity || {};
    let best = "";
    for (const m of state.models) {
      const key = modelKey(m.id, m.version);
      sel.append(h("option", { value: key }, key + (m.product ? " — " + [m.manufacturer, m.product].filter(Boolean).join(" ") : "")));
      if (d.instance && modelKey(d.instance.model, d.instance.version) === key) best = key;
      else if (!best && m.product && Object.values(id).includes(m.product)) best = key;
    }
    if (best) sel.value = best;
  }

  function writable(doc) { return (doc && doc.properties || []).filter((p) => (p.access || "r").includes("w")); }

  function fillOperate(d) {
    const doc = docOf(d);
    const sel = $("write-prop");
    sel.replaceChildren(...writable(doc).map((p) => h("option", { value: p.name }, p.name)));
    $("write-form").hidden = sel.options.length === 0;
    writeHint();
    const forms = $("op-forms");
    forms.replaceChildren();
    for (const o of doc && doc.operations || []) {
      const f = h("form", { "data-operation": o.name }, h("h3", null, o.name), o.description ? h("p", { class: "muted" }, o.description) : "");
      for (const i of o.inputs || []) {
        const fid = "op-" + o.name + "-" + i.name;
        f.append(h("label", { for: fid }, i.name + " (" + i.type + (limits(i) ? ", " + limits(i) : "") + (i.optional ? ", optional" : "") + ")"),
          h("input", { id: fid, type: "text", "data-input": i.name, autocomplete: "off" }));
      }
      f.append(h("button", { type: "submit" }, "Send " + o.name));
      f.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const input = {};
        try {
          for (const i of o.inputs || []) {
            const raw = f.querySelector(`[data-input="${CSS.escape(i.name)}"]`).value.trim();
            if (raw === "" && i.optional) continue;
            input[i.name] = parseTyped(i, raw);
          }
        } catch (e) { return showInvalid(e.message); }
        send(o.name, (o.inputs || []).length ? input : undefined);
      });
      forms.append(f);
    }
    if (!forms.children.length && sel.options.length === 0) forms.append(h("p", { class: "muted" }, "The model declares nothing to write or run."));
  }

  function writeHint() {
    const p = writable(docOf(panelDevice)).find((x) => x.name === $("write-prop").value);
    $("write-hint").textContent = p ? [p.type + (p.unit ? " in " + p.unit : ""), limits(p), p.description].filter(Boolean).join("; ") : "";
  }

  // parseTyped turns a typed field's text into its JSON value, checking the
  // limits the model declares (the gateway checks them again).
  function parseTyped(p, raw) {
    let v;
    switch (p.type) {
      case "bool":
        if (/^(true|1|on)$/i.test(raw)) v = true;
        else if (/^(false|0|off)$/i.test(raw)) v = false;
        else throw new Error(`${p.name}: want true or false, got "${raw}"`);
        break;
      case "int":
        if (!/^-?\d+$/.test(raw)) throw new Error(`${p.name}: want a whole number, got "${raw}"`);
        v = Number(raw);
        break;
      case "float":
        v = Number(raw);
        if (raw === "" || !isFinite(v)) throw new Error(`${p.name}: want a number, got "${raw}"`);
        break;
      default:
        v = raw;
    }
    if (typeof v === "number") {
      if (p.min !== undefined && v < p.min) throw new Error(`${p.name}: ${v} is below the minimum ${p.min}`);
      if (p.max !== undefined && v > p.max) throw new Error(`${p.name}: ${v} is above the maximum ${p.max}`);
    }
    if (p.enum && !p.enum.some((e) => e === v)) throw new Error(`${p.name}: want one of ${p.enum.map(fmt).join(", ")}, got ${fmt(v)}`);
    return v;
  }

  function showInvalid(msg) {
    const r = $("op-result");
    r.dataset.status = "invalid";
    delete r.dataset.opId;
    r.replaceChildren(h("span", { class: "error" }, "Not sent: " + msg));
  }

  let followToken = 0;
  async function send(name, input) {
    const r = $("op-result");
    const d = panelDevice;
    r.dataset.status = "sending";
    r.replaceChildren(h("span", { class: "muted" }, "sending " + name + "…"));
    r.scrollIntoView({ block: "nearest" }); // on a phone the forms push it out of sight
    let id;
    try {
      ({ id } = await api("POST", "/admin/operations", { deviceId: d.id, name, input }));
    } catch (e) {
      r.dataset.status = "refused";
      r.replaceChildren(h("span", { class: "error" }, "Refused: " + e.message));
      return;
    }
    r.dataset.opId = id;
    const mine = ++followToken;
    // Followed until it is final, another is sent, or FOLLOW_MAX polls pass.
    for (let n = 0; n < FOLLOW_MAX && mine === followToken; n++) {
      let op;
      try { op = await api("GET", "/admin/operations/" + encodeURIComponent(id)); } catch (e) {
        r.replaceChildren(h("span", { class: "error" }, "Cannot follow " + id + ": " + e.message));
        return;
      }
      if (mine !== followToken) return;
      r.dataset.status = op.status;
      r.replaceChildren(h("div", null, h("strong", null, name), " ", h("code", null, op.input ? JSON.stringify(op.input) : ""), " ",
        h("span", { class: "badge " + op.status }, op.status)),
        op.error ? h("p", { class: "error" }, op.error.code + ": " + (op.error.message || "")) : "",
        op.output ? h("p", null, "output ", h("code", null, JSON.stringify(op.output))) : "",
        h("p", { class: "muted" }, "id ", h("code", null, op.id)), history(op));
      if (op.status === "SUCCEEDED" || op.status === "FAILED") break;
      await new Promise((res) => setTimeout(res, FOLLOW_MS));
    }
    refresh();
  }

  async function assign(body, what) {
    const r = $("assign-result");
    r.dataset.status = "sending";
    r.textContent = what + "…";
    try {
      const d = await api("POST", "/admin/devices/" + encodeURIComponent(panelDevice.id) + "/assignment", body);
      panelDevice = d;
      r.dataset.status = d.status;
      r.className = "result " + d.status;
      r.textContent = d.status === "assigned" ? `Assigned ${d.instance.model}@${d.instance.version} (rev ${d.instance.revision}); the gateway hears it through its inbox.`
        : `Rejected: ${d.reason}; the gateway hears it through its inbox.`;
      refresh();
    } catch (e) {
      r.dataset.status = "refused";
      r.className = "result error";
      r.textContent = "Refused: " + e.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("refresh").addEventListener("click", refresh);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
    $("panel-close").addEventListener("click", () => $("panel").close());
    $("write-prop").addEventListener("change", writeHint);
    $("assign-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const [model, version] = $("assign-model").value.split("@");
      const poll = Number($("assign-poll").value || "0");
      if (!model || !version) return;
      if (!Number.isInteger(poll) || poll < 0) {
        $("assign-result").dataset.status = "invalid";
        $("assign-result").textContent = "Poll interval: want a whole number of ms ≥ 0";
        return;
      }
      assign({ model, version, pollIntervalMs: poll }, "assigning " + model + "@" + version);
    });
    $("reject-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const reason = $("reject-reason").value.trim();
      if (!reason) {
        $("assign-result").dataset.status = "invalid";
        $("assign-result").textContent = "Reject: give a reason (the gateway shows it)";
        return;
      }
      assign({ reject: reason }, "rejecting");
    });
    $("write-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const p = writable(docOf(panelDevice)).find((x) => x.name === $("write-prop").value);
      if (!p) return showInvalid("choose a property");
      let v;
      try { v = parseTyped(p, $("write-value").value.trim()); } catch (e) { return showInvalid(e.message); }
      send("write", { [p.name]: v });
    });
    refresh();
  });
})();
