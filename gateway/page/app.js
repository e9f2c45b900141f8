// The commissioning page. It talks only to this gateway's local API, with the
// token the installer enters (kept in sessionStorage, sent with every call; a
// 401 asks for it again). Everything that comes from the API or a device is
// put in the page as text (textContent), never as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "fieldgate.apiToken";
  const REFRESH_MS = 5000;
  const $ = (id) => document.getElementById(id);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    devices: [],
    fetchedAt: 0,
    skewMs: 0, // the gateway's clock minus this browser's, from the Date header
    open: null, // local id of the device shown in detail
    openModel: "", // model ref whose forms are built
    detail: null,
    scanning: false,
    readSupported: true,
    timer: 0,
  };

  // ---- API ----------------------------------------------------------------

  class APIError extends Error {
    constructor(status, code, message, body) {
      super(message);
      this.status = status;
      this.code = code;
      this.body = body;
    }
  }

  // api calls the local API. It resolves with {status, body} for 2xx and for
  // the statuses listed in accept, and rejects with an APIError otherwise. A
  // 401 forgets the token and shows the token form.
  async function api(method, path, body, accept) {
    const headers = { "Accept": "application/json" };
    if (state.token) headers["Authorization"] = "Bearer " + state.token;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, "unreachable", "the gateway does not answer (" + e.message + ")");
    }
    const date = Date.parse(resp.headers.get("Date") || "");
    if (!isNaN(date)) state.skewMs = date - Date.now();
    const text = await resp.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
    if (resp.ok || (accept && accept.includes(resp.status))) return { status: resp.status, body: parsed };
    const err = parsed && parsed.error ? parsed.error : { code: "http-" + resp.status, message: text.trim() || resp.statusText };
    if (resp.status === 401) {
      askToken("The gateway refused the token (" + (err.message || "unauthorized") + "). Enter it again.");
    }
    throw new APIError(resp.status, err.code, err.message, parsed);
  }

  const devicePath = (id) => "/api/v1/devices/" + encodeURIComponent(id);

  // ---- token --------------------------------------------------------------

  function askToken(message) {
    state.token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    stopRefresh();
    $("app").hidden = true;
    $("forget-token").hidden = true;
    $("login").hidden = false;
    const e = $("login-error");
    e.textContent = message || "";
    e.hidden = !message;
    $("token-input").value = "";
    $("token-input").focus();
  }

  async function useToken(tok) {
    state.token = tok.trim();
    // Check it on a call that always needs it: a wrong token must not seem to
    // work just because reads on loopback need none.
    // The call names no device, so the gateway refuses it (404) after the
    // token check and before anything runs or is journaled.
    try {
      await api("POST", "/api/v1/devices/" + encodeURIComponent("-") + "/operations", { name: "-" }, [400, 404, 409, 422]);
    } catch (e) {
      if (e.status !== 401) showLoginError("Could not check the token: " + e.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("login").hidden = true;
    $("app").hidden = false;
    $("forget-token").hidden = false;
    refresh();
  }

  function showLoginError(msg) {
    const e = $("login-error");
    e.textContent = msg;
    e.hidden = false;
  }

  // ---- formatting ---------------------------------------------------------

  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = v;
      else if (k.startsWith("data-")) n.setAttribute(k, v);
      else n[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  function fmtAge(ms) {
    if (ms === undefined || ms === null || isNaN(ms)) return "";
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return (s / 3600).toFixed(1) + " h ago";
    return (s / 86400).toFixed(1) + " d ago";
  }

  function since(time) {
    const t = Date.parse(time);
    return isNaN(t) ? "" : fmtAge(Date.now() + state.skewMs - t);
  }

  function fmtValue(v, unit) {
    let s = typeof v === "string" ? JSON.stringify(v) : String(v);
    if (typeof v === "number" && !Number.isInteger(v)) s = String(Math.round(v * 1e6) / 1e6);
    return unit ? s + " " + unit : s;
  }

  function fmtBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
    return (n / (1 << 20)).toFixed(1) + " MiB";
  }

  const healthClass = { online: "ok", degraded: "warn", offline: "bad" };
  const statusClass = { assigned: "ok", pending: "warn", rejected: "bad" };

  function badge(text, cls) {
    return el("span", { class: "badge " + (cls || "muted"), text });
  }

  function identityText(fp) {
    if (!fp) return "";
    const id = fp.identity || {};
    const parts = [id.vendor, id.product || id.productName, id.revision && "rev " + id.revision, id.serial && "serial " + id.serial]
      .filter(Boolean);
    if (parts.length === 0 && fp.probes && fp.probes.length) parts.push(fp.probes[0].request + " → " + fp.probes[0].answer);
    if (parts.length === 0 && fp.links && fp.links.length) parts.push(fp.links.map((l) => l.target).join(" "));
    if (fp.usb && (fp.usb.vendor || fp.usb.product)) parts.push("USB " + [fp.usb.vendor, fp.usb.product, fp.usb.serial].filter(Boolean).join(":"));
    return parts.join(", ");
  }

  // reasonOf is why a device is not running: the backend's reason for a
  // rejection; a pending device has none from the backend, so the page says
  // what pending means.
  function reasonOf(d) {
    if (d.reason) return d.reason;
    if (d.status === "pending") return "the backend has not assigned a model yet; the gateway asks again, and an assignment made at the backend applies at once";
    return "";
  }

  // readingAge is a reading's age now, by the gateway's clock (a phone's
  // clock may be off): its age when fetched plus the time since, or its time
  // against the gateway's clock.
  function readingAge(r) {
    if (typeof r.ageMs === "number") return r.ageMs + (Date.now() - state.fetchedAt);
    const t = Date.parse(r.time);
    return isNaN(t) ? undefined : Math.max(0, Date.now() + state.skewMs - t);
  }

  // ---- overview -----------------------------------------------------------

  function showError(msg) {
    const b = $("app-error");
    b.textContent = msg || "";
    b.hidden = !msg;
  }

  function renderStatus(st) {
    $("gateway-id").textContent = st.gateway || "";
    $("version").textContent = st.version || "";
    const be = st.backend || {};
    const up = be.reachable;
    const bs = $("backend-state");
    // state: unknown (no call answered yet), up, down (with the kind of failure).
    bs.textContent = up ? "reachable" : be.state === "unknown" ? "not reached yet" : "unreachable" + (be.kind ? " (" + be.kind + ")" : "");
    bs.className = "badge " + (up ? "ok" : be.state === "unknown" ? "warn" : "bad");
    $("backend-url").textContent = (st.backend && st.backend.url) || "";
    // The last failed call stays after the backend is back, with its time.
    const le = be.lastError;
    if (le) {
      $("backend-error").textContent = (be.lastCall ? be.lastCall + ": " : "") + le + (be.lastErrorAt ? " (" + since(be.lastErrorAt) + ")" : "");
    } else {
      $("backend-error").textContent = "none";
    }
    const o = st.outbox || {};
    $("outbox").textContent = (o.pending || 0) + " records waiting (" + (o.values || 0) + " values, " + fmtBytes(o.bytes || 0) +
      "), last sequence " + (o.lastSeq || 0) + (o.dropped ? ", " + o.dropped + " dropped" : "");
    const links = $("links");
    links.replaceChildren();
    for (const l of st.links || []) {
      links.append(el("li", {}, badge(l.up ? "up" : "down", l.up ? "ok" : "bad"), " ", l.bus + " " + l.link,
        el("span", { class: "muted", text: " since " + since(l.since) + (l.downs ? ", down " + l.downs + "×" : "") }),
        l.error ? el("div", { class: "error", text: l.error }) : null));
    }
    if (!links.children.length) links.append(el("li", { class: "muted", text: "no link reported yet" }));
  }

  function renderDevices() {
    const counts = {};
    for (const d of state.devices) counts[d.status] = (counts[d.status] || 0) + 1;
    $("device-counts").textContent = state.devices.length + " (" +
      (Object.entries(counts).map(([k, v]) => v + " " + k).join(", ") || "none") + ")";
    const list = $("device-list");
    list.replaceChildren();
    if (state.devices.length === 0) {
      list.append(el("p", { class: "muted", text: "No devices found yet. Scan the buses, or check the bus settings." }));
      return;
    }
    for (const d of state.devices) list.append(deviceCard(d));
  }

  function deviceCard(d) {
    const reads = el("div", { class: "reads" });
    for (const [name, r] of Object.entries(d.readings || {}).sort()) {
      reads.append(el("span", { "data-property": name }, el("span", { class: "muted", text: name + " " }),
        fmtValue(r.value, r.unit), el("span", { class: "muted", text: " " + fmtAge(readingAge(r)) })));
    }
    const open = el("button", { type: "button", class: "secondary open", text: "Open" });
    open.addEventListener("click", () => openDevice(d.localId));
    return el("article", { class: "device-card", "data-local-id": d.localId, "data-status": d.status },
      el("div", { class: "head" }, el("span", { class: "id", text: d.localId }),
        el("span", { class: "row" }, badge(d.status, statusClass[d.status]), badge(d.health, healthClass[d.health]), open)),
      el("div", { class: "line" }, el("span", { class: "muted", text: "model " }), d.model || "none",
        d.deviceId ? el("span", { class: "muted", text: " · backend id " + d.deviceId }) : null),
      identityText(d.fingerprint) ? el("div", { class: "line", text: identityText(d.fingerprint) }) : null,
      reasonOf(d) ? el("div", { class: "line reason " + (d.status === "rejected" ? "bad" : "warn"), text: d.status + ": " + reasonOf(d) }) : null,
      d.lastError ? el("div", { class: "line error", text: "last error: " + d.lastError }) : null,
      reads);
  }

  async function refresh() {
    if (!state.token) return;
    stopRefresh();
    try {
      const [st, devs] = await Promise.all([api("GET", "/api/v1/status"), api("GET", "/api/v1/devices")]);
      state.devices = (devs.body || []).slice().sort((a, b) => a.localId.localeCompare(b.localId));
      state.fetchedAt = Date.now();
      renderStatus(st.body || {});
      renderDevices();
      if (state.open) await refreshDetail();
      showError("");
    } catch (e) {
      if (e.status === 401) return;
      showError("Could not load the gateway's state: " + e.message);
    }
    if (state.token) state.timer = setTimeout(refresh, REFRESH_MS);
  }

  function stopRefresh() {
    if (state.timer) clearTimeout(state.timer);
    state.timer = 0;
  }

  // ---- scan ---------------------------------------------------------------

  // scan runs a scan. A gateway that streams the scan's progress
  // (application/x-ndjson: "progress" and "bus-done" lines per bus, then a
  // "done" line with the devices and which were new) shows it bus by bus; one
  // that answers with the device list at the end shows a busy indicator.
  async function scan() {
    if (state.scanning) return;
    state.scanning = true;
    const btn = $("scan-button");
    btn.disabled = true;
    const out = $("scan-state");
    out.className = "";
    const progress = $("scan-progress");
    const result = $("scan-result");
    progress.replaceChildren();
    result.replaceChildren();
    const before = new Set(state.devices.map((d) => d.localId));
    const start = Date.now();
    const tick = () => {
      out.replaceChildren(el("span", { class: "spinner" }), "Scanning… " + Math.round((Date.now() - start) / 1000) + " s");
    };
    tick();
    const ticker = setInterval(tick, 1000);
    const buses = {};
    const showProgress = () => {
      progress.replaceChildren(...Object.keys(buses).sort().map((bus) => {
        const p = buses[bus];
        const text = p.finished
          ? bus + ": scanned, " + p.found + " found" + (p.error ? " — incomplete: " + p.error : "")
          : bus + ": " + (p.done || 0) + " of " + (p.total || "?") + " probed, " + (p.found || 0) + " found" + (p.at ? " (" + p.at + ")" : "");
        return el("li", { "data-bus": bus, class: p.error ? "error" : "", text });
      }));
    };
    try {
      const headers = { "Accept": "application/x-ndjson, application/json", "Content-Type": "application/json" };
      if (state.token) headers["Authorization"] = "Bearer " + state.token;
      let resp;
      try {
        resp = await fetch("/api/v1/discover", { method: "POST", headers, body: "{}", cache: "no-store", credentials: "omit" });
      } catch (e) {
        throw new Error("the gateway does not answer (" + e.message + ")");
      }
      if (!resp.ok) {
        const text = await resp.text();
        let err;
        try { err = JSON.parse(text).error; } catch (e) { err = null; }
        err = err || { code: "http-" + resp.status, message: text.trim() || resp.statusText };
        if (resp.status === 401) askToken("The gateway refused the token (" + err.message + "). Enter it again.");
        throw new Error(err.code + ": " + err.message);
      }
      let devs = null;
      let freshIds = null;
      if ((resp.headers.get("Content-Type") || "").startsWith("application/x-ndjson") && resp.body) {
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buf = "";
        const line = (text) => {
          if (!text.trim()) return;
          const ev = JSON.parse(text);
          if (ev.type === "progress" || ev.type === "bus-done") {
            const p = (buses[ev.bus] = buses[ev.bus] || {});
            if (ev.type === "progress") Object.assign(p, { done: ev.done, total: ev.total, found: ev.found, at: ev.at });
            else Object.assign(p, { finished: true, found: ev.found, error: ev.error });
            showProgress();
          } else if (ev.type === "done") {
            devs = ev.devices || [];
            freshIds = ev.new || [];
          }
        };
        for (;;) {
          const { value, done } = await reader.read();
          if (value) buf += decoder.decode(value, { stream: true });
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            line(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
          }
          if (done) break;
        }
        line(buf);
        if (devs === null) throw new Error("the scan's answer ended before its result");
      } else {
        devs = JSON.parse(await resp.text()) || [];
        freshIds = devs.filter((d) => !before.has(d.localId)).map((d) => d.localId);
      }
      const fresh = new Set(freshIds);
      const took = ((Date.now() - start) / 1000).toFixed(1);
      out.textContent = "Scan done in " + took + " s: " + devs.length + " devices, " + fresh.size + " new.";
      const byBus = {};
      for (const d of devs) {
        const b = (byBus[d.bus] = byBus[d.bus] || { total: 0, fresh: 0 });
        b.total++;
        if (fresh.has(d.localId)) b.fresh++;
      }
      for (const [bus, b] of Object.entries(byBus).sort()) {
        result.append(el("li", { text: bus + ": " + b.total + " devices (" + b.fresh + " new, " + (b.total - b.fresh) + " known)" }));
      }
      for (const id of freshIds) {
        const d = devs.find((x) => x.localId === id);
        result.append(el("li", { class: "muted", text: "new: " + id + (d ? " (" + d.status + ")" : "") }));
      }
      state.devices = devs.slice().sort((a, b) => a.localId.localeCompare(b.localId));
      state.fetchedAt = Date.now();
      renderDevices();
    } catch (e) {
      out.textContent = "Scan failed: " + e.message;
      out.className = "error";
    } finally {
      clearInterval(ticker);
      btn.disabled = false;
      state.scanning = false;
    }
  }

  // ---- one device ---------------------------------------------------------

  function openDevice(id) {
    state.open = id;
    state.openModel = "";
    state.detail = null;
    state.readSupported = true;
    location.hash = "#device=" + encodeURIComponent(id);
    $("devices").hidden = true;
    $("scan").hidden = true;
    $("overview").hidden = true;
    $("device").hidden = false;
    $("device-title").textContent = id;
    $("write-result").hidden = true;
    $("read-state").textContent = "";
    $("operations").replaceChildren();
    refreshDetail();
    window.scrollTo(0, 0);
  }

  function closeDevice() {
    state.open = null;
    if (location.hash) history.replaceState(null, "", location.pathname);
    $("device").hidden = true;
    $("devices").hidden = false;
    $("scan").hidden = false;
    $("overview").hidden = false;
  }

  async function refreshDetail() {
    const id = state.open;
    if (!id) return;
    let r;
    try {
      r = await api("GET", devicePath(id));
    } catch (e) {
      if (e.status !== 401) showError("Could not load " + id + ": " + e.message);
      return;
    }
    if (state.open !== id) return;
    state.detail = r.body;
    state.fetchedAt = Date.now();
    renderDetail(r.body);
  }

  function renderDetail(d) {
    const facts = $("device-facts");
    const fact = (k, v, cls) => facts.append(el("dt", { text: k }), el("dd", { class: cls, text: v }));
    facts.replaceChildren();
    fact("Status", d.status + (reasonOf(d) ? ": " + reasonOf(d) : ""), statusClass[d.status]);
    fact("Health", d.health, healthClass[d.health]);
    fact("Model", d.model || "none");
    if (d.deviceId) fact("Backend id", d.deviceId);
    fact("Bus", d.bus + " · " + d.target);
    fact("Identity", identityText(d.fingerprint) || "none");
    if (d.lastError) fact("Last error", d.lastError, "error");
    fact("Polls", String(d.polls));

    const props = d.properties || [];
    const tbody = $("device-readings").tBodies[0];
    tbody.replaceChildren();
    for (const p of props.filter((p) => p.readable)) {
      const r = (d.readings || {})[p.name];
      tbody.append(el("tr", { "data-property": p.name },
        el("td", { text: p.name }),
        el("td", { class: "value", text: r ? fmtValue(r.value, r.unit || p.unit) + (r.quality && r.quality !== "good" ? " (" + r.quality + ")" : "") : "–" }),
        el("td", { class: "muted", text: r ? fmtAge(readingAge(r)) : "" })));
    }
    const hasModel = !!d.model;
    $("no-model").hidden = hasModel;
    $("read-now").hidden = !hasModel || !state.readSupported;
    $("device-readings").hidden = !hasModel;
    if (state.openModel !== d.model) {
      state.openModel = d.model;
      buildForms(d);
    }
  }

  // ---- forms, checked against the model -----------------------------------

  // field builds the input for one typed, limited value (a writable property
  // or an operation input) and returns {node, read}: read() gives the value
  // checked against the model, or throws an Error naming the field.
  function field(spec, id) {
    const enumVals = spec.enum || [];
    let node, read;
    if (enumVals.length) {
      node = el("select", { id });
      if (spec.optional) node.append(el("option", { value: "", text: "(default)" }));
      enumVals.forEach((v, i) => node.append(el("option", { value: String(i), text: String(v) })));
      read = () => (node.value === "" ? undefined : enumVals[Number(node.value)]);
    } else if (spec.type === "bool") {
      node = el("select", { id });
      if (spec.optional) node.append(el("option", { value: "", text: "(default)" }));
      node.append(el("option", { value: "true", text: "true (on)" }), el("option", { value: "false", text: "false (off)" }));
      read = () => (node.value === "" ? undefined : node.value === "true");
    } else if (spec.type === "int" || spec.type === "float") {
      node = el("input", { id, type: "text", inputMode: spec.type === "int" ? "numeric" : "decimal", autocomplete: "off" });
      if (spec.default !== undefined) node.placeholder = String(spec.default);
      read = () => {
        const s = node.value.trim();
        if (s === "") {
          if (spec.optional) return undefined;
          throw new Error(spec.name + ": a value is required");
        }
        const re = spec.type === "int" ? /^[-+]?\d+$/ : /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
        if (!re.test(s)) throw new Error(spec.name + ": expected " + (spec.type === "int" ? "a whole number" : "a number") + ", got " + JSON.stringify(s));
        const n = Number(s);
        if (spec.min !== undefined && n < spec.min) throw new Error(spec.name + ": " + s + " is below the minimum " + spec.min);
        if (spec.max !== undefined && n > spec.max) throw new Error(spec.name + ": " + s + " is above the maximum " + spec.max);
        return n;
      };
    } else {
      node = el("input", { id, type: "text", autocomplete: "off", spellcheck: false });
      read = () => {
        if (node.value === "" && spec.optional) return undefined;
        return node.value;
      };
    }
    return { node, read };
  }

  function hint(spec) {
    const parts = [spec.type];
    if (spec.unit) parts.push(spec.unit);
    if (spec.min !== undefined || spec.max !== undefined) parts.push((spec.min ?? "−∞") + " … " + (spec.max ?? "∞"));
    if (spec.enum && spec.enum.length) parts.push("one of " + spec.enum.join(", "));
    if (spec.default !== undefined) parts.push("default " + spec.default);
    if (spec.description) parts.push(spec.description);
    return "(" + parts.join(", ") + ")";
  }

  // showResult shows an operation's outcome: its final status, or why the
  // model or the gateway refused it.
  function showResult(box, r) {
    box.hidden = false;
    const body = r.body || {};
    if (body.status) {
      const ok = body.status === "SUCCEEDED";
      box.className = "result " + (ok ? "ok" : "bad");
      box.dataset.status = body.status;
      let text = body.name + ": " + body.status;
      if (body.error) text += " — " + body.error.code + ": " + body.error.message;
      if (ok && body.output !== undefined && body.output !== null) text += " — output " + JSON.stringify(body.output);
      box.textContent = text;
    } else {
      const err = body.error || { code: "http-" + r.status, message: "unexpected answer" };
      box.className = "result bad";
      box.dataset.status = "refused";
      box.textContent = "Refused — " + err.code + ": " + err.message;
    }
  }

  function localError(box, msg) {
    box.hidden = false;
    box.className = "result bad";
    box.dataset.status = "invalid";
    box.textContent = msg;
  }

  async function runOperation(box, button, name, input) {
    box.hidden = false;
    box.className = "result";
    box.dataset.status = "running";
    box.replaceChildren(el("span", { class: "spinner" }), name + ": running…");
    button.disabled = true;
    try {
      const r = await api("POST", devicePath(state.open) + "/operations", { name, input }, [404, 409, 422]);
      showResult(box, r);
      refreshDetail();
    } catch (e) {
      box.className = "result bad";
      box.dataset.status = "error";
      box.textContent = name + ": " + (e.code ? e.code + ": " : "") + e.message;
    } finally {
      button.disabled = false;
    }
  }

  function buildForms(d) {
    const props = d.properties || [];
    const writable = props.filter((p) => p.writable);
    $("write-section").hidden = writable.length === 0;
    const sel = $("write-prop");
    sel.replaceChildren(...writable.map((p) => el("option", { value: p.name, text: p.name + (p.unit ? " (" + p.unit + ")" : "") })));
    let current = null;
    const pick = () => {
      const p = writable.find((w) => w.name === sel.value);
      if (!p) return;
      current = field(p, "write-value");
      $("write-value-box").replaceChildren(current.node);
      $("write-hint").textContent = hint(p);
      const r = d.readings && d.readings[p.name];
      if (r && current.node.tagName === "INPUT") current.node.value = String(r.value);
    };
    sel.onchange = pick;
    pick();
    const form = $("write-form");
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const box = $("write-result");
      let v;
      try {
        v = current.read();
      } catch (e) {
        localError(box, e.message);
        return;
      }
      runOperation(box, $("write-submit"), "write", { [sel.value]: v });
    };

    const ops = d.operations || [];
    $("operations-section").hidden = ops.length === 0;
    const holder = $("operations");
    holder.replaceChildren();
    ops.forEach((op, i) => {
      const fields = op.inputs.map((inp, j) => {
        const f = field(inp, "op-" + i + "-" + j);
        return { inp, f };
      });
      const submit = el("button", { type: "submit", text: "Run " + op.name });
      const box = el("p", { class: "result", role: "status", hidden: true });
      const form = el("form", { class: "operation", noValidate: true, "data-operation": op.name },
        el("fieldset", {},
          el("legend", { text: op.name }),
          op.description ? el("p", { class: "muted", text: op.description + (op.idempotent ? "" : " Not repeatable: runs at most once.") }) : null,
          ...fields.flatMap(({ inp, f }) => [
            el("label", { htmlFor: f.node.id }, inp.name + " ", el("span", { class: "muted", text: hint(inp) })),
            f.node,
          ]),
          submit, box));
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const input = {};
        try {
          for (const { inp, f } of fields) {
            const v = f.read();
            if (v !== undefined) input[inp.name] = v;
          }
        } catch (e) {
          localError(box, e.message);
          return;
        }
        // A non-idempotent operation (a reboot) runs at most once: ask first.
        if (!op.idempotent && !window.confirm("Run " + op.name + " on " + state.open + "? It runs at most once and is not repeated.")) return;
        runOperation(box, submit, op.name, input);
      });
      holder.append(form);
    });
  }

  // readNow asks the gateway for fresh values of the device's readable
  // properties. A gateway without the endpoint (404/405 without the API's
  // error shape) keeps showing polled values.
  async function readNow() {
    const d = state.detail;
    if (!d) return;
    const out = $("read-state");
    const btn = $("read-now");
    const names = (d.properties || []).filter((p) => p.readable).map((p) => p.name);
    btn.disabled = true;
    out.className = "";
    out.replaceChildren(el("span", { class: "spinner" }), "reading…");
    try {
      const r = await api("POST", devicePath(state.open) + "/read", { properties: names }, [404, 405, 409, 422, 502, 503, 504]);
      const body = r.body || {};
      if ((r.status === 404 || r.status === 405) && !body.error) {
        // No such route (the mux's plain-text answer): an older gateway.
        state.readSupported = false;
        btn.hidden = true;
        out.textContent = "This gateway cannot read on demand; the values shown are the polled ones.";
        return;
      }
      if (body.error) {
        out.textContent = "Read failed — " + body.error.code + ": " + body.error.message;
        out.className = "error";
        return;
      }
      out.className = "";
      const tbody = $("device-readings").tBodies[0];
      let n = 0;
      for (const rd of body.readings || []) {
        const row = Array.from(tbody.rows).find((tr) => tr.dataset.property === rd.property);
        if (!row) continue;
        row.cells[1].textContent = fmtValue(rd.value, rd.unit) + (rd.quality && rd.quality !== "good" ? " (" + rd.quality + ")" : "");
        row.cells[2].textContent = fmtAge(rd.ageMs) + " (read now)";
        n++;
      }
      out.textContent = "Read " + n + " values at " + new Date().toLocaleTimeString() + ".";
    } catch (e) {
      if (e.status !== 401) out.textContent = "Read failed: " + e.message;
    } finally {
      btn.disabled = false;
    }
  }

  // ---- start --------------------------------------------------------------

  function start() {
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      $("login-error").hidden = true;
      useToken($("token-input").value);
    });
    $("forget-token").addEventListener("click", () => askToken(""));
    $("refresh").addEventListener("click", () => refresh());
    $("scan-button").addEventListener("click", scan);
    $("device-close").addEventListener("click", closeDevice);
    $("read-now").addEventListener("click", readNow);
    window.addEventListener("hashchange", () => {
      const m = /^#device=(.+)$/.exec(location.hash);
      if (m && decodeURIComponent(m[1]) !== state.open) openDevice(decodeURIComponent(m[1]));
      else if (!m && state.open) closeDevice();
    });
    if (!state.token) {
      askToken("");
      return;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("forget-token").hidden = false;
    const m = /^#device=(.+)$/.exec(location.hash);
    if (m) openDevice(decodeURIComponent(m[1]));
    refresh();
  }

  start();
})();
