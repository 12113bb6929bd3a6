/** `quant/export`: calibrate the recipe's activations and write a QDQ model that ONNX Runtime loads. */
import * as path from 'path';
import { QuantLensError } from '../../core/errors';
import { writeFileAtomic } from '../../core/onnx/model-file';
import type { EvaluateParams, EvaluateResult, ExportParams, ExportResult } from '../../shared/protocol';
import type { Engine } from '../engine';
import type { Job } from '../jobs';
import { resolveRecipe } from './job-inputs';
import { measureAgainstFloat } from './measure';
import { quantizeForJob } from './quantize-job';

/** Quantizes, checks ORT loads the result, measures it against the float model, then writes it atomically. */
export async function exportModel(engine: Engine, job: Job, params: ExportParams): Promise<ExportResult> {
  if (!params.output) throw new QuantLensError('export-no-output', 'no output file given');
  const output = path.resolve(params.output);
  const m = await engine.modelForJob(job, params.model);
  const q = await quantizeForJob(engine, job, m, resolveRecipe(params.recipe), params.data);
  try {
    job.enter('measuring the exported model against the float model', 70);
    const metrics = await measureAgainstFloat(engine, job, m, q.session, q.data, 70, 98);
    job.throwIfCancelled();
    job.enter(`writing ${output}`, 99);
    writeFileAtomic(output, q.bytes);
    return { output, sizeBytes: q.bytes.byteLength, floatSizeBytes: m.fileBytes, metrics };
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
    const metrics = await measureAgainstFloat(engine, job, m, q.session, q.data, 70, 100);
    return { metrics, sizeBytes: q.bytes.byteLength };
  } finally {
    await q.session.release();
  }
}
