/** Registers every `quant/*` request and notification of src/shared/protocol.ts on the connection. */
import type { Connection } from 'vscode-languageserver';
import {
  AnalyzeRequest, CancelJobNotification, CloseModelNotification, CompareRequest, EvaluateRequest, ExportRequest,
  EngineStatusRequest, InspectRequest, QatRequest, RecommendRequest,
} from '../../shared/protocol';
import type { Engine } from '../engine';
import { analyze } from './analyze';
import { compareModels } from './compare';
import { evaluateRecipe, exportModel } from './export';
import { inspect } from './inspect';
import { runQatJob } from './qat';
import { recommendLayers } from './recommend';

/** Wires the quant requests to the engine's handlers. */
export function registerQuantRequests(connection: Connection, engine: Engine): void {
  connection.onRequest(InspectRequest, (p, token) =>
    engine.runJob('inspect', p.model, token, undefined, 'Inspecting model', (job) => inspect(engine, job, p)));

  connection.onRequest(AnalyzeRequest, (p, token) =>
    engine.runJob('analyze', p.model, token, p.workDoneToken, 'Analyzing quantization sensitivity', (job) => analyze(engine, connection, job, p)));
  connection.onRequest(EvaluateRequest, (p, token) =>
    engine.runJob('evaluate', p.model, token, p.workDoneToken, 'Evaluating recipe', (job) => evaluateRecipe(engine, job, p)));
  connection.onRequest(RecommendRequest, (p, token) =>
    engine.runJob('recommend', p.model, token, p.workDoneToken, 'Recommending mixed precision', (job) => recommendLayers(engine, job, p)));
  connection.onRequest(QatRequest, (p, token) =>
    engine.runJob('qat', p.model, token, p.workDoneToken, 'Quantization-aware training', (job) => runQatJob(engine, connection, job, p)));
  connection.onRequest(ExportRequest, (p, token) =>
    engine.runJob('export', p.model, token, p.workDoneToken, 'Exporting quantized model', (job) => exportModel(engine, job, p)));
  connection.onRequest(CompareRequest, (p, token) =>
    engine.runJob('compare', p.float, token, p.workDoneToken, 'Comparing float and quantized models', (job) => compareModels(engine, job, p)));

  connection.onRequest(EngineStatusRequest, () => ({
    models: engine.cache.models(), cacheBytes: Math.round(engine.cache.usedBytes()), budgetBytes: engine.cache.budget, threads: engine.threads, jobs: engine.jobs.list(),
  }));
  connection.onNotification(CloseModelNotification, (p) => { void engine.closeModel(p.model); });
  connection.onNotification(CancelJobNotification, (p) => { engine.jobs.cancel(p.id); });
}
