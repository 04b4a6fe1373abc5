// The logbook editor: images pasted or dropped into the markdown are uploaded and referenced; an @ starts
// completion over recorded run names. No inline script anywhere (CSP): this file finds its elements itself.
(function () {
  "use strict";

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function insert(area, text) {
    const start = area.selectionStart, end = area.selectionEnd;
    area.value = area.value.slice(0, start) + text + area.value.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    area.dispatchEvent(new Event("input"));
  }

  function say(area, message) {
    let note = area.parentElement.querySelector(".upload-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "upload-note";
      note.setAttribute("role", "status");
      area.insertAdjacentElement("afterend", note);
    }
    note.textContent = message;
  }

  async function upload(area, file) {
    say(area, "uploading " + (file.name || "image") + " ...");
    const response = await fetch("/logbook-images", {
      method: "POST", credentials: "same-origin", body: file,
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/octet-stream" },
    });
    if (!response.ok) {
      say(area, "image refused: " + (await response.text()));
      return;
    }
    const made = await response.json();
    insert(area, "\n" + made.markdown + "\n");
    say(area, "image added");
  }

  function images(list) {
    return Array.from(list || []).filter((f) => f.type && f.type.startsWith("image/"));
  }

  function completion(area) {
    const box = document.createElement("ul");
    box.className = "run-suggest";
    box.hidden = true;
    box.setAttribute("role", "listbox");
    area.insertAdjacentElement("afterend", box);
    let asked = "";

    function word() {
      const before = area.value.slice(0, area.selectionStart);
      const match = /(?:^|[^\w@])@([\w.\-]*)$/.exec(before);
      return match ? match[1] : null;
    }

    function choose(name) {
      const partial = word() || "";
      area.setRangeText(name.slice(partial.length) + " ", area.selectionStart, area.selectionStart, "end");
      box.hidden = true;
      area.focus();
    }

    area.addEventListener("input", async () => {
      const partial = word();
      if (partial === null) {
        box.hidden = true;
        return;
      }
      asked = partial;
      const response = await fetch("/logbook-runs.json?q=" + encodeURIComponent(partial),
                                   { credentials: "same-origin" });
      if (!response.ok || asked !== partial) return;
      const runs = (await response.json()).runs;
      box.replaceChildren(...runs.map((name) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "@" + name;  // text, never HTML: a run name is whatever the job was called
        button.addEventListener("click", () => choose(name));
        item.appendChild(button);
        return item;
      }));
      box.hidden = runs.length === 0;
    });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") box.hidden = true;
      if (event.key === "Tab" && !box.hidden && box.querySelector("button")) {
        event.preventDefault();
        box.querySelector("button").click();
      }
    });
  }

  document.querySelectorAll("textarea[data-logbook-editor]").forEach((area) => {
    area.addEventListener("paste", (event) => {
      const files = images(event.clipboardData && event.clipboardData.files);
      if (files.length) {
        event.preventDefault();
        files.forEach((f) => upload(area, f));
      }
    });
    area.addEventListener("dragover", (event) => event.preventDefault());
    area.addEventListener("drop", (event) => {
      const files = images(event.dataTransfer && event.dataTransfer.files);
      if (files.length) {
        event.preventDefault();
        files.forEach((f) => upload(area, f));
      }
    });
    completion(area);
  });
})();
