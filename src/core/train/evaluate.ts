/** Accuracy and agreement of a model (FP32, fake-quantized simulation, or exported QDQ) on labelled data. */
import { Graph } from '../onnx/graph';
import { ModelProto } from '../onnx/proto';
import { Tensor } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { ortBackend } from '../runtime/ort-backend';
import { FakeQuantSpec } from './fake-quant';
import { argmaxRows, checkSamples, feedRows, fixedBatch, logitsTensor, runBatches, sampleCount, SampleSet, withOutput } from './batches';
import { probeModel } from './shape-probe';
import { buildQuantForward } from './train-step';
import { createProtoSession } from '../runtime/proto-session';

/** Top-1 predictions of a model over all samples (one tensor for a one-input model, or one per input); with `specs`, of its fake-quantized simulation. */
export async function predict(model: ModelProto, input: Tensor | SampleSet, specs?: FakeQuantSpec[], opts: { batch?: number; backend?: InferenceBackend; threads?: number; fetch?: string; optimization?: 'disabled' | 'basic' | 'all' } = {}): Promise<Int32Array> {
  const backend = opts.backend ?? ortBackend();
  const graph = new Graph(model);
  const samples = checkSamples('dims' in input && Array.isArray(input.dims) ? { input: input as Tensor } : { inputs: input as SampleSet }, graph.inputs, '<model>');
  const n = sampleCount(samples);
  const fetch = opts.fetch ?? (specs ? logitsTensor(graph) : graph.outputs[0].name);
  const batch = fixedBatch(graph.inputs, '<model>') ?? Math.min(opts.batch ?? 100, n);
  let m: ModelProto = withOutput(model, fetch);
  let name = fetch;
  if (specs && specs.length) {
    const probe = await probeModel(backend, model, feedRows(samples, Array.from({ length: batch }, (_, i) => Math.min(i, n - 1))));
    m = buildQuantForward(model, probe, specs, fetch);
    name = m.graph!.output![0].name!;
  }
  const s = await createProtoSession(backend, m, { threads: opts.threads ?? 1, optimization: opts.optimization });
  try {
    const out = await runBatches(s, samples, name, batch);
    return argmaxRows(out, out.length / n);
  } finally {
    await s.release();
  }
}

/** Fraction of predictions equal to the labels. */
export function accuracy(pred: Int32Array, labels: Int32Array): number {
  let c = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) c++;
  return c / labels.length;
}
