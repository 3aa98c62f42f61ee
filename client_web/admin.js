// Backdrop admin page: uploads, thumbnails, deletes, room assignment, a live rooms view with moderation
// and recordings, all through the admin API with the bearer token the admin enters (kept for this
// browser tab only).
"use strict";

const $ = (selector) => document.querySelector(selector);
const BUILTINS = [{ id: "", name: "server default" }, { id: "builtin:studio", name: "Studio (built-in)" },
  { id: "builtin:lights", name: "Evening lights (built-in)" },
  { id: "builtin:blur", name: "Blur my room (each participant's own room, blurred)" }];
let token = sessionStorage.getItem("backdrop-admin-token") || "";
let roomsTimer = null;
const backgroundNames = new Map(BUILTINS.filter((b) => b.id).map((b) => [b.id, b.name]));

function showError(text) { const e = $("#error"); e.textContent = text; e.hidden = !text; }
function setStatus(text) { $("#status").textContent = text; }

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const data = await response.json();
  if (!response.ok) throw new Error(`${data.error}: ${data.detail}`);
  return data;
}

async function refreshBackgrounds() {
  const list = await call("GET", "/api/backgrounds");
  const grid = $("#backgrounds");
  grid.replaceChildren(...list.map((b) => {
    const card = document.createElement("figure");
    card.className = "thumb";
    card.dataset.backgroundId = b.id;
    const img = document.createElement("img");
    img.src = `/api/backgrounds/${b.id}/image?width=240`;
    img.alt = b.name;
    const caption = document.createElement("figcaption");
    caption.textContent = `${b.name} · ${b.width}×${b.height} · ${(b.bytes / 1024).toFixed(0)} KB`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.dataset.role = "delete";
    remove.addEventListener("click", () => deleteBackground(b).catch((error) => showError(error.message)));
    card.append(img, caption, remove);
    return card;
  }));
  for (const b of list) backgroundNames.set(b.id, b.name);
  const picker = $("#room-background");
  const current = picker.value;
  picker.replaceChildren(...[...BUILTINS, ...list].map((b) => new Option(b.name, b.id)));
  picker.value = [...picker.options].some((o) => o.value === current) ? current : "";
}

async function deleteBackground(background) {
  if (!confirm(`Delete "${background.name}"? Rooms and participants using it fall back to the default.`)) return;
  await call("DELETE", `/api/backgrounds/${background.id}`);
  await refreshBackgrounds();
}

function upload(file, name) {
  const form = new FormData();
  form.append("file", file);
  if (name) form.append("name", name);
  const progress = $("#upload-progress");
  progress.hidden = false;
  progress.value = 0;
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/backgrounds");
    request.setRequestHeader("Authorization", `Bearer ${token}`);
    request.upload.addEventListener("progress", (event) => { if (event.lengthComputable) progress.value = event.loaded / event.total; });
    request.addEventListener("load", () => {
      progress.hidden = true;
      let data = {};
      try { data = JSON.parse(request.responseText); } catch { /* not JSON */ }
      if (request.status === 201) resolve(data);
      else reject(new Error(`${data.error || request.status}: ${data.detail || request.statusText}`));
    });
    request.addEventListener("error", () => { progress.hidden = true; reject(new Error("upload failed (connection)")); });
    request.send(form);
  });
}

async function refreshRooms() {
  const rooms = await call("GET", "/api/rooms");
  const rows = [];
  for (const room of rooms) {
    const people = room.participants.length ? room.participants : [null];
    for (const p of people) {
      const row = document.createElement("tr");
      row.dataset.room = room.room;
      const label = (id) => (!id ? "default" : id.startsWith("own:") ? "their own picture" : backgroundNames.get(id) || id);
      const cells = p === null ? [room.room, "(empty)", label(room.background_id), room.statistic || "default", "", "", "", ""] : [
        room.mode === "scene" ? `${room.room} (scene: ${room.layout})` : room.room, p.name, label(p.background_id), p.statistic,
        p.quality === null ? "–" : p.quality.toFixed(3), p.stream.fps.toFixed(0),
        p.stream.latency_ms ? `${p.stream.latency_ms.p50.toFixed(0)} ms` : "–", String(p.stream.viewers)];
      row.replaceChildren(...cells.map(textCell));
      row.dataset.node = room.node;
      if (p && !room.this) {
        // Another node hosts the room: what is asked of it is asked of that node, from its own page.
        row.dataset.participant = p.name;
        row.append(elsewhere(room));
      } else if (p) {
        row.dataset.participant = p.name;
        const cell = moderation(room.room, p);
        if (room.mode === "scene" && p === people[0]) {
          button(cell, "Record scene", "record-scene",
            () => call("POST", `/api/rooms/${encodeURIComponent(room.room)}/recordings`, { view: "scene" }));
        }
        row.append(cell);
      }
      rows.push(row);
    }
  }
  $("#rooms-body").replaceChildren(...rows);
  await refreshNodes();
  await refreshRecordings();
}

// The actions cell of a room or recording another node has: a link to that node's own admin page.
function elsewhere(item) {
  const cell = document.createElement("td");
  const link = document.createElement("a");
  link.href = `${item.node_url}/admin`;
  link.textContent = `on ${item.node_url}`;
  link.dataset.role = "node-link";
  cell.append(link);
  return cell;
}

