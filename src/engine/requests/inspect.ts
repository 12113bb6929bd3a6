/** `quant/inspect`: the model summary and the table of quantizable layers. */
import { modelSummary } from '../../core/onnx/summary';
import type { QuantLayer } from '../../core/onnx/layer';
import type { LayerRow, ModelInfo, ModelParams } from '../../shared/protocol';
import type { Engine } from '../engine';
import type { Job } from '../jobs';

/** A layer as a table row. */
export function layerRow(l: QuantLayer): LayerRow {
  const row: LayerRow = { name: l.name, opType: l.opType, kind: l.kind, nodeIndex: l.nodeIndex, params: l.params };
  if (l.macs !== undefined) row.macs = l.macs;
  if (l.weight) row.weightShape = l.weight.dims.slice();
  if (l.weightStats) row.channelRangeSpread = l.weightStats.channelRangeSpread;
  return row;
}

/** Loads (or reuses) the model and describes it. */
export async function inspect(engine: Engine, job: Job, params: ModelParams): Promise<ModelInfo> {
  const m = await engine.modelForJob(job, params.model);
  job.enter('summarising the model', 90);
  const extras = engine.modelExtras(m.path);
  const summary = modelSummary(m.model, m.graph, m.inventory, { file: m.path, fileSize: m.fileBytes, shapes: extras.shapes });
  return { model: m.path, summary, layers: m.inventory.map(layerRow), warnings: extras.warnings.slice() };
}
