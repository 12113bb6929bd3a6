/** `quantlens analyze <model> [--data ...] [--formats ...] [--target ...] -o report.json --html report.html --recipe out.qrecipe.json`. */
import * as path from 'path';
import { Command, InvalidArgumentError } from 'commander';
import { analyzeModel } from '../../core/analysis/analyze';
import { renderHtmlReport } from '../../core/analysis/html-report';
import { parseTarget } from '../../core/analysis/target';
import { openDataSource } from '../../core/data/open';
import { isQuantLensError } from '../../core/errors';
import { writeFileAtomic } from '../../core/onnx/model-file';
import { describeData } from '../../shared/data';
import { Recipe } from '../../shared/recipe';
import { AnalysisReport, Target } from '../../shared/report';
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
  batchSize?: number;
  threads?: number;
  memory?: number;
}

/** Runs the analysis for the CLI and writes the requested files; returns the report. */
export async function analyzeForCli(file: string, o: AnalyzeCliOptions, io?: CliIO): Promise<AnalysisReport> {
  const { model, graph } = loadModelForCli(file);
  const recipe: Recipe | undefined = o.recipeIn ? readRecipeFile(o.recipeIn) : undefined;
  const flags = dataFromFlags(o);
  const spec = flags.spec ?? (o.recipeIn && recipe ? recipeDataPath(o.recipeIn, recipe) : undefined) ?? { kind: 'synthetic' as const };
  const data = openDataSource(spec, graph.inputs, { ...flags.options, samples: o.samples ?? recipe?.samples ?? (typeof spec === 'string' ? 256 : 16) });
  io?.err(`Data: ${describeData(data.description)}`);
  let bar: Progress | undefined;
  const report = await analyzeModel({
    modelPath: file, model, recipe, data,
    formats: o.formats ? o.formats.split(',') : undefined,
    primaryFormat: o.primary,
    target: o.target ?? (o.recipe ? { kind: 'min-sqnr-db', value: 30 } : undefined),
    base: o.base, higher: o.higher,
    allButOne: o.allButOne,
    batchSize: o.batchSize, threads: o.threads ?? 1,
    memoryBudgetBytes: o.memory ? o.memory * 1024 * 1024 : undefined,
    onProgress: (p) => {
      if (!io) return;
      bar ??= createProgress('Analyzing', p.total, io.progressStream);
      bar.update(p.done, p.message);
    },
  });
  bar?.finish();
  if (o.output) writeFileAtomic(o.output, `${JSON.stringify(report, null, 2)}\n`);
  if (o.html) writeFileAtomic(o.html, renderHtmlReport(report));
  if (o.recipe) {
    if (report.recommendation) {
      const r = { ...report.recommendation.recipe, model: path.relative(path.dirname(path.resolve(o.recipe)), path.resolve(file)) || path.basename(file) };
      writeFileAtomic(o.recipe, `${JSON.stringify(r, null, 2)}\n`);
    } else report.warnings.push('no recipe written: no recommendation was made');
  }
  return report;
}

/** A text summary of a report for the terminal. */
export function summarizeReport(r: AnalysisReport, top = 10): string {
  const lines: string[] = [];
  lines.push(`${r.model.layerCount} layers, ${r.data.samples} ${r.data.synthetic ? 'synthetic' : 'real'} samples, ${(r.timings.totalMs / 1000).toFixed(1)} s`);
  lines.push('', 'Every layer quantized:');
  lines.push(formatTable(['format', 'SQNR dB', 'top-1 agree', 'accuracy'], r.formats.map((f) => {
    const m = r.allQuantized[f.id];
    return [f.id, m ? m.sqnrDb.toFixed(1) : '-', m?.top1Agreement !== undefined ? `${(100 * m.top1Agreement).toFixed(1)}%` : '-', m?.accuracy !== undefined ? `${(100 * m.accuracy).toFixed(1)}%` : '-'];
  }), [false, true, true, true]));
  lines.push('', `Most sensitive layers (${r.primaryFormat}, only that layer quantized):`);
  const sorted = r.layers.slice().sort((a, b) => a.rank - b.rank).slice(0, top);
  lines.push(formatTable(['rank', 'layer', 'kind', 'output dB', 'local dB', 'findings'], sorted.map((l) => {
    const f = l.formats[r.primaryFormat];
    return [String(l.rank), l.name, l.kind, f?.isolated ? f.isolated.sqnrDb.toFixed(1) : '-', f?.localSqnrDb !== undefined ? f.localSqnrDb.toFixed(1) : '-', l.diagnoses.map((d) => d.code).join(', ')];
  }), [true, false, false, true, true, false]));
  if (r.recommendation) lines.push('', `Recommendation: ${r.recommendation.message}`);
  for (const w of r.warnings) lines.push(`Warning: ${w}`);
  return lines.join('\n');
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
    .option('--no-all-but-one', 'skip the all-but-one runs (one full-model pass per layer)')
    .option('--batch-size <n>', 'samples per run (default 8)', positiveInt)
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default 1)', positiveInt)
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
