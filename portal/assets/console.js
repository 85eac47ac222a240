// Stratus portal: an instance's interactive console. Each connection asks the portal for a fresh console URL
// (its token works once), then talks to the console proxy directly: the serial console in an xterm.js terminal,
// the graphical one in the proxy's noVNC page.
(function () {
  "use strict";

  var root = document.getElementById("remote-console");
  if (!root) { return; }

  function csrfToken() { return document.body.dataset.csrf || ""; }

  function consoleUrl(endpoint) {
    return fetch(endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok || !answer.url) {
          throw new Error(answer.message || "The console is not available (HTTP " + response.status + ").");
        }
        return answer.url;
      });
    });
  }

  // -- serial: bytes both ways between the terminal and the websocket --------------------------------------------
  var serialStatus = document.getElementById("serial-status");
  var reconnect = document.getElementById("serial-reconnect");
  var terminal = null;
  var socket = null;
  var encoder = new TextEncoder();

  function connectSerial() {
    if (!window.Terminal) {
      serialStatus.textContent = "The terminal library is not installed (deploy/install-deps.sh).";
      return;
    }
    if (!terminal) {
      terminal = new window.Terminal({ convertEol: false, cursorBlink: true, rows: 30, cols: 100 });
      terminal.open(document.getElementById("terminal"));
      terminal.onData(function (data) {
        if (socket && socket.readyState === WebSocket.OPEN) { socket.send(encoder.encode(data)); }
      });
    }
    reconnect.hidden = true;
    serialStatus.textContent = "Connecting…";
    consoleUrl(root.dataset.serialUrl).then(function (url) {
      socket = new WebSocket(url, ["binary"]);
      socket.binaryType = "arraybuffer";
      socket.onopen = function () {
        serialStatus.textContent = "Connected. Press Enter for a prompt.";
        root.dataset.serial = "connected";
        terminal.focus();
      };
      socket.onmessage = function (event) {
        terminal.write(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
      };
      socket.onclose = function () {
        serialStatus.textContent = "Disconnected.";
        root.dataset.serial = "closed";
        reconnect.hidden = false;
      };
    }).catch(function (error) {
      serialStatus.textContent = error.message;
      serialStatus.className = "error";
      reconnect.hidden = false;
    });
  }
  reconnect.addEventListener("click", connectSerial);

  // -- graphical: the proxy's noVNC page, with a fresh URL each time the tab is shown -----------------------------
  var frame = document.getElementById("vnc-frame");
  var vncStatus = document.getElementById("vnc-status");

  function connectVnc() {
    vncStatus.textContent = "Connecting…";
    consoleUrl(root.dataset.vncUrl).then(function (url) {
      frame.src = url;
      vncStatus.textContent = "";
    }).catch(function (error) {
      vncStatus.textContent = error.message;
      vncStatus.className = "error";
    });
  }

  // -- tabs ---------------------------------------------------------------------------------------------------------
  var tabs = { serial: document.getElementById("tab-serial"), vnc: document.getElementById("tab-vnc") };
  function show(kind) {
    Object.keys(tabs).forEach(function (name) {
      var selected = name === kind;
      tabs[name].setAttribute("aria-selected", selected ? "true" : "false");
      document.getElementById("panel-" + name).hidden = !selected;
    });
    if (kind === "vnc") { connectVnc(); } else if (terminal) { terminal.focus(); }
  }
  tabs.serial.addEventListener("click", function () { show("serial"); });
  tabs.vnc.addEventListener("click", function () { show("vnc"); });

  connectSerial();
})();
