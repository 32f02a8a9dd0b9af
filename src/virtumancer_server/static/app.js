// Virtumancer dashboard: plain JavaScript over /api/v1 (Bearer token) and /ws (session cookie).
// Every piece of server data is put in the page with textContent, never as HTML.
"use strict";

(() => {
  const API = "/api/v1";
  const TOKEN_KEY = "virtumancer.token";
  const STATE_NAMES = {
    0: "no state", 1: "running", 2: "blocked", 3: "paused", 4: "shutting down",
    5: "shut off", 6: "crashed", 7: "suspended",
  };

  const state = {
    token: null,
    signedIn: false,
    settings: { memory_display_unit: "GB", cpu_smoothing_window: 10, default_cpu_view: "percentage", stats_interval_seconds: 2 },
    ws: null,
    wsRetry: 0,
    // "hostId/vmName" -> {hostId, vmName}: what the current view wants live stats for.
    wanted: new Map(),
    // "hostId/vmName" -> recent cpu percents (for smoothing) and the last stats.
    cpuHistory: new Map(),
    lastStats: new Map(),
    view: null,
    refreshTimer: null,
  };

  // ---------------------------------------------------------------- helpers

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Sizes are converted and formatted by units.js only.
  const formatBytes = (bytes) => Units.formatBytes(bytes, state.settings.memory_display_unit);
  const formatRate = Units.formatRate;

  function formatTime(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  function toast(message, isError) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.className = isError ? "toast error" : "toast";
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  // Hosts and VMs come with their `status` category (active / warning / stopped / error),
  // computed by the server; the badge shows the raw state in that category's colour.
  function statusBadge(kind, record) {
    const text = kind === "host" ? String(record.state) : (STATE_NAMES[record.state] || `state ${record.state}`);
    return h("span", { class: `badge ${record.status}`, "data-status": record.status }, text);
  }

  // A VM with a hypervisor process (running or paused ...): live stats, power buttons.
  const hasProcess = (vm) => vm.status === "active" || vm.status === "warning";

  // ---------------------------------------------------------------- REST

  class ApiError extends Error {
    constructor(status, body) {
      const detail = body && (body.error || body);
      super((detail && (detail.message || detail.description || detail.title)) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    if (resp.status === 401) {
      showLogin(state.token ? "The token was not accepted." : "");
      throw new ApiError(401, null);
    }
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  // ---------------------------------------------------------------- WebSocket

  function setLive(text, cls) {
    const live = document.getElementById("live");
    live.textContent = text;
    live.className = `live ${cls}`;
  }

  function connectSocket() {
    if (state.ws) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The session cookie (set by POST /api/v1/session) authenticates the socket, so the
    // token never appears in a URL.
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    state.ws = ws;
    setLive("connecting", "connecting");
    ws.addEventListener("open", () => {
      state.wsRetry = 0;
      setLive("live", "on");
      for (const { hostId, vmName } of state.wanted.values()) sendSocket("subscribe-vm-stats", hostId, vmName);
    });
    ws.addEventListener("message", (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      onSocketMessage(msg);
    });
    ws.addEventListener("close", () => {
      state.ws = null;
      setLive("offline", "off");
      if (!state.signedIn) return;
      const delay = Math.min(10000, 500 * 2 ** state.wsRetry++);
      setTimeout(connectSocket, delay);
    });
  }

  function sendSocket(type, hostId, vmName) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify({ type, payload: { hostId, vmName } }));
    }
  }

  function want(hostId, vmName) {
    const key = `${hostId}/${vmName}`;
    if (state.wanted.has(key)) return;
    state.wanted.set(key, { hostId, vmName });
    sendSocket("subscribe-vm-stats", hostId, vmName);
  }

  function unwantAll() {
    for (const { hostId, vmName } of state.wanted.values()) sendSocket("unsubscribe-vm-stats", hostId, vmName);
    state.wanted.clear();
  }

  function scheduleRefresh() {
    // Coalesce bursts of notifications (a host with many VMs changing at once) into one fetch.
    clearTimeout(state.refreshTimer);
    // A form being edited (settings) is never re-rendered under the user's hands.
    state.refreshTimer = setTimeout(() => { if (state.view && state.view.live !== false) state.view.refresh(); }, 150);
  }

  function onSocketMessage(msg) {
    const payload = msg.payload || {};
    if (msg.type === "hosts-changed") scheduleRefresh();
    else if (msg.type === "vms-changed") {
      if (!state.view || !state.view.hostId || state.view.hostId === payload.hostId) scheduleRefresh();
    } else if (msg.type === "vm-stats-updated") onStats(payload);
    else if (msg.type === "error") {
      if (payload.code !== "not_found") toast(`Live stats: ${payload.message}`, true);
    }
  }

  function onStats({ hostId, vmName, stats }) {
    const key = `${hostId}/${vmName}`;
    if (!state.wanted.has(key) || !stats) return;
    const history = state.cpuHistory.get(key) || [];
    if (stats.rates) {
      history.push(stats.rates.cpu_percent);
      while (history.length > Math.max(1, state.settings.cpu_smoothing_window)) history.shift();
      state.cpuHistory.set(key, history);
    }
    state.lastStats.set(key, stats);
    const row = document.querySelector(`[data-vm-key="${CSS.escape(key)}"]`);
    if (row) fillStats(row, key, stats);
  }

  function cpuText(key, stats) {
    const history = state.cpuHistory.get(key) || [];
    const view = state.settings.default_cpu_view;
    if (view === "time") return `${Units.nsToSeconds(stats.cpu_time).toFixed(1)} s`;
    if (!history.length) return "…";
    const avg = history.reduce((a, b) => a + b, 0) / history.length;
    if (view === "cores") return `${((avg / 100) * stats.vcpu).toFixed(2)} / ${stats.vcpu}`;
    return `${avg.toFixed(1)} %`;
  }

  function fillStats(row, key, stats) {
    const set = (name, text) => {
      const cell = row.querySelector(`[data-stat="${name}"]`);
      if (cell) cell.textContent = text;
    };
    const rates = stats.rates;
    set("cpu", cpuText(key, stats));
    // A hypervisor without a balloon driver reports no memory figures: keep the configured size.
    if (stats.max_mem > 0) set("memory", `${formatBytes(Units.kibToBytes(stats.memory))} / ${formatBytes(Units.kibToBytes(stats.max_mem))}`);
    set("disk", rates ? `${formatRate(rates.disk_read_bps)} ↓ ${formatRate(rates.disk_write_bps)} ↑` : "…");
    set("net", rates ? `${formatRate(rates.net_rx_bps)} ↓ ${formatRate(rates.net_tx_bps)} ↑` : "…");
    const bar = row.querySelector(".cpu-bar > span");
    const history = state.cpuHistory.get(key) || [];
    if (bar && history.length) bar.style.width = `${Math.min(100, history[history.length - 1])}%`;
    row.classList.add("has-stats");
  }

  // ---------------------------------------------------------------- views

  const root = () => document.getElementById("view");

  function setView(view) {
    unwantAll();
    state.view = view;
    for (const link of document.querySelectorAll("#nav a")) {
      link.classList.toggle("active", link.dataset.view === view.nav);
    }
    view.refresh();
  }

  async function loadHostsAndVms() {
    const hosts = await api("GET", "/hosts");
    const vmsByHost = {};
    await Promise.all(hosts.map(async (host) => {
      try { vmsByHost[host.id] = await api("GET", `/hosts/${encodeURIComponent(host.id)}/vms`); } catch { vmsByHost[host.id] = []; }
    }));
    return { hosts, vmsByHost };
  }

  // Host and VM counters come from the topology's summary: the same status categories the
  // badges and the diagram show, counted by the server.
  function countCards(summary) {
    const count = (kind, status) => h("span", { "data-count": `${kind}-${status}` }, String(summary[kind][status]));
    return [
      h("div", { class: "card stat", "data-count-card": "hosts" }, h("div", { class: "stat-title" }, "Hosts"),
        h("div", { class: "stat-value", "data-count": "hosts-total" }, String(summary.hosts.total)),
        h("div", { class: "stat-sub" }, count("hosts", "active"), " connected")),
      h("div", { class: "card stat", "data-count-card": "vms" }, h("div", { class: "stat-title" }, "VMs"),
        h("div", { class: "stat-value", "data-count": "vms-total" }, String(summary.vms.total)),
        h("div", { class: "stat-sub" }, count("vms", "active"), " running · ", count("vms", "warning"), " paused · ",
          count("vms", "stopped"), " stopped · ", count("vms", "error"), " error")),
    ];
  }

  function statCards(summary, storage) {
    const cards = countCards(summary);
    if (storage) {
      cards.push(h("div", { class: "card stat" }, h("div", { class: "stat-title" }, "Storage"),
        h("div", { class: "stat-value" }, `${storage.used_storage_gb} GB`), h("div", { class: "stat-sub" }, `of ${storage.total_storage_gb} GB`)));
    }
    return h("div", { class: "stat-cards" }, cards);
  }

  function dashboardView() {
    return {
      nav: "dashboard",
      async refresh() {
        const [overview, hosts, topology] = await Promise.all([
          api("GET", "/dashboard/overview?limit=15"), api("GET", "/hosts"), api("GET", "/topology")]);
        const addForm = h("form", { class: "inline-form", onsubmit: async (e) => {
          e.preventDefault();
          const form = e.target;
          try {
            await api("POST", "/hosts", { id: form.hostId.value.trim(), uri: form.uri.value.trim() });
            toast(`Host ${form.hostId.value} added`);
            form.reset();
            this.refresh();
          } catch (err) { toast(`Cannot add host: ${err.message}`, true); }
        } },
        h("input", { name: "hostId", placeholder: "host id", required: true, "aria-label": "host id" }),
        h("input", { name: "uri", placeholder: "qemu+ssh://root@host/system", required: true, size: 34, "aria-label": "libvirt URI" }),
        h("button", { type: "submit" }, "Add host"));
        const hostRows = hosts.map((host) => h("tr", {},
          h("td", {}, h("a", { href: `#/hosts/${encodeURIComponent(host.id)}` }, host.id)),
          h("td", {}, statusBadge("host", host)),
          h("td", { class: "mono" }, host.uri),
          h("td", {}, hostButtons(host, () => this.refresh()))));
        const activity = (overview.recent_activity || []).map((ev) => h("li", {},
          h("time", { datetime: ev.timestamp }, formatTime(ev.timestamp)), " ",
          h("span", { class: "activity-type" }, ev.type), " ", ev.message));
        root().replaceChildren(
          statCards(topology.summary, overview.stats),
          h("div", { class: "columns" },
            h("section", { class: "card grow" }, h("h2", {}, "Hosts"),
              hosts.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Host"), h("th", {}, "State"), h("th", {}, "URI"), h("th", {}, ""))), h("tbody", {}, hostRows))
                : h("p", { class: "muted" }, "No hosts yet."),
              addForm),
            h("section", { class: "card activity" }, h("h2", {}, "Recent activity"),
              activity.length ? h("ul", { class: "activity-list" }, activity) : h("p", { class: "muted" }, "Nothing yet."))));
      },
    };
  }

  function hostButtons(host, after) {
    const act = (path, label) => h("button", { class: "small", onclick: async () => {
      try { await api("POST", `/hosts/${encodeURIComponent(host.id)}/${path}`); after(); } catch (err) { toast(`${label}: ${err.message}`, true); }
    } }, label);
    return host.status === "active" ? act("disconnect", "Disconnect") : act("connect", "Connect");
  }

  function hostView(hostId) {
    return {
      nav: "dashboard",
      hostId,
      async refresh() {
        const [hosts, vms] = await Promise.all([api("GET", "/hosts"), api("GET", `/hosts/${encodeURIComponent(hostId)}/vms`)]);
        const host = hosts.find((x) => x.id === hostId);
        if (!host) { root().replaceChildren(h("p", {}, `No host ${hostId}.`)); return; }
        let discovered = [];
        try { discovered = await api("GET", `/hosts/${encodeURIComponent(hostId)}/discovered-vms`); } catch { discovered = []; }
        const pending = discovered.filter((d) => !d.imported);
        vms.sort((a, b) => (a.name < b.name ? -1 : 1));
        const rows = vms.map((vm) => {
          const key = `${hostId}/${vm.name}`;
          const row = h("tr", { "data-vm-key": key },
            h("td", {}, vm.name),
            h("td", {}, statusBadge("vm", vm)),
            h("td", {}, String(vm.vcpu_count)),
            h("td", {}, h("div", { class: "cpu-bar" }, h("span", {})), h("span", { "data-stat": "cpu" }, hasProcess(vm) ? "…" : "–")),
            h("td", { "data-stat": "memory" }, formatBytes(vm.memory_bytes)),
            h("td", { "data-stat": "disk" }, "–"),
            h("td", { "data-stat": "net" }, "–"),
            h("td", { class: "actions" }, vmButtons(hostId, vm, () => this.refresh())));
          const last = state.lastStats.get(key);
          if (hasProcess(vm)) {
            want(hostId, vm.name);
            if (last) fillStats(row, key, last);
          }
          return row;
        });
        const importAll = pending.length ? h("button", { onclick: async () => {
          try { await api("POST", `/hosts/${encodeURIComponent(hostId)}/vms/import-all`); toast("Import started"); } catch (err) { toast(err.message, true); }
        } }, `Import ${pending.length} discovered VM${pending.length > 1 ? "s" : ""}`) : null;
        root().replaceChildren(
          h("div", { class: "page-title" }, h("a", { href: "#/" }, "Dashboard"), " / ", h("h1", {}, hostId), " ", statusBadge("host", host), " ", hostButtons(host, () => this.refresh())),
          h("p", { class: "mono muted" }, host.uri, host.last_error ? ` — ${host.last_error}` : ""),
          h("section", { class: "card" }, h("h2", {}, "Virtual machines"), importAll,
            vms.length ? h("table", { class: "vms" },
              h("thead", {}, h("tr", {}, ["Name", "State", "vCPU", "CPU", "Memory", "Disk r/w", "Net rx/tx", ""].map((t) => h("th", {}, t)))),
              h("tbody", {}, rows)) : h("p", { class: "muted" }, "No managed VMs on this host.")));
      },
    };
  }

  function vmButtons(hostId, vm, after) {
    const running = hasProcess(vm);
    const actions = running ? ["shutdown", "reboot", "reset", "destroy"] : ["start"];
    // The console page (static/console.html) belongs to the console part of the service.
    const consoles = running && vm.graphics
      ? ["vnc", "spice"].filter((kind) => vm.graphics[kind]).map((kind) => h("a", {
        class: "button-link",
        target: "_blank",
        rel: "noopener",
        href: `/static/console.html?${new URLSearchParams({ host: hostId, vm: vm.name, kind })}`,
      }, kind.toUpperCase()))
      : [];
    return consoles.concat(actions.map((action) => h("button", { class: `small ${action === "destroy" ? "danger" : ""}`, onclick: async () => {
      if (action === "destroy" && !confirm(`Force off ${vm.name}?`)) return;
      try {
        await api("POST", `/hosts/${encodeURIComponent(hostId)}/vms/${encodeURIComponent(vm.name)}/action`, { action });
        toast(`${action} sent to ${vm.name}`);
        after();
      } catch (err) { toast(`${action}: ${err.message}`, true); }
    } }, action)));
  }

  function topologyView(requested) {
    let mode = requested === "grid" || requested === "diagram" ? requested : sessionStorage.getItem("virtumancer.topologyMode") || "diagram";
    return {
      nav: "topology",
      async refresh() {
        const topology = await api("GET", "/topology");
        const toggle = h("div", { class: "toggle", role: "tablist" },
          ["grid", "diagram"].map((m) => h("button", { class: m === mode ? "active" : "", role: "tab", "aria-selected": m === mode ? "true" : "false", onclick: () => {
            mode = m; sessionStorage.setItem("virtumancer.topologyMode", m); this.refresh();
          } }, m === "grid" ? "Grid" : "Network diagram")));
        const counts = statCards(topology.summary, null);
        let body;
        if (mode === "grid") {
          const { hosts, vmsByHost } = await loadHostsAndVms();
          body = h("div", { class: "host-grid" }, [...hosts].sort((a, b) => (a.id < b.id ? -1 : 1)).map((host) => h("div", { class: `card host-card ${host.status}` },
            h("div", { class: "host-card-head" }, h("a", { href: `#/hosts/${encodeURIComponent(host.id)}` }, host.id), statusBadge("host", host)),
            h("ul", { class: "vm-list" }, (vmsByHost[host.id] || []).slice().sort((a, b) => (a.name < b.name ? -1 : 1)).map((vm) =>
              h("li", {}, h("span", { class: `dot ${vm.status}`, "data-status": vm.status }), h("a", { href: `#/hosts/${encodeURIComponent(host.id)}` }, vm.name),
                h("span", { class: "muted" }, ` ${vm.vcpu_count} vCPU · ${formatBytes(vm.memory_bytes)}`)))),
            (vmsByHost[host.id] || []).length ? null : h("p", { class: "muted" }, "No VMs"))));
        } else {
          const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
          svg.setAttribute("class", "topology");
          TopologyDiagram.render(svg, topology, (kind, hostId) => {
            location.hash = `#/hosts/${encodeURIComponent(hostId)}`;
          });
          body = h("div", { class: "card diagram" }, svg);
        }
        root().replaceChildren(h("div", { class: "page-title" }, h("h1", {}, "Network topology"), toggle), counts, body);
      },
    };
  }

  function settingsView() {
    return {
      nav: "settings",
      live: false,
      async refresh() {
        const [saved, runtime] = await Promise.all([api("GET", "/settings/metrics"), api("GET", "/settings/metrics/runtime")]);
        const field = (name, label, input) => h("label", { class: "field" }, h("span", {}, label), input);
        const select = (name, options, value) => h("select", { name }, options.map((o) => h("option", { value: o, selected: o === value }, o)));
        const form = h("form", { class: "card settings", onsubmit: async (e) => {
          e.preventDefault();
          const f = e.target;
          try {
            state.settings = await api("PUT", "/settings/metrics", {
              cpu_smoothing_window: Number(f.cpu_smoothing_window.value),
              memory_display_unit: f.memory_display_unit.value,
              default_cpu_view: f.default_cpu_view.value,
              stats_interval_seconds: Number(f.stats_interval_seconds.value),
            });
            toast("Settings saved");
            this.refresh();
          } catch (err) { toast(`Not saved: ${err.message}`, true); }
        } },
        h("h2", {}, "Metrics"),
        field("cpu_smoothing_window", "CPU smoothing window (samples)", h("input", { name: "cpu_smoothing_window", type: "number", min: 1, max: 300, value: saved.cpu_smoothing_window })),
        field("memory_display_unit", "Memory unit", select("memory_display_unit", Units.NAMES, saved.memory_display_unit)),
        field("default_cpu_view", "CPU view", select("default_cpu_view", ["percentage", "cores", "time"], saved.default_cpu_view)),
        field("stats_interval_seconds", "Sampling interval (s)", h("input", { name: "stats_interval_seconds", type: "number", min: 0.5, max: 3600, step: 0.5, value: saved.stats_interval_seconds })),
        h("button", { type: "submit" }, "Save"),
        h("p", { class: "muted" }, `In effect now: sampling every ${runtime.stats_interval_seconds} s, ${runtime.memory_display_unit}, ${runtime.default_cpu_view}.`));
        const signOut = h("button", { class: "danger", onclick: signOutNow }, "Sign out");
        root().replaceChildren(h("div", { class: "page-title" }, h("h1", {}, "Settings")), form, h("section", { class: "card" }, h("h2", {}, "Session"), signOut));
      },
    };
  }

  function route() {
    const hash = location.hash.replace(/^#/, "") || "/";
    const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
    let view;
    if (parts[0] === "hosts" && parts[1]) view = hostView(parts[1]);
    else if (parts[0] === "topology") view = topologyView(parts[1]);
    else if (parts[0] === "settings") view = settingsView();
    else view = dashboardView();
    try {
      setView(view);
    } catch (err) { toast(err.message, true); }
  }

  // Errors inside async view refreshes end up here.
  window.addEventListener("unhandledrejection", (event) => {
    const err = event.reason;
    if (err instanceof ApiError && err.status === 401) return;
    toast(err && err.message ? err.message : String(err), true);
  });

  // ---------------------------------------------------------------- sign in

  function showLogin(message) {
    state.token = null;
    state.signedIn = false;
    localStorage.removeItem(TOKEN_KEY);
    document.getElementById("login").hidden = false;
    document.getElementById("view").hidden = true;
    document.getElementById("login-error").textContent = message || "";
    if (state.ws) state.ws.close();
  }

  async function signIn(token) {
    state.token = token;
    try {
      // Trade the token for the session cookie that authenticates /ws.
      await api("POST", "/session");
      const settings = await api("GET", "/settings/metrics/runtime");
      state.settings = settings;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) toast(err.message, true);
      return;
    }
    state.signedIn = true;
    if (token) localStorage.setItem(TOKEN_KEY, token);
    document.getElementById("login").hidden = true;
    document.getElementById("view").hidden = false;
    connectSocket();
    route();
  }

  async function signOutNow() {
    try { await api("DELETE", "/session"); } catch { /* signing out anyway */ }
    showLogin("Signed out.");
  }

  document.getElementById("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn(document.getElementById("login-token").value.trim());
  });
  window.addEventListener("hashchange", () => { if (state.signedIn) route(); });

  // A token may arrive in the fragment (never sent to the server): /#token=...&next=/topology
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  let initial = fragment.get("token");
  if (initial) {
    const next = fragment.get("next") || "/";
    history.replaceState(null, "", `${location.pathname}${location.search}#${next}`);
  }
  initial = initial || localStorage.getItem(TOKEN_KEY);
  // With --no-auth the API answers without a token; try that before asking for one.
  signIn(initial || "");
})();
