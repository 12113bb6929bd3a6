/** Error metrics of quantized outputs against float ones (SQNR, MSE, cosine, KL, top-1, accuracy), accumulated over batches. */
import { DataType } from '../onnx/proto';
import { Tensor, toFloat32 } from '../onnx/tensor-data';
import { EndToEndMetrics } from '../../shared/report';
import type { LogitsKernel } from './logits-kernel';

/** SQNR values are clamped to ±this many dB so reports stay finite (identical non-zero tensors give the cap). */
export const SQNR_CAP_DB = 200;

/**
 * SQNR in dB from signal and noise energies, clamped to ±SQNR_CAP_DB; NaN (undefined: `null` in JSON) when the
 * reference signal is zero or either energy is not finite, since no ratio then says anything (see sqnrUndefinedReason).
 */
export function sqnrFromEnergies(signal: number, noise: number): number {
  if (sqnrUndefinedReason(signal, noise)) return NaN;
  if (!(noise > 0)) return SQNR_CAP_DB;
  const db = 10 * Math.log10(signal / noise);
  return Math.max(-SQNR_CAP_DB, Math.min(SQNR_CAP_DB, db));
}

/** Why the SQNR of these energies is undefined (`reference output is all zero`...), or undefined when it is defined. */
export function sqnrUndefinedReason(signal: number, noise: number): string | undefined {
  if (!Number.isFinite(signal)) return 'reference output is not finite';
  if (!(signal > 0)) return 'reference output is all zero';
  if (!Number.isFinite(noise)) return 'quantized output is not finite';
  return undefined;
}

/** An SQNR for text: `12.34 dB`, or `undefined (<reason>)` when it is NaN/null. */
export function formatSqnr(db: number | null | undefined, reason = 'reference output is all zero or not finite', digits = 2): string {
  return typeof db === 'number' && Number.isFinite(db) ? `${db.toFixed(digits)} dB` : `undefined (${reason})`;
}

/** SQNR (dB) of `test` against the reference `ref`. */
export function sqnrDb(ref: ArrayLike<number>, test: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const d = r - test[i];
    s += r * r;
    n += d * d;
  }
  return sqnrFromEnergies(s, n);
}

/** Accumulates signal and noise energy (and cosine terms) of one tensor pair over batches. */
export class ErrorAccumulator {
  signal = 0;
  noise = 0;
  dot = 0;
  testEnergy = 0;
  count = 0;

  /** Adds a batch of reference and test values (same length). */
  add(ref: ArrayLike<number>, test: ArrayLike<number>): void {
    let s = this.signal, n = this.noise, d = this.dot, t = this.testEnergy;
    for (let i = 0; i < ref.length; i++) {
      const r = ref[i];
      const q = test[i];
      const e = r - q;
      s += r * r;
      n += e * e;
      d += r * q;
      t += q * q;
    }
    this.signal = s; this.noise = n; this.dot = d; this.testEnergy = t;
    this.count += ref.length;
  }

  /** SQNR in dB over everything added (NaN when undefined: see undefinedReason). */
  sqnrDb(): number {
    return sqnrFromEnergies(this.signal, this.noise);
  }

  /** Why sqnrDb() is undefined, when it is. */
  undefinedReason(): string | undefined {
    return sqnrUndefinedReason(this.signal, this.noise);
  }

  /** Mean squared error over everything added. */
  mse(): number {
    return this.count ? this.noise / this.count : 0;
  }

  /** Cosine similarity of the concatenated values (1 when both are zero). */
  cosine(): number {
    const den = Math.sqrt(this.signal * this.testEnergy);
    if (!(den > 0)) return this.signal === this.testEnergy ? 1 : 0;
    return Math.max(-1, Math.min(1, this.dot / den));
  }
}

/** How the model's outputs are compared: which ones are float, and which one is a classifier output. */
export interface OutputLayout {
  /** Float outputs compared for SQNR/MSE/cosine. */
  floatOutputs: string[];
  /** The output treated as class scores (last dim = classes), when there is one. */
  classifier?: string;
}

