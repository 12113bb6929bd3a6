/** `quant/recommend`: which layers to keep in higher precision to meet a target, verified by running the configurations. */
import { analyzeModel } from '../../core/analysis/analyze';
import { assertCandidatesFit, assertFiniteWeights, layerWeights } from '../../core/quant-checks';
import { parseCandidate } from '../../core/analysis/candidates';
import type { RecommendParams } from '../../shared/protocol';
import type { Recommendation } from '../../shared/report';
import type { Engine } from '../engine';
import type { Job } from '../jobs';
import { activationEstimate, analysisBudget } from './analyze';
import { openJobData } from './job-inputs';

/**
 * Runs the analysis restricted to the base and higher formats (isolated runs rank the layers; no all-but-one),
 * then the verified mixed-precision search. The recommendation is attached to the model's last report.
 */
export async function recommendLayers(engine: Engine, job: Job, params: RecommendParams): Promise<Recommendation> {
  const m = await engine.modelForJob(job, params.model);
  assertFiniteWeights(m.graph, layerWeights(m.inventory), m.path);
  assertCandidatesFit([params.base, params.higher].filter((f): f is string => !!f), m.inventory, m.path);
  const base = parseCandidate(params.base ?? 'w4a8');
  const higher = parseCandidate(params.higher ?? 'w8a8');
  const data = openJobData(params.data, m.graph.inputs);
  const budget = analysisBudget(engine);
  job.onFinish(await engine.cache.reserve(m.path, `activations:${job.info.id}`, activationEstimate(engine, m, data.samples, budget)));
  job.enter('capturing float activations', 2);
  const report = await analyzeModel({
    modelPath: m.path, model: m.model, data,
    formats: base.id === higher.id ? [base] : [base, higher], primaryFormat: base.id,
    base: params.base ?? 'w4a8', higher: params.higher ?? 'w8a8', target: params.target,
    allButOne: false, measure: 'all', threads: engine.threads, backend: engine.backend, signal: job.signal,
    memoryBudgetBytes: budget,
    onProgress: (p) => job.progress(p.message, 2 + (96 * p.done) / Math.max(1, p.total)),
  });
  job.throwIfCancelled();
  const rec = report.recommendation;
  if (!rec) throw new Error('the analysis returned no recommendation');
  const last = engine.getLastReport(m.path);
  if (last) { last.recommendation = rec; engine.setLastReport(m.path, last); }
  else engine.setLastReport(m.path, report);
  return rec;
}
