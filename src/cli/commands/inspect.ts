/** `quantlens inspect <model.onnx> [--json]`: the model summary and its table of quantizable layers. */
import { Command } from 'commander';
import { buildInventory, buildInventoryAsync } from '../../core/onnx/inventory';
import { QuantLayer } from '../../core/onnx/layer';
import { inferShapes } from '../../core/onnx/shapes';
import { modelSummary } from '../../core/onnx/summary';
import { ortBackend } from '../../core/runtime/ort-backend';
import { ModelSummary } from '../../shared/model-summary';
import { CliIO, EXIT_CODES_HELP, formatBytes, formatCount, formatTable } from '../context';
import { loadModelForCli } from '../model-input';

/** Options of the inspect command. */
export interface InspectOptions {
  json?: boolean;
  /** Run the model once in ONNX Runtime to know shapes and MACs (default true). */
  shapes?: boolean;
}

/** What `inspect --json` prints. */
export interface InspectResult {
  summary: ModelSummary;
  layers: QuantLayer[];
  /** What limited the inspection (e.g. ONNX Runtime cannot run the model, so the static view is shown). */
  warnings?: string[];
}

/** Builds the summary and layer inventory of a model file. */
export async function inspectModel(file: string, options: InspectOptions = {}): Promise<InspectResult> {
  const { model, graph, fileSize } = loadModelForCli(file);
  let layers: QuantLayer[] | undefined;
  let shapes: Map<string, number[]> | undefined;
  const warnings: string[] = [];
  if (options.shapes !== false) {
    try {
      shapes = await inferShapes(model, ortBackend(), undefined, { threads: 1, file });
      layers = await buildInventoryAsync(graph, ortBackend(), { shapes });
    } catch (e) {
      // ONNX Runtime cannot run this model: the static view (no MACs or inferred shapes) still describes it.
      warnings.push(`ONNX Runtime cannot run this model, so this is the static view (no MACs or inferred shapes): ${(e instanceof Error ? e.message : String(e)).replace(`${file}: `, '')}`);
      shapes = undefined;
    }
  }
  layers ??= buildInventory(graph);
  return { summary: modelSummary(model, graph, layers, { file, fileSize, shapes }), layers, ...(warnings.length ? { warnings } : {}) };
}

const shape = (s: readonly (number | string)[] | undefined) => (s ? `(${s.join(', ')})` : '(unknown)');

/** The text report of `inspect`. */
export function formatInspect(r: InspectResult): string {
  const s = r.summary;
  const lines: string[] = [];
  lines.push(`Model     ${s.file ?? ''}${s.fileSize !== undefined ? ` (${formatBytes(s.fileSize)})` : ''}`);
  lines.push(`Format    ONNX IR ${s.irVersion}, opset ${s.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}${s.producer ? `, producer ${s.producer}${s.producerVersion ? ` ${s.producerVersion}` : ''}` : ''}`);
  for (const i of s.inputs) lines.push(`Input     ${i.name}: ${i.type} ${shape(i.shape)}${i.inferredShape ? ` [ran as ${shape(i.inferredShape)}]` : ''}`);
  for (const o of s.outputs) lines.push(`Output    ${o.name}: ${o.type} ${shape(o.shape)}${o.inferredShape ? ` [${shape(o.inferredShape)}]` : ''}`);
  lines.push(`Nodes     ${s.nodeCount}: ${s.opHistogram.slice(0, 8).map((h) => `${h.op} ${h.count}`).join(', ')}${s.opHistogram.length > 8 ? ', ...' : ''}`);
  lines.push(`Params    ${formatCount(s.parameterCount)} float parameters, ${formatBytes(s.constantBytes)} of constants; ${formatCount(s.layerParams)} in quantizable layers`);
  lines.push(`MACs      ${s.macs === undefined ? 'unknown (shapes not inferred)' : `${formatCount(s.macs)} per sample at the shapes above`}`);
  lines.push(`Layers    ${s.layerCount} quantizable: ${Object.entries(s.layersByKind).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}`);
  if (Object.keys(s.weightSources).length) lines.push(`Weights   ${Object.entries(s.weightSources).map(([k, n]) => `${n} in ${k}s`).join(', ')}`);
  lines.push('');
  const rows = r.layers.map((l, i) => [
    String(i + 1), l.name, l.opType, l.kind, l.weight ? shape(l.weight.dims) : '-', formatCount(l.params), formatCount(l.macs),
    l.weightStats ? l.weightStats.channelRangeSpread.toFixed(1) : '-',
  ]);
  lines.push(formatTable(['#', 'layer', 'op', 'kind', 'weight', 'params', 'MACs', 'ch-spread'], rows, [true, false, false, false, false, true, true, true]));
  for (const w of r.warnings ?? []) lines.push(`Note: ${w}`);
  return lines.join('\n');
}

/** Registers `inspect`. */
export function registerInspect(program: Command, io: CliIO): void {
  program
    .command('inspect')
    .description('show a model\'s summary (inputs, opsets, parameters, MACs) and its quantizable layers')
    .argument('<model>', 'the .onnx model file')
    .option('--json', 'print the summary and layers as JSON')
    .option('--no-shapes', 'do not run the model in ONNX Runtime to infer shapes (no MACs)')
    .addHelpText('after', `
Columns: ch-spread = largest per-output-channel |w| max over the median channel's (large values
suffer with per-tensor quantization).
${EXIT_CODES_HELP}`)
    .action(async (file: string, opts: { json?: boolean; shapes?: boolean }) => {
      const r = await inspectModel(file, { shapes: opts.shapes });
      io.out(opts.json ? JSON.stringify(r, null, 2) : formatInspect(r));
    });
}
