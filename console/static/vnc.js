// Opens the console websocket named by ?path= (relative to this page's host, as Nova's noVNC URLs are) and
// shows the guest's display with noVNC's RFB client.
import RFB from "./novnc/core/rfb.js";

const status = document.getElementById("status");
const button = document.getElementById("ctrl-alt-del");
const path = new URLSearchParams(window.location.search).get("path") || "";
const scheme = window.location.protocol === "https:" ? "wss" : "ws";
const url = `${scheme}://${window.location.host}/${path.replace(/^\/+/, "")}`;

const rfb = new RFB(document.getElementById("screen"), url, { wsProtocols: ["binary"] });
rfb.scaleViewport = true;
rfb.addEventListener("connect", () => {
  status.textContent = "Connected";
  document.body.dataset.state = "connected";
  button.disabled = false;
});
rfb.addEventListener("disconnect", (event) => {
  status.textContent = event.detail.clean ? "Disconnected" : "The console connection was lost";
  document.body.dataset.state = "disconnected";
  button.disabled = true;
});
button.addEventListener("click", () => rfb.sendCtrlAltDel());
