/** `quant/compare`: run a float model and its quantized version side by side and measure every tensor they share. */
import { detectOutputLayout, ErrorAccumulator, isFloatTensor, MetricsAccumulator } from '../../core/analysis/metrics';
import { LogitsKernel } from '../../core/analysis/logits-kernel';
import { QuantLensError } from '../../core/errors';
import { captureModel } from '../../core/data/collect-ranges';
import { encodeModelProto } from '../../core/onnx/proto';
import { unfetchableTensors } from '../../core/onnx/shapes';
import { toFloat32 } from '../../core/onnx/tensor-data';
import type { RuntimeSession } from '../../core/runtime/backend';
import type { CompareParams, TensorComparison } from '../../shared/protocol';
import type { EndToEndMetrics } from '../../shared/report';
import type { LoadedModel } from '../context';
import type { Engine } from '../engine';
import type { Job } from '../jobs';
import { openJobData } from './job-inputs';
import { floatSession, JOB_BATCH_SIZE } from './measure';
import { createProtoSession } from '../../core/runtime/proto-session';

/** Tensors fetched per run (bounds the memory of one batch's activations). */
const FETCH_CHUNK = 200;

/** Computed tensors of the float model that the quantized model also computes under the same name (graph outputs last). */
export function sharedTensors(f: LoadedModel, q: LoadedModel): string[] {
  const qOut = new Set(q.graph.nodes.flatMap((n) => n.outputs));
  const bad = unfetchableTensors(q.graph);
  const out: string[] = [];
  for (const n of f.graph.nodes) {
    if (n.opType === 'Constant') continue;
    for (const o of n.outputs) if (o && !f.graph.isConstant(o) && qOut.has(o) && !bad.has(o)) out.push(o);
  }
  return out;
}

/**
 * Matches tensors by name, runs both models on the data and returns per-tensor SQNR, cosine and max difference.
 * Intermediate tensors are captured with basic optimizations (capturing blocks QDQ fusion, so they follow the
 * exact Q/DQ arithmetic); the output metrics come from fully optimized sessions, as the model runs when deployed.
 */
export async function compareModels(engine: Engine, job: Job, params: CompareParams): Promise<{ tensors: TensorComparison[]; outputs: EndToEndMetrics }> {
  const f = await engine.modelForJob(job, params.float);
  const q = await engine.modelForJob(job, params.quantized);
  const missing = f.graph.inputs.filter((i) => !q.graph.inputs.some((j) => j.name === i.name));
  if (missing.length) throw new QuantLensError('compare-inputs', `the quantized model lacks the float model's input${missing.length > 1 ? 's' : ''} ${missing.map((i) => `'${i.name}'`).join(', ')}`, q.path);
  const outputs = f.graph.outputs.map((o) => o.name);
  const shared = sharedTensors(f, q).filter((t) => !outputs.includes(t));
  const chunks: string[][] = [];
  for (let i = 0; i < shared.length; i += FETCH_CHUNK) chunks.push(shared.slice(i, i + FETCH_CHUNK));
  if (!chunks.length) chunks.push([]);
  chunks[chunks.length - 1].push(...outputs);
  const data = openJobData(params.data, f.graph.inputs);
  job.enter('creating capture sessions', 5);
  const fSessions: RuntimeSession[] = [], qs: RuntimeSession[] = [];
  const acc = new Map<string, { e: ErrorAccumulator; max: number }>();
  let outAcc: MetricsAccumulator | undefined;
  const logits = new LogitsKernel(engine.backend);
  const fOut = await floatSession(engine, job, f);
  const qOut = await engine.backend.createSession(q.path, { threads: engine.threads });
  try {
    for (const c of chunks) {
      fSessions.push(await createProtoSession(engine.backend, captureModel(f.model, c), { optimization: 'basic', threads: engine.threads }));
      qs.push(await createProtoSession(engine.backend, captureModel(q.model, c), { optimization: 'basic', threads: engine.threads }));
    }
    job.enter('running both models', 10);
    let done = 0;
    for await (const batch of data.batches(JOB_BATCH_SIZE)) {
      for (let k = 0; k < chunks.length; k++) {
        job.throwIfCancelled();
        const feedsQ = Object.fromEntries(Object.entries(batch.feeds).filter(([name]) => q.graph.inputs.some((i) => i.name === name)));
        const r = await fSessions[k].run(batch.feeds, chunks[k]);
        const t = await qs[k].run(feedsQ, chunks[k]);
        for (const name of chunks[k]) {
          if (!r[name] || !t[name] || !isFloatTensor(r[name]) || !isFloatTensor(t[name])) continue;
          const a = toFloat32(r[name]), b = toFloat32(t[name]);
          if (a.length !== b.length) continue;
          let s = acc.get(name);
          if (!s) acc.set(name, (s = { e: new ErrorAccumulator(), max: 0 }));
          s.e.add(a, b);
          for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i] - b[i]); if (d > s.max) s.max = d; }
        }
      }
      // Output metrics as deployed: fully optimized sessions (fused integer kernels), like export measures them.
      const r = await fOut.run(batch.feeds, outputs);
      const t = await qOut.run(Object.fromEntries(Object.entries(batch.feeds).filter(([name]) => q.graph.inputs.some((i) => i.name === name))), outputs);
      outAcc ??= new MetricsAccumulator(detectOutputLayout(r, outputs), logits);
      await outAcc.add(r, t, batch.labels);
      done += Object.values(batch.feeds)[0]?.dims[0] ?? 1;
      job.progress(`compared ${done}/${data.samples} samples`, 10 + (88 * done) / Math.max(1, data.samples));
    }
  } finally {
    for (const s of [...fSessions, ...qs, qOut]) await s.release();
    await logits.release();
  }
  if (!outAcc) throw new QuantLensError('data-empty', 'the data gave no batch to compare with', data.description.source);
  const tensors: TensorComparison[] = [];
  for (const name of [...shared, ...outputs]) {
    const s = acc.get(name);
    if (!s) continue;
    tensors.push({ tensor: name, producer: f.graph.producer.get(name)?.name ?? '', sqnrDb: s.e.sqnrDb(), cosine: s.e.cosine(), maxAbsDiff: s.max });
  }
  return { tensors, outputs: outAcc.result() };
}
