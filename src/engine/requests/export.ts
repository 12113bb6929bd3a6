/** `quant/export`: calibrate the recipe's activations and write a QDQ model that ONNX Runtime loads. */
import * as path from 'path';
import { QuantLensError } from '../../core/errors';
import { checkOutputFile, writeOutputFile } from '../../core/output-file';
import { fusedLossWarning } from '../../core/quant/ort-fidelity';
import type { EndToEndMetrics } from '../../shared/report';
import type { EvaluateParams, EvaluateResult, ExportParams, ExportResult } from '../../shared/protocol';
import type { Engine } from '../engine';
import type { Job } from '../jobs';
import type { LoadedModel } from '../context';
import { resolveRecipe } from './job-inputs';
import { measureSessions } from './measure';
import { QuantizedModel, quantizeForJob } from './quantize-job';

/**
 * Metrics of the quantized model as ONNX Runtime runs it (fused kernels) and, when `exact` (export always; evaluate
 * when a deviation is predicted), of the same bytes with graph optimizations disabled; warnings: predicted, plus
 * a measured one when the fused run is clearly worse than the exact arithmetic.
 */
async function measureQuantized(engine: Engine, job: Job, m: LoadedModel, q: QuantizedModel, exact: boolean, from: number, to: number): Promise<{ metrics: EndToEndMetrics; exactMetrics?: EndToEndMetrics; warnings: string[] }> {
  const warnings = q.warnings.slice();
  if (!exact) return { metrics: (await measureSessions(engine, job, m, [q.session], q.data, from, to))[0], warnings };
  const xs = await engine.backend.createSession(q.bytes, { threads: engine.threads, optimization: 'disabled' });
  try {
    const [metrics, exactMetrics] = await measureSessions(engine, job, m, [q.session, xs], q.data, from, to);
    const w = fusedLossWarning('model outputs', metrics.sqnrDb, exactMetrics.sqnrDb);
    if (w) warnings.push(w);
    return { metrics, exactMetrics, warnings };
  } finally {
    await xs.release();
  }
}

/** Quantizes, checks ORT loads the result, measures it against the float model, then writes it atomically. */
export async function exportModel(engine: Engine, job: Job, params: ExportParams): Promise<ExportResult> {
  if (!params.output) throw new QuantLensError('export-no-output', 'no output file given');
  const output = checkOutputFile(params.output, 'export output');
  const m = await engine.modelForJob(job, params.model);
  const q = await quantizeForJob(engine, job, m, resolveRecipe(params.recipe), params.data);
  try {
    job.enter('measuring the exported model against the float model', 70);
    const measured = await measureQuantized(engine, job, m, q, true, 70, 98);
    job.throwIfCancelled();
    job.enter(`writing ${output}`, 99);
    const sizeBytes = writeOutputFile(output, q.bytes, 'export output');
    return { output, sizeBytes, floatSizeBytes: m.fileBytes, ...measured };
  } finally {
    await q.session.release();
  }
}

/** `quant/evaluate`: the same QDQ model as export would write, run on the data and measured, without writing it. */
export async function evaluateRecipe(engine: Engine, job: Job, params: EvaluateParams): Promise<EvaluateResult> {
  const m = await engine.modelForJob(job, params.model);
  const q = await quantizeForJob(engine, job, m, resolveRecipe(params.recipe), params.data);
  try {
    job.enter('measuring the quantized model against the float model', 70);
    const measured = await measureQuantized(engine, job, m, q, q.warnings.length > 0, 70, 100);
    return { sizeBytes: q.bytes.byteLength, ...measured };
  } finally {
    await q.session.release();
  }
}
