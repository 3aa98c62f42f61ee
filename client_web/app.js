// Backdrop browser client: join a room, publish camera and microphone, show your own composite and
// every other participant's, or (in a shared-scene room) the one scene everybody stands in. All
// processing happens on the server; this page only does WebRTC. A lost connection (the server
// restarted, the network dropped, the media connection failed) is rejoined on its own, with backoff,
// until the user leaves. Loaded after peering.js (shared with the WHEP player) and room_status.js (the
// marks on tiles: muted, speaking, recorded), before background_picker.js and scene_view.js.
"use strict";

const state = {
  ws: null, id: null, publishPc: null, viewers: new Map(), names: new Map(), stream: null,
  returned: null, // what the server sends back on the publish connection: own composite or the scene
  mode: "individual", scenePc: null,
  call: null, // {room, name} the user joined and has not left: what a lost connection rejoins
  attempt: 0, // reconnection attempts since the last successful join
  retryTimer: null,
  choices: {}, // background (or their own picture) and statistic the user picked, applied again after a reconnection
  ownPictureKey: null, // the key the server gave the user's own picture in this session
  microphoneOn: true, cameraOn: true, // the user's mute and camera buttons
  media: new Map(), // participant id -> {microphone, camera}, as the server relays them
  speaking: new Map(), // participant id -> whether they are speaking (own id included), as the server says
  iceServers: [], // STUN/TURN servers the server gave with the join (TURN with our own credentials)
};
const $ = (selector) => document.querySelector(selector);
// Refused joins worth waiting out, tried again with backoff (the status line says why): a cluster that
// cannot place the room now (its Redis out of reach), a server (a cluster) that takes no one more.
const JOIN_ERRORS_WAITED_OUT = {
  placement_unavailable: "the room cannot be placed now",
  server_full: "the server is full",
};

// The status line; `connection` (joining, connected, reconnecting, disconnected) goes to its
// data-connection attribute for scripts and tests.
function setStatus(text, connection) {
  const status = $("#status");
  status.textContent = text;
  if (connection) status.dataset.connection = connection;
}
function showError(text) { const e = $("#error"); e.textContent = text; e.hidden = !text; }

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

// Every connection uses the ICE servers the join gave (peering.js: ?relay=1 forces their relays).
function peerConnection() { return newPeerConnection(state.iceServers); }

async function offerFor(pc) {
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  return pc.localDescription.sdp;
}

async function publish() {
  // A reconnection keeps the camera that is already open: no new permission prompt, no flash.
  if (!state.stream || state.stream.getTracks().some((track) => track.readyState === "ended")) {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } }, audio: true,
    });
  }
  applyOwnMedia();
  const pc = peerConnection();
  state.publishPc = pc;
  const [video] = state.stream.getVideoTracks();
  pc.addTransceiver(video, { direction: "sendrecv", streams: [state.stream] });
  for (const audio of state.stream.getAudioTracks()) pc.addTransceiver(audio, { direction: "sendonly", streams: [state.stream] });
  pc.addEventListener("track", (event) => {
    if (event.track.kind !== "video") return;
    state.returned = new MediaStream([event.track]);
    showReturned();
  });
  pc.addEventListener("connectionstatechange", () => {
    if (state.publishPc !== pc) return;
    if (pc.connectionState === "failed") connectionLost("the media connection failed");
    else setStatus(`publishing: ${pc.connectionState}`, pc.connectionState === "connected" ? "connected" : undefined);
  });
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
    caption.innerHTML = '<span class="name"><span class="label"></span> <span class="media" data-role="media-state"></span></span>'
      + ' <span class="overlay" data-role="overlay"></span>';
    caption.querySelector(".label").textContent = name;
    tile.append(video, caption);
    $("#tiles").append(tile);
    showMedia(id);
    showSpeaking(id);
  }
  return tile;
}

// Another participant: their composite and voice in a tile or, in scene mode (the scene shows
// everyone), their voice alone.
async function watch(id) {
  if (state.viewers.has(id)) return;
  const pc = peerConnection();
  state.viewers.set(id, pc);
  const voiceOnly = state.mode === "scene";
  if (!voiceOnly) pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const media = new MediaStream();
  pc.addEventListener("track", (event) => {
    media.addTrack(event.track);
    const player = voiceOnly ? voiceFor(id) : tileFor(id).querySelector("video");
    if (player.srcObject !== media) player.srcObject = media;
  });
  // One participant's failed connection is opened again on its own; the rest of the call goes on.
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState !== "failed" || state.viewers.get(id) !== pc) return;
    unwatch(id);
    setTimeout(() => { if (state.names.has(id)) watch(id); }, 1000);
  });
  if (voiceOnly) voiceFor(id); else tileFor(id);
  send({ type: "subscribe", participant: id, sdp: await offerFor(pc) });
}

