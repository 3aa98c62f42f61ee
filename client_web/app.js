// Backdrop browser client: join a room, publish camera and microphone, show your own composite and
// every other participant's, or (in a shared-scene room) the one scene everybody stands in. All
// processing happens on the server; this page only does WebRTC.
"use strict";

const state = {
  ws: null, id: null, publishPc: null, viewers: new Map(), names: new Map(), stream: null,
  returned: null, // what the server sends back on the publish connection: own composite or the scene
  mode: "individual", scenePc: null,
};
const $ = (selector) => document.querySelector(selector);

function setStatus(text) { $("#status").textContent = text; }
function showError(text) { const e = $("#error"); e.textContent = text; e.hidden = !text; }

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

// aiortc takes no trickled candidates: offer only once gathering is complete (or after a timeout).
function gatheringComplete(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs);
  });
}

async function offerFor(pc) {
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  return pc.localDescription.sdp;
}

async function publish() {
  state.stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } }, audio: true,
  });
  const pc = new RTCPeerConnection();
  state.publishPc = pc;
  const [video] = state.stream.getVideoTracks();
  pc.addTransceiver(video, { direction: "sendrecv", streams: [state.stream] });
  for (const audio of state.stream.getAudioTracks()) pc.addTransceiver(audio, { direction: "sendonly", streams: [state.stream] });
  pc.addEventListener("track", (event) => {
    if (event.track.kind !== "video") return;
    state.returned = new MediaStream([event.track]);
    showReturned();
  });
  pc.addEventListener("connectionstatechange", () => setStatus(`publishing: ${pc.connectionState}`));
  send({ type: "publish", sdp: await offerFor(pc) });
}

function tileFor(id) {
  let tile = document.querySelector(`.tile[data-participant-id="${CSS.escape(id)}"]`);
  if (!tile) {
    const name = state.names.get(id) || id;
    tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.participantId = id;
    const video = document.createElement("video");
    video.dataset.role = "remote";
    video.dataset.participant = name;
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement("figcaption");
    caption.innerHTML = '<span class="name"></span> <span class="overlay" data-role="overlay"></span>';
    caption.querySelector(".name").textContent = name;
    tile.append(video, caption);
    $("#tiles").append(tile);
  }
  return tile;
}

async function watch(id) {
  if (state.viewers.has(id)) return;
  const pc = new RTCPeerConnection();
  state.viewers.set(id, pc);
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const media = new MediaStream();
  pc.addEventListener("track", (event) => {
    media.addTrack(event.track);
    const video = tileFor(id).querySelector("video");
    if (video.srcObject !== media) video.srcObject = media;
  });
  tileFor(id);
  send({ type: "subscribe", participant: id, sdp: await offerFor(pc) });
}

function unwatch(id) {
  const pc = state.viewers.get(id);
  if (pc) pc.close();
  state.viewers.delete(id);
  const tile = document.querySelector(`.tile[data-participant-id="${CSS.escape(id)}"]`);
  if (tile) tile.remove();
}

function describe(stream) {
  if (!stream) return "";
  const parts = [];
  if (stream.quality !== null && stream.quality !== undefined) parts.push(`loss ${stream.quality.toFixed(3)}`);
  const d = stream.degradation || {};
  if (d.method) parts.push(`bg ${d.method} ${d.parameter}${d.blur_sigma ? ` +blur ${d.blur_sigma.toFixed(2)}` : ""}`);
  else if (d.blur_sigma) parts.push(`bg blur ${d.blur_sigma.toFixed(2)}`);
  parts.push(`${stream.fps.toFixed(0)} fps`);
  if (stream.latency_ms) parts.push(`${stream.latency_ms.p50.toFixed(0)} ms`);
  return parts.join(" · ");
}

// The publish connection's returned video is the own composite, or the scene in scene mode.
function showReturned() {
  if (!state.returned) return;
  const target = state.mode === "scene" ? "video[data-role=scene]" : "video[data-role=self-composite]";
  const other = state.mode === "scene" ? "video[data-role=self-composite]" : "video[data-role=scene]";
  if ($(other).srcObject === state.returned) $(other).srcObject = null;
  if ($(target).srcObject !== state.returned) $(target).srcObject = state.returned;
}

// Without a camera there is no publish connection: watch the scene on a receive-only one.
async function watchScene() {
  if (state.returned || state.scenePc) return;
  const pc = new RTCPeerConnection();
  state.scenePc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addEventListener("track", (event) => {
    if (event.track.kind === "video") $("video[data-role=scene]").srcObject = new MediaStream([event.track]);
  });
  send({ type: "subscribe", participant: "scene", sdp: await offerFor(pc) });
}

function enterMode(message) {
  state.mode = message.mode;
  $("#mode").value = message.mode;
  if (message.layout) $("#layout").value = message.layout;
  const scene = message.mode === "scene";
  $("#scene").hidden = !scene;
  $("#tiles").hidden = scene;
  if (scene) {
    for (const id of [...state.viewers.keys()]) unwatch(id); // the scene holds everyone: no tiles needed
    placeSeats(message);
    watchScene();
  } else {
    if (state.scenePc) { state.scenePc.close(); state.scenePc = null; }
    $("[data-role=seat-labels]").replaceChildren();
    for (const id of state.names.keys()) watch(id);
  }
  showReturned();
}

