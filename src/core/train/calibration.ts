/** Initial scales of a QAT run: weights from their values, activations from their ranges over calibration samples. */
import { collectGarbage } from '../gc';
import { Graph } from '../onnx/graph';
import { uniqueNamer } from '../onnx/unique-names';
import { AttributeType, ModelProto, NodeProto } from '../onnx/proto';
import { readersInRunOrder } from '../onnx/probe-order';
import { sizeOf, Tensor, toFloat32 } from '../onnx/tensor-data';
import { InferenceBackend, RuntimeSession } from '../runtime/backend';
import { groupBySize } from '../runtime/fetch-groups';
import { feedRows, fixedBatch, sampleCount, SampleRows, SampleSet } from './batches';
import { FakeQuantSpec } from './fake-quant';
import { constFloat, initActivationScale } from './quant-plan';
import { initWeightScales } from './weight-init';
import { createProtoSession } from '../runtime/proto-session';

/** What calibration takes from the run's options. */
export interface CalibrationOptions {
  model: ModelProto;
  weightInit?: 'minmax' | 'mse';
  calibrationSamples?: number;
  calibrationFetchBytes?: number;
  calibrationReduce?: boolean;
}

/** Tensors from this size on are released right after scale initialisation reads them (collectGarbage). */
const BIG_TENSOR_BYTES = 64 << 20;

/**
 * Bytes of activations one calibration run fetches at most when the activations themselves are fetched
 * (`calibrationReduce: false`, or the fallback): more are fetched by several runs of the same batch in the same session
 * (the same values), as ORT's outputs and their JavaScript copies coexist until a run returns. ViT-B/16, 16 samples,
 * 1.13 GB of activations in one run: the qat command's peak RSS (4.09 GiB) was this run.
 */
export const CALIBRATION_FETCH_BYTES = 384 << 20;

/**
 * Initial scales: weights from their values, activations from min-max over calibration samples of the FP32 model.
 * With `teacher` (a tensor name), the same runs also give that tensor's float values for the calibration samples (the
 * distillation's targets, which the caller completes for the other samples); undefined when they did not (no activation
 * to calibrate, a fixed batch, or ranges fetched instead of reduced).
 */
export async function calibrate(o: CalibrationOptions, graph: Graph, specs: FakeQuantSpec[], samples: SampleSet, backend: InferenceBackend, threads: number, shapes: Map<string, number[]>, shapesBatch: number, teacher?: string): Promise<SampleRows | undefined> {
  for (const s of specs) {
    if (s.role !== 'weight') continue;
    const p = graph.initializers.get(s.tensor) ?? graph.constantNodes.get(s.tensor)!;
    const dims = (p.dims ?? []).map(Number);
    initWeightScales(s, constFloat(graph, s.tensor), dims, o.weightInit ?? 'mse');
    // a weight-sized read and its sorted copy, freed before the next one (they add up to gigabytes on big models); the
    // read is held by a WeakRef cache, which keeps it alive until the current job ends, hence the tick first
    if (4 * sizeOf(dims) >= BIG_TENSOR_BYTES) { await new Promise((r) => setImmediate(r)); collectGarbage(); }
  }
  const acts = specs.filter((s) => s.role === 'activation');
  if (!acts.length) return undefined;
  // the weight reads above (each under BIG_TENSOR_BYTES, ViT-B/16's 330 MB in all) are garbage before the runs
  await new Promise((r) => setImmediate(r));
  collectGarbage();
  const total = sampleCount(samples);
  const n = Math.min(o.calibrationSamples ?? 512, total);
  const fixed = fixedBatch(graph.inputs, '<model>');
  const names = [...new Set(acts.map((s) => s.tensor))];
  const step = fixed ?? 64;
  // A fixed-batch model gets whole batches (the last one repeats samples: min and max do not change).
  const batches: number[][] = [];
  for (let s = 0; s < n; s += step) batches.push(Array.from({ length: fixed ?? Math.min(step, n - s) }, (_, i) => Math.min(s + i, total - 1)));
  const reduced = (o.calibrationReduce ?? true) ? await rangesByReduction(o.model, names, samples, batches, backend, threads, fixed === undefined ? teacher : undefined) : undefined;
  const ranges = reduced ?? await rangesByFetching(o, names, samples, batches, backend, threads, shapes, shapesBatch);
  for (const s of acts) initActivationScale(s, ranges.lo.get(s.tensor)!, ranges.hi.get(s.tensor)!);
  return reduced?.teacher && { values: reduced.teacher, samples: n };
}

/** Min and max of each calibrated tensor over the calibration batches (and the teacher's values, when the runs fetched them). */
interface Ranges {
  lo: Map<string, number>;
  hi: Map<string, number>;
  teacher?: Float32Array;
}

