/**
 * `npm run bench:scale`: the analysis at the scale of shipped models. For ResNet-50, ViT-B/16 and a BERT-base-shaped
 * encoder (full size, random weights, built by test/fixtures/zoo with the project's builder; 16 synthetic samples)
 * and the trained MNIST CNN (16 real digits), measured in this run, each in its own child process:
 *  - analysis wall time (default options, recommendation for sqnr:30 included) / one warm FP32 pass over the same samples,
 *    and the same without the repair algorithms (`--no-repair`; not on the MNIST CNN),
 *  - peak RSS of the analysis / peak RSS of a plain ONNX Runtime session running the same samples at the same batch,
 *  - the share of layers measured exactly,
 *  - Spearman of `estimate` vs measured isolated SQNR (a separate `--measure all` run: every candidate on the MNIST
 *    CNN, the recommendation's base w4a8 on the big models), and whether the most sensitive layer agrees.
 * Run under the shared lock: `flock /tmp/ql-bench.lock npm run bench:scale [-- resnet50,vit_b_16,bert,mnist_cnn]`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { analyzeModel } from '../src/core/analysis/analyze';
import { openDataSource } from '../src/core/data/open';
import { Graph } from '../src/core/onnx/graph';
import { loadModelFile, saveModelFile } from '../src/core/onnx/model-file';
import { decodeModelProto } from '../src/core/onnx/proto';
import { defaultThreads, ortBackend } from '../src/core/runtime/ort-backend';
import { loadMnistSplit, mnistCnn } from '../src/core/train/examples';
import { trainFp32 } from '../src/core/train/mnist-experiment';
import { AnalysisReport } from '../src/shared/report';
import type { PhaseCost } from '../src/shared/report';
import { buildZooModel } from '../test/fixtures/zoo';
import { withMallocTuning } from '../src/shared/malloc-env';

const SAMPLES = 16;
const BATCH = 8;
const DIR = path.join(os.tmpdir(), 'ql-scale-bench');
const MODELS = ['resnet50', 'vit_b_16', 'bert', 'mnist_cnn'];

/** The model file (built once, kept in the temp folder). */
async function modelFile(name: string): Promise<string> {
  fs.mkdirSync(DIR, { recursive: true });
  const file = path.join(DIR, `${name}.onnx`);
  if (fs.existsSync(file)) return file;
  if (name === 'mnist_cnn') {
    const split = loadMnistSplit(4000, 1000);
    const t = await trainFp32(mnistCnn(1), split.train, split.test, 2, 1);
    process.stderr.write(`trained MNIST CNN: test accuracy ${(100 * t.accuracy).toFixed(1)}%\n`);
    saveModelFile(file, t.model);
  } else saveModelFile(file, buildZooModel(name, { scale: 'full', seed: 1 }));
  return file;
}

const dataSpec = (name: string) => (name === 'mnist_cnn' ? 'mnist' : { kind: 'synthetic' as const });
const rssMb = () => process.resourceUsage().maxRSS / 1024;

/** Child: a plain session over the samples (one warm-up pass, then one timed pass). */
async function plain(file: string, name: string): Promise<Record<string, number>> {
  // the inputs from the decoded file as is (loadModelFile's aligned copy of the weights would raise this baseline)
  const graph = new Graph(decodeModelProto(fs.readFileSync(file)), file);
  const data = openDataSource(dataSpec(name), graph.inputs, { samples: SAMPLES });
  const session = await ortBackend().createSession(file, { optimization: 'all', threads: defaultThreads() }); // the analysis's default threads
  const pass = async () => { const t = performance.now(); for await (const b of data.batches(BATCH)) await session.run(b.feeds); return performance.now() - t; };
  await pass();
  const passMs = Math.min(await pass(), await pass());
  await session.release();
  return { passMs, rssMb: rssMb() };
}

