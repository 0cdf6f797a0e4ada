// The generator in LiteRT.js: load the WASM runtime once, compile model.tflite, run batch-1 inferences.
//
// Traps met on the way: the model must have a fixed batch of 1 (LiteRT.js runs fixed shapes only);
// inputs go by name (their order by index differs from the names); WASM threads need a cross-origin
// isolated page (COOP/COEP headers) and relaxed SIMD; `accelerator: 'wasm'` is given explicitly, as
// headless WebGPU gave a wrong image: WebGPU is an opt-in, checked against WASM before it is used.

let litert = null;  // the runtime module, loaded once per page

async function chooseThreads(asked) {
  if (asked <= 1) return 1;
  if (!self.crossOriginIsolated) {
    console.warn('not cross-origin isolated (no COOP/COEP headers): one WASM thread');
    return 1;
  }
  const ok = await litert.supportsFeature('threads') && await litert.supportsFeature('relaxedSimd');
  return ok ? asked : 1;
}

// The input details, or an Error a person can act on (batch, names, size).
function checkInputs(compiled, info) {
  const inputs = compiled.getInputDetails();
  const want = ['label'].concat(info.instances ? ['instance'] : [], info.use_vae ? ['seed'] : []);
  const names = inputs.map((d) => d.name);
  for (const name of want) {
    if (!names.includes(name)) {
      throw new Error(`the model has inputs ${names.join(', ')}; this page (classes.json) needs ${want.join(', ')}`);
    }
  }
  for (const d of inputs) {
    const shape = Array.from(d.shape);
    if (shape[0] !== 1) {
      throw new Error(`the model's input \`${d.name}\` has shape [${shape.join(', ')}]: this page runs batch 1 only ` +
        '(LiteRT.js needs fixed shapes). Re-export it with `dagan-tf export --format tflite --batch 1` ' +
        'or let `dagan-tf paint` build the site.');
    }
    if (d.name !== 'seed' && (shape[1] !== info.height || shape[2] !== info.width)) {
      throw new Error(`the model takes ${shape[1]} x ${shape[2]} maps; classes.json says ${info.height} x ${info.width}`);
    }
  }
}

async function fetchModel(file, info) {
  const response = await fetch(file);
  if (!response.ok) throw new Error(`could not load ${file}: HTTP ${response.status}`);
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    throw new Error(`${file} (${(info.model_bytes / 2 ** 20).toFixed(1)} MB) is too large for this browser: ` +
                    `${e.message}; export a smaller one (--quantize int8)`);
  }
}

export class Generator {
  // info: classes.json; file: the .tflite; threads: wanted (fewer where the page cannot have them).
  static async load(info, file, threads, accelerator = 'wasm') {
    if (typeof WebAssembly !== 'object') throw new Error('this browser has no WebAssembly: the model cannot run here');
    if (!litert) {
      litert = await import('@litertjs/core');
      threads = await chooseThreads(threads);
      await litert.loadLiteRt(new URL('litertjs/wasm/', location.href).href, {threads: threads > 1});
      Generator.threads = threads;
    }
    const bytes = await fetchModel(file, info);
    const compiled = await litert.loadAndCompile(bytes, {accelerator, cpuOptions: {numThreads: Generator.threads}});
    checkInputs(compiled, info);
    return new Generator(compiled, info, accelerator);
  }

  constructor(compiled, info, accelerator) {
    this.compiled = compiled;
    this.info = info;
    this.backend = {accelerator, threads: Generator.threads, crossOriginIsolated: self.crossOriginIsolated};
  }

  // One inference: label / instance Int32Array (H * W), seed int -> {rgb: Uint8Array (H * W * 3), ms}.
  async run(label, instance, seed) {
    const {height: h, width: w} = this.info;
    const inputs = {label: new litert.Tensor(label.slice(), [1, h, w])};
    if (this.info.instances) inputs.instance = new litert.Tensor(instance.slice(), [1, h, w]);
    if (this.info.use_vae) inputs.seed = new litert.Tensor(new Int32Array([seed]), [1]);
    const start = performance.now();
    let outputs;
    try {
      outputs = await this.compiled.run(inputs);  // by name
    } finally {
      Object.values(inputs).forEach((t) => t.delete());
    }
    const image = outputs.image ?? Object.values(outputs)[0];
    const onCpu = image.accelerator === 'wasm' ? image : await image.moveTo('wasm');
    const rgb = new Uint8Array(onCpu.toTypedArray());  // a copy: the tensor's memory goes with it
    const ms = performance.now() - start;
    Object.values(outputs).forEach((t) => { if (!t.deleted) t.delete(); });
    if (!onCpu.deleted) onCpu.delete();
    return {rgb, ms};
  }
}

// The WebGPU generator where it gives WASM's image on (label, instance) within 1 level on >= 99.9 % of
// the values, else null and the reason.
export async function webGpuIfFaithful(wasm, file, label, instance) {
  try {
    const gpu = await Generator.load(wasm.info, file, Generator.threads, 'webgpu');
    const [a, b] = [await wasm.run(label, instance, 0), await gpu.run(label, instance, 0)];
    const close = a.rgb.filter((v, i) => Math.abs(v - b.rgb[i]) <= 1).length / a.rgb.length;
    if (close < 0.999) throw new Error(`its image differs from WASM's (${(100 * close).toFixed(2)}% of values agree)`);
    return {generator: gpu, reason: ''};
  } catch (e) {
    console.warn('WebGPU not used:', e);
    return {generator: null, reason: e.message ?? String(e)};
  }
}
