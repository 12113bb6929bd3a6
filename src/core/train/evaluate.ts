/** Accuracy and agreement of a model (FP32, fake-quantized simulation, or exported QDQ) on labelled data. */
import { Graph } from '../onnx/graph';
import { encodeModelProto, ModelProto } from '../onnx/proto';
import { InferenceBackend } from '../runtime/backend';
import { ortBackend } from '../runtime/ort-backend';
import { FakeQuantSpec } from './fake-quant';
import { argmaxRows, gatherRows, logitsTensor, runBatches, withOutput } from './batches';
import type { QatData } from './qat';
import { probeModel } from './shape-probe';
import { buildQuantForward } from './train-step';

/** Top-1 predictions of a model over all samples; with `specs`, of its fake-quantized simulation. */
export async function predict(model: ModelProto, input: QatData['input'], specs?: FakeQuantSpec[], opts: { batch?: number; backend?: InferenceBackend; threads?: number; fetch?: string; optimization?: 'disabled' | 'basic' | 'all' } = {}): Promise<Int32Array> {
  const backend = opts.backend ?? ortBackend();
  const graph = new Graph(model);
  const inputName = graph.inputs[0].name;
  const fetch = opts.fetch ?? (specs ? logitsTensor(graph) : graph.outputs[0].name);
  const batch = Math.min(opts.batch ?? 100, input.dims[0]);
  let m: ModelProto = withOutput(model, fetch);
  let name = fetch;
  if (specs && specs.length) {
    const probe = await probeModel(backend, model, { [inputName]: gatherRows(input, Array.from({ length: batch }, (_, i) => i)) });
    m = buildQuantForward(model, probe, specs, fetch);
    name = m.graph!.output![0].name!;
  }
  const s = await backend.createSession(encodeModelProto(m), { threads: opts.threads ?? 1, optimization: opts.optimization });
  try {
    const out = await runBatches(s, inputName, input, name, batch);
    return argmaxRows(out, out.length / input.dims[0]);
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
