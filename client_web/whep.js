// A WHEP player: one receive-only peer connection, one POST of the offer, DELETE on leaving. A
// broadcast that is not live yet, ends, or whose connection fails is waited for and played again,
// with backoff; a refused request (bad token, bad address) stops and says why. Loaded after peering.js.
"use strict";

const params = new URLSearchParams(location.search);
const room = params.get("room");
const participant = params.get("participant");
const view = params.get("view");
const token = params.get("token");
// Answers worth waiting out: nobody of that name yet (404), not a scene room yet or they just left
// (409), the server restarting or overloaded (5xx).
const RETRIED_STATUSES = new Set([404, 409, 500, 502, 503, 504]);
// `connection` (connecting, connected, waiting, failed) goes to the status line's data-connection.
const status = (text, connection) => {
  const element = document.querySelector("#status");
  element.textContent = text;
  if (connection) element.dataset.connection = connection;
};
const fail = (text) => { const e = document.querySelector("#error"); e.textContent = text; e.hidden = false; status("failed", "failed"); };
const player = { pc: null, session: null, attempt: 0, retryTimer: null };

class Retryable extends Error {}

function authorization() { return token ? { Authorization: `Bearer ${token}` } : {}; }

// The STUN/TURN servers the endpoint offers, read from its OPTIONS answer's Link headers (RFC 9725's
// format) before the offer is made; none if it offers none or cannot be asked.
async function iceServers() {
  let links = "";
  try {
    const response = await fetch(`/whep/${encodeURIComponent(room)}`, { method: "OPTIONS", headers: authorization() });
    links = response.headers.get("Link") || "";
  } catch { return []; }
  const servers = [];
  for (const [, url, rest] of links.matchAll(/<([^>]+)>([^<]*)/g)) {
    const fields = Object.fromEntries([...rest.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, key, value]) => [key, value]));
    if (fields.rel !== "ice-server") continue;
    servers.push({ urls: [url], ...(fields.username ? { username: fields.username, credential: fields.credential } : {}) });
  }
  return servers;
}

async function play() {
  player.retryTimer = null;
  status(player.attempt ? "reconnecting" : "connecting", "connecting");
  const pc = newPeerConnection(await iceServers()); // peering.js: ?relay=1 plays through TURN only
  player.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const media = new MediaStream();
  pc.addEventListener("track", (event) => {
    media.addTrack(event.track);
    document.querySelector("#player").srcObject = media;
    if (event.track.kind === "audio") showUnmute();
  });
  pc.addEventListener("connectionstatechange", () => {
    if (player.pc !== pc) return;
    if (pc.connectionState === "connected") player.attempt = 0;
    if (pc.connectionState === "failed" || pc.connectionState === "closed") retry("the connection ended");
    else status(pc.connectionState, pc.connectionState === "connected" ? "connected" : "connecting");
  });
  // The server ending the session (the participant left, the broadcast stopped) closes DTLS.
  const [receiver] = pc.getReceivers();
  receiver.transport?.addEventListener("statechange", () => {
    if (player.pc === pc && receiver.transport.state === "closed") retry("the broadcast ended");
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  const query = new URLSearchParams(view === "scene" ? { view: "scene" } : { participant });
  const headers = { "Content-Type": "application/sdp", ...authorization() };
  let response;
  try {
    response = await fetch(`/whep/${encodeURIComponent(room)}?${query}`, { method: "POST", headers, body: pc.localDescription.sdp });
    // In a cluster another node may host the room (307 there); browsers drop the Authorization header
    // on a redirect to another origin, so a refused redirected offer is made again where it landed.
    if (response.redirected && response.status === 401 && token) {
      response = await fetch(response.url, { method: "POST", headers, body: pc.localDescription.sdp });
    }
  } catch (error) {
    throw new Retryable(`the server cannot be reached (${error.message})`);
  }
  if (response.status !== 201) {
    let detail = await response.text();
    try { const data = JSON.parse(detail); detail = `${data.error}: ${data.detail}`; } catch { /* plain text */ }
    const message = `WHEP ${response.status}: ${detail}`;
    throw RETRIED_STATUSES.has(response.status) ? new Retryable(message) : new Error(message);
  }
  player.session = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
}

// Drop the current connection and play again after a backoff delay.
function retry(reason) {
  if (player.retryTimer) return;
  const pc = player.pc;
  player.pc = null;
  if (pc) pc.close();
  endSession();
  const delay = retryDelaySeconds(player.attempt);
  player.attempt += 1;
  status(`waiting: ${reason}; retrying in ${delay.toFixed(0)} s`, "waiting");
  player.retryTimer = setTimeout(start, delay * 1000);
}

// The player starts muted (browsers refuse sound before the user does something); a button offers it.
function showUnmute() {
  document.querySelector("[data-role=unmute]").hidden = !document.querySelector("#player").muted;
}

function endSession() {
  if (player.session) fetch(player.session, { method: "DELETE", keepalive: true, headers: authorization() }).catch(() => {});
  player.session = null;
}

function start() {
  play().catch((error) => (error instanceof Retryable ? retry(error.message) : fail(error.message)));
}

window.addEventListener("pagehide", endSession);
document.querySelector("[data-role=unmute]").addEventListener("click", () => {
  document.querySelector("#player").muted = false;
  showUnmute();
});
document.querySelector("#player").addEventListener("volumechange", showUnmute); // the native controls too
if (!room || (!participant && view !== "scene")) {
  fail("give ?room=ROOM&participant=NAME (or &view=scene)");
} else {
  document.querySelector("[data-role=whep-participant]").textContent = view === "scene" ? `${room} (scene)` : `${participant} in ${room}`;
  start();
}
