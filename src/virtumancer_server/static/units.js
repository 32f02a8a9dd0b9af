// Units: the one place the browser converts sizes. REST sends bytes (`memory_bytes`); the
// WebSocket's `stats.memory`/`max_mem` are KiB, as the API document requires.
"use strict";

const Units = (() => {
  const UNIT_BYTES = {
    B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
    KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4,
  };
  const NAMES = Object.keys(UNIT_BYTES);

  // KiB (the WebSocket's memory figures) to bytes.
  function kibToBytes(kib) {
    return kib * UNIT_BYTES.KiB;
  }

  // Bytes in the chosen display unit (GB when the unit is unknown).
  function formatBytes(bytes, unit) {
    const name = unit in UNIT_BYTES ? unit : "GB";
    const value = bytes / UNIT_BYTES[name];
    return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${name}`;
  }

  // A number typed in a form, in `unit`, to whole bytes (what the API takes).
  function toBytes(value, unit) {
    return Math.round(Number(value) * UNIT_BYTES[unit]);
  }

  // Bytes as a plain number in `unit` (to prefill a form field).
  function fromBytes(bytes, unit) {
    return bytes / UNIT_BYTES[unit];
  }

  // Bytes per second, in decimal steps.
  function formatRate(bps) {
    if (bps === null || bps === undefined) return "–";
    const steps = [["GB/s", 1e9], ["MB/s", 1e6], ["kB/s", 1e3]];
    for (const [name, size] of steps) if (bps >= size) return `${(bps / size).toFixed(1)} ${name}`;
    return `${bps.toFixed(0)} B/s`;
  }

  // Nanoseconds (the WebSocket's cpu_time) to seconds.
  function nsToSeconds(ns) {
    return ns / 1e9;
  }

  return { NAMES, kibToBytes, toBytes, fromBytes, formatBytes, formatRate, nsToSeconds };
})();