/** Picks the float outputs and the classifier output (rank 2 or 3, last dim ≥ 2) from a reference batch. */
export function detectOutputLayout(outputs: Record<string, Tensor>, order: readonly string[]): OutputLayout {
  const floatOutputs = order.filter((n) => outputs[n] && isFloatTensor(outputs[n]));
  const classifier = floatOutputs.find((n) => {
    const d = outputs[n].dims;
    return (d.length === 2 || d.length === 3) && d[d.length - 1] >= 2;
  });
  return { floatOutputs, classifier };
}

/** True for float element types. */
export function isFloatTensor(t: Tensor): boolean {
  return t.type === DataType.FLOAT || t.type === DataType.DOUBLE || t.type === DataType.FLOAT16 || t.type === DataType.BFLOAT16;
}

/** True when every row of `x` (rows of `classes`) is a probability distribution. */
export function looksLikeProbabilities(x: Float32Array, classes: number): boolean {
  if (classes < 2 || x.length % classes) return false;
  for (let r = 0; r < x.length; r += classes) {
    let s = 0;
    for (let c = 0; c < classes; c++) {
      const v = x[r + c];
      if (!(v >= 0 && v <= 1)) return false;
      s += v;
    }
    if (Math.abs(s - 1) > 1e-3) return false;
  }
  return true;
}

/**
 * KL(softmax(r) || softmax(t)) of one row of logits, t's probabilities floored at 1e-12 as in the probability form,
 * from log-softmaxes (log p = x - lse(x)): one exp per value of each row and no log or division per value (a GPT head's
 * 50,257 classes per token made the per-value form most of an analysis's time). `buf` holds n values.
 */
export function logitsKl(r: Float32Array, t: Float32Array, off: number, n: number, buf: Float64Array): number {
  let mr = -Infinity, mt = -Infinity;
  for (let c = 0; c < n; c++) { if (r[off + c] > mr) mr = r[off + c]; if (t[off + c] > mt) mt = t[off + c]; }
  let sr = 0, st = 0;
  for (let c = 0; c < n; c++) {
    const e = Math.exp(r[off + c] - mr);
    buf[c] = e;
    sr += e;
    st += Math.exp(t[off + c] - mt);
  }
  const lr = mr + Math.log(sr), lt = mt + Math.log(st);
  let kl = 0;
  for (let c = 0; c < n; c++) if (buf[c] > 0) kl += buf[c] * (r[off + c] - lr - Math.max(t[off + c] - lt, LOG_FLOOR));
  return kl / sr;
}

const LOG_FLOOR = Math.log(1e-12);

function argmax(x: Float32Array, off: number, n: number): number {
  let best = 0;
  for (let c = 1; c < n; c++) if (x[off + c] > x[off + best]) best = c;
  return best;
}

/**
 * Classifier batches of at least this many values go through the LogitsKernel (float64 in ONNX Runtime) when one is
 * given; smaller ones stay in JS. Measured (CPU per batch, loaded 2-core machine): the kernel takes 12-16 ns a value
 * with its reference read, JS 27-75; they meet near 1,000 values, but opening and freeing the kernel's two sessions
 * costs about 4 ms, which a layer's few isolated batches win back only from some 40,000 values on.
 */
export const KERNEL_MIN_VALUES = 1 << 16;

/** Accumulates end-to-end metrics of test outputs against reference outputs (and labels) over batches. */
export class MetricsAccumulator {
  private readonly err = new ErrorAccumulator();
  private kl = 0;
  private rows = 0;
  private agree = 0;
  private correct = 0;
  private labeled = 0;
  private probabilities?: boolean;

  /** `kernel` computes the KL and argmaxes of big classifier batches (KERNEL_MIN_VALUES); without it, JS does. */
  constructor(readonly layout: OutputLayout, private readonly kernel?: LogitsKernel) {}

