// The call page's shared-scene view (loaded after app.js, whose state and helpers it uses): the one
// scene stream everybody stands in, each seat's name and figures under it, and switching between
// the scene and the individual tiles.
"use strict";

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
  const pc = peerConnection();
  state.scenePc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addEventListener("track", (event) => {
    if (event.track.kind === "video") $("video[data-role=scene]").srcObject = new MediaStream([event.track]);
  });
  send({ type: "subscribe", participant: "scene", sdp: await offerFor(pc) });
}

function enterMode(message) {
  const switched = state.mode !== message.mode;
  state.mode = message.mode;
  $("#mode").value = message.mode;
  if (message.layout) $("#layout").value = message.layout;
  const scene = message.mode === "scene";
  $("#scene").hidden = !scene;
  $("#tiles").hidden = scene;
  // The scene holds everyone: no tiles, but everyone's voice still (audio-only connections).
  if (switched) watchEveryoneAgain();
  if (scene) {
    placeSeats(message);
    watchScene();
  } else {
    if (state.scenePc) { state.scenePc.close(); state.scenePc = null; }
    $("[data-role=seat-labels]").replaceChildren();
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
  for (const seat of message.seats || []) showSpeaking(seat.id);
}

function describeScene(scene) {
  const parts = [`target loss ${scene.target.toFixed(3)}`, `${scene.fps.toFixed(0)} fps`];
  if (scene.latency_ms) parts.push(`${scene.latency_ms.p50.toFixed(0)} ms`);
  for (const [id, seat] of Object.entries(scene.seats || {})) {
    const label = document.querySelector(`.seat-label[data-participant-id="${CSS.escape(id)}"] [data-role=seat-overlay]`);
    if (!label) continue;
    const media = id === state.id ? { microphone: state.microphoneOn, camera: state.cameraOn } : state.media.get(id);
    const notes = mediaNotes(media).map((note) => ` · ${note}`).join("");
    if (seat.quality === null) { label.textContent = `no video${notes}`; continue; }
    // The scene matches seats on their losses averaged over a couple of seconds, not the latest frame's.
    const loss = seat.smoothed_quality ?? seat.quality;
    const matched = seat.added_loss ? ` +${seat.added_loss.toFixed(3)}`
      : loss >= scene.target - 0.0005 ? " (weakest)" : "";
    label.textContent = `loss ${loss.toFixed(3)}${matched}${seat.live ? "" : " · stalled"}${notes}`;
  }
  return parts.join(" · ");
}
