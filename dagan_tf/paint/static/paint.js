// The paint-to-photo page: LiteRT.js (WASM) runs model.tflite on the device on every stroke end.
//
// URL options: ?threads=N (default: up to 4 where the page is cross-origin isolated, else 1),
// ?model=FILE (default classes.json's model), ?accelerator=webgpu (opt-in; checked against WASM on
// first use, since headless WebGPU gave wrong images in our runs, and dropped when they differ).
import {LabelMap} from './labelmap.js';
import {Generator, webGpuIfFaithful} from './model.js';

const params = new URLSearchParams(location.search);
const DEBOUNCE_MS = 120;
const $ = (id) => document.getElementById(id);

let info, map, generator;
let tool = 'brush', current = null, generating = false, pending = false, timer = null, seed = 0;
let lastPhoto = null, settleWaiters = [];

function showMessage(text) {
  $('message').textContent = text;
  $('message').hidden = false;
  $('status').textContent = 'error';
}

function setStatus(text) { $('status').textContent = text; }

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------
async function loadModel() {
  info = await (await fetch('classes.json')).json();
  map = new LabelMap(info.height, info.width, info.instance_stride, info.eraser_value);
  buildControls();
  const threads = Number(params.get('threads') ?? Math.min(navigator.hardwareConcurrency || 1, 4));
  const file = params.get('model') ?? info.model;
  setStatus(`loading LiteRT.js ${info.litertjs} and ${file}…`);
  generator = await Generator.load(info, file, threads);
  if (info.scenes.length) await randomScene(0);
  let note = '';
  if (params.get('accelerator') === 'webgpu') {
    const gpu = await webGpuIfFaithful(generator, file, map.label, map.instance);
    if (gpu.generator) generator = gpu.generator; else note = ` (WebGPU not used: ${gpu.reason})`;
  }
  const {accelerator, threads: used} = generator.backend;
  setStatus(`ready: ${accelerator}, ${used} thread${used > 1 ? 's' : ''}${note}`);
  generateSoon(0);
}

function rgba(rgb) {
  const out = new Uint8ClampedArray((rgb.length / 3) * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    out[j] = rgb[i]; out[j + 1] = rgb[i + 1]; out[j + 2] = rgb[i + 2]; out[j + 3] = 255;
  }
  return out;
}

// Inferences run one after another (a page call and a debounced one may overlap).
let queue = Promise.resolve();
function generate() {
  const result = queue.then(generateNow);
  queue = result.catch(() => {});
  return result;
}

async function generateNow() {
  await ready;
  const label = map.label.slice(), instance = map.instance.slice(), usedSeed = seed;
  const {rgb, ms} = await generator.run(label, instance, usedSeed);
  const photo = rgba(rgb);
  const canvas = $('photo');
  canvas.width = info.width; canvas.height = info.height;
  canvas.getContext('2d').putImageData(new ImageData(photo, info.width, info.height), 0, 0);
  const {accelerator, threads} = generator.backend;
  $('latency').textContent = `${ms.toFixed(0)} ms on this device (${accelerator}, ${threads} thread${threads > 1 ? 's' : ''})`;
  lastPhoto = {photo, label, instance, seed: usedSeed, ms};
  return photo;
}

// Debounced generation after edits; one inference at a time, the latest map wins.
function generateSoon(delay = DEBOUNCE_MS) {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    timer = null;
    if (generating) { pending = true; return; }
    generating = true;
    try {
      do { pending = false; await generate(); } while (pending);
    } catch (e) {
      showMessage(`generation failed: ${e.message ?? e}`);
    } finally {
      generating = false;
      if (!timer) { settleWaiters.forEach((resolve) => resolve(lastPhoto)); settleWaiters = []; }
    }
  }, delay);
}