  /**
   * Adds one batch: reference (float model) outputs, test outputs, and the batch's labels if any. `refKey` names the
   * reference outputs for the kernel (the same key must always come with the same values): it then reads them once.
   */
  async add(ref: Record<string, Tensor>, test: Record<string, Tensor>, labels?: Int32Array, refKey?: string): Promise<void> {
    for (const name of this.layout.floatOutputs) {
      const r = toFloat32(ref[name]);
      const t = toFloat32(test[name]);
      this.err.add(r, t);
    }
    const cls = this.layout.classifier;
    if (!cls) return;
    const r = toFloat32(ref[cls]);
    const t = toFloat32(test[cls]);
    const dims = ref[cls].dims;
    const classes = dims[dims.length - 1];
    this.probabilities ??= looksLikeProbabilities(r, classes);
    const nRows = r.length / classes;
    const perSample = labels && labels.length && nRows % labels.length === 0 ? nRows / labels.length : 0;
    const count = (row: number, kl: number, refTop: number, testTop: number) => {
      this.kl += Math.max(0, kl);
      if (refTop === testTop) this.agree++;
      if (perSample === 1 && labels) {
        this.labeled++;
        if (labels[row] === testTop) this.correct++;
      }
      this.rows++;
    };
    if (this.kernel && !this.probabilities && r.length >= KERNEL_MIN_VALUES) {
      const k = await this.kernel.rows(r, t, classes, refKey === undefined ? undefined : `${refKey}|${cls}`);
      for (let row = 0; row < nRows; row++) count(row, k.kl[row], Number(k.refTop[row]), Number(k.testTop[row]));
      return;
    }
    const pr = new Float64Array(classes);
    const pt = new Float64Array(classes);
    for (let row = 0; row < nRows; row++) {
      const off = row * classes;
      let kl = 0;
      if (this.probabilities) {
        for (let c = 0; c < classes; c++) { pr[c] = r[off + c]; pt[c] = Math.max(0, t[off + c]); }
        let s = 0;
        for (let c = 0; c < classes; c++) s += pt[c];
        if (s > 0) for (let c = 0; c < classes; c++) pt[c] /= s;
        for (let c = 0; c < classes; c++) if (pr[c] > 0) kl += pr[c] * Math.log(pr[c] / Math.max(pt[c], 1e-12));
      } else kl = logitsKl(r, t, off, classes, pr);
      count(row, kl, argmax(r, off, classes), argmax(t, off, classes));
    }
  }

  /** The metrics over everything added. */
  result(): EndToEndMetrics {
    const m: EndToEndMetrics = { sqnrDb: this.err.sqnrDb(), mse: this.err.mse(), cosine: this.err.cosine() };
    if (this.layout.classifier && this.rows) {
      m.klDiv = this.kl / this.rows;
      m.top1Agreement = this.agree / this.rows;
      if (this.labeled) m.accuracy = this.correct / this.labeled;
    }
    return m;
  }
}

/** Accuracy of outputs against labels (fraction of samples whose argmax is the label), accumulated over batches. */
export class AccuracyAccumulator {
  private correct = 0;
  private total = 0;

  constructor(readonly classifier: string) {}

  /** Adds a batch of outputs and labels; rows that do not map one-to-one on samples are skipped. */
  add(outputs: Record<string, Tensor>, labels: Int32Array): void {
    const t = toFloat32(outputs[this.classifier]);
    const dims = outputs[this.classifier].dims;
    const classes = dims[dims.length - 1];
    if (t.length / classes !== labels.length) return;
    for (let i = 0; i < labels.length; i++) {
      if (argmax(t, i * classes, classes) === labels[i]) this.correct++;
      this.total++;
    }
  }

  /** The accuracy (0..1), or undefined when nothing was counted. */
  result(): number | undefined {
    return this.total ? this.correct / this.total : undefined;
  }
}