// The cluster's live nodes (this one alone without a cluster); another node's own admin page drains it.
async function refreshNodes() {
  const nodes = await call("GET", "/api/nodes");
  $("#nodes-body").replaceChildren(...nodes.map((node) => {
    const row = document.createElement("tr");
    row.dataset.node = node.id;
    const address = document.createElement("td");
    if (node.url && !node.this) {
      const link = document.createElement("a");
      link.href = `${node.url}/admin`;
      link.textContent = node.url;
      address.append(link);
    } else {
      address.textContent = `${node.url || location.origin} (this node)`;
    }
    row.dataset.draining = String(node.draining);
    const age = Math.max(0, Date.now() / 1000 - node.seen_at);
    const intake = textCell(node.draining ? "draining " : "accepted ");
    // Only this node can be drained from here; another node's own admin page drains it.
    if (node.this) {
      button(intake, node.draining ? "Take new rooms" : "Drain", "drain",
        () => call("PUT", `/api/nodes/${encodeURIComponent(node.id)}`, { draining: !node.draining }));
    }
    row.replaceChildren(textCell(node.id), address,
      ...[node.rooms.join(", ") || "–", node.capacity ? `${node.participants} of ${node.capacity}` : String(node.participants),
        `${age.toFixed(0)} s ago`].map(textCell), intake);
    return row;
  }));
}

function textCell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

// A button that runs an API action, then shows the rooms and recordings as they are now.
function button(cell, label, role, action) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.dataset.role = role;
  element.addEventListener("click", async () => {
    try { await action(); showError(""); await refreshRooms(); } catch (error) { showError(error.message); }
  });
  cell.append(element);
}

async function refreshRecordings() {
  const { recordings } = await call("GET", "/api/recordings");
  $("#recordings-body").replaceChildren(...recordings.map((r) => {
    const row = document.createElement("tr");
    row.dataset.recording = r.id;
    row.dataset.state = r.state;
    const cells = [r.room, r.source_name, new Date(r.started_at * 1000).toLocaleString(),
      r.state + (r.reason && r.reason !== "stopped" ? ` (${r.reason})` : ""), `${r.seconds.toFixed(1)} s`,
      `${(r.bytes / 1e6).toFixed(1)} MB`];
    row.replaceChildren(...cells.map(textCell));
    row.dataset.node = r.node;
    if (!r.this) {
      row.append(elsewhere(r));  // kept by another node: stopped, downloaded and deleted from its own page
      return row;
    }
    const actions = document.createElement("td");
    const path = `/api/recordings/${encodeURIComponent(r.id)}`;
    if (r.state === "recording") button(actions, "Stop", "recording-stop", () => call("POST", `${path}/stop`));
    else if (r.bytes > 0) button(actions, "Download", "recording-download", () => download(`${path}/file`, r.id));
    button(actions, "Delete", "recording-delete", async () => {
      if (confirm(`Delete the recording of ${r.source_name}?`)) await call("DELETE", path);
    });
    row.append(actions);
    return row;
  }));
}

// The file needs the bearer token, so it is fetched here and handed to the browser as a download.
async function download(path, id) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error((await response.json()).detail);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `backdrop-${id}.webm`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// A participant's moderation buttons: mute or unmute their microphone and camera, remove them, record
// their composite.
function moderation(room, participant) {
  const cell = document.createElement("td");
  const path = `/api/rooms/${encodeURIComponent(room)}/participants/${encodeURIComponent(participant.id)}`;
  button(cell, participant.microphone ? "Mute" : "Unmute", "moderate-microphone",
    () => call("PATCH", path, { microphone: !participant.microphone }));
  button(cell, participant.camera ? "Stop camera" : "Start camera", "moderate-camera",
    () => call("PATCH", path, { camera: !participant.camera }));
  button(cell, "Remove", "moderate-remove", async () => {
    if (confirm(`Remove ${participant.name} from ${room}?`)) await call("DELETE", path);
  });
  button(cell, "Record", "record-participant",
    () => call("POST", `/api/rooms/${encodeURIComponent(room)}/recordings`, { participant: participant.id }));
  return cell;
}

async function start() {
  try {
    await refreshBackgrounds();
    await refreshRooms();
  } catch (error) {
    showError(error.message);
    setStatus("token refused or server unreachable");
    $("#admin").hidden = true;
    return;
  }
  showError("");
  setStatus("connected");
  $("#admin").hidden = false;
  clearInterval(roomsTimer);
  roomsTimer = setInterval(() => refreshRooms().catch((error) => showError(error.message)), 2000);
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("#token").value.trim();
  sessionStorage.setItem("backdrop-admin-token", token);
  start();
});
$("#upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("#file").files[0];
  if (!file) return;
  try {
    await upload(file, $("#upload-name").value.trim());
    event.target.reset();
    showError("");
    await refreshBackgrounds();
  } catch (error) { showError(error.message); }
});
$("#room-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await call("PUT", `/api/rooms/${encodeURIComponent($("#room-name").value)}`, {
      background_id: $("#room-background").value || null, statistic: $("#room-statistic").value || null,
      mode: $("#room-mode").value, layout: $("#room-layout").value,
      participants_set_background: $("#room-own-backgrounds").checked });
    showError("");
    await refreshRooms();
  } catch (error) { showError(error.message); }
});

if (token) { $("#token").value = token; start(); }
