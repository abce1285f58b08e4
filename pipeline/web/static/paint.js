/* The region painter. A page's #painter section holds one canvas per picture whose mask is painted
 * (each names its form's mask <input type=file> in data-input). The server proposes a first mask
 * (POST data-propose), shown over the picture; the visitor fixes it (fill a region, brush, eraser
 * back to the proposal, undo) and on submit each mask is put into its input, so the server checks
 * and cleans it exactly as an uploaded mask. Two ways to start:
 *  - a style's tab (data-field: the form's style or painting choice): on choosing a photo and a
 *    style with regions, the photo's mask is proposed in that style's label colours;
 *  - the own-painting tab (data-own): on "Paint regions", the painting's regions are proposed and
 *    the photo's paired with them; both canvases share the labels and tools.
 * Without this script the page is the plain upload form. Plain JavaScript, no library: the CSP
 * allows our own scripts only. */
"use strict";

(function () {
  const section = document.getElementById("painter");
  if (!section || !window.DataTransfer || !window.createImageBitmap || !window.OffscreenCanvas) return;  // plain form
  const form = section.closest("form");
  const photoInput = form.querySelector("#photo");
  const status = document.getElementById("painter-status");
  const labelsBox = document.getElementById("painter-labels");
  const sizeInput = document.getElementById("painter-size");
  const MAX_SIDE = 1024;  // px painted at: enough to draw regions, light enough to repaint live
  const ALPHA = 0.5;  // the overlay's opacity: the picture shows through
  const UNDO_DEPTH = 30;
  const FRAME_WAIT_MS = 15000;  // for a chosen clip's first frame

  let names = [], colours = [], label = 0, tool = "fill", request = 0, exported = false;
  const surfaces = Array.from(section.querySelectorAll("canvas[data-input]"), (canvas) => surface(canvas));
  let active = surfaces[0];  // the canvas the keys' undo and cross act on: the last one used

  function say(text) { status.textContent = text; }

  function hexToRgb(hex) {
    const v = parseInt(hex.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }

  /* One picture and its mask: its canvas, what it shows, its own undo, and its mask input. */
  function surface(canvas) {
    const input = form.querySelector("#" + canvas.dataset.input);
    const self = { canvas, input, state: null, undo: [], cursor: null, lastPoint: null };

    /* Show ``answer`` (a proposal: size, labels, mask) over ``picture`` (a File). */
    self.start = async function (answer, picture) {
      const scale = Math.min(1, MAX_SIDE / Math.max(answer.width, answer.height));
      const width = Math.max(1, Math.round(answer.width * scale));
      const height = Math.max(1, Math.round(answer.height * scale));
      const bitmap = await createImageBitmap(picture);  // upright, as the server reads it (EXIF)
      const bytes = Uint8Array.from(atob(answer.mask.split(",")[1]), (c) => c.charCodeAt(0));
      const maskBitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      const proposal = labelsOf(maskBitmap, width, height);
      self.state = {
        width, height, proposal,
        current: proposal.slice(),
        picture: bitmap,
        overlay: new ImageData(width, height),
        layer: new OffscreenCanvas(width, height),  // the overlay, drawn translucent over the picture
      };
      canvas.width = width;
      canvas.height = height;
      self.undo = [];
      self.cursor = { x: width >> 1, y: height >> 1 };
      self.render();
    };

    self.clear = function () {
      self.state = null;
      canvas.width = canvas.height = 0;
    };

    /* The proposed mask at the painting size as label indices (nearest colour: exact colours come
     * back exact, and a browser's colour management cannot make a pixel unlabelled). */
    function labelsOf(bitmap, width, height) {
      const scratch = document.createElement("canvas");
      scratch.width = width;
      scratch.height = height;
      const context = scratch.getContext("2d");
      context.imageSmoothingEnabled = false;  // nearest: no in-between colours
      context.drawImage(bitmap, 0, 0, width, height);
      const pixels = context.getImageData(0, 0, width, height).data;
      const out = new Uint8Array(width * height);
      for (let i = 0; i < out.length; i++) {
        let best = 0, bestDistance = Infinity;
        for (let k = 0; k < colours.length; k++) {
          const c = colours[k];
          const d = (pixels[4 * i] - c[0]) ** 2 + (pixels[4 * i + 1] - c[1]) ** 2 + (pixels[4 * i + 2] - c[2]) ** 2;
          if (d < bestDistance) { bestDistance = d; best = k; }
        }
        out[i] = best;
      }
      return out;
    }

    function paintInto(image, current) {
      const data = image.data;
      for (let i = 0; i < current.length; i++) {
        const c = colours[current[i]];
        data[4 * i] = c[0]; data[4 * i + 1] = c[1]; data[4 * i + 2] = c[2]; data[4 * i + 3] = 255;
      }
    }

    self.render = function () {
      const s = self.state;
      if (!s) return;
      paintInto(s.overlay, s.current);
      s.layer.getContext("2d").putImageData(s.overlay, 0, 0);
      const context = canvas.getContext("2d");
      context.globalAlpha = 1;
      context.drawImage(s.picture, 0, 0, s.width, s.height);
      context.globalAlpha = ALPHA;
      context.drawImage(s.layer, 0, 0);
      if (document.activeElement === canvas && self.cursor) {  // the keyboard's cross
        context.globalAlpha = 1;
        context.strokeStyle = "#fff";
        context.strokeRect(self.cursor.x - 6, self.cursor.y - 6, 12, 12);
      }
      exported = false;
    };

    function remember() {
      self.undo.push(self.state.current.slice());
      if (self.undo.length > UNDO_DEPTH) self.undo.shift();
    }

    self.stepBack = function () {
      if (!self.state || !self.undo.length) return;
      self.state.current = self.undo.pop();
      self.render();
    };

    /* Every pixel connected (4-neighbours) to (x, y) in its colour takes the selected label. */
    function fill(x, y) {
      const { width, height, current } = self.state;
      const from = current[y * width + x];
      if (from === label) return;
      remember();
      const stack = [y * width + x];
      current[stack[0]] = label;
      while (stack.length) {
        const i = stack.pop(), px = i % width;
        const around = [px > 0 ? i - 1 : -1, px < width - 1 ? i + 1 : -1, i - width, i + width];
        for (const j of around) {
          if (j >= 0 && j < width * height && current[j] === from) { current[j] = label; stack.push(j); }
        }
      }
      self.render();
    }

    /* A disc of the brush's size: the selected label, or (eraser) the proposal's label back. */
    function dab(x, y) {
      const { width, height, current, proposal } = self.state;
      const r = Number(sizeInput.value) / 2;
      for (let yy = Math.max(0, Math.ceil(y - r)); yy <= Math.min(height - 1, Math.floor(y + r)); yy++) {
        for (let xx = Math.max(0, Math.ceil(x - r)); xx <= Math.min(width - 1, Math.floor(x + r)); xx++) {
          if ((xx - x) ** 2 + (yy - y) ** 2 > r * r) continue;
          const i = yy * width + xx;
          current[i] = tool === "eraser" ? proposal[i] : label;
        }
      }
    }

    function stroke(from, to) {
      const spacing = Math.max(1, Number(sizeInput.value) / 4);  // dabs overlap: a smooth line
      const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / spacing));
      for (let s = 1; s <= steps; s++) dab(from.x + (to.x - from.x) * s / steps, from.y + (to.y - from.y) * s / steps);
      self.render();
    }

    function point(event) {
      const box = canvas.getBoundingClientRect();
      const { width, height } = self.state;
      return {
        x: Math.min(width - 1, Math.max(0, Math.floor((event.clientX - box.left) * width / box.width))),
        y: Math.min(height - 1, Math.max(0, Math.floor((event.clientY - box.top) * height / box.height))),
      };
    }

    function use(at) {
      if (tool === "fill") { fill(at.x, at.y); return; }
      remember();
      dab(at.x, at.y);
      self.render();
    }

    canvas.addEventListener("pointerdown", (event) => {
      if (!self.state) return;
      event.preventDefault();
      active = self;
      canvas.focus();
      self.cursor = point(event);
      use(self.cursor);
      if (tool !== "fill") { self.lastPoint = self.cursor; canvas.setPointerCapture(event.pointerId); }
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!self.state || !self.lastPoint) return;
      const at = point(event);
      stroke(self.lastPoint, at);
      self.lastPoint = self.cursor = at;
    });
    const endStroke = () => { self.lastPoint = null; };
    canvas.addEventListener("pointerup", endStroke);
    canvas.addEventListener("pointercancel", endStroke);
    canvas.addEventListener("focus", () => { active = self; self.render(); });
    canvas.addEventListener("blur", self.render);

    canvas.addEventListener("keydown", (event) => {
      const s = self.state;
      if (!s || !self.cursor) return;
      const step = event.shiftKey ? 1 : 10;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (moves[event.key]) {
        const [dx, dy] = moves[event.key];
        const next = {
          x: Math.min(s.width - 1, Math.max(0, self.cursor.x + dx)),
          y: Math.min(s.height - 1, Math.max(0, self.cursor.y + dy)),
        };
        if (tool !== "fill" && event.altKey) {  // Alt+arrows: paint as it moves, each step undoable
          remember();
          stroke(self.cursor, next);
        }
        self.cursor = next;
        self.render();
      } else if (event.key === " " || event.key === "Enter") {
        use(self.cursor);
      } else {
        return;
      }
      event.preventDefault();
    });

    /* The painted mask as a PNG file. */
    self.exportMask = function () {
      const { width, height, current } = self.state;
      const image = new ImageData(width, height);
      paintInto(image, current);
      const scratch = document.createElement("canvas");
      scratch.width = width;
      scratch.height = height;
      scratch.getContext("2d").putImageData(image, 0, 0);
      return new Promise((resolve) => scratch.toBlob(resolve, "image/png"));
    };
    return self;
  }

  function buildLegend(labels) {
    names = labels.map((l) => l.name);
    colours = labels.map((l) => hexToRgb(l.colour));
    label = Math.min(label, colours.length - 1);
    labelsBox.replaceChildren(...labels.map((l, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "painter-label";
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.backgroundColor = l.colour;  // CSSOM, not a style attribute: the CSP allows it
      button.append(swatch, `${index < 9 ? index + 1 + " " : ""}${l.name}`);
      button.addEventListener("click", () => pickLabel(index));
      return button;
    }));
    pickLabel(label);
  }

  function pickLabel(index) {
    if (index >= names.length) return;
    label = index;
    labelsBox.querySelectorAll("button").forEach((b, i) => b.setAttribute("aria-pressed", String(i === index)));
  }

  function pickTool(name) {
    tool = name;
    for (const button of section.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === name));
    }
  }

  function painting() { return surfaces.some((s) => s.state); }

  function clear() {
    surfaces.forEach((s) => s.clear());
    names = [];
    labelsBox.replaceChildren();
    section.querySelector(".painter-board").hidden = true;
  }

  /* Ask for proposals (``body``) and show each on its canvas (``pictures``: the answer's key of each
   * canvas, or null where the answer is the one proposal, and the File it is drawn on). */
  async function ask(body, pictures, mine) {
    try {
      const response = await fetch(section.dataset.propose, { method: "POST", body });
      const answer = await response.json();
      if (mine !== request) return false;
      if (!response.ok) { say(answer.error || "The regions could not be guessed."); clear(); return false; }
      const proposals = pictures.map(([key]) => (key ? answer[key] : answer));
      buildLegend(proposals[0].labels);
      section.querySelector(".painter-board").hidden = false;
      await Promise.all(surfaces.map((s, i) => s.start(proposals[i], pictures[i][1])));
      return mine === request;
    } catch (error) {
      if (mine === request) { say("The regions could not be guessed; you can still upload masks."); clear(); }
      return false;
    }
  }

  /* A clip's first frame as a PNG file: the still its mask is drawn on (the server carries the
   * mask along the motion). The browser decodes it, upright as it plays; a photo comes back as is. */
  async function stillOf(file) {
    if (!file.type.startsWith("video/")) return file;
    const url = URL.createObjectURL(file);
    try {
      const video = document.createElement("video");
      video.muted = true;
      video.preload = "auto";
      const ready = new Promise((resolve, reject) => {
        video.addEventListener("loadeddata", resolve, { once: true });
        video.addEventListener("error", reject, { once: true });
        setTimeout(() => reject(new Error("no frame")), FRAME_WAIT_MS);  // a browser that never loads it
      });
      video.src = url;
      await ready;
      // At most MAX_SIDE, as the painter paints: the server checks the mask's shape, not its size.
      const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
      const width = Math.max(1, Math.round(video.videoWidth * scale));
      const height = Math.max(1, Math.round(video.videoHeight * scale));
      const frame = new OffscreenCanvas(width, height);
      frame.getContext("2d").drawImage(video, 0, 0, width, height);
      const blob = await frame.convertToBlob({ type: "image/png" });
      return new File([blob], "first-frame.png", { type: "image/png" });
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  /* A style's tab: the photo's mask, proposed in the chosen style's label colours. */
  function styleTab() {
    const field = section.dataset.field;
    const chosenStyle = () => form.querySelector(`input[name="${field}"]:checked`);

    async function propose() {
      const style = chosenStyle();
      const chosen = photoInput.files[0];
      if (!chosen || !style || !style.hasAttribute("data-regions")) { hide(); return; }
      const mine = ++request;  // a newer choice wins over an answer still on its way
      section.hidden = false;
      const clip = chosen.type.startsWith("video/");
      say(clip ? "Guessing the regions of your clip’s first frame…" : "Guessing your photo’s regions…");
      let photo;
      try {
        photo = await stillOf(chosen);
      } catch (error) {
        if (mine === request) { say("This browser cannot show the clip’s first frame; you can still upload its mask."); clear(); }
        return;
      }
      if (mine !== request) return;
      const body = new FormData();
      body.append(field, style.value);
      body.append("photo", photo);
      if (await ask(body, [[null, photo]], mine)) {
        say(clip ? "Regions of the first frame ready: fix them if you like, then send the form; they follow the motion."
                 : "Regions ready: fix them if you like, then send the form.");
      }
    }

    function hide() { request++; section.hidden = true; clear(); }

    photoInput.addEventListener("change", propose);
    form.querySelectorAll(`input[name="${field}"]`).forEach((r) => r.addEventListener("change", propose));
    surfaces[0].input.addEventListener("change", () => { hide(); say(""); });  // the visitor's own mask file wins
    propose();  // a photo already chosen (the form came back, or the browser kept it)
  }

  /* The own-painting tab: regions are optional, painted on both pictures once asked for. */
  function ownTab() {
    const paintingInput = form.querySelector("#painting");
    const startButton = document.getElementById("painter-start");
    const dropButton = document.getElementById("painter-drop");
    section.hidden = false;

    function ready() {
      const both = photoInput.files.length > 0 && paintingInput.files.length > 0;
      startButton.disabled = !both;
      if (!both) say("Choose your photo and the painting first; then you can paint their regions here.");
      else if (!painting()) say("");
    }

    async function propose() {
      const [photo, picture] = [photoInput.files[0], paintingInput.files[0]];
      if (!photo || !picture) { ready(); return; }
      const mine = ++request;
      for (const s of surfaces) s.input.value = "";  // the painted masks replace any chosen files
      say("Guessing the painting’s regions and your photo’s…");
      const body = new FormData();
      body.append("photo", photo);
      body.append("painting", picture);
      const pictures = surfaces.map((s) => [s.canvas.dataset.answer, s.input.id === "photo_mask" ? photo : picture]);
      if (await ask(body, pictures, mine)) {
        dropButton.hidden = false;
        say("Regions ready: each region of your photo takes the style of the painting’s region in its colour. "
            + "Fix either picture if you like, then send the form.");
      }
    }

    function drop() {
      request++;
      clear();
      dropButton.hidden = true;
      ready();
    }

    startButton.addEventListener("click", propose);
    dropButton.addEventListener("click", drop);
    for (const input of [photoInput, paintingInput]) input.addEventListener("change", () => (painting() ? propose() : ready()));
    for (const s of surfaces) s.input.addEventListener("change", () => { if (s.input.files.length) drop(); });  // their own masks win
    ready();
  }

  document.addEventListener("keydown", (event) => {
    if (section.hidden || !painting()) return;
    const target = event.target;
    const typing = "input:not([type=radio]):not([type=checkbox]):not([type=range]), select, textarea";
    if (target.matches && target.matches(typing)) return;  // keys there belong to the field
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") { active.stepBack(); event.preventDefault(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (/^[1-9]$/.test(key)) pickLabel(Number(key) - 1);
    else if (key === "[" || key === "]") {
      const size = Number(sizeInput.value) * (key === "]" ? 1.25 : 0.8);
      sizeInput.value = String(Math.round(Math.min(Number(sizeInput.max), Math.max(Number(sizeInput.min), size))));
    } else if (key === "e" || key === "E") pickTool("eraser");
    else if (key === "b" || key === "B") pickTool("brush");
    else if (key === "f" || key === "F") pickTool("fill");
    else return;
    event.preventDefault();
  });

  section.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => pickTool(b.dataset.tool)));
  document.getElementById("painter-undo").addEventListener("click", () => active.stepBack());

  /* Each painted mask put into its input as a PNG: the server's one path checks it. */
  form.addEventListener("submit", async (event) => {
    if (!painting() || section.hidden || exported) return;
    event.preventDefault();
    say(surfaces.length > 1 ? "Adding your painted masks…" : "Adding your painted mask…");
    for (const s of surfaces) {
      const blob = await s.exportMask();
      const transfer = new DataTransfer();
      transfer.items.add(new File([blob], `painted-${s.input.id}.png`, { type: "image/png" }));
      s.input.files = transfer.files;
    }
    exported = true;
    form.requestSubmit();
  });

  if (section.dataset.own !== undefined) ownTab(); else styleTab();
})();
