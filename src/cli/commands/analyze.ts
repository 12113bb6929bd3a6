/** `quantlens analyze <model> [--data ...] [--formats ...] [--target ...] -o report.json --html report.html --recipe out.qrecipe.json`. */
import * as path from 'path';
import { Command, InvalidArgumentError } from 'commander';
import { analyzeModel } from '../../core/analysis/analyze';
import { defaultStateDir } from '../../core/analysis/analysis-state';
import { renderHtmlReport } from '../../core/analysis/html-report';
import { parseTarget } from '../../core/analysis/target';
import { openDataSource } from '../../core/data/open';
import { isQuantLensError, QuantLensError } from '../../core/errors';
import { checkOutputFile, writeOutputFile } from '../../core/output-file';
import { assertCandidatesFit, assertFiniteWeights, layerWeights } from '../../core/quant-checks';
import { buildInventory } from '../../core/onnx/inventory';
import { describeData } from '../../shared/data';
import { parseAlgorithm, QuantAlgorithm, QUANT_ALGORITHMS, Recipe } from '../../shared/recipe';
import { AnalysisReport, REPAIR_NOT_COMPUTED, Target } from '../../shared/report';
import { CliIO, EXIT_CODES_HELP, formatTable } from '../context';
import { addDataOptions, DataFlags, dataFromFlags, positiveInt } from '../data-options';
import { loadModelForCli, readRecipeFile, recipeDataPath } from '../model-input';
import { createProgress, Progress } from '../progress';

/** Options of the analyze command. */
export interface AnalyzeCliOptions extends DataFlags {
  output?: string;
  html?: string;
  recipe?: string;
  recipeIn?: string;
  formats?: string;
  primary?: string;
  target?: Target;
  base?: string;
  higher?: string;
  allButOne?: boolean;
  /** Repair algorithms to try per layer (comma-separated), or false (--no-repair). */
  repair?: string | false;
  batchSize?: number;
  threads?: number;
  memory?: number;
  measure?: 'all' | 'decisive';
  screeningSamples?: number;
  executionProvider?: string;
  /** False with --no-resume: no resumable state is read or written. */
  resume?: boolean;
}

/** Runs the analysis for the CLI and writes the requested files; returns the report. */
export async function analyzeForCli(file: string, o: AnalyzeCliOptions, io?: CliIO): Promise<AnalysisReport> {
  for (const [out, what] of [[o.output, 'report'], [o.html, 'HTML report'], [o.recipe, 'recipe output']] as const) if (out) checkOutputFile(out, what);
  const { model, graph } = loadModelForCli(file);
  let staticLayers;
  try { staticLayers = buildInventory(graph); } catch { /* the analysis reports what it cannot read */ }
  if (staticLayers) assertFiniteWeights(graph, layerWeights(staticLayers), file);
  if (staticLayers) assertCandidatesFit(o.formats?.split(','), staticLayers, file);
  const recipe: Recipe | undefined = o.recipeIn ? readRecipeFile(o.recipeIn) : undefined;
  const flags = dataFromFlags(o);
  const spec = flags.spec ?? (o.recipeIn && recipe ? recipeDataPath(o.recipeIn, recipe) : undefined) ?? { kind: 'synthetic' as const };
  const data = openDataSource(spec, graph.inputs, { ...flags.options, samples: o.samples ?? recipe?.samples ?? (typeof spec === 'string' ? 256 : 16) });
  io?.err(`Data: ${describeData(data.description)}`);
  let bar: Progress | undefined;
  let phase = '';
  const writePartial = (r: AnalysisReport) => { if (o.output) writeOutputFile(o.output, `${JSON.stringify(r, null, 2)}\n`); };
  const report = await analyzeModel({
    modelPath: file, model, recipe, data,
    formats: o.formats ? o.formats.split(',') : undefined,
    primaryFormat: o.primary,
    target: o.target ?? (o.recipe ? { kind: 'min-sqnr-db', value: 30 } : undefined),
    base: o.base, higher: o.higher,
    allButOne: o.allButOne,
    measure: o.measure,
    screeningSamples: o.screeningSamples,
    batchSize: o.batchSize, threads: o.threads,
    executionProviders: o.executionProvider ? o.executionProvider.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    repair: o.repair === false ? false : o.repair ? repairList(o.repair) : undefined,
    memoryBudgetBytes: o.memory ? o.memory * 1024 * 1024 : undefined,
    stateDir: o.resume === false ? undefined : defaultStateDir(),
    onPartialReport: writePartial,
    onProgress: (p) => {
      if (!io) return;
      if (p.phase && p.phase !== phase) { phase = p.phase; io.err(`Phase: ${PHASE_TEXT[p.phase] ?? p.phase}`); }
      bar ??= createProgress('Analyzing', 1000, io.progressStream);
      bar.update(Math.round((1000 * p.done) / Math.max(1, p.total)), p.message);
    },
  });
  bar?.finish();
  if (o.output) writeOutputFile(o.output, `${JSON.stringify(report, null, 2)}\n`);
  if (o.html) writeOutputFile(o.html, renderHtmlReport(report));
  if (o.recipe) {
    if (report.recommendation) {
      const r = { ...report.recommendation.recipe, model: path.relative(path.dirname(path.resolve(o.recipe)), path.resolve(file)) || path.basename(file) };
      writeOutputFile(o.recipe, `${JSON.stringify(r, null, 2)}\n`);
    } else report.warnings.push('no recipe written: no recommendation was made');
  }
  return report;
}