/**
 * Ranges by a `ReduceMin` and a `ReduceMax` of each tensor in the graph: each run returns two scalars a tensor instead
 * of the tensor, so nothing activation-sized is copied out or kept to the end of the run (mobilenet_v2, 8 samples at
 * 224x224: the run 0.86 -> 0.23 s). The same values as the loop over the fetched tensors (min and max are exact; the sign
 * of a zero bound makes no difference to the scales); undefined when the model does not take the nodes or a bound is
 * NaN (the loop skips NaNs), and the tensors are fetched instead.
 */
async function rangesByReduction(model: ModelProto, names: string[], samples: SampleSet, batches: number[][], backend: InferenceBackend, threads: number, teacher?: string): Promise<Ranges | undefined> {
  const g = model.graph!;
  const unique = uniqueNamer(model);
  const nodes: NodeProto[][] = [];
  const bounds = names.map((t) => {
    const min = unique(`${t}__ql_min`), max = unique(`${t}__ql_max`);
    nodes.push([
      { op_type: 'ReduceMin', input: [t], output: [min], name: unique(`${t}__ql_min_node`), attribute: [{ name: 'keepdims', type: AttributeType.INT, i: 0 }] },
      { op_type: 'ReduceMax', input: [t], output: [max], name: unique(`${t}__ql_max_node`), attribute: [{ name: 'keepdims', type: AttributeType.INT, i: 0 }] },
    ]);
    return { t, min, max };
  });
  const extra = teacher !== undefined && !(g.output ?? []).some((x) => x.name === teacher) ? [{ name: teacher }] : [];
  const m: ModelProto = { ...model, graph: { ...g, node: [...(g.node ?? []), ...readersInRunOrder(nodes)], output: [...(g.output ?? []), ...extra, ...bounds.flatMap((b) => [{ name: b.min }, { name: b.max }])] } };
  let session: RuntimeSession;
  try {
    session = await createProtoSession(backend, m, { threads });
  } catch {
    return undefined;
  }
  const lo = new Map<string, number>(), hi = new Map<string, number>();
  let values: Float32Array | undefined;
  /** Copies the teacher's rows of a run (its first dim is the batch's samples) to their samples' places. */
  const keep = (idx: number[], t: Tensor) => {
    const width = sizeOf(t.dims.slice(1));
    values ??= new Float32Array(batches.reduce((n, b) => n + b.length, 0) * width);
    const d = toFloat32(t);
    idx.forEach((k, i) => values!.set(d.subarray(i * width, (i + 1) * width), k * width));
  };
  try {
    const fetches = [...(teacher !== undefined ? [teacher] : []), ...bounds.flatMap((b) => [b.min, b.max])];
    for (const idx of batches) {
      const r = await session.run(feedRows(samples, idx), fetches);
      if (teacher !== undefined) keep(idx, r[teacher]);
      for (const b of bounds) {
        const a = toFloat32(r[b.min])[0], z = toFloat32(r[b.max])[0];
        if (Number.isNaN(a) || Number.isNaN(z)) return undefined;
        lo.set(b.t, Math.min(lo.get(b.t) ?? Infinity, a));
        hi.set(b.t, Math.max(hi.get(b.t) ?? -Infinity, z));
      }
    }
  } finally {
    await session.release();
  }
  return { lo, hi, teacher: values };
}

/** Ranges by fetching the tensors (in groups of at most `calibrationFetchBytes`) and a loop over their values. */
async function rangesByFetching(o: CalibrationOptions, names: string[], samples: SampleSet, batches: number[][], backend: InferenceBackend, threads: number, shapes: Map<string, number[]>, shapesBatch: number): Promise<Ranges> {
  const g = o.model.graph!;
  const m: ModelProto = { ...o.model, graph: { ...g, output: [...(g.output ?? []), ...names.filter((t) => !(g.output ?? []).some((x) => x.name === t)).map((name) => ({ name }))] } };
  const session = await createProtoSession(backend, m, { threads });
  const lo = new Map<string, number>(), hi = new Map<string, number>();
  try {
    for (const idx of batches) {
      const feeds = feedRows(samples, idx);
      for (const group of fetchGroups(names, shapes, idx.length / shapesBatch, o.calibrationFetchBytes ?? CALIBRATION_FETCH_BYTES)) {
        const r = await session.run(feeds, group);
        for (const t of group) {
          const d = toFloat32(r[t]);
          let a = lo.get(t) ?? Infinity, b = hi.get(t) ?? -Infinity;
          for (let i = 0; i < d.length; i++) { if (d[i] < a) a = d[i]; if (d[i] > b) b = d[i]; }
          lo.set(t, a); hi.set(t, b);
        }
      }
    }
  } finally {
    await session.release();
  }
  return { lo, hi };
}

/**
 * `names` in consecutive groups of at most `maxBytes` each (float sizes from `shapes`, times `scale`: the run's
 * batch over the shapes' batch); a tensor larger than that is a group of its own, one of unknown shape counts 0.
 */
export function fetchGroups(names: string[], shapes: Map<string, number[]>, scale: number, maxBytes: number): string[][] {
  return groupBySize(names, (t) => { const dims = shapes.get(t); return dims ? 4 * sizeOf(dims) * scale : 0; }, maxBytes);
}