// Each participant's name under their seat; the stats fill in each seat's quality.
function placeSeats(message) {
  const labels = (message.seats || []).map((seat) => {
    const label = document.createElement("div");
    label.className = "seat-label";
    label.dataset.role = "seat-label";
    label.dataset.participantId = seat.id;
    label.style.left = `${(seat.box.x + seat.box.width / 2) * 100}%`;
    label.style.top = `${(seat.box.y + seat.box.height) * 100}%`;
    label.innerHTML = '<span class="name"></span><span class="overlay" data-role="seat-overlay"></span>';
    label.querySelector(".name").textContent = seat.id === state.id ? `${seat.name} (you)` : seat.name;
    return label;
  });
  $("[data-role=seat-labels]").replaceChildren(...labels);
}

function describeScene(scene) {
  const parts = [`target loss ${scene.target.toFixed(3)}`, `${scene.fps.toFixed(0)} fps`];
  if (scene.latency_ms) parts.push(`${scene.latency_ms.p50.toFixed(0)} ms`);
  for (const [id, seat] of Object.entries(scene.seats || {})) {
    const label = document.querySelector(`.seat-label[data-participant-id="${CSS.escape(id)}"] [data-role=seat-overlay]`);
    if (!label) continue;
    if (seat.quality === null) { label.textContent = "no video"; continue; }
    // The scene matches seats on their losses averaged over a couple of seconds, not the latest frame's.
    const loss = seat.smoothed_quality ?? seat.quality;
    const matched = seat.added_loss ? ` +${seat.added_loss.toFixed(3)}`
      : loss >= scene.target - 0.0005 ? " (weakest)" : "";
    label.textContent = `loss ${loss.toFixed(3)}${matched}${seat.live ? "" : " · stalled"}`;
  }
  return parts.join(" · ");
}

function fillPicker(backgrounds, selected) {
  $("#background").replaceChildren(...backgrounds.map((b) => new Option(b.name, b.id, false, b.id === selected)));
}

async function onMessage(event) {
  const message = JSON.parse(event.data);
  switch (message.type) {
    case "joined": {
      state.id = message.id;
      $(".tile.self").dataset.participantId = message.id;
      fillPicker(message.backgrounds, message.background);
      for (const p of message.participants) state.names.set(p.id, p.name);
      $("#join-form").hidden = true;
      $("#call").hidden = false;
      $("#mode").disabled = $("#layout").disabled = !message.participants_set_mode;
      state.mode = message.mode || "individual";
      $("#mode").value = state.mode;
      if (message.layout) $("#layout").value = message.layout;
      setStatus(`in room ${message.room} as ${message.name}`);
      try { await publish(); } catch (error) { showError(`camera/microphone: ${error.message}`); }
      if (state.mode === "individual") for (const p of message.participants) watch(p.id);
      break;
    }
    case "scene":
      enterMode(message);
      break;
    case "publish-answer":
      await state.publishPc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      break;
    case "subscribe-answer": {
      const pc = message.participant === "scene" ? state.scenePc : state.viewers.get(message.participant);
      if (pc) await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      break;
    }
    case "participant-joined":
      state.names.set(message.participant.id, message.participant.name);
      if (state.mode === "individual") watch(message.participant.id);
      break;
    case "participant-left":
      state.names.delete(message.id);
      unwatch(message.id);
      break;
    case "stats":
      for (const [id, stream] of Object.entries(message.streams)) {
        const tile = document.querySelector(`.tile[data-participant-id="${CSS.escape(id)}"]`);
        if (tile) tile.querySelector("[data-role=overlay]").textContent = describe(stream);
      }
      if (message.scene) $("[data-role=scene-overlay]").textContent = describeScene(message.scene);
      break;
    case "backgrounds":
      fillPicker(message.backgrounds, $("#background").value);
      break;
    case "background":
      $("#background").value = message.background;
      break;
    case "error":
      if (message.request === "mode") { $("#mode").value = state.mode; }
      showError(`${message.error}: ${message.detail}`);
      break;
  }
}

function join(room, name) {
  showError("");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  state.ws = new WebSocket(`${scheme}://${location.host}/ws`);
  const token = new URLSearchParams(location.search).get("token");
  state.ws.addEventListener("open", () => send({ type: "join", room, name, ...(token ? { token } : {}) }));
  state.ws.addEventListener("message", (event) => onMessage(event).catch((error) => showError(error.message)));
  state.ws.addEventListener("close", () => { setStatus("disconnected"); teardown(); });
}

function teardown() {
  for (const id of [...state.viewers.keys()]) unwatch(id);
  if (state.publishPc) state.publishPc.close();
  state.publishPc = null;
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  if (state.scenePc) state.scenePc.close();
  state.scenePc = null;
  state.returned = null;
  state.names.clear();
  $("video[data-role=self-composite]").srcObject = null;
  $("video[data-role=scene]").srcObject = null;
  $("#scene").hidden = true;
  $("#tiles").hidden = false;
  state.mode = "individual";
  $("#call").hidden = true;
  $("#join-form").hidden = false;
}

$("#join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  join(String(form.get("room")), String(form.get("name")));
});
$("#leave").addEventListener("click", () => { send({ type: "leave" }); if (state.ws) state.ws.close(); teardown(); });
$("#background").addEventListener("change", (event) => send({ type: "background", background: event.target.value }));
$("#statistic").addEventListener("change", (event) => send({ type: "statistic", statistic: event.target.value }));
$("#mode").addEventListener("change", () => send({ type: "mode", mode: $("#mode").value, layout: $("#layout").value }));
$("#layout").addEventListener("change", () => {
  if (state.mode === "scene") send({ type: "mode", mode: "scene", layout: $("#layout").value });
});

const params = new URLSearchParams(location.search);
if (params.get("room")) document.querySelector("input[name=room]").value = params.get("room");
if (params.get("name")) document.querySelector("input[name=name]").value = params.get("name");
if (params.get("autojoin") === "1" && params.get("room") && params.get("name")) join(params.get("room"), params.get("name"));