const PHASE_TEXT: Record<string, string> = {
  calibrating: 'calibrating (one float pass)',
  screening: 'screening every layer x format (first-order estimates: forward + backward)',
  measuring: 'measuring the decisive layers exactly',
  'whole-model': 'whole-model configurations',
  'all-but-one': 'all-but-one runs',
  recommending: 'recommendation (verifying configurations by running them)',
};

/** An SQNR for the terminal: measured as is, estimated as "~31.2 (est.)". */
export function sqnrText(measured?: number, estimate?: number): string {
  if (measured !== undefined) return fmtDb(measured);
  if (estimate !== undefined) return `~${estimate.toFixed(1)} (est.)`;
  return '-';
}

/** A text summary of a report for the terminal. */
export function summarizeReport(r: AnalysisReport, top = 10): string {
  const lines: string[] = [];
  lines.push(`${r.model.layerCount} layers, ${r.data.samples} ${r.data.synthetic ? 'synthetic' : 'real'} samples, ${(r.timings.totalMs / 1000).toFixed(1)} s`);
  if (r.method) lines.push(`Measured exactly: ${r.method.measuredLayers} of ${r.model.layerCount} layers (${r.method.measure === 'all' ? '--measure all' : `the decisive ones; the others are first-order estimates, marked "(est.)", screened on ${r.method.screenedSamples} of ${r.data.samples} samples`})${r.method.unscreenedLayers ? `; ${r.method.unscreenedLayers} could not be screened and were measured` : ''}.`);
  lines.push('', 'Every layer quantized:');
  lines.push(formatTable(['format', 'SQNR dB', 'top-1 agree', 'accuracy'], r.formats.map((f) => {
    const m = r.allQuantized[f.id];
    return [f.id, sqnrText(m?.sqnrDb, r.allQuantizedEstimate?.[f.id]), m?.top1Agreement !== undefined ? `${(100 * m.top1Agreement).toFixed(1)}%` : '-', m?.accuracy !== undefined ? `${(100 * m.accuracy).toFixed(1)}%` : '-'];
  }), [false, true, true, true]));
  lines.push('', `Most sensitive layers (${r.primaryFormat}, only that layer quantized):`);
  const sorted = r.layers.slice().sort((a, b) => a.rank - b.rank).slice(0, top);
  lines.push(formatTable(['rank', 'layer', 'kind', 'output dB', 'local dB', 'findings'], sorted.map((l) => {
    const f = l.formats[r.primaryFormat];
    return [String(l.rank), l.name, l.kind, sqnrText(f?.isolated?.sqnrDb, f?.estimate), f?.localSqnrDb !== undefined ? f.localSqnrDb.toFixed(1) : '-', l.diagnoses.map((d) => d.code).join(', ')];
  }), [true, false, false, true, true, false]));
  const withRepair = r.layers.find((l) => l.repair);
  const repaired = sorted.filter((l) => l.repair || l.repairNotComputed);
  if (withRepair && repaired.length) {
    lines.push('', `Repair at ${withRepair.repair!.weights} (layer output SQNR dB on the calibration data):`);
    const algs = [...new Set(r.layers.flatMap((l) => Object.keys(l.repair?.algorithms ?? {})))];
    lines.push(formatTable(['layer', 'rounding', ...algs, 'best'], repaired.map((l) => l.repair
      ? [l.name, l.repair.rtnSqnrDb.toFixed(1), ...algs.map((a) => l.repair!.algorithms[a]?.toFixed(1) ?? '-'), l.repair.best ?? 'rounding']
      : [l.name, '-', ...algs.map(() => '-'), REPAIR_NOT_COMPUTED[l.repairNotComputed!]]), [false, true, ...algs.map(() => true), false]));
    const skipped = r.layers.filter((l) => l.repairNotComputed === 'not-decisive').length;
    if (skipped) lines.push(`Repair ran on ${r.method?.repairedLayers ?? r.layers.length - skipped} layer(s), those the recommendation can hinge on; ${skipped} not computed (--measure all computes every layer).`);
  }
  if (r.recommendation) lines.push('', `Recommendation: ${r.recommendation.message}`);
  for (const m of r.recommendation?.remedies ?? []) {
    const rec = r.recommendation!;
    const w = m.without;
    const eff = w ? `without it: output SQNR ${fmtDb(w.sqnrDb)} dB${w.accuracy !== undefined ? `, accuracy ${(100 * w.accuracy).toFixed(2)}%` : ''}` : '';
    lines.push(`  ${m.layer}: ${m.remedy === 'keep' ? `keep in ${rec.higher.id} (+${m.extraBytes} bytes)` : `repair with ${m.algorithm} at ${rec.base.id}`}; ${eff}`);
  }
  for (const w of r.warnings) lines.push(`Warning: ${w}`);
  return lines.join('\n');
}

