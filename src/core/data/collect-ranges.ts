/**
 * Calibration runs: the activation tensors a plan quantizes are captured by a separate session (the model
 * with those tensors added as graph outputs, which would block QDQ fusion in the main session) over the data
 * batches, and each tensor's calibrator sees every batch.
 */
import { NumberFormat } from '../../shared/formats';
import { CalibrationSpec } from '../../shared/recipe';
import { QuantLensError } from '../errors';
import { Graph } from '../onnx/graph';
import { ModelProto } from '../onnx/proto';
import { toFloat32 } from '../onnx/tensor-data';
import { createCalibrator, Calibrator, MinMaxCalibrator } from '../quant/calibrate';
import { batchAxisFree, MIN_SLICE_SAMPLES, sliceFeeds, sliceSamples } from '../analysis/batch-slices';
import { QuantPlan, RangeMap } from '../quant/qdq-export';
import { InferenceBackend } from '../runtime/backend';
import { createModelSession } from '../runtime/fed-weights';
import { DataSource } from './source';

/** How one activation tensor is calibrated: the method and the format it will be quantized to. */
export interface RangeSpec {
  calibration: CalibrationSpec;
  format: NumberFormat;
}

/** Bytes of fetched tensors a calibration run may return (ONNX Runtime's outputs and their JavaScript copies): ViT-B/16's 98 activations are about 100 MB a sample. */
export const CALIBRATION_FETCH_BYTES = 64 * 2 ** 20;

/** Options of collectRanges. */
export interface CollectOptions {
  /** Samples per run (default 8; a fixed batch dim in the model wins). */
  batchSize?: number;
  /** Intra-op threads of the capture session (default 1). */
  threads?: number;
  /** Checked between batches; when it returns true the run stops with a QuantLensError('cancelled'). */
  cancelled?: () => boolean;
  /** File name for error messages. */
  file?: string;
  /** Fetched bytes a run may return before a batch runs in slices (default CALIBRATION_FETCH_BYTES). */
  maxFetchBytes?: number;
}

/** The integer-format activations of a plan with their calibration (the first layer's setting wins for a shared tensor). */
export function rangeSpecsFromPlan(plan: QuantPlan): Map<string, RangeSpec> {
  const out = new Map<string, RangeSpec>();
  for (const layer of plan) {
    for (const a of layer.activations) {
      if (a.format.kind !== 'int' || a.params || out.has(a.tensor)) continue;
      out.set(a.tensor, { calibration: a.calibration ?? { method: 'minmax' }, format: a.format });
    }
  }
  return out;
}

/** A copy of the model whose outputs are `tensors` (existing outputs kept); the input model is not modified. */
export function captureModel(model: ModelProto, tensors: readonly string[]): ModelProto {
  const g = model.graph!;
  const have = new Set((g.output ?? []).map((o) => o.name));
  const extra = tensors.filter((t) => !have.has(t)).map((name) => ({ name }));
  return { ...model, graph: { ...g, output: [...(g.output ?? []), ...extra] } };
}

/**
 * Calibrated ranges of `tensors`: runs the model over `data` in a capture session and feeds each tensor's
 * calibrator (from `specs`, min-max when a tensor has none). `onProgress(samplesDone, samplesTotal)` is
 * called after every batch. Graph inputs among `tensors` are calibrated from the feeds directly.
 */
export async function collectRanges(
  model: ModelProto,
  tensors: readonly string[],
  specs: ReadonlyMap<string, RangeSpec>,
  data: DataSource,
  backend: InferenceBackend,
  onProgress?: (done: number, total: number) => void,
  options: CollectOptions = {},
): Promise<RangeMap> {
  const ranges: RangeMap = new Map();
  const wanted = [...new Set(tensors)];
  if (wanted.length === 0) return ranges;
  const graph = new Graph(model, options.file);
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const known = new Set<string>([...inputNames, ...graph.nodes.flatMap((n) => n.outputs)]);
  const missing = wanted.filter((t) => !known.has(t));
  if (missing.length) {
    throw new QuantLensError('calibration-unknown-tensor', `cannot calibrate tensor${missing.length > 1 ? 's' : ''} the main graph does not compute: ${missing.slice(0, 5).map((t) => `'${t}'`).join(', ')}`, options.file);
  }
  const calibrators = new Map<string, Calibrator>();
  for (const t of wanted) {
    const s = specs.get(t);
    calibrators.set(t, s ? createCalibrator(s.calibration, s.format) : createCalibrator({ method: 'minmax' }, { kind: 'float' }));
  }
  const fetched = wanted.filter((t) => !inputNames.has(t));
  // big MatMul/Gemm weights fed from the model's buffers, not encoded and copied into the session (fed-weights.ts)
  const session = await createModelSession(backend, captureModel(model, fetched), { optimization: 'basic', threads: options.threads ?? 1 });
  let done = 0;
  // Min-max ranges do not depend on how the samples are split into runs: a batch runs in slices whose fetched tensors
  // stay within CALIBRATION_FETCH_BYTES (decided on a first slice of MIN_SLICE_SAMPLES; a model whose fetched tensors
  // do not follow the slice's samples runs whole batches).
  let per = batchAxisFree(graph) && [...calibrators.values()].every((c) => c instanceof MinMaxCalibrator) ? undefined : 0;
  try {
    for await (const batch of data.batches(options.batchSize ?? 8)) {
      if (options.cancelled?.()) throw new QuantLensError('cancelled', 'calibration was cancelled');
      const n = Object.values(batch.feeds)[0]?.dims[0] ?? 1;
      const cuttable = Object.values(batch.feeds).every((t) => t.dims.length > 0 && t.dims[0] === n);
      for (let start = 0; start < n;) {
        const probe = per === undefined && cuttable && n >= 2 * MIN_SLICE_SAMPLES;
        const end = probe ? MIN_SLICE_SAMPLES : per ? Math.min(n, start + per) : n;
        const feeds = start === 0 && end === n ? batch.feeds : sliceFeeds(batch.feeds, start, end);
        const out = fetched.length ? await session.run(feeds, fetched) : {};
        if (probe) {
          const values = Object.values(out);
          if (values.some((t) => t.dims.length && t.dims[0] !== end)) { per = 0; continue; } // nothing observed: the whole batch again
          const bytesPerSample = values.reduce((b, t) => b + t.data.byteLength, 0) / end;
          per = sliceSamples(batch.feeds, n, bytesPerSample, options.maxFetchBytes ?? CALIBRATION_FETCH_BYTES) ?? n;
        }
        for (const t of wanted) {
          const v = inputNames.has(t) ? feeds[t] : out[t];
          if (!v) throw new QuantLensError('calibration-failed', `ONNX Runtime returned no value for tensor '${t}'`, options.file);
          calibrators.get(t)!.observe(toFloat32(v));
        }
        start = end;
      }
      done += n;
      onProgress?.(done, data.samples);
    }
  } finally {
    await session.release();
  }
  if (done === 0) throw new QuantLensError('data-empty', 'the data gave no batch to calibrate with', data.description.source);
  for (const [t, c] of calibrators) ranges.set(t, c.range());
  return ranges;
}
