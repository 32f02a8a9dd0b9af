// The topology diagram: draws, as SVG, the picture GET /api/v1/topology computed (positions,
// statuses, colours, legend). The layout lives in Python (virtumancer.topology) only.
"use strict";

const TopologyDiagram = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Draw `topology` into an <svg>; onClick(kind, hostId, vmName) is called when a node is clicked.
  function render(svg, topology, onClick) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", `0 0 ${topology.width} ${topology.height}`);
    svg.setAttribute("role", "img");
    svg.appendChild(el("title", {}, "Network topology"));
    const byId = new Map([...topology.hosts, ...topology.vms].map((n) => [n.id, n]));
    const links = el("g", { class: "links", stroke: "#9ca3af", "stroke-width": 1.5 });
    for (const { source, target } of topology.links) {
      const a = byId.get(source);
      const b = byId.get(target);
      if (a && b) links.appendChild(el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y }));
    }
    svg.appendChild(links);
    const draw = (node, kind) => {
      const g = el("g", { class: `node ${kind}`, "data-id": node.id, "data-status": node.status, tabindex: 0 });
      g.appendChild(el("title", {}, `${node.label} (${node.status})`));
      g.appendChild(el("circle", {
        cx: node.x, cy: node.y, r: node.r, fill: node.color, stroke: "#1f2937", "stroke-width": 1,
      }));
      g.appendChild(el("text", {
        x: node.label_x, y: node.label_y, "text-anchor": node.label_anchor,
        class: kind === "host" ? "label host-label" : "label",
      }, node.label));
      const go = () => onClick && onClick(kind, node.host_id, kind === "vm" ? node.label : null);
      g.addEventListener("click", go);
      g.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      svg.appendChild(g);
    };
    for (const node of topology.hosts) draw(node, "host");
    for (const node of topology.vms) draw(node, "vm");
    const legend = el("g", { class: "legend" });
    topology.legend.forEach(({ status, label, color }, row) => {
      const y = 16 + row * 18;
      legend.appendChild(el("circle", { cx: 14, cy: y, r: 6, fill: color, "data-status": status }));
      legend.appendChild(el("text", { x: 26, y: y + 4 }, label));
    });
    svg.appendChild(legend);
  }

  return { render };
})();