function measureArg(v: string): 'all' | 'decisive' {
  if (v !== 'all' && v !== 'decisive') throw new InvalidArgumentError(`'${v}' is not one of: decisive, all`);
  return v;
}

function targetArg(v: string): Target {
  try {
    return parseTarget(v);
  } catch (e) {
    throw new InvalidArgumentError(isQuantLensError(e) ? e.message : String(e));
  }
}

/** Registers `analyze`. */
export function registerAnalyze(program: Command, io: CliIO): void {
  const cmd = program
    .command('analyze')
    .description('per-layer quantization sensitivity: weight, local and end-to-end error per candidate format, diagnoses, and a mixed-precision recommendation')
    .argument('<model>', 'the float .onnx model')
    .option('-o, --output <file>', 'write the JSON report here')
    .option('--html <file>', 'write a standalone HTML report here')
    .option('--recipe <file>', 'write the recommended recipe (*.qrecipe.json) here (default target sqnr:30)')
    .option('--recipe-in <file>', 'read calibration and base formats from this recipe')
    .option('--formats <list>', 'candidate formats, comma-separated: ids (w8-pc,w8-pt,w4-pc,w4-b32,a8,a16), short names (w4a8, w8a16, fp16) or weights:activations pairs (int4/block:64:uint8)')
    .option('--primary <id>', 'the format that ranks the layers (default: the first candidate)')
    .option('--target <target>', 'recommendation target: sqnr:<dB>, drop:<fraction or %> (accuracy; top-1 disagreement without labels), size:<bytes|kB|MB>', targetArg)
    .option('--base <format>', 'base format of the recommendation (default w4a8)')
    .option('--higher <format>', 'precision for kept layers (default w8a8)')
    .option('--repair <list>', `repair algorithms tried per layer at the base weight format (report: layer SQNR after each next to rounding; the recommendation may repair instead of keeping), comma-separated from ${QUANT_ALGORITHMS.join(', ')} (default gptq,bias-correction)`)
    .option('--no-repair', 'skip the repair algorithms')
    .option('--all-but-one', 'run all-but-one (one full-model pass per layer; default only on models of at most 30 layers)')
    .option('--no-all-but-one', 'skip the all-but-one runs')
    .option('--measure <which>', 'decisive (default): estimate every layer x format by first-order screening and measure exactly only where it decides; all: measure every layer x format', measureArg)
    .option('--screening-samples <n>', 'samples the first-order screening reads (the first ones; default 64): one forward + backward run each', positiveInt)
    .option('--execution-provider <names>', 'ONNX Runtime execution providers, comma-separated (cpu, cuda, tensorrt, ...; default cpu)')
    .option('--no-resume', 'do not resume an interrupted run of the same analysis (state in ~/.cache/quantlens/analysis)')
    .option('--batch-size <n>', 'samples per run (default 8)', positiveInt)
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: the machine\'s cores)', positiveInt)
    .option('--memory <MiB>', 'activation cache budget in MiB before spilling to disk (default 512)', positiveInt);
  addDataOptions(cmd);
  cmd.addHelpText('after', `
Without --data the analysis runs on synthetic inputs (16 samples): errors are indicative only.
Example:
  quantlens analyze model.onnx --data mnist --samples 256 --target drop:1% -o report.json --html report.html --recipe model.qrecipe.json
${EXIT_CODES_HELP}`);
  cmd.action(async (file: string, opts: AnalyzeCliOptions) => {
    if (opts.data && opts.synthetic) cmd.error('error: give either --data or --synthetic, not both', { exitCode: 2 });
    const r = await analyzeForCli(file, opts, io);
    io.out(summarizeReport(r));
    for (const [what, f] of [['report', opts.output], ['HTML report', opts.html], ['recipe', r.recommendation ? opts.recipe : undefined]] as const) if (f) io.out(`Wrote ${what} ${path.resolve(f)}`);
  });
}

/** Parses --repair's list; a usage error names an unknown algorithm. */
function repairList(text: string): QuantAlgorithm[] {
  return text.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const a = parseAlgorithm(t);
    if (!a) throw new QuantLensError('usage-bad-algorithm', `--repair: unknown algorithm '${t}': expected ${QUANT_ALGORITHMS.join(', ')}`);
    return a;
  });
}

/** An SQNR table cell: one decimal, or `undefined` (NaN/null: zero or non-finite reference output). */
function fmtDb(db: number | null): string {
  return typeof db === 'number' && Number.isFinite(db) ? db.toFixed(1) : 'undefined';
}