/** Child: the analysis (default options; the same without the repair algorithms, `--no-repair`; or every layer measured in `formats`). */
async function analysis(file: string, name: string, mode: 'default' | 'norepair' | 'all'): Promise<Record<string, unknown>> {
  const model = loadModelFile(file);
  const graph = new Graph(model, file);
  const data = openDataSource(dataSpec(name), graph.inputs, { samples: SAMPLES });
  const t = performance.now();
  const r: AnalysisReport = await analyzeModel({
    modelPath: file, model, data, batchSize: BATCH,
    ...(mode !== 'all' ? { target: { kind: 'min-sqnr-db' as const, value: 30 }, ...(mode === 'norepair' ? { repair: false as const } : {}) } : { measure: 'all' as const, allButOne: false, formats: name === 'mnist_cnn' ? undefined : ['w4a8'] }),
  });
  const wallMs = performance.now() - t;
  const pairs = r.layers.flatMap((l) => Object.values(l.formats).filter((f) => f.estimate !== undefined && f.isolated).map((f) => [f.estimate!, f.isolated!.sqnrDb, l.name] as const));
  const prim = r.primaryFormat;
  const measuredOf = (layer?: string) => r.layers.find((l) => l.name === layer)?.formats[prim]?.isolated?.sqnrDb ?? NaN;
  const lowest = (key: 'estimate' | 'isolated') => r.layers.filter((l) => l.formats[prim]).slice().sort((a, b) => val(a.formats[prim], key) - val(b.formats[prim], key))[0]?.name;
  return {
    wallMs, rssMb: rssMb(), layers: r.model.layerCount, measured: r.method?.measuredLayers,
    screeningMs: r.timings.screeningMs, captureMs: r.timings.captureMs, isolatedMs: r.timings.isolatedMs, recommendationMs: r.timings.recommendationMs,
    spearman: mode === 'all' ? spearman(pairs.map((p) => p[0]), pairs.map((p) => p[1])) : undefined, pairs: pairs.length,
    topAgrees: mode === 'all' ? lowest('estimate') === lowest('isolated') : undefined, topEstimate: lowest('estimate'), topMeasured: mode === 'all' ? lowest('isolated') : undefined,
    // how far apart, in measured SQNR, the layer the estimate ranks first is from the measured first (a near tie or not)
    topGapDb: mode === 'all' ? measuredOf(lowest('estimate')) - measuredOf(lowest('isolated')) : undefined,
    recommendation: r.recommendation?.message, unscreened: r.method?.unscreenedLayers, phases: r.timings.phases, threads: r.method?.threads,
  };
}

const val = (f: { estimate?: number; isolated?: { sqnrDb: number } }, key: 'estimate' | 'isolated') => (key === 'estimate' ? f.estimate ?? Infinity : f.isolated?.sqnrDb ?? Infinity);

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: number[], b: number[]): number {
  const rank = (v: number[]) => {
    const order = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < order.length;) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a), rb = rank(b), n = a.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n, mb = rb.reduce((s, x) => s + x, 0) / n;
  let s = 0, sa = 0, sb = 0;
  for (let i = 0; i < n; i++) { s += (ra[i] - ma) * (rb[i] - mb); sa += (ra[i] - ma) ** 2; sb += (rb[i] - mb) ** 2; }
  return s / Math.sqrt(sa * sb);
}

