// The call page's background picker: everyone's backgrounds as the server lists them, and the user's
// own picture. A picture is picked from a file, shrunk in the browser to at most 1920x1080 (a phone
// photo of several MB becomes a JPEG of a few hundred KB) and sent as one binary message on the
// signaling socket. The server keeps it for this session only, and never lists it to anyone else, so
// the page sends it again after a reconnection. Loaded after app.js.
"use strict";

const OWN_PICTURE_LIMIT = { width: 1920, height: 1080 };
const OWN_CHOICE = "own"; // state.choices.background while the user's own picture is their choice

function fillPicker(backgrounds, selected) {
  const options = backgrounds.map((b) => new Option(b.name, b.id, false, b.id === selected));
  if (state.ownPictureKey) options.push(ownOption(state.ownPictureKey === selected));
  $("#background").replaceChildren(...options);
}

function ownOption(selected) {
  const option = new Option("Your picture", state.ownPictureKey, false, selected);
  option.dataset.role = "own-picture-option";
  return option;
}

// After a join: the user's choice again, where the room lets them choose. Their own picture is sent
// again (the new session has none).
function restoreBackground(current) {
  const choice = state.choices.background;
  if ($("#background").disabled) return;
  if (choice === OWN_CHOICE) {
    if (state.choices.ownPicture) sendPicture(state.choices.ownPicture);
  } else if (choice && choice !== current) {
    send({ type: "background", background: choice });
  }
}

// The server took the picture (own-background): it joins the picker, replacing an earlier one.
function ownPictureTaken(message) {
  state.ownPictureKey = message.background;
  const picker = $("#background");
  picker.querySelector("[data-role=own-picture-option]")?.remove();
  picker.append(ownOption(true));
  picker.value = message.background;
}

// The file shrunk and re-encoded as JPEG; the file as it is when the browser cannot read it (the
// server then says what is wrong with it).
async function shrinkPicture(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, OWN_PICTURE_LIMIT.width / bitmap.width, OWN_PICTURE_LIMIT.height / bitmap.height);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return await new Promise((resolve) => canvas.toBlob((blob) => resolve(blob || file), "image/jpeg", 0.9));
  } catch {
    return file;
  }
}

function sendPicture(picture) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(picture);
}

$("#background").addEventListener("change", (event) => {
  const key = event.target.value;
  state.choices.background = key === state.ownPictureKey ? OWN_CHOICE : key;
  send({ type: "background", background: key });
});
$("#own-picture").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const picture = await shrinkPicture(file);
  state.choices.ownPicture = picture;
  state.choices.background = OWN_CHOICE;
  sendPicture(picture);
  event.target.value = ""; // the same file may be picked again
});
