// Stratus portal: the little behaviour pages need beyond htmx. Every page works without it.
(function () {
  "use strict";

  function csrfToken() { return document.body.dataset.csrf || ""; }

  // Image upload with a progress bar: the file goes straight into the portal's streaming endpoint.
  function wireUpload(form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      if (!input || !input.files.length || !window.XMLHttpRequest) { return; }
      event.preventDefault();
      var file = input.files[0];
      var bar = document.getElementById("upload-progress");
      var status = document.getElementById("upload-status");
      var data = new FormData(form);
      data.delete("file");
      var create = new XMLHttpRequest();
      create.open("POST", form.dataset.createUrl);
      create.setRequestHeader("X-CSRF-Token", csrfToken());
      create.setRequestHeader("Accept", "application/json");
      create.onload = function () {
        var answer = {};
        try { answer = JSON.parse(create.responseText); } catch (e) { answer = {}; }
        if (create.status !== 201) {
          status.textContent = answer.message || ("Could not create the image (HTTP " + create.status + ").");
          status.className = "error";
          return;
        }
        send(answer, file, bar, status);
      };
      status.className = "";
      status.textContent = "Creating the image record…";
      create.send(new URLSearchParams(data));
    });
  }

  function send(answer, file, bar, status) {
    var put = new XMLHttpRequest();
    put.open("PUT", answer.upload_url);
    put.setRequestHeader("X-CSRF-Token", csrfToken());
    put.setRequestHeader("Content-Type", "application/octet-stream");
    bar.hidden = false;
    put.upload.onprogress = function (e) {
      if (e.lengthComputable) {
        bar.max = e.total;
        bar.value = e.loaded;
        status.textContent = "Uploading: " + Math.round(100 * e.loaded / e.total) + " %";
      }
    };
    put.onload = function () {
      var reply = {};
      try { reply = JSON.parse(put.responseText); } catch (e) { reply = {}; }
      if (put.status >= 200 && put.status < 300) {
        bar.value = bar.max;
        status.textContent = "Upload complete: 100 %. The image is being checked.";
        window.location.assign(answer.image_url);
      } else {
        status.textContent = reply.message || ("The upload failed (HTTP " + put.status + ").");
        status.className = "error";
      }
    };
    put.onerror = function () { status.textContent = "The upload was interrupted."; status.className = "error"; };
    put.send(file);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload]").forEach(wireUpload);
  });
})();
