// Upload progress and drag and drop for "Mes fichiers". The page works without
// this script (plain form posts); with it, the same form posts through XHR.
"use strict";
(function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var input = document.getElementById("files");
  var bar = document.getElementById("upload-progress");
  function send(files) {
    var data = new FormData();
    for (var i = 0; i < files.length; i++) { data.append("files", files[i], files[i].name); }
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    bar.hidden = false;
    request.upload.onprogress = function (event) {
      if (event.lengthComputable) {
        bar.value = Math.round(100 * event.loaded / event.total);
        bar.textContent = bar.value + " %";
      }
    };
    request.onload = function () { window.location.href = request.responseURL; };
    request.onerror = function () { form.submit(); };
    request.send(data);
  }
  form.addEventListener("submit", function (event) {
    if (input.files && input.files.length) { event.preventDefault(); send(input.files); }
  });
  form.addEventListener("dragover", function (event) { event.preventDefault(); form.classList.add("over"); });
  form.addEventListener("dragleave", function () { form.classList.remove("over"); });
  form.addEventListener("drop", function (event) {
    event.preventDefault();
    form.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) { send(event.dataTransfer.files); }
  });
}());
