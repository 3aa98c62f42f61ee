// A WHEP player: one receive-only peer connection, one POST of the offer, DELETE on leaving.
"use strict";

const params = new URLSearchParams(location.search);
const room = params.get("room");
const participant = params.get("participant");
const view = params.get("view");
const token = params.get("token");
const status = (text) => { document.querySelector("#status").textContent = text; };
const fail = (text) => { const e = document.querySelector("#error"); e.textContent = text; e.hidden = false; status("failed"); };
let session = null;

function gatheringComplete(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
    setTimeout(resolve, timeoutMs);
  });
}

async function play() {
  if (!room || (!participant && view !== "scene")) throw new Error("give ?room=ROOM&participant=NAME (or &view=scene)");
  document.querySelector("[data-role=whep-participant]").textContent = view === "scene" ? `${room} (scene)` : `${participant} in ${room}`;
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const media = new MediaStream();
  pc.addEventListener("track", (event) => { media.addTrack(event.track); document.querySelector("#player").srcObject = media; });
  pc.addEventListener("connectionstatechange", () => status(pc.connectionState));
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  const query = new URLSearchParams(view === "scene" ? { view: "scene" } : { participant });
  const headers = { "Content-Type": "application/sdp" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`/whep/${encodeURIComponent(room)}?${query}`, { method: "POST", headers, body: pc.localDescription.sdp });
  if (response.status !== 201) {
    let detail = await response.text();
    try { const data = JSON.parse(detail); detail = `${data.error}: ${data.detail}`; } catch { /* plain text */ }
    throw new Error(`WHEP ${response.status}: ${detail}`);
  }
  session = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
}

window.addEventListener("pagehide", () => {
  if (session) fetch(session, { method: "DELETE", keepalive: true, headers: token ? { Authorization: `Bearer ${token}` } : {} });
});
play().catch((error) => fail(error.message));
