/** Registers every `quant/*` request and notification of src/shared/protocol.ts on the connection, params checked first. */
import type { CancellationToken, Connection } from 'vscode-languageserver';
import { ResponseError } from 'vscode-languageserver';
import type { RequestType } from 'vscode-languageserver';
import {
  AnalyzeRequest, CancelJobNotification, CloseModelNotification, CompareRequest, EngineErrorCodes, EvaluateRequest, ExportRequest,
  EngineStatusRequest, GraphRequest, InspectRequest, QatRequest, RecommendRequest,
} from '../../shared/protocol';
import type { EngineErrorData } from '../../shared/protocol';
import { checkRequestParams, RequestParamsOf, ValidatedMethod } from '../../shared/request-params';
import type { Engine } from '../engine';
import { analyze } from './analyze';
import { compareModels } from './compare';
import { evaluateRecipe, exportModel } from './export';
import { graphOf } from './graph';
import { inspect } from './inspect';
import { runQatJob } from './qat';
import { recommendLayers } from './recommend';

/** The params of `method` checked against the shared schema; a ResponseError (InvalidParams) naming the field otherwise. */
export function validParams<M extends ValidatedMethod>(method: M, params: unknown): RequestParamsOf<M> {
  const r = checkRequestParams(method, params);
  if (r.ok) return r.value;
  throw new ResponseError<EngineErrorData>(EngineErrorCodes.InvalidParams, `${method}: ${r.field}: ${r.message}`, { code: 'invalid-params', field: r.field });
}

/** Wires the quant requests to the engine's handlers. */
export function registerQuantRequests(connection: Connection, engine: Engine): void {
  /** Registers a request whose params are checked before its job starts. */
  const on = <P, R>(type: RequestType<P, R, void>, method: ValidatedMethod, run: (p: P, token: CancellationToken) => Promise<R>) => {
    // The schema accepts what P declares (inline recipes may leave out version/model: resolveRecipe fills them).
    connection.onRequest(type.method, (raw: unknown, token: CancellationToken) => run(validParams(method, raw) as P, token));
  };
  on(InspectRequest, 'quant/inspect', (p, token) =>
    engine.runJob('inspect', p.model, token, undefined, 'Inspecting model', (job) => inspect(engine, job, p)));
  on(GraphRequest, 'quant/graph', (p, token) =>
    engine.runJob('inspect', p.model, token, undefined, 'Reading the model graph', (job) => graphOf(engine, job, p)));

  on(AnalyzeRequest, 'quant/analyze', (p, token) =>
    engine.runJob('analyze', p.model, token, p.workDoneToken, 'Analyzing quantization sensitivity', (job) => analyze(engine, connection, job, p)));
  on(EvaluateRequest, 'quant/evaluate', (p, token) =>
    engine.runJob('evaluate', p.model, token, p.workDoneToken, 'Evaluating recipe', (job) => evaluateRecipe(engine, job, p)));
  on(RecommendRequest, 'quant/recommend', (p, token) =>
    engine.runJob('recommend', p.model, token, p.workDoneToken, 'Recommending mixed precision', (job) => recommendLayers(engine, job, p)));
  on(QatRequest, 'quant/qat', (p, token) =>
    engine.runJob('qat', p.model, token, p.workDoneToken, 'Quantization-aware training', (job) => runQatJob(engine, connection, job, p)));
  on(ExportRequest, 'quant/export', (p, token) =>
    engine.runJob('export', p.model, token, p.workDoneToken, 'Exporting quantized model', (job) => exportModel(engine, job, p)));
  on(CompareRequest, 'quant/compare', (p, token) =>
    engine.runJob('compare', p.float, token, p.workDoneToken, 'Comparing float and quantized models', (job) => compareModels(engine, job, p)));

  connection.onRequest(EngineStatusRequest, () => engine.status());
  connection.onNotification(CloseModelNotification.method, (raw: unknown) => {
    const r = checkRequestParams('quant/closeModel', raw);
    if (r.ok) void engine.closeModel(r.value.model);
    else engine.log(`quant/closeModel ignored: ${r.field}: ${r.message}`);
  });
  connection.onNotification(CancelJobNotification.method, (raw: unknown) => {
    const r = checkRequestParams('quant/cancelJob', raw);
    if (r.ok) engine.jobs.cancel(r.value.id);
    else engine.log(`quant/cancelJob ignored: ${r.field}: ${r.message}`);
  });
}
