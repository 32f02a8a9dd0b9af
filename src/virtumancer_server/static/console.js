// Virtumancer console page: noVNC (VNC) or spice-html5 (SPICE) over the service's relay.
//
// Opened as /static/console.html?host=<hostId>&vm=<vmName>[&kind=spice]. Credentials, in
// order: a ticket in the fragment (#ticket=...), a token in the fragment (#token=...), or the
// dashboard's stored token. The fragment is wiped from the address bar at once. With a token,
// VNC fetches a single-use console ticket, so the token never appears in a WebSocket URL; SPICE
// opens several WebSockets (one per channel), so it trades the token for the session cookie.
import RFB from "./console/novnc/core/rfb.js";

const TOKEN_KEY = "virtumancer.token";
const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));
if (location.hash) history.replaceState(null, "", location.pathname + location.search);

const hostId = params.get("host") || "";
const vmName = params.get("vm") || "";
const kind = params.get("kind") === "spice" ? "spice" : "vnc";
const screen = document.getElementById("screen");
const statusText = document.getElementById("status");
const cadButton = document.getElementById("cad");
const reconnectButton = document.getElementById("reconnect");
const passwordForm = document.getElementById("password-form");
const passwordInput = document.getElementById("password");

let givenTicket = fragment.get("ticket");
const token = fragment.get("token") || localStorage.getItem(TOKEN_KEY);
let session = null;

function setStatus(state, text) {
  document.body.dataset.state = state;
  statusText.textContent = text;
}

const vmPath = () =>
  `/api/v1/hosts/${encodeURIComponent(hostId)}/vms/${encodeURIComponent(vmName)}`;

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body?.error?.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function ticket() {
  if (givenTicket) {
    const once = givenTicket;
    givenTicket = null; // single use: a reconnect needs a token
    return once;
  }
  if (!token) throw new Error("not signed in: open this console from the dashboard");
  const response = await fetch(`${vmPath()}/console-ticket`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  return (await response.json()).ticket;
}

function socketUrl(route, query) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const suffix = query ? `?${query}` : "";
  return `${scheme}://${location.host}${vmPath()}/${route}${suffix}`;
}

async function connectVnc() {
  const url = socketUrl("console", `ticket=${encodeURIComponent(await ticket())}`);
  const rfb = new RFB(screen, url, { wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.background = "#000";
  rfb.addEventListener("connect", () => {
    setStatus("connected", "Connected");
    cadButton.disabled = false;
  });
  rfb.addEventListener("disconnect", (event) => {
    cadButton.disabled = true;
    reconnectButton.disabled = !token;
    setStatus(
      event.detail.clean ? "disconnected" : "error",
      event.detail.clean ? "Disconnected" : "The connection to the console was lost",
    );
  });
  rfb.addEventListener("credentialsrequired", () => {
    passwordForm.hidden = false;
    passwordInput.focus();
  });
  rfb.addEventListener("desktopname", (event) => {
    document.title = `${event.detail.name} · Virtumancer`;
  });
  return {
    sendCtrlAltDel: () => rfb.sendCtrlAltDel(),
    sendPassword: (password) => rfb.sendCredentials({ password }),
    close: () => rfb.disconnect(),
  };
}

async function connectSpice() {
  if (token) {
    const response = await fetch("/api/v1/session", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(await errorMessage(response));
  }
  const spice = await import("./console/spice-html5/src/main.js");
  const start = (password) =>
    new spice.SpiceMainConn({
      uri: socketUrl("spice", ""),
      screen_id: "screen",
      password: password || "",
      onerror: (error) => {
        setStatus("error", String(error?.message || error));
        reconnectButton.disabled = false;
        cadButton.disabled = true;
        if (/password/i.test(String(error?.message))) passwordForm.hidden = false;
      },
      onsuccess: () => {
        setStatus("connected", "Connected");
        cadButton.disabled = false;
      },
    });
  let connection = start("");
  return {
    sendCtrlAltDel: () => spice.sendCtrlAltDel(connection),
    sendPassword: (password) => {
      connection.stop();
      connection = start(password);
    },
    close: () => connection.stop(),
  };
}

async function connect() {
  reconnectButton.disabled = true;
  passwordForm.hidden = true;
  screen.replaceChildren();
  setStatus("connecting", "Connecting…");
  try {
    session = await (kind === "spice" ? connectSpice() : connectVnc());
  } catch (error) {
    setStatus("error", `Cannot open the console: ${error.message}`);
    reconnectButton.disabled = !token;
  }
}

cadButton.addEventListener("click", () => session?.sendCtrlAltDel());
reconnectButton.addEventListener("click", () => {
  session?.close();
  connect();
});
passwordForm.addEventListener("submit", (event) => {
  event.preventDefault();
  passwordForm.hidden = true;
  session?.sendPassword(passwordInput.value);
  passwordInput.value = "";
});

document.getElementById("vm-label").textContent = `${vmName} on ${hostId}`;
if (!hostId || !vmName) {
  setStatus("error", "No VM given: open /static/console.html?host=<id>&vm=<name>");
} else {
  connect();
}
