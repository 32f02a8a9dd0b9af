// The topology diagram: the same circular layout as virtumancer.topology (Python), drawn as
// SVG in the browser so nodes can be clicked. Hosts sit evenly on a circle (the first at 12
// o'clock, then clockwise); each host's VMs sit on a ring around it, pointing outward.
"use strict";

const Topology = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COLORS = {
    active: "#10b981",
    stopped: "#ef4444",
    warning: "#f59e0b",
    error: "#dc2626",
  };
  const LEGEND = [
    ["active", "Connected / running"],
    ["stopped", "Disconnected / stopped"],
    ["warning", "Paused / connecting"],
    ["error", "Error / crashed"],
  ];
  const HOST_RADIUS = 28;
  const VM_RADIUS = 12;
  const LABEL_ROOM = 24;

  function hostStatus(state) {
    const s = String(state || "").toUpperCase();
    if (s === "CONNECTED") return "active";
    if (s === "DISCONNECTED") return "stopped";
    if (s === "CONNECTING") return "warning";
    return "error";
  }

  function vmStatus(state) {
    if (state === 1 || state === 2) return "active";
    if (state === 3 || state === 4 || state === 7) return "warning";
    if (state === 6) return "error";
    return "stopped";
  }

  // hosts: [{id, state}], vmsByHost: {hostId: [{name, state}]}
  function layout(hosts, vmsByHost, width, height) {
    const sortedHosts = [...hosts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const cx = width / 2;
    const cy = height / 2;
    const count = sortedHosts.length;
    const room = Math.min(cx, cy) - VM_RADIUS - LABEL_ROOM;
    const mostVms = Math.max(0, ...sortedHosts.map((h) => (vmsByHost[h.id] || []).length));
    const minRing = Math.max(HOST_RADIUS + 2.5 * VM_RADIUS, (3 * VM_RADIUS * mostVms) / (2 * Math.PI));
    let vmRing;
    let hostRing;
    if (count <= 1) {
      vmRing = Math.max(minRing, 0.6 * room);
      hostRing = 0;
    } else {
      const s = Math.sin(Math.PI / count);
      vmRing = Math.max(minRing, Math.min(0.45 * room, (room * s) / (1.6 + s)));
      hostRing = Math.max(0, room - vmRing);
    }
    const placedHosts = [];
    const placedVms = [];
    sortedHosts.forEach((host, index) => {
      const angle = count ? -Math.PI / 2 + (2 * Math.PI * index) / count : 0;
      const hx = cx + hostRing * Math.cos(angle);
      const hy = cy + hostRing * Math.sin(angle);
      placedHosts.push({
        id: host.id, label: host.id, status: hostStatus(host.state), x: hx, y: hy, r: HOST_RADIUS,
        labelX: hx, labelY: hy + HOST_RADIUS + 14, anchor: "middle",
      });
      const outward = count > 1 ? angle : -Math.PI / 2;
      const vms = [...(vmsByHost[host.id] || [])].sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      );
      vms.forEach((vm, i) => {
        const a = outward + (2 * Math.PI * i) / vms.length;
        const cos = Math.cos(a);
        const sin = Math.sin(a);
        const vx = hx + vmRing * cos;
        const vy = hy + vmRing * sin;
        const reach = VM_RADIUS + 4;
        placedVms.push({
          id: `${host.id}/${vm.name}`,
          hostId: host.id,
          label: vm.name,
          status: vmStatus(vm.state),
          x: vx,
          y: vy,
          r: VM_RADIUS,
          labelX: vx + reach * cos,
          labelY: vy + (reach + 8) * sin + 4,
          anchor: cos > 0.3 ? "start" : cos < -0.3 ? "end" : "middle",
        });
      });
    });
    return { width, height, hosts: placedHosts, vms: placedVms };
  }

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Render into an <svg>; onClick(kind, hostId, vmName) is called when a node is clicked.
  function render(svg, placed, onClick) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", `0 0 ${placed.width} ${placed.height}`);
    svg.setAttribute("role", "img");
    svg.appendChild(el("title", {}, "Network topology"));
    const byId = new Map(placed.hosts.map((h) => [h.id, h]));
    const links = el("g", { class: "links", stroke: "#9ca3af", "stroke-width": 1.5 });
    for (const vm of placed.vms) {
      const host = byId.get(vm.hostId);
      links.appendChild(el("line", { x1: host.x, y1: host.y, x2: vm.x, y2: vm.y }));
    }
    svg.appendChild(links);
    for (const node of [...placed.hosts, ...placed.vms]) {
      const kind = node.hostId === undefined ? "host" : "vm";
      const g = el("g", { class: `node ${kind}`, "data-id": node.id, "data-status": node.status, tabindex: 0 });
      g.appendChild(el("title", {}, `${node.label} (${node.status})`));
      g.appendChild(el("circle", {
        cx: node.x, cy: node.y, r: node.r, fill: COLORS[node.status] || COLORS.error,
        stroke: "#1f2937", "stroke-width": 1,
      }));
      g.appendChild(el("text", {
        x: node.labelX, y: node.labelY, "text-anchor": node.anchor,
        class: kind === "host" ? "label host-label" : "label",
      }, node.label));
      const go = () => onClick && onClick(kind, kind === "host" ? node.id : node.hostId, kind === "vm" ? node.label : null);
      g.addEventListener("click", go);
      g.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      svg.appendChild(g);
    }
    const legend = el("g", { class: "legend" });
    LEGEND.forEach(([status, text], row) => {
      const y = 16 + row * 18;
      legend.appendChild(el("circle", { cx: 14, cy: y, r: 6, fill: COLORS[status] }));
      legend.appendChild(el("text", { x: 26, y: y + 4 }, text));
    });
    svg.appendChild(legend);
  }

  return { COLORS, LEGEND, hostStatus, vmStatus, layout, render };
})();