function settled() {
  if (!timer && !generating && lastPhoto) return Promise.resolve(lastPhoto);
  return new Promise((resolve) => settleWaiters.push(resolve));
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------
function render() {
  const {height: h, width: w} = info;
  const colours = new Map(info.classes.map((c) => [c.value, c.colour]));
  const pixels = new Uint8ClampedArray(h * w * 4);
  map.label.forEach((v, i) => {
    const c = colours.get(v) ?? [0, 0, 0];
    pixels[4 * i] = c[0]; pixels[4 * i + 1] = c[1]; pixels[4 * i + 2] = c[2]; pixels[4 * i + 3] = 255;
  });
  const canvas = $('map');
  canvas.width = w; canvas.height = h;
  canvas.getContext('2d').putImageData(new ImageData(pixels, w, h), 0, 0);
}

function mapPoint(event) {
  const rect = $('map').getBoundingClientRect();
  return [(event.clientX - rect.left) / rect.width * info.width, (event.clientY - rect.top) / rect.height * info.height];
}

function selectedClass() {
  if (tool === 'eraser') return info.classes.find((c) => c.value === info.eraser_value);
  return info.classes[Number(document.querySelector('.swatch[aria-checked="true"]').dataset.index)];
}

function onPointerDown(event) {
  if (!generator) return;
  event.preventDefault();
  const cls = selectedClass(), [x, y] = mapPoint(event);
  map.pushUndo();
  const instanceId = map.newInstance(cls.value, cls.thing && tool !== 'eraser');
  if (tool === 'fill') {
    map.fill(x, y, cls.value, instanceId);
    render();
    generateSoon();
    return;
  }
  $('map').setPointerCapture(event.pointerId);
  current = {x, y, value: cls.value, instanceId, size: Number($('size').value), pointerId: event.pointerId};
  map.disc(x, y, current.size, current.value, instanceId);
  render();
}

function onPointerMove(event) {
  if (!current || event.pointerId !== current.pointerId) return;
  const [x, y] = mapPoint(event);
  map.line(current.x, current.y, x, y, current.size, current.value, current.instanceId);
  current.x = x; current.y = y;
  render();
}

function onPointerUp(event) {
  if (!current || event.pointerId !== current.pointerId) return;
  current = null;
  generateSoon();
}

// ---------------------------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------------------------
function buildControls() {
  const palette = $('palette');
  info.classes.forEach((c, i) => {
    const swatch = document.createElement('button');
    swatch.type = 'button'; swatch.className = 'swatch'; swatch.dataset.index = i; swatch.dataset.value = c.value;
    swatch.setAttribute('role', 'radio'); swatch.setAttribute('aria-checked', i === 0 ? 'true' : 'false');
    swatch.innerHTML = `<i style="background: rgb(${c.colour.join(',')})"></i>`;
    swatch.append(c.name);
    swatch.addEventListener('click', () => selectClass(i));
    palette.append(swatch);
  });
  document.querySelectorAll('input[name="tool"]').forEach((r) => r.addEventListener('change', () => { tool = r.value; }));
  const canvas = $('map');
  canvas.addEventListener('pointerdown', onPointerDown);
  canvas.addEventListener('pointermove', onPointerMove);
  canvas.addEventListener('pointerup', onPointerUp);
  canvas.addEventListener('pointercancel', onPointerUp);
  // A finger still on the map when undo / redo is tapped (two-finger use on a phone) ends its stroke:
  // its later moves must not draw onto the restored map, where no undo step would cover them.
  $('undo').addEventListener('click', () => { current = null; if (map.undo()) { render(); generateSoon(); } });
  $('redo').addEventListener('click', () => { current = null; if (map.redo()) { render(); generateSoon(); } });
  $('scene').addEventListener('click', () => randomScene().catch((e) => showMessage(e.message)));
  $('upload').addEventListener('change', (e) => uploadLabel(e.target.files[0]).catch((err) => showMessage(err.message)));
  $('download').addEventListener('click', download);
  $('style-row').hidden = !info.use_vae;
  $('seed').addEventListener('change', () => { seed = Number($('seed').value) | 0; generateSoon(0); });
  $('new-style').addEventListener('click', () => {
    seed = Math.floor(Math.random() * 2 ** 31); $('seed').value = seed; generateSoon(0);
  });
  render();
}

function selectClass(index) {
  document.querySelectorAll('.swatch').forEach((s) => s.setAttribute('aria-checked', String(Number(s.dataset.index) === index)));
}

let sceneIndex = -1;
async function randomScene(index) {
  const n = info.scenes.length;
  sceneIndex = index ?? (sceneIndex + 1 + Math.floor(Math.random() * (n - 1))) % n;
  const scene = info.scenes[sceneIndex];
  const read = async (file) => new Int32Array(await (await fetch(file)).arrayBuffer());
  const label = await read(scene.label);
  setMaps(label, scene.instance ? await read(scene.instance) : undefined);
}

function setMaps(label, instance) {
  map.pushUndo();
  map.set(label, instance);
  render();
  generateSoon(0);
}

// A label PNG: grey values are taken as label values; coloured maps are read back through the palette.
async function uploadLabel(file) {
  if (!file) return;
  const bitmap = await createImageBitmap(file, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  const canvas = new OffscreenCanvas(info.width, info.height);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;  // nearest: label values must not blend
  ctx.drawImage(bitmap, 0, 0, info.width, info.height);
  const px = ctx.getImageData(0, 0, info.width, info.height).data;
  const label = new Int32Array(info.width * info.height);
  let grey = true;
  for (let i = 0; i < label.length && grey; i++) grey = px[4 * i] === px[4 * i + 1] && px[4 * i] === px[4 * i + 2];
  for (let i = 0; i < label.length; i++) {
    label[i] = grey ? px[4 * i] : nearestClass(px[4 * i], px[4 * i + 1], px[4 * i + 2]);
  }
  setMaps(label);
}

function nearestClass(r, g, b) {
  let best = info.classes[0], bestDistance = Infinity;
  for (const c of info.classes) {
    const d = (c.colour[0] - r) ** 2 + (c.colour[1] - g) ** 2 + (c.colour[2] - b) ** 2;
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return best.value;
}

function download() {
  $('photo').toBlob((blob) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `dagan-${info.name}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, 'image/png');
}

// ---------------------------------------------------------------------------------------------
// Automation interface (tests, bench/bench_web.py)
// ---------------------------------------------------------------------------------------------
const ready = loadModel();
ready.catch((e) => showMessage(e.message ?? String(e)));
window.addEventListener('unhandledrejection', (e) => showMessage(String(e.reason?.message ?? e.reason)));

window.dagan = {
  ready,
  setLabelMap(values, height, width, instance) {
    if (height !== info.height || width !== info.width) {
      throw new Error(`setLabelMap: ${height} x ${width}, but this model takes ${info.height} x ${info.width}`);
    }
    setMaps(Int32Array.from(values), instance ? Int32Array.from(instance) : undefined);
  },
  labelMap: () => map.label.slice(),
  instanceMap: () => map.instance.slice(),
  generate,
  settled,
  get backend() { return generator?.backend; },
  get info() { return info; },
  time: async (runs) => {  // median ms of `runs` inferences on the current map
    const times = [];
    for (let i = 0; i < runs; i++) times.push((await generator.run(map.label, map.instance, seed)).ms);
    return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
  },
};
