/** How many samples a QAT step takes and how many go through forward/backward at once (micro-batches), with the probed shapes. */
import { QuantLensError } from '../errors';
import { Graph } from '../onnx/graph';
import { DataType, ModelProto } from '../onnx/proto';
import { sizeOf } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { feedRows, fixedBatch, sampleCount, SampleSet } from './batches';
import { probeModel, ProbeResult } from './shape-probe';

/** Activation memory allowed by default for one forward/backward pass. */
export const DEFAULT_ACTIVATION_BUDGET = 1024 ** 3;

/** Batch options as runQat takes them. */
export interface BatchOptions {
  model: ModelProto;
  batchSize?: number;
  microBatch?: number;
  activationBudgetBytes?: number;
  /** ONNX Runtime threads of the probe runs (default 1). */
  threads?: number;
}

/** Samples per step, per forward/backward pass, and the shapes of every tensor at the pass's batch size. */
export interface BatchPlan {
  batch: number;
  micro: number;
  probe: ProbeResult;
}

/** Bytes of the float tensors the nodes of a probed model produce (what a pass keeps for backward, roughly). */
export function activationBytes(graph: Graph, probe: ProbeResult): number {
  let total = 0;
  for (const n of graph.nodes) for (const o of n.outputs) {
    const s = o ? probe.shapes.get(o) : undefined;
    if (s && probe.types.get(o) === DataType.FLOAT) total += 4 * sizeOf(s);
  }
  return total;
}

/**
 * Plans the batches: a fixed first input dim sets the micro-batch (the step size is rounded down to a multiple
 * of it, at least one); otherwise the micro-batch is the largest divisor of the step size whose activations (twice
 * the forward tensors, for the gradients alive beside them) fit the budget.
 */
export async function planBatches(o: BatchOptions, graph: Graph, samples: SampleSet, backend: InferenceBackend, file: string): Promise<BatchPlan> {
  const n = sampleCount(samples);
  const fixed = fixedBatch(graph.inputs, file);
  const rows = (k: number) => feedRows(samples, Array.from({ length: k }, (_, i) => Math.min(i, n - 1)));
  let batch = Math.min(o.batchSize ?? 64, n);
  if (fixed !== undefined) {
    if (n < fixed) throw new QuantLensError('train-data-count', `the model takes batches of exactly ${fixed} samples (its first input dim is fixed) but the data has only ${n}`, file);
    if (o.microBatch !== undefined && o.microBatch !== fixed) throw new QuantLensError('train-batch', `the model's batch dim is fixed at ${fixed}; a micro-batch of ${o.microBatch} cannot be fed`, file);
    batch = Math.max(fixed, Math.floor(batch / fixed) * fixed);
    return { batch, micro: fixed, probe: await probeModel(backend, o.model, rows(fixed), false, o.threads) };
  }
  if (o.microBatch !== undefined) {
    if (!(Number.isInteger(o.microBatch) && o.microBatch > 0 && batch % o.microBatch === 0)) throw new QuantLensError('train-batch', `the micro-batch (${o.microBatch}) must divide the batch size (${batch})`, file);
    return { batch, micro: o.microBatch, probe: await probeModel(backend, o.model, rows(o.microBatch), false, o.threads) };
  }
  const one = await probeModel(backend, o.model, rows(1), false, o.threads);
  const perSample = 2 * activationBytes(graph, one);
  const budget = o.activationBudgetBytes ?? DEFAULT_ACTIVATION_BUDGET;
  let micro = 1;
  for (let d = batch; d >= 1; d--) if (batch % d === 0 && d * perSample <= budget) { micro = d; break; }
  return { batch, micro, probe: micro === 1 ? one : await probeModel(backend, o.model, rows(micro), false, o.threads) };
}
