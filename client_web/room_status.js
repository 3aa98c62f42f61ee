// The call page's status marks (loaded before app.js, whose state and helpers they use when called):
// each tile's microphone and camera state, the user's own Mute / Stop camera buttons, who is speaking,
// and what a moderator is recording.
"use strict";

// A tile's microphone and camera state: data-microphone / data-camera ("on" or "off") and a caption.
function markMedia(tile, media) {
  tile.dataset.microphone = media.microphone ? "on" : "off";
  tile.dataset.camera = media.camera ? "on" : "off";
  tile.querySelector("[data-role=media-state]").textContent = mediaNotes(media).join(" · ");
}

// What is off of a participant's microphone and camera, in words.
function mediaNotes(media) {
  if (!media) return [];
  return [media.microphone ? "" : "muted", media.camera ? "" : "camera off"].filter(Boolean);
}

// Another participant's state as the server relays it (the self tile follows the buttons instead).
function showMedia(id) {
  const tile = document.querySelector(`.tile[data-participant-id="${CSS.escape(id)}"]:not(.self)`);
  const media = state.media.get(id);
  if (tile && media) markMedia(tile, media);
}

// The user's buttons act on the tracks (a disabled track sends silence or black) and tell the room.
function applyOwnMedia() {
  if (state.stream) {
    for (const track of state.stream.getAudioTracks()) track.enabled = state.microphoneOn;
    for (const track of state.stream.getVideoTracks()) track.enabled = state.cameraOn;
  }
  $("#microphone").setAttribute("aria-pressed", String(!state.microphoneOn));
  $("#microphone").textContent = state.microphoneOn ? "Mute" : "Unmute";
  $("#camera").setAttribute("aria-pressed", String(!state.cameraOn));
  $("#camera").textContent = state.cameraOn ? "Stop camera" : "Start camera";
  markMedia($(".tile.self"), { microphone: state.microphoneOn, camera: state.cameraOn });
}

// Everyone in the room is told what a moderator records: "you", others by name, or the scene.
function showRecording(sources) {
  const indicator = $("[data-role=recording-indicator]");
  const names = sources.map((source) => (source === state.id ? "you" : source === "scene" ? "the scene"
    : state.names.get(source) || "a participant"));
  indicator.textContent = names.length ? `● Recording ${names.join(", ")}` : "";
  indicator.dataset.sources = sources.join(" ");
  indicator.hidden = !names.length;
}

function showSpeaking(id) {
  const speaking = String(state.speaking.get(id) === true);
  for (const element of document.querySelectorAll(`[data-participant-id="${CSS.escape(id)}"]:is(.tile, .seat-label)`)) {
    element.dataset.speaking = speaking;
  }
}

function toggleMedia(kind) {
  if (kind === "microphone") state.microphoneOn = !state.microphoneOn;
  else state.cameraOn = !state.cameraOn;
  applyOwnMedia();
  send({ type: "media", microphone: state.microphoneOn, camera: state.cameraOn });
}
