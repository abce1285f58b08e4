/* The region painter: after a photo and a style (or painting) with regions are chosen, ask
 * /propose for a first mask, show it over the photo, let the visitor fix it (fill a region, brush,
 * eraser back to the proposal, undo), and put it into the form's mask <input type=file> on submit,
 * so the server checks and cleans it exactly as an uploaded mask. Without this script the page is
 * the plain upload form. Plain JavaScript, no library: the CSP allows our own scripts only. */
"use strict";

(function () {
  const section = document.getElementById("painter");
  if (!section || !window.DataTransfer || !window.createImageBitmap || !window.OffscreenCanvas) return;  // plain form
  const form = section.closest("form");
  const photoInput = form.querySelector("#photo");
  const maskInput = form.querySelector("#mask");
  const field = section.dataset.field;
  const canvas = document.getElementById("painter-canvas");
  const status = document.getElementById("painter-status");
  const labelsBox = document.getElementById("painter-labels");
  const sizeInput = document.getElementById("painter-size");
  const MAX_SIDE = 1024;  // px painted at: enough to draw regions, light enough to repaint live
  const ALPHA = 0.5;  // the overlay's opacity: the photo shows through
  const UNDO_DEPTH = 30;
  const FRAME_WAIT_MS = 15000;  // for a chosen clip's first frame

  let state = null;  // {width, height, labels, colours, current, proposal, photo, overlay, layer}
  let label = 0, tool = "fill", undo = [], cursor = null, request = 0, exported = false, lastPoint = null;

  function say(text) { status.textContent = text; }

  function chosenStyle() {
    return form.querySelector(`input[name="${field}"]:checked`);
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
    try {
      const response = await fetch(section.dataset.propose, { method: "POST", body });
      const answer = await response.json();
      if (mine !== request) return;
      if (!response.ok) { say(answer.error || "The regions could not be guessed."); clear(); return; }
      await start(answer, photo);
      if (mine === request) {
        say(clip ? "Regions of the first frame ready: fix them if you like, then send the form; they follow the motion."
                 : "Regions ready: fix them if you like, then send the form.");
      }
    } catch (error) {
      if (mine === request) { say("The regions could not be guessed; you can still upload a mask."); clear(); }
    }
  }

  function hide() { request++; section.hidden = true; clear(); }

  function clear() {
    state = null;
    labelsBox.replaceChildren();
    canvas.width = canvas.height = 0;
  }

  async function start(answer, photo) {
    const scale = Math.min(1, MAX_SIDE / Math.max(answer.width, answer.height));
    const width = Math.max(1, Math.round(answer.width * scale));
    const height = Math.max(1, Math.round(answer.height * scale));
    const bitmap = await createImageBitmap(photo);  // upright, as the server reads it (EXIF)
    const bytes = Uint8Array.from(atob(answer.mask.split(",")[1]), (c) => c.charCodeAt(0));
    const maskBitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    const colours = answer.labels.map((l) => hexToRgb(l.colour));
    const proposal = labelsOf(maskBitmap, width, height, colours);
    state = {
      width, height, colours, proposal,
      labels: answer.labels,
      current: proposal.slice(),
      photo: bitmap,
      overlay: new ImageData(width, height),
      layer: new OffscreenCanvas(width, height),  // the overlay, drawn translucent over the photo
    };
    canvas.width = width;
    canvas.height = height;
    undo = [];
    exported = false;
    label = Math.min(label, colours.length - 1);
    cursor = { x: width >> 1, y: height >> 1 };
    buildLegend();
    render();
  }

  function hexToRgb(hex) {
    const v = parseInt(hex.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }

  /* The proposed mask at the painting size as label indices (nearest colour: exact colours come
   * back exact, and a browser's colour management cannot make a pixel unlabelled). */
  function labelsOf(bitmap, width, height, colours) {
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

  function buildLegend() {
    labelsBox.replaceChildren(...state.labels.map((l, index) => {
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
    if (!state || index >= state.labels.length) return;
    label = index;
    labelsBox.querySelectorAll("button").forEach((b, i) => b.setAttribute("aria-pressed", String(i === index)));
  }

  function pickTool(name) {
    tool = name;
    for (const button of section.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === name));
    }
  }

  function render() {
    if (!state) return;
    const { width, height, current, colours, overlay } = state;
    const data = overlay.data;
    for (let i = 0; i < current.length; i++) {
      const c = colours[current[i]];
      data[4 * i] = c[0]; data[4 * i + 1] = c[1]; data[4 * i + 2] = c[2]; data[4 * i + 3] = 255;
    }
    const layer = state.layer;
    layer.getContext("2d").putImageData(overlay, 0, 0);
    const context = canvas.getContext("2d");
    context.globalAlpha = 1;
    context.drawImage(state.photo, 0, 0, width, height);
    context.globalAlpha = ALPHA;
    context.drawImage(layer, 0, 0);
    if (document.activeElement === canvas && cursor) {  // the keyboard's cross
      context.globalAlpha = 1;
      context.strokeStyle = "#fff";
      context.strokeRect(cursor.x - 6, cursor.y - 6, 12, 12);
    }
    exported = false;
  }

  function remember() {
    undo.push(state.current.slice());
    if (undo.length > UNDO_DEPTH) undo.shift();
  }

  function stepBack() {
    if (!state || !undo.length) return;
    state.current = undo.pop();
    render();
  }

  /* Every pixel connected (4-neighbours) to (x, y) in its colour takes the selected label. */
  function fill(x, y) {
    const { width, height, current } = state;
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
    render();
  }

  /* A disc of the brush's size: the selected label, or (eraser) the proposal's label back. */
  function dab(x, y) {
    const { width, height, current, proposal } = state;
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
    render();
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return {
      x: Math.min(state.width - 1, Math.max(0, Math.floor((event.clientX - box.left) * state.width / box.width))),
      y: Math.min(state.height - 1, Math.max(0, Math.floor((event.clientY - box.top) * state.height / box.height))),
    };
  }

  function use(at) {
    if (tool === "fill") { fill(at.x, at.y); return; }
    remember();
    dab(at.x, at.y);
    render();
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (!state) return;
    event.preventDefault();
    canvas.focus();
    cursor = point(event);
    use(cursor);
    if (tool !== "fill") { lastPoint = cursor; canvas.setPointerCapture(event.pointerId); }
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!state || !lastPoint) return;
    const at = point(event);
    stroke(lastPoint, at);
    lastPoint = cursor = at;
  });
  const endStroke = () => { lastPoint = null; };
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  canvas.addEventListener("focus", render);
  canvas.addEventListener("blur", render);

  canvas.addEventListener("keydown", (event) => {
    if (!state || !cursor) return;
    const step = event.shiftKey ? 1 : 10;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[event.key]) {
      const [dx, dy] = moves[event.key];
      const next = {
        x: Math.min(state.width - 1, Math.max(0, cursor.x + dx)),
        y: Math.min(state.height - 1, Math.max(0, cursor.y + dy)),
      };
      if (tool !== "fill" && event.altKey) {  // Alt+arrows: paint as it moves, each step undoable
        remember();
        stroke(cursor, next);
      }
      cursor = next;
      render();
    } else if (event.key === " " || event.key === "Enter") {
      use(cursor);
    } else {
      return;
    }
    event.preventDefault();
  });

  document.addEventListener("keydown", (event) => {
    if (section.hidden || !state) return;
    const target = event.target;
    const typing = "input:not([type=radio]):not([type=checkbox]):not([type=range]), select, textarea";
    if (target.matches && target.matches(typing)) return;  // keys there belong to the field
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") { stepBack(); event.preventDefault(); return; }
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
  document.getElementById("painter-undo").addEventListener("click", stepBack);
  photoInput.addEventListener("change", propose);
  form.querySelectorAll(`input[name="${field}"]`).forEach((r) => r.addEventListener("change", propose));
  maskInput.addEventListener("change", () => {  // the visitor's own mask file wins over the painting
    hide();
    say("");
  });

  /* The painted mask as a PNG, put into the mask input: the server's one path checks it. */
  function exportMask() {
    const { width, height, current, colours } = state;
    const image = new ImageData(width, height);
    for (let i = 0; i < current.length; i++) {
      const c = colours[current[i]];
      image.data[4 * i] = c[0]; image.data[4 * i + 1] = c[1]; image.data[4 * i + 2] = c[2]; image.data[4 * i + 3] = 255;
    }
    const scratch = document.createElement("canvas");
    scratch.width = width;
    scratch.height = height;
    scratch.getContext("2d").putImageData(image, 0, 0);
    return new Promise((resolve) => scratch.toBlob(resolve, "image/png"));
  }

  form.addEventListener("submit", async (event) => {
    if (!state || section.hidden || exported) return;
    event.preventDefault();
    say("Adding your painted mask…");
    const blob = await exportMask();
    const transfer = new DataTransfer();
    transfer.items.add(new File([blob], "painted-mask.png", { type: "image/png" }));
    maskInput.files = transfer.files;
    exported = true;
    form.requestSubmit();
  });

  propose();  // a photo already chosen (the form came back, or the browser kept it)
})();