function voiceFor(id) {
  let audio = document.querySelector(`audio[data-role=voice][data-participant-id="${CSS.escape(id)}"]`);
  if (!audio) {
    audio = document.createElement("audio");
    audio.dataset.role = "voice";
    audio.dataset.participantId = id;
    audio.autoplay = true;
    $("[data-role=voices]").append(audio);
  }
  return audio;
}

function unwatch(id) {
  const pc = state.viewers.get(id);
  if (pc) pc.close();
  state.viewers.delete(id);
  for (const element of document.querySelectorAll(`[data-participant-id="${CSS.escape(id)}"]:is(.tile, [data-role=voice])`)) {
    element.remove();
  }
}

// After a switch between tiles and the scene: every other participant again, as the new mode wants.
function watchEveryoneAgain() {
  for (const id of [...state.viewers.keys()]) unwatch(id);
  for (const id of state.names.keys()) watch(id);
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

// What the room lets its participants change (joined, room-settings): the controls it does not are off.
function applyRoomRights(rights) {
  $("#mode").disabled = $("#layout").disabled = !rights.participants_set_mode;
  $("#background").disabled = $("#own-picture").disabled = !rights.participants_set_background;
}

// Another participant as the server describes them: their name, microphone and camera.
function remember(participant) {
  state.names.set(participant.id, participant.name);
  state.media.set(participant.id, { microphone: participant.microphone !== false, camera: participant.camera !== false });
}

async function onMessage(event) {
  const message = JSON.parse(event.data);
  switch (message.type) {
    case "joined": {
      state.attempt = 0;
      state.redirects = 0;
      $("[data-role=status]").dataset.node = state.call.node || location.origin; // which node hosts the call
      state.id = message.id;
      state.iceServers = message.ice_servers || [];
      $(".tile.self").dataset.participantId = message.id;
      state.ownPictureKey = null; // the server forgot the user's own picture with the last session
      fillPicker(message.backgrounds, state.choices.background || message.background);
      for (const p of message.participants) remember(p);
      $("#join-form").hidden = true;
      $("#call").hidden = false;
      applyRoomRights(message);
      state.mode = message.mode || "individual";
      $("#mode").value = state.mode;
      if (message.layout) $("#layout").value = message.layout;
      setStatus(`in room ${message.room} as ${message.name}`, "connected");
      showError("");
      restoreBackground(message.background);
      if (state.choices.statistic) send({ type: "statistic", statistic: state.choices.statistic });
      if (!state.microphoneOn || !state.cameraOn) {
        send({ type: "media", microphone: state.microphoneOn, camera: state.cameraOn });
      }
      try { await publish(); } catch (error) { showError(`camera/microphone: ${error.message}`); }
      for (const p of message.participants) watch(p.id);
      showRecording(message.recording || []);
      break;
    }
    case "redirect":
      // A cluster: the room is hosted by another node (the answer to our join, or mid-call when the
      // room moved); join there, the camera open. A failed connection starts again from this page's
      // own node, which knows where the room is by then.
      state.redirects = (state.redirects || 0) + 1;
      if (state.redirects > 3) { endCall("could not join: the cluster kept redirecting"); break; }
      state.call.node = message.url;
      state.ws = null;
      event.target.close();
      closeConnections();
      connect();
      break;
    case "left":
      // Without a reason it confirms our leave. "removed": a moderator took us out, so we stay out;
      // any other reason (our media connection ended): rejoin.
      if (message.reason === "removed") {
        showError("A moderator removed you from the room.");
        endCall("removed by a moderator");
      } else if (message.reason) {
        connectionLost(`removed from the room (${message.reason})`);
      }
      break;
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
      remember(message.participant);
      watch(message.participant.id);
      break;
    case "participant-media":
      state.media.set(message.id, { microphone: message.microphone, camera: message.camera });
      if (message.id === state.id && message.by === "moderator") { // our own changes are applied already
        state.microphoneOn = message.microphone;
        state.cameraOn = message.camera;
        applyOwnMedia();
      }
      showMedia(message.id);
      break;
    case "recording":
      showRecording(message.sources);
      break;
    case "participant-speaking":
      // The tile (own included) and, in a scene, the seat label of whoever speaks light up.
      state.speaking.set(message.id, message.speaking);
      showSpeaking(message.id);
      break;
    case "participant-left":
      state.names.delete(message.id);
      state.media.delete(message.id);
      state.speaking.delete(message.id);
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
    case "own-background":
      ownPictureTaken(message);
      break;
    case "room-settings":
      applyRoomRights(message);
      break;
    case "error":
      if (message.request === "mode") { $("#mode").value = state.mode; }
      showError(`${message.error}: ${message.detail}`);
      if (message.request !== "join") break;
      if (message.error in JOIN_ERRORS_WAITED_OUT) connectionLost(JOIN_ERRORS_WAITED_OUT[message.error]);
      else endCall(`could not join: ${message.error}`); // any other refused join stays refused
      break;
  }
}

function join(room, name) {
  showError("");
  endCall();
  state.call = { room, name };
  state.attempt = 0;
  state.choices = {};
  state.microphoneOn = state.cameraOn = true;
  applyOwnMedia();
  connect();
}

// Open the signaling socket and join state.call's room; every event of a replaced socket is ignored.
function connect() {
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  const { room, name } = state.call;
  // In a cluster the room may live on another node, which the first node named (a redirect).
  const node = state.call.node ? new URL(state.call.node) : location;
  const scheme = node.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${node.host}/ws`);
  state.ws = ws;
  setStatus(state.attempt ? `reconnecting to room ${room}...` : `joining room ${room}...`,
    state.attempt ? "reconnecting" : "joining");
  const token = new URLSearchParams(location.search).get("token");
  ws.addEventListener("open", () => send({ type: "join", room, name, ...(token ? { token } : {}) }));
  ws.addEventListener("message", (event) => {
    if (state.ws === ws) onMessage(event).catch((error) => showError(error.message));
  });
  ws.addEventListener("close", () => { if (state.ws === ws) connectionLost("the connection to the server closed"); });
}

// The call's connections are gone: close what is left of them and, unless the user has left, try
// again after a backoff delay (the call's view stays, with the camera open).
function connectionLost(reason) {
  if (state.call) state.call.node = null;
  const ws = state.ws;
  state.ws = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
  closeConnections();
  if (!state.call) { endCall(); return; }
  const delay = retryDelaySeconds(state.attempt);
  state.attempt += 1;
  setStatus(`${reason}: reconnecting in ${delay.toFixed(0)} s (attempt ${state.attempt})`, "reconnecting");
  state.retryTimer = setTimeout(connect, delay * 1000);
}

// Leave for good: no reconnection, camera off, back to the join form.
function endCall(status = "disconnected") {
  state.call = null;
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  const ws = state.ws;
  state.ws = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
  closeConnections();
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $("#call").hidden = true;
  $("#join-form").hidden = false;
  setStatus(status, "disconnected");
}

// Close every peer connection and empty the views; the camera stays open.
function closeConnections() {
  for (const id of [...state.viewers.keys()]) unwatch(id);
  if (state.publishPc) state.publishPc.close();
  state.publishPc = null;
  if (state.scenePc) state.scenePc.close();
  state.scenePc = null;
  state.returned = null;
  state.names.clear();
  state.media.clear();
  state.speaking.clear();
  showRecording([]);
  $("video[data-role=self-composite]").srcObject = null;
  $("video[data-role=scene]").srcObject = null;
  $("#scene").hidden = true;
  $("#tiles").hidden = false;
  $("[data-role=seat-labels]").replaceChildren();
  state.mode = "individual";
}

$("#join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  join(String(form.get("room")), String(form.get("name")));
});
$("#microphone").addEventListener("click", () => toggleMedia("microphone"));
$("#camera").addEventListener("click", () => toggleMedia("camera"));
$("#leave").addEventListener("click", () => { send({ type: "leave" }); endCall(); });
$("#statistic").addEventListener("change", (event) => {
  state.choices.statistic = event.target.value;
  send({ type: "statistic", statistic: event.target.value });
});
// Back online: do not wait out the backoff.
window.addEventListener("online", () => { if (state.call && state.retryTimer) connect(); });
$("#mode").addEventListener("change", () => send({ type: "mode", mode: $("#mode").value, layout: $("#layout").value }));
$("#layout").addEventListener("change", () => {
  if (state.mode === "scene") send({ type: "mode", mode: "scene", layout: $("#layout").value });
});

const params = new URLSearchParams(location.search);
if (params.get("room")) document.querySelector("input[name=room]").value = params.get("room");
if (params.get("name")) document.querySelector("input[name=name]").value = params.get("name");
if (params.get("autojoin") === "1" && params.get("room") && params.get("name")) join(params.get("room"), params.get("name"));
