// Backdrop browser client: join a room, publish camera and microphone, show your own composite and
// every other participant's. All processing happens on the server; this page only does WebRTC.
"use strict";

const state = { ws: null, id: null, publishPc: null, viewers: new Map(), names: new Map(), stream: null };
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
    if (event.track.kind === "video") $("video[data-role=self-composite]").srcObject = new MediaStream([event.track]);
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
      setStatus(`in room ${message.room} as ${message.name}`);
      try { await publish(); } catch (error) { showError(`camera/microphone: ${error.message}`); }
      for (const p of message.participants) watch(p.id);
      break;
    }
    case "publish-answer":
      await state.publishPc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      break;
    case "subscribe-answer": {
      const pc = state.viewers.get(message.participant);
      if (pc) await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      break;
    }
    case "participant-joined":
      state.names.set(message.participant.id, message.participant.name);
      watch(message.participant.id);
      break;
    case "participant-left":
      unwatch(message.id);
      break;
    case "stats":
      for (const [id, stream] of Object.entries(message.streams)) {
        const tile = document.querySelector(`.tile[data-participant-id="${CSS.escape(id)}"]`);
        if (tile) tile.querySelector("[data-role=overlay]").textContent = describe(stream);
      }
      break;
    case "backgrounds":
      fillPicker(message.backgrounds, $("#background").value);
      break;
    case "background":
      $("#background").value = message.background;
      break;
    case "error":
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
  $("video[data-role=self-composite]").srcObject = null;
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

const params = new URLSearchParams(location.search);
if (params.get("room")) document.querySelector("input[name=room]").value = params.get("room");
if (params.get("name")) document.querySelector("input[name=name]").value = params.get("name");
if (params.get("autojoin") === "1" && params.get("room") && params.get("name")) join(params.get("room"), params.get("name"));
