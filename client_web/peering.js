// What the call page (app.js) and the WHEP player (whep.js) share about connecting: loaded before
// either. aiortc takes no trickled candidates, ?relay=1 forces TURN, and lost connections are
// retried with the same backoff.
"use strict";

// Seconds before retry 1, 2, ... (the last one repeats), each spread by +-20 % (retryDelaySeconds),
// so that a restarted server is not hit by every page at once.
const RETRY_DELAYS_S = [1, 2, 4, 8, 10];

function retryDelaySeconds(attempt) {
  return RETRY_DELAYS_S[Math.min(attempt, RETRY_DELAYS_S.length - 1)] * (0.8 + 0.4 * Math.random());
}

// A connection using `iceServers`; with ?relay=1 only through their TURN relays (to check a TURN
// setup: the call then works only if the relay does).
function newPeerConnection(iceServers) {
  const relay = new URLSearchParams(location.search).get("relay") === "1";
  return new RTCPeerConnection({ iceServers, ...(relay ? { iceTransportPolicy: "relay" } : {}) });
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
