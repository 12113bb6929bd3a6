/** Training samples of every model input (sample axis first): rows by index, batched runs, logits, arg-max. */
import { QuantLensError } from '../errors';
import { Graph, ValueInfo } from '../onnx/graph';
import { DataType, ModelProto } from '../onnx/proto';
import { sizeOf, Tensor, TensorArray } from '../onnx/tensor-data';
import { RuntimeSession } from '../runtime/backend';
import type { DataSource } from '../data/source';

/** One tensor per model input, by input name, each with the sample axis first (the same sample count). */
export type SampleSet = Record<string, Tensor>;

/** The tensor trained as logits: the input of a final Softmax, otherwise the first output. */
export function logitsTensor(graph: Graph): string {
  const out = graph.outputs[0].name;
  const p = graph.producer.get(out);
  return p && p.opType === 'Softmax' ? p.inputs[0] : out;
}

/** Rows [idx...] of a tensor with the sample axis first, in its own element type. */
export function gatherRows(t: Tensor, idx: ArrayLike<number>): Tensor {
  const row = sizeOf(t.dims.slice(1));
  const Ctor = t.data.constructor as { new (n: number): TensorArray };
  const data = new Ctor(idx.length * row);
  for (let i = 0; i < idx.length; i++) (data as Float32Array).set((t.data as Float32Array).subarray(idx[i] * row, (idx[i] + 1) * row), i * row);
  return { type: t.type, dims: [idx.length, ...t.dims.slice(1)], data };
}

/** Rows [idx...] of every input of a sample set. */
export function feedRows(samples: SampleSet, idx: ArrayLike<number>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(samples)) out[k] = gatherRows(t, idx);
  return out;
}

/** Number of samples of a sample set. */
export function sampleCount(samples: SampleSet): number {
  return Object.values(samples)[0]?.dims[0] ?? 0;
}

/**
 * Checks a sample set against the model's inputs (one tensor per input, element types, per-sample dims, the same
 * count everywhere); accepts a lone tensor for a one-input model.
 */
export function checkSamples(data: { input?: Tensor; inputs?: SampleSet }, inputs: readonly ValueInfo[], file: string): SampleSet {
  let set: SampleSet;
  if (data.inputs) set = data.inputs;
  else if (data.input && inputs.length === 1) set = { [inputs[0].name]: data.input };
  else if (data.input) throw new QuantLensError('train-inputs', `the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); give samples for each`, file);
  else throw new QuantLensError('train-inputs', 'no training samples given', file);
  let n = -1;
  for (const input of inputs) {
    const t = set[input.name];
    if (!t) throw new QuantLensError('train-inputs', `no training samples for model input '${input.name}'`, file);
    if (t.type !== input.elemType) throw new QuantLensError('train-data-type', `the samples of input '${input.name}' are ${DataType[t.type]} but the input takes ${DataType[input.elemType]}`, file);
    const want = input.shape;
    if (want && (want.length !== t.dims.length || want.some((d, i) => i > 0 && typeof d === 'number' && d > 0 && d !== t.dims[i]))) {
      throw new QuantLensError('train-data-shape', `the training samples have shape [${t.dims.join(', ')}] but input '${input.name}' takes [${want.join(', ')}]`, file);
    }
    if (n >= 0 && t.dims[0] !== n) throw new QuantLensError('train-data-count', `input '${input.name}' has ${t.dims[0]} samples but '${inputs[0].name}' has ${n}`, file);
    n = t.dims[0];
  }
  if (n <= 0) throw new QuantLensError('data-empty', 'the training data has no samples', file);
  return Object.fromEntries(inputs.map((i) => [i.name, set[i.name]]));
}

/** The batch size a model takes when its first input dim is fixed (the same for every input), else undefined. */
export function fixedBatch(inputs: readonly ValueInfo[], file: string): number | undefined {
  let fixed: number | undefined;
  for (const i of inputs) {
    const d = i.shape?.[0];
    if (typeof d !== 'number' || d <= 0) continue;
    if (fixed !== undefined && fixed !== d) throw new QuantLensError('train-inputs', `the model's inputs have different fixed batch sizes (${fixed} and ${d} for '${i.name}')`, file);
    fixed = d;
  }
  return fixed;
}

/** A tensor's float values for the first `samples` samples, as rows of `values` (e.g. the teacher's outputs the calibration runs gave). */
export interface SampleRows {
  values: Float32Array;
  samples: number;
}

/**
 * Runs `session` over all samples in batches of `batch`, returning the `fetch` tensor rows as float32 (the last batch
 * padded); with `known`, the rows of its first samples are taken from it and the runs start after them.
 */
export async function runBatches(session: RuntimeSession, samples: SampleSet, fetch: string, batch: number, known?: SampleRows): Promise<Float32Array> {
  const n = sampleCount(samples);
  let out: Float32Array | undefined;
  let width = 0;
  if (known?.samples) {
    width = known.values.length / known.samples;
    out = new Float32Array(n * width);
    out.set(known.values);
  }
  for (let s = known?.samples ?? 0; s < n; s += batch) {
    const idx = Array.from({ length: batch }, (_, i) => Math.min(n - 1, s + i));
    const r = (await session.run(feedRows(samples, idx), [fetch]))[fetch];
    width = sizeOf(r.dims.slice(1));
    out ??= new Float32Array(n * width);
    const take = Math.min(batch, n - s);
    out.set((r.data as Float32Array).subarray(0, take * width), s * width);
  }
  return out!;
}

/** A copy of the model with the logits tensor also exposed as an output. */
export function withOutput(model: ModelProto, tensor: string): ModelProto {
  const g = model.graph!;
  if ((g.output ?? []).some((o) => o.name === tensor)) return model;
  return { ...model, graph: { ...g, output: [...(g.output ?? []), { name: tensor }] } };
}

/** Index of the largest value of each row. */
export function argmaxRows(data: Float32Array, width: number): Int32Array {
  const n = data.length / width;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < width; j++) if (data[i * width + j] > data[i * width + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** Reads every sample of a data source into one tensor per model input (QAT shuffles and revisits samples), with the labels when every batch has them. */
export async function readAllSamples(source: DataSource): Promise<{ inputs: SampleSet; labels?: Int32Array }> {
  const parts = new Map<string, Tensor[]>();
  const labels: number[] = [];
  let labelled = true;
  for await (const b of source.batches(64)) {
    for (const [k, t] of Object.entries(b.feeds)) { let l = parts.get(k); if (!l) parts.set(k, (l = [])); l.push(t); }
    if (b.labels) labels.push(...b.labels); else labelled = false;
  }
  if (!parts.size) throw new QuantLensError('data-empty', 'the data gave no samples to train on', source.description.source);
  const inputs: SampleSet = {};
  for (const [k, list] of parts) {
    const n = list.reduce((s, t) => s + t.dims[0], 0);
    const Ctor = list[0].data.constructor as { new (n: number): TensorArray };
    const all = new Ctor(list.reduce((s, t) => s + t.data.length, 0));
    let off = 0;
    for (const t of list) { (all as Float32Array).set(t.data as Float32Array, off); off += t.data.length; }
    inputs[k] = { type: list[0].type, dims: [n, ...list[0].dims.slice(1)], data: all };
  }
  return { inputs, labels: labelled ? Int32Array.from(labels) : undefined };
}
