/** Registers every `quant/*` request and notification of src/shared/protocol.ts on the connection. */
import type { Connection } from 'vscode-languageserver';
import {
  AnalyzeRequest, CancelJobNotification, CloseModelNotification, CompareRequest, EvaluateRequest, ExportRequest,
  InspectRequest, QatRequest, RecommendRequest,
} from '../../shared/protocol';
import type { Engine } from '../engine';
import { notAvailable } from '../errors';
import { analyze } from './analyze';
import { exportModel } from './export';
import { inspect } from './inspect';

/** Wires the quant requests to the engine's handlers. */
export function registerQuantRequests(connection: Connection, engine: Engine): void {
  connection.onRequest(InspectRequest, (p, token) =>
    engine.runJob('inspect', p.model, token, undefined, 'Inspecting model', (job) => inspect(engine, job, p)));

  connection.onRequest(AnalyzeRequest, (p, token) =>
    engine.runJob('analyze', p.model, token, p.workDoneToken, 'Analyzing quantization sensitivity', (job) => analyze(engine, connection, job, p)));
  connection.onRequest(EvaluateRequest, async () => { throw notAvailable('quant/evaluate'); });
  connection.onRequest(RecommendRequest, async () => { throw notAvailable('quant/recommend'); });
  connection.onRequest(QatRequest, async () => { throw notAvailable('quant/qat'); });
  connection.onRequest(ExportRequest, (p, token) =>
    engine.runJob('export', p.model, token, p.workDoneToken, 'Exporting quantized model', (job) => exportModel(engine, job, p)));
  connection.onRequest(CompareRequest, async () => { throw notAvailable('quant/compare'); });

  connection.onNotification(CloseModelNotification, (p) => { void engine.closeModel(p.model); });
  connection.onNotification(CancelJobNotification, (p) => { engine.jobs.cancel(p.id); });
}