function child(kind: string, name: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--child', kind, name], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...withMallocTuning(process.env), NODE_OPTIONS: '--max-old-space-size=8192' } });
  if (r.status !== 0) throw new Error(`${kind} ${name} failed: ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line);
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    const [kind, name] = process.argv.slice(i + 1);
    const file = await modelFile(name);
    const out = kind === 'plain' ? await plain(file, name) : await analysis(file, name, kind === 'all' || kind === 'norepair' ? kind : 'default');
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const names = process.argv[2] && !process.argv[2].startsWith('-') ? process.argv[2].split(',') : MODELS;
  // --no-all=a,b: skip the (long) --measure all run of these models
  const noAll = new Set((process.argv.find((a) => a.startsWith('--no-all=')) ?? '').slice('--no-all='.length).split(',').filter(Boolean));
  const rows: string[][] = [];
  const breakdowns: string[] = [];
  for (const name of names) {
    await modelFile(name);
    const p = child('plain', name) as { passMs: number; rssMb: number };
    const d = child('default', name) as { phases?: Record<string, PhaseCost>; wallMs: number; rssMb: number; layers: number; measured: number; topEstimate: string; recommendation?: string; unscreened: number; screeningMs: number; captureMs: number; isolatedMs: number; recommendationMs: number };
    const noRepair = name === 'mnist_cnn' ? undefined : child('norepair', name) as { wallMs: number };
    const a = (noAll.has(name) ? { spearman: NaN, topAgrees: false, pairs: 0, topEstimate: d.topEstimate, topMeasured: 'not run' } : child('all', name)) as { spearman: number; topAgrees: boolean; pairs: number; topEstimate: string; topMeasured: string; topGapDb: number };
    process.stderr.write(`${name}: ${JSON.stringify({ plain: p, default: d, all: a })}\n`);
    if (d.phases) breakdowns.push(phaseTable(name, d.phases, p.passMs, d.wallMs));
    rows.push([name, String(d.layers), (d.wallMs / 1000).toFixed(1), (p.passMs / 1000).toFixed(2), (d.wallMs / p.passMs).toFixed(1), noRepair ? (noRepair.wallMs / p.passMs).toFixed(1) : '-', `${Math.round(d.rssMb)} / ${Math.round(p.rssMb)}`, (d.rssMb / p.rssMb).toFixed(2),
      `${d.measured}/${d.layers} (${Math.round((100 * d.measured) / d.layers)}%)`, noAll.has(name) ? 'not run' : `${a.spearman.toFixed(3)} (n=${a.pairs})`, noAll.has(name) ? 'not run' : a.topAgrees ? 'yes' : `no (${a.topEstimate} vs ${a.topMeasured}: measured ${a.topGapDb.toFixed(3)} dB apart)`]);
  }
  const head = ['model', 'layers', 'analysis s', 'FP32 pass s', 'passes', 'passes with --no-repair', 'RSS MB (plain)', 'RSS ratio', 'measured exactly', 'Spearman est. vs measured', 'same most sensitive'];
  console.log(`\nAnalysis at scale (${SAMPLES} samples, batch ${BATCH}, ${os.availableParallelism?.() ?? os.cpus().length} cores; default options + target sqnr:30; Spearman from a --measure all run):`);
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  for (const b of breakdowns) console.log(b);
}

/** Where the default analysis's time goes, per phase, in FP32-pass equivalents (the plain pass of this run). */
function phaseTable(name: string, phases: Record<string, PhaseCost>, passMs: number, wallMs: number): string {
  const lines = [`\n${name}: default analysis by phase (FP32 pass ${(passMs / 1000).toFixed(2)} s; outside analyzeModel: ${((wallMs - Object.values(phases).reduce((s, c) => s + c.ms, 0)) / passMs).toFixed(1)} passes)`,
    '| phase | s | passes | sessions (s) | ORT runs (s) | peak RSS at its end (MB) | its own sampled RSS (MB) |', '|---|---|---|---|---|---|---|'];
  for (const [k, c] of Object.entries(phases)) lines.push(`| ${k} | ${(c.ms / 1000).toFixed(1)} | ${(c.ms / passMs).toFixed(1)} | ${c.sessions} (${(c.sessionMs / 1000).toFixed(1)}) | ${c.runs} (${(c.runMs / 1000).toFixed(1)}) | ${c.peakRssMb ?? '-'} | ${c.rssMb ?? '-'} |`);
  return lines.join('\n');
}

void main().catch((e) => { console.error(e); process.exitCode = 1; });
