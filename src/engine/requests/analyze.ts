/** `quant/analyze`: the per-layer sensitivity analysis, streaming layer reports as partial results. */
import * as path from 'path';
import type { Connection } from 'vscode-languageserver';
import { analyzeModel } from '../../core/analysis/analyze';
import { defaultStateDir } from '../../core/analysis/analysis-state';
import { renderHtmlReport } from '../../core/analysis/html-report';
import { writeFileAtomic } from '../../core/onnx/model-file';
import { checkOutputFile } from '../../core/output-file';
import { assertCandidatesFit, assertFiniteWeights, layerWeights } from '../../core/quant-checks';
import { AnalyzePartialResult } from '../../shared/protocol';
import type { AnalyzeParams } from '../../shared/protocol';
import type { AnalysisReport, LayerReport } from '../../shared/report';
import type { LoadedModel } from '../context';
import type { Engine } from '../engine';
import type { Job } from '../jobs';
import { openJobData, resolveRecipe } from './job-inputs';

/** The smallest activation-cache budget an analysis gets, whatever the other caches hold. */
const MIN_ANALYSIS_BUDGET = 64 * 1024 * 1024;

/** The activation-cache budget of a new analysis: what the memory budget has left (running analyses reserve theirs). */
export function analysisBudget(engine: Engine): number {
  return Math.max(MIN_ANALYSIS_BUDGET, engine.cache.budget - engine.cache.usedBytes());
}

/**
 * What an analysis is expected to hold: float32 copies of every computed tensor for each sample (from the shapes
 * inferred at batch 1 when the model was loaded), at most `budget`; the whole budget when shapes are unknown.
 */
export function activationEstimate(engine: Engine, m: LoadedModel, samples: number, budget: number): number {
  const shapes = engine.modelExtras(m.path).shapes;
  if (!shapes) return budget;
  let perSample = 0;
  for (const n of m.graph.nodes) {
    if (n.opType === 'Constant') continue;
    for (const o of n.outputs) {
      const d = shapes.get(o);
      if (d && !m.graph.isConstant(o)) perSample += 4 * d.reduce((a, b) => a * b, 1) / Math.max(1, d[0] ?? 1);
    }
  }
  return Math.min(budget, perSample * Math.max(1, samples));
}

/**
 * Runs the analysis on the cached model; each layer's report goes out as a partial result (`AnalyzePartialResult`,
 * a one-element LayerReport[]) as soon as its isolated runs are done, and the full report is the response.
 */
export async function analyze(engine: Engine, connection: Connection, job: Job, params: AnalyzeParams): Promise<AnalysisReport> {
  for (const [out, what] of [[params.reportPath, 'report'], [params.htmlPath, 'HTML report'], [params.recipeOut, 'recipe output']] as const) if (out) checkOutputFile(out, what);
  const m = await engine.modelForJob(job, params.model);
  assertFiniteWeights(m.graph, layerWeights(m.inventory), m.path);
  assertCandidatesFit(params.formats, m.inventory, m.path);
  const rr = params.recipe ? resolveRecipe(params.recipe) : undefined;
  job.enter('opening the data', 1);
  const data = openJobData(params.data, m.graph.inputs, rr);
  const token = params.partialResultToken;
  const budget = analysisBudget(engine);
  job.onFinish(await engine.cache.reserve(m.path, `activations:${job.info.id}`, activationEstimate(engine, m, data.samples, budget)));
  job.enter('capturing float activations', 2);
  const report = await analyzeModel({
    modelPath: m.path,
    model: m.model,
    recipe: rr?.recipe,
    data,
    formats: params.formats,
    target: params.target,
    measure: params.measure,
    allButOne: params.allButOne,
    screeningSamples: params.screeningSamples,
    executionProviders: params.executionProviders,
    stateDir: defaultStateDir(),
    onPartialReport: params.reportPath ? (r) => writeFileAtomic(path.resolve(params.reportPath!), `${JSON.stringify(r, null, 2)}\n`) : undefined,
    memoryBudgetBytes: budget,
    threads: engine.threads,
    backend: engine.backend,
    signal: job.signal,
    onProgress: (p) => {
      const pct = 2 + (96 * p.done) / Math.max(1, p.total);
      const message = p.phase ? `${p.phase}: ${p.message}` : p.message;
      if (/^layer |^all /.test(p.message)) {
        job.progress(message, pct);
        job.at(`analysing ${p.message} (${p.done}/${p.total})`); // step file only: names the layer after a crash
      } else job.enter(message, pct); // a new phase: logged on stderr too
    },
    onLayer: (layer: LayerReport) => {
      if (token !== undefined) void connection.sendProgress(AnalyzePartialResult, token, [layer]);
    },
  });
  job.throwIfCancelled();
  engine.setLastReport(m.path, report);
  job.enter('writing outputs', 99);
  writeOutputs(report, params);
  return report;
}

/** Writes the recommended recipe, the report JSON and the standalone HTML report when asked. */
function writeOutputs(report: AnalysisReport, params: AnalyzeParams): void {
  if (params.recipeOut) {
    if (report.recommendation) writeFileAtomic(path.resolve(params.recipeOut), `${JSON.stringify(report.recommendation.recipe, null, 2)}\n`);
    else report.warnings.push(`no recipe was written to ${params.recipeOut}: the analysis made no recommendation (give a target)`);
  }
  if (params.reportPath) writeFileAtomic(path.resolve(params.reportPath), `${JSON.stringify(report, null, 2)}\n`);
  if (params.htmlPath) writeFileAtomic(path.resolve(params.htmlPath), renderHtmlReport(report));
}
