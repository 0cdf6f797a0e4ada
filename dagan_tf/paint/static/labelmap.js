// The editable label map (and instance map): brush discs, flood fill, undo / redo. No DOM here.
//
// `label` holds what the model's `label` input takes (the dataset's file values); `instance` follows
// the demo data's (and Cityscapes') convention: a stuff pixel holds its class value, the k-th thing of
// class value v holds v * stride + k, so every stroke of a countable class is its own instance.

const UNDO_LIMIT = 50;

export class LabelMap {
  constructor(height, width, stride, fillValue) {
    this.height = height;
    this.width = width;
    this.stride = stride;
    this.label = new Int32Array(height * width).fill(fillValue);
    this.instance = new Int32Array(height * width).fill(fillValue);
    this.undoStack = [];
    this.redoStack = [];
  }

  snapshot() { return {label: this.label.slice(), instance: this.instance.slice()}; }

  restore(state) { this.label.set(state.label); this.instance.set(state.instance); }

  // Call before every edit (a stroke, a fill, a new map), so undo goes back to the map before it.
  pushUndo() {
    this.undoStack.push(this.snapshot());
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
    this.redoStack.length = 0;
  }

  undo() {
    if (!this.undoStack.length) return false;
    this.redoStack.push(this.snapshot());
    this.restore(this.undoStack.pop());
    return true;
  }

  redo() {
    if (!this.redoStack.length) return false;
    this.undoStack.push(this.snapshot());
    this.restore(this.redoStack.pop());
    return true;
  }

  // Replace both maps (instance: stuff convention when not given).
  set(label, instance) {
    if (label.length !== this.label.length) {
      throw new Error(`label map has ${label.length} values; this model takes ${this.height} x ${this.width} = ` +
                      `${this.label.length}`);
    }
    this.label.set(label);
    this.instance.set(instance ?? label);
  }

  // The instance id a new stroke / fill of class value `value` paints with: a fresh thing id for
  // countable classes (one past the largest id of that class on the map), the value for stuff.
  newInstance(value, isThing) {
    if (!isThing) return value;
    const base = value * this.stride;
    let next = 0;
    for (const id of this.instance) {
      if (id >= base && id < base + this.stride) next = Math.max(next, id - base + 1);
    }
    return base + Math.min(next, this.stride - 1);
  }

  // A filled disc of diameter `size` centred on (x, y), in map pixels.
  disc(x, y, size, value, instanceId) {
    const r = size / 2;
    const x0 = Math.max(0, Math.floor(x - r)), x1 = Math.min(this.width - 1, Math.ceil(x + r));
    const y0 = Math.max(0, Math.floor(y - r)), y1 = Math.min(this.height - 1, Math.ceil(y + r));
    for (let yy = y0; yy <= y1; yy++) {
      for (let xx = x0; xx <= x1; xx++) {
        const dx = xx + 0.5 - x, dy = yy + 0.5 - y;
        if (dx * dx + dy * dy <= r * r || (xx === Math.floor(x) && yy === Math.floor(y))) {
          const i = yy * this.width + xx;
          this.label[i] = value;
          this.instance[i] = instanceId;
        }
      }
    }
  }

  // Discs every half pixel from (xa, ya) to (xb, yb), so fast strokes leave no gaps.
  line(xa, ya, xb, yb, size, value, instanceId) {
    const steps = Math.max(1, Math.ceil(2 * Math.hypot(xb - xa, yb - ya)));
    for (let s = 0; s <= steps; s++) {
      const t = s / steps;
      this.disc(xa + (xb - xa) * t, ya + (yb - ya) * t, size, value, instanceId);
    }
  }

  // 4-connected flood fill of the region of equal label value around (x, y).
  fill(x, y, value, instanceId) {
    const w = this.width, h = this.height;
    x = Math.floor(x); y = Math.floor(y);
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const start = y * w + x, old = this.label[start];
    const seen = new Uint8Array(w * h);
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const i = stack.pop();
      this.label[i] = value;
      this.instance[i] = instanceId;
      const px = i % w;
      for (const j of [i - w, i + w, px > 0 ? i - 1 : -1, px < w - 1 ? i + 1 : -1]) {
        if (j >= 0 && j < w * h && !seen[j] && this.label[j] === old) { seen[j] = 1; stack.push(j); }
      }
    }
  }
}
