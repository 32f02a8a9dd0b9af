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
    // The served OpenAPI document: which operations exist and the enums of the VM spec.
    contract: null,
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
    for (const child of children.flat(Infinity)) {
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

  // Whether the served OpenAPI document has `method` on `path` (relative to /api/v1, with its
  // {placeholders}): panels for operations the server does not offer are not drawn.
  function hasOp(method, path) {
    const paths = (state.contract && state.contract.paths) || {};
    return Boolean(paths[path] && paths[path][method]);
  }

  // The values of an enum schema in the contract (VolumeFormat, Firmware ...).
  function enumValues(name, fallback) {
    const schemas = (state.contract && state.contract.components && state.contract.components.schemas) || {};
    return (schemas[name] && schemas[name].enum) || fallback;
  }

  const hostPath = (hostId) => `/hosts/${encodeURIComponent(hostId)}`;
  const vmPath = (hostId, vmName) => `${hostPath(hostId)}/vms/${encodeURIComponent(vmName)}`;
  const VM_OP = "/hosts/{host_id}/vms/{vm_name}";

  // The message of an API error with the field it names (`disks[0].size_bytes`).
  function errorText(err) {
    const field = err && err.body && err.body.error && err.body.error.field;
    return field && !err.message.startsWith(`${field}:`) ? `${field}: ${err.message}` : err.message;
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
            h("td", {}, h("a", { href: `#/hosts/${encodeURIComponent(hostId)}/vms/${encodeURIComponent(vm.name)}`, "data-vm-link": vm.name }, vm.name)),
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
        const newVm = hasOp("post", "/hosts/{host_id}/vms") && host.status === "active"
          ? h("a", { class: "button-link", id: "new-vm-link", href: `#/hosts/${encodeURIComponent(hostId)}/new-vm` }, "New VM") : null;
        root().replaceChildren(
          h("div", { class: "page-title" }, h("a", { href: "#/" }, "Dashboard"), " / ", h("h1", {}, hostId), " ", statusBadge("host", host), " ", hostButtons(host, () => this.refresh())),
          h("p", { class: "mono muted" }, host.uri, host.last_error ? ` — ${host.last_error}` : ""),
          h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Virtual machines"), newVm), importAll,
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
    const remove = hasOp("delete", VM_OP)
      ? h("button", { class: "small danger", "data-delete-vm": vm.name, onclick: () => openDeleteDialog(hostId, vm, after) }, "delete") : null;
    return consoles.concat(actions.map((action) => h("button", { class: `small ${action === "destroy" ? "danger" : ""}`, onclick: async () => {
      if (action === "destroy" && !confirm(`Force off ${vm.name}?`)) return;
      try {
        await api("POST", `/hosts/${encodeURIComponent(hostId)}/vms/${encodeURIComponent(vm.name)}/action`, { action });
        toast(`${action} sent to ${vm.name}`);
        after();
      } catch (err) { toast(`${action}: ${err.message}`, true); }
    } }, action)), remove);
  }

  // ---------------------------------------------------------------- VM lifecycle

  const field = (label, input, hint) => h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", { class: "muted" }, hint) : null);
  const options = (values, selected) => values.map(([value, label]) => h("option", { value, selected: value === selected }, label));

  // The host's pools, networks and volumes for the form's choices; a host without one of
  // these (or a server without the route) just offers fewer choices.
  async function hostChoices(hostId) {
    const get = async (path) => { try { return await api("GET", `${hostPath(hostId)}${path}`); } catch { return []; } };
    const [pools, networks, volumes] = await Promise.all([get("/storage/pools"), get("/networks"), get("/storage/volumes")]);
    return { pools, networks, volumes };
  }

  function newVmView(hostId) {
    return {
      nav: "dashboard",
      live: false,
      async refresh() {
        const { pools, networks, volumes } = await hostChoices(hostId);
        const running = pools.filter((p) => p.state === "running");
        const poolName = new Map(pools.map((p) => [p.id, p.name]));
        // Volumes the server reports as ISO images (libvirt's format, or the file name).
        const isos = volumes.filter((v) => v.format === "iso" || /\.iso$/i.test(v.name));
        const error = h("p", { class: "error", id: "new-vm-error", role: "alert" });
        const form = h("form", { class: "card vm-form", id: "new-vm-form", onsubmit: async (e) => {
          e.preventDefault();
          const f = e.target;
          error.textContent = "";
          const disks = [];
          if (f.pool.value) {
            disks.push({ kind: "new_volume", pool: f.pool.value, size_bytes: Units.toBytes(f.disk_size.value, "GiB"), format: f.disk_format.value });
          }
          if (f.media.value) {
            const [pool, volume] = JSON.parse(f.media.value);
            disks.push({ kind: "existing_volume", pool, volume, device: "cdrom" });
          }
          const spec = {
            name: f.vm_name.value.trim(),
            memory_bytes: Units.toBytes(f.memory.value, "MiB"),
            vcpus: Number(f.vcpus.value),
            firmware: f.firmware.value,
            disks,
            nics: f.network.value ? [{ network: f.network.value }] : [],
            description: f.description.value,
          };
          // Left out, the server picks VNC on 127.0.0.1 (see docs/vm-spec.md).
          if (f.graphics.value === "none") spec.graphics = null;
          else if (f.graphics.value !== "vnc") spec.graphics = { type: f.graphics.value };
          if (f.media.value) spec.boot_order = ["cdrom", "hd"];
          const submit = f.querySelector("button[type=submit]");
          submit.disabled = true;
          try {
            const created = await api("POST", `${hostPath(hostId)}/vms?start=${f.start.checked}`, spec);
            toast(`VM ${created.name} created${f.start.checked ? " and started" : ""}`);
            location.hash = `#/hosts/${encodeURIComponent(hostId)}`;
          } catch (err) {
            error.textContent = errorText(err);
            submit.disabled = false;
          }
        } },
        h("h2", {}, `New VM on ${hostId}`),
        field("Name", h("input", { name: "vm_name", required: true, maxlength: 64, autocomplete: "off" })),
        field("Memory (MiB)", h("input", { name: "memory", type: "number", min: 1, step: 1, value: 1024, required: true })),
        field("vCPUs", h("input", { name: "vcpus", type: "number", min: 1, max: 4096, value: 1, required: true })),
        field("Firmware", h("select", { name: "firmware" }, options(enumValues("Firmware", ["bios", "uefi"]).map((v) => [v, v.toUpperCase()]), "bios"))),
        h("fieldset", {}, h("legend", {}, "Disk"),
          field("Storage pool", h("select", { name: "pool" }, options([...running.map((p) => [p.name, `${p.name} (${formatBytes(p.available_bytes)} free)`]), ["", "— no disk —"]], running.length ? running[0].name : ""))),
          field("Size (GiB)", h("input", { name: "disk_size", type: "number", min: 0.001, step: "any", value: 10 })),
          field("Format", h("select", { name: "disk_format" }, options(enumValues("VolumeFormat", ["qcow2", "raw"]).map((v) => [v, v]), "qcow2"))),
          field("Install media", h("select", { name: "media" }, options([["", "— none —"], ...isos.map((v) => [JSON.stringify([poolName.get(v.storage_pool_id), v.name]), `${poolName.get(v.storage_pool_id)} / ${v.name}`])], "")))),
        h("fieldset", {}, h("legend", {}, "Network and display"),
          field("Network", h("select", { name: "network" }, options([...networks.map((n) => [n.name, `${n.name} (${n.mode})`]), ["", "— no network —"]], networks.length ? networks[0].name : ""))),
          field("Display", h("select", { name: "graphics" }, options([...enumValues("GraphicsType", ["vnc", "spice"]).map((v) => [v, v.toUpperCase()]), ["none", "none"]], "vnc")))),
        field("Description", h("input", { name: "description", maxlength: 500 })),
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "start", checked: true }), " Start it once created"),
        error,
        h("div", { class: "form-buttons" }, h("button", { type: "submit" }, "Create VM"), " ", h("a", { href: `#/hosts/${encodeURIComponent(hostId)}` }, "Cancel")));
        root().replaceChildren(
          h("div", { class: "page-title" }, h("a", { href: "#/" }, "Dashboard"), " / ", h("a", { href: `#/hosts/${encodeURIComponent(hostId)}` }, hostId), " / ", h("h1", {}, "New VM")),
          form);
        form.vm_name.focus();
      },
    };
  }

  // ---------------------------------------------------------------- forms from the contract

  // A request body's schema in the served document, by component name (NewSnapshot ...).
  function schemaOf(name) {
    const schemas = (state.contract && state.contract.components && state.contract.components.schemas) || {};
    return schemas[name] || null;
  }

  // Follow a `$ref` (and a nullable `anyOf: [X, null]`) to the schema it names.
  function resolveSchema(schema) {
    if (!schema) return {};
    if (schema.anyOf) {
      const inner = schema.anyOf.filter((s) => s.type !== "null");
      if (inner.length === 1) return resolveSchema(inner[0]);
    }
    if (schema.$ref) return { ...resolveSchema(schemaOf(schema.$ref.split("/").pop())), ...schema, $ref: undefined };
    return schema;
  }

  const typesOf = (schema) => [].concat(schema.type || []);

  // One input per property of an object schema. Each field reads back its JSON value, or
  // undefined when left empty (the server's default applies). `choices` suggests values for
  // free-text properties by name (the host's pools, volumes, networks).
  function schemaFields(schema, choices, prefix) {
    const required = new Set(schema.required || []);
    return Object.entries(schema.properties || {}).map(([name, raw]) => {
      const prop = resolveSchema(raw);
      const label = name.replace(/_/g, " ");
      const hint = raw.description || prop.description;
      const id = `${prefix}-${name}`;
      if (prop.const !== undefined) return { name, read: () => prop.const, node: null };
      if (prop.enum) {
        const input = h("select", { name, id, "aria-label": label },
          options([...(required.has(name) ? [] : [["", "— default —"]]), ...prop.enum.map((v) => [String(v), String(v)])], required.has(name) ? String(prop.enum[0]) : ""));
        return { name, node: field(label, input, hint), read: () => (input.value === "" ? undefined : input.value) };
      }
      const types = typesOf(prop);
      if (types.includes("boolean")) {
        const input = h("input", { type: "checkbox", name, id });
        return { name, node: h("label", { class: "check", title: hint || null }, input, ` ${label}`), read: () => (input.checked ? true : undefined) };
      }
      if (types.includes("integer") || types.includes("number")) {
        const bytes = prop["x-unit"] === "bytes";
        const input = h("input", { name, id, type: "number", min: bytes ? 0.001 : prop.minimum, step: "any", required: required.has(name), size: 8, "aria-label": bytes ? `${label} in GiB` : label });
        return {
          name,
          node: field(bytes ? `${label.replace(/ bytes$/, "")} (GiB)` : label, input, hint),
          read: () => (input.value === "" ? undefined : bytes ? Units.toBytes(input.value, "GiB") : Number(input.value)),
        };
      }
      const list = (choices && choices[name]) || [];
      const datalist = list.length ? h("datalist", { id: `${id}-choices` }, list.map((v) => h("option", { value: v }))) : null;
      const input = h("input", { name, id, required: required.has(name), list: datalist ? `${id}-choices` : null, autocomplete: "off", "aria-label": label, value: required.has(name) && list.length ? list[0] : null });
      const node = field(label, input, hint);
      if (datalist) node.append(datalist);
      return { name, node, read: () => (input.value.trim() === "" ? undefined : input.value.trim()) };
    });
  }

  const readFields = (fields) => {
    const body = {};
    for (const f of fields) {
      const value = f.read();
      if (value !== undefined) body[f.name] = value;
    }
    return body;
  };

  // A form for one operation's request body, drawn from the body's schema in the contract.
  // `part` names a nested object (the attachments' `disk`/`nic`); its variants, when the
  // schema has a discriminator (the disks' `kind`), are offered in a select.
  function contractForm({ id, title, schemaName, part, choices, submit, label }) {
    const body = schemaOf(schemaName);
    if (!body) return null;
    const error = h("p", { class: "error", role: "alert", "data-form-error": id });
    const partFields = h("div", { class: "fields" });
    let current = [];
    let rest = [];
    const form = h("form", { class: "card vm-form", id, onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      const data = readFields(rest);
      if (part) data[part] = readFields(current);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try { await submit(data, error); } catch (err) { error.textContent = errorText(err); } finally { button.disabled = false; }
    } }, h("h2", {}, title));
    let variantSelect = null;
    if (part) {
      const partSchema = resolveSchema(body.properties[part]);
      const mapping = partSchema.discriminator && partSchema.discriminator.mapping;
      const draw = (schema) => {
        current = schemaFields(resolveSchema(schema), choices, `${id}-${part}`);
        partFields.replaceChildren(...current.map((f) => f.node).filter(Boolean));
      };
      if (mapping) {
        const tag = partSchema.discriminator.propertyName;
        const kinds = Object.keys(mapping);
        variantSelect = h("select", { name: tag, "aria-label": tag, onchange: () => draw({ $ref: mapping[variantSelect.value] }) },
          options(kinds.map((k) => [k, k.replace(/_/g, " ")]), kinds[0]));
        draw({ $ref: mapping[kinds[0]] });
      } else {
        draw(partSchema);
      }
      rest = schemaFields({ ...body, properties: Object.fromEntries(Object.entries(body.properties).filter(([k]) => k !== part)) }, choices, id);
    } else {
      rest = schemaFields(body, choices, id);
    }
    form.append(...(variantSelect ? [field(partLabel(part), variantSelect)] : []), partFields,
      ...rest.map((f) => f.node).filter(Boolean), error, h("button", { type: "submit" }, label));
    return form;
  }

  const partLabel = (part) => `${part} kind`;

  // Wait for a task (GET /tasks/{id}) to finish; `progress` is told each state.
  async function awaitTask(task, progress) {
    let current = task;
    while (!current.finished) {
      progress(current);
      await new Promise((resolve) => { setTimeout(resolve, 250); });
      current = await api("GET", `/tasks/${encodeURIComponent(current.id)}`);
    }
    return current;
  }

  // What deleting a VM removes, as the server works it out (GET .../delete-plan): the
  // volumes deleted with "delete storage", the media kept even then, the UEFI variables
  // and the snapshots removed in any case.
  async function openDeleteDialog(hostId, vm, after) {
    let plan = null;
    if (hasOp("get", `${VM_OP}/delete-plan`)) {
      try { plan = await api("GET", `${vmPath(hostId, vm.name)}/delete-plan`); } catch { plan = null; }
    }
    const running = plan ? plan.running : hasProcess(vm);
    const dialog = h("dialog", { class: "confirm", id: "delete-dialog" });
    const storage = h("input", { type: "checkbox", name: "delete_storage" });
    const force = running ? h("input", { type: "checkbox", name: "force" }) : null;
    const list = (id, items) => h("ul", { id }, items.map((item) => h("li", { class: "mono" }, item)));
    const always = plan ? [
      plan.snapshots.length ? [h("p", {}, `Its ${plan.snapshots.length} snapshot(s) are removed:`), list("delete-snapshots", plan.snapshots)] : null,
      plan.nvram ? [h("p", {}, "Its UEFI variables are removed:"), list("delete-nvram", [plan.nvram])] : null,
    ] : h("p", { class: "muted", id: "delete-plan-missing" }, "What it removes could not be read from the server.");
    const volumes = h("div", { class: "volumes", hidden: true },
      plan ? [
        plan.volumes.length ? [h("p", {}, "These volumes will be deleted:"), list("delete-volumes", plan.volumes)]
          : h("p", { class: "muted" }, "The VM has no volumes to delete."),
        plan.kept.length ? [h("p", { class: "muted" }, "Kept (read-only, shared or outside any pool):"), list("delete-kept", plan.kept)] : null,
      ] : null);
    const confirmButton = h("button", { class: "danger", id: "delete-confirm", type: "submit", disabled: running }, `Delete ${vm.name}`);
    storage.addEventListener("change", () => { volumes.hidden = !storage.checked; });
    if (force) force.addEventListener("change", () => { confirmButton.disabled = !force.checked; });
    const close = () => { dialog.close(); dialog.remove(); };
    dialog.append(h("form", { method: "dialog", onsubmit: async (e) => {
      e.preventDefault();
      confirmButton.disabled = true;
      const query = new URLSearchParams({ delete_storage: storage.checked, force: Boolean(force && force.checked) });
      try {
        await api("DELETE", `${vmPath(hostId, vm.name)}?${query}`);
        toast(`VM ${vm.name} deleted${storage.checked ? " with its storage" : ""}`);
        close();
        after();
      } catch (err) {
        toast(`Delete ${vm.name}: ${errorText(err)}`, true);
        confirmButton.disabled = false;
      }
    } },
    h("h2", {}, "Delete VM ", h("span", { class: "mono", id: "delete-vm-name" }, vm.name), ` on ${hostId}?`),
    h("p", {}, "Its definition is removed. This cannot be undone."),
    always,
    running ? h("label", { class: "check" }, force, " It is running: force it off first") : null,
    h("label", { class: "check" }, storage, " Also delete its storage"),
    volumes,
    h("div", { class: "form-buttons" }, confirmButton, " ", h("button", { type: "button", class: "small", onclick: close }, "Cancel"))));
    document.body.appendChild(dialog);
    dialog.addEventListener("cancel", () => dialog.remove());
    dialog.showModal();
  }

  function vmView(hostId, vmName) {
    // Forms are drawn once (never redrawn under the user's hands); the summary, hardware
    // and snapshot tables are redrawn on every change notification.
    let drawn = false;
    const summary = h("div", {});
    const hardware = h("section", { class: "card", id: "hardware" });
    const hardwareTables = h("div", {});
    const attachForms = h("div", {});
    const snapshots = h("section", { class: "card", id: "snapshots" });
    const snapshotTable = h("div", {});
    const after = () => state.view && state.view.refresh();
    const base = () => vmPath(hostId, vmName);

    function changeForm(vm) {
      const error = h("p", { class: "error", role: "alert" });
      return h("form", { class: "card vm-form", id: "change-vm-form", onsubmit: async (e) => {
        e.preventDefault();
        const f = e.target;
        const change = {};
        const memory = Units.toBytes(f.memory.value, "MiB");
        if (memory !== vm.memory_bytes) change.memory_bytes = memory;
        if (Number(f.vcpus.value) !== vm.vcpu_count) change.vcpus = Number(f.vcpus.value);
        if (f.description.value !== vm.description) change.description = f.description.value;
        if (f.autostart.value) change.autostart = f.autostart.value === "on";
        error.textContent = "";
        if (!Object.keys(change).length) { error.textContent = "Nothing changed."; return; }
        try {
          vm = await api("PATCH", base(), change);
          toast(`${vmName} changed`);
          after();
        } catch (err) { error.textContent = errorText(err); }
      } },
      h("h2", {}, "Settings"),
      field("Memory (MiB)", h("input", { name: "memory", type: "number", min: 1, step: 1, value: Units.fromBytes(vm.memory_bytes, "MiB") })),
      field("vCPUs", h("input", { name: "vcpus", type: "number", min: 1, value: vm.vcpu_count })),
      field("Autostart", h("select", { name: "autostart" }, options([["", "unchanged"], ["on", "on"], ["off", "off"]], ""))),
      field("Description", h("input", { name: "description", value: vm.description || "" })),
      h("p", { class: "muted" }, "Memory and vCPUs apply to the saved definition; a running VM takes them at its next start."),
      error,
      h("button", { type: "submit" }, "Save"));
    }

    // POST .../clone answers with a task; the clone is listed once the task succeeded.
    function cloneForm() {
      const op = hasOp("post", `${VM_OP}/clone`) && hasOp("get", "/tasks/{task_id}");
      return op ? contractForm({ id: "clone-form", title: "Clone", schemaName: "CloneRequest", label: "Clone",
        submit: async (body, status) => {
          const task = await api("POST", `${base()}/clone`, body);
          const done = await awaitTask(task, (t) => {
            status.textContent = t.total ? `Cloning… ${Math.floor((100 * t.done) / t.total)} %` : "Cloning…";
          });
          status.textContent = "";
          if (done.error) throw new ApiError(0, { error: { message: done.error, code: done.error_code } });
          if (!done.result) throw new ApiError(0, { error: { message: `clone ${done.state}` } });
          toast(`${vmName} cloned to ${done.result.name}`);
          location.hash = `#/hosts/${encodeURIComponent(hostId)}`;
        } }) : null;
    }

    function detachButton(kind, id) {
      const op = kind === "disk" ? `${VM_OP}/disks/{target}` : `${VM_OP}/interfaces/{mac}`;
      if (!hasOp("delete", op) || !id) return null;
      return h("button", { class: "small danger", "data-detach": id, onclick: async () => {
        if (!confirm(`Detach ${id} from ${vmName}?`)) return;
        const path = kind === "disk" ? "disks" : "interfaces";
        try { await api("DELETE", `${base()}/${path}/${encodeURIComponent(id)}`); toast(`${id} detached`); after(); } catch (err) { toast(`Detach: ${errorText(err)}`, true); }
      } }, "detach");
    }

    function mediaControl(disk) {
      if (disk.device !== "cdrom" || !hasOp("patch", VM_OP)) return null;
      const input = h("input", { value: disk.path || "", placeholder: "ISO path", size: 30, "aria-label": `media in ${disk.target.dev}` });
      const set = async (path) => {
        try { await api("PATCH", base(), { cdrom_media: { [disk.target.dev]: path } }); toast(path ? "Media inserted" : "Media ejected"); after(); } catch (err) { toast(`Media: ${errorText(err)}`, true); }
      };
      return h("span", {}, input, h("button", { class: "small", onclick: () => set(input.value.trim()) }, "insert"), h("button", { class: "small", onclick: () => set("") }, "eject"));
    }

    // The attach forms are drawn from the attachment bodies' schemas (DiskAttachment,
    // NicAttachment), with the host's pools, volumes and networks as suggestions.
    async function drawAttachForms() {
      const disk = hasOp("post", `${VM_OP}/disks`);
      const nic = hasOp("post", `${VM_OP}/interfaces`);
      if (!disk && !nic) return;
      const { pools, networks, volumes } = await hostChoices(hostId);
      const names = (items) => [...new Set(items.map((x) => x.name))];
      const choices = { pool: names(pools), base_pool: names(pools), volume: names(volumes), base_volume: names(volumes), network: names(networks) };
      const attach = (path, what) => async (body) => {
        await api("POST", `${base()}/${path}`, body);
        toast(`${what} attached to ${vmName}`);
        after();
      };
      attachForms.replaceChildren(...[
        disk ? contractForm({ id: "attach-disk-form", title: "Attach a disk", schemaName: "DiskAttachment", part: "disk", choices, label: "Attach disk", submit: attach("disks", "Disk") }) : null,
        nic ? contractForm({ id: "attach-nic-form", title: "Attach a network interface", schemaName: "NicAttachment", part: "nic", choices, label: "Attach interface", submit: attach("interfaces", "Interface") }) : null,
      ].filter(Boolean));
    }

    async function drawHardware() {
      let hw;
      try { hw = await api("GET", `${base()}/hardware`); } catch (err) {
        hardwareTables.replaceChildren(h("p", { class: "muted" }, err.message));
        return;
      }
      const diskRows = hw.disks.map((d) => h("tr", { "data-disk": d.target.dev || "" }, h("td", {}, d.target.dev), h("td", {}, d.device), h("td", { class: "mono" }, d.path || d.source.name || "–"),
        h("td", { class: "actions" }, mediaControl(d), detachButton("disk", d.target.dev))));
      const nicRows = hw.networks.map((n) => h("tr", { "data-nic": n.mac.address || "" }, h("td", { class: "mono" }, n.mac.address || "–"), h("td", {}, n.source.network || n.source.bridge || n.type),
        h("td", {}, n.model.model_type || "–"), h("td", { class: "actions" }, detachButton("nic", n.mac.address))));
      hardwareTables.replaceChildren(
        h("h3", {}, "Disks"), diskRows.length ? h("table", { id: "vm-disks" }, h("tbody", {}, diskRows)) : h("p", { class: "muted" }, "No disks."),
        h("h3", {}, "Network interfaces"), nicRows.length ? h("table", { id: "vm-nics" }, h("tbody", {}, nicRows)) : h("p", { class: "muted" }, "No interfaces."));
    }

    const snapshotOp = `${VM_OP}/snapshots/{snapshot}`;
    function snapshotButton(snap, method, suffix, label, question) {
      if (!hasOp(method.toLowerCase(), `${snapshotOp}${suffix}`)) return null;
      return h("button", { class: `small ${method === "DELETE" ? "danger" : ""}`, "data-snapshot-action": `${label}:${snap.name}`, onclick: async () => {
        if (!confirm(question)) return;
        try { await api(method, `${base()}/snapshots/${encodeURIComponent(snap.name)}${suffix}`); toast(`${label}: ${snap.name}`); after(); } catch (err) { toast(`${label}: ${errorText(err)}`, true); }
      } }, label);
    }

    async function drawSnapshots() {
      let list;
      try { list = await api("GET", `${base()}/snapshots`); } catch (err) {
        snapshotTable.replaceChildren(h("p", { class: "muted" }, err.message));
        return;
      }
      // The server sends the tree depth first, each with its depth: indent by it.
      const rows = (list || []).map((snap) => h("tr", { "data-snapshot": snap.name },
        h("td", { style: `padding-left: ${0.5 + snap.depth * 1.2}em` }, snap.name, snap.current ? " (current)" : ""),
        h("td", {}, snap.description || "–"), h("td", {}, snap.memory ? "with memory" : "disks"),
        h("td", {}, snap.created_at ? formatTime(snap.created_at) : "–"),
        h("td", { class: "actions" },
          snapshotButton(snap, "POST", "/revert", "revert", `Revert ${vmName} to ${snap.name}? Changes since then are lost.`),
          snapshotButton(snap, "DELETE", "", "delete", `Delete snapshot ${snap.name} of ${vmName}?`))));
      snapshotTable.replaceChildren(rows.length
        ? h("table", { id: "snapshot-list" }, h("thead", {}, h("tr", {}, ["Name", "Description", "Holds", "Taken", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
        : h("p", { class: "muted" }, "No snapshots."));
    }

    function snapshotForm() {
      if (!hasOp("post", `${VM_OP}/snapshots`)) return null;
      const form = contractForm({ id: "snapshot-form", title: "Take a snapshot", schemaName: "NewSnapshot", label: "Take snapshot",
        submit: async (body) => {
          const snap = await api("POST", `${base()}/snapshots`, body);
          toast(`Snapshot ${snap.name} taken`);
          form.reset();
          after();
        } });
      return form;
    }

    return {
      nav: "dashboard",
      hostId,
      async refresh() {
        const vms = await api("GET", `${hostPath(hostId)}/vms`);
        const vm = vms.find((x) => x.name === vmName);
        if (!vm) {
          drawn = false;
          root().replaceChildren(h("p", {}, `No VM ${vmName} on `, h("a", { href: `#/hosts/${encodeURIComponent(hostId)}` }, hostId), "."));
          return;
        }
        summary.replaceChildren(
          h("div", { class: "page-title" }, h("a", { href: "#/" }, "Dashboard"), " / ", h("a", { href: `#/hosts/${encodeURIComponent(hostId)}` }, hostId), " / ",
            h("h1", {}, vmName), " ", statusBadge("vm", vm), " ", vmButtons(hostId, vm, after)),
          h("p", { class: "muted", id: "vm-summary" }, `${vm.vcpu_count} vCPU · ${formatBytes(vm.memory_bytes)}`, vm.description ? ` · ${vm.description}` : ""));
        const hasSnapshots = hasOp("get", `${VM_OP}/snapshots`);
        if (!drawn) {
          drawn = true;
          hardware.replaceChildren(h("h2", {}, "Hardware"), hardwareTables, attachForms);
          // replaceChildren would draw a null as the text "null": only the parts that exist.
          snapshots.replaceChildren(...[h("h2", {}, "Snapshots"), snapshotTable, snapshotForm()].filter(Boolean));
          root().replaceChildren(summary,
            h("div", { class: "columns" },
              h("div", { class: "grow" }, hardware, hasSnapshots ? snapshots : null),
              h("div", { class: "side" }, hasOp("patch", VM_OP) ? changeForm(vm) : null, cloneForm())));
          await drawAttachForms();
        }
        await Promise.all([drawHardware(), hasSnapshots ? drawSnapshots() : null]);
      },
    };
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
    if (parts[0] === "hosts" && parts[1] && parts[2] === "new-vm") view = newVmView(parts[1]);
    else if (parts[0] === "hosts" && parts[1] && parts[2] === "vms" && parts[3]) view = vmView(parts[1], parts[3]);
    else if (parts[0] === "hosts" && parts[1]) view = hostView(parts[1]);
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
      // The contract says which lifecycle operations this server has; without it those
      // panels stay hidden and the rest of the page works as before.
      try { state.contract = await api("GET", "/openapi.json"); } catch { state.contract = null; }
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
