// `npm run bench:models`: every zoo architecture (full size, random weights, built by the project's own builder) and a
// > 2 GiB external-data MLP through inspect, analyze (default options), quantize and 20 QAT steps, each step in its own
// child process (so its peak RSS is its own; started with the allocator setting of the CLI, the qat step with its huge pages) against a plain ONNX Runtime session of the same model: wall time, time to
// the first QAT step, QAT step time / one ORT FP32 forward of the same batch, peak RSS / plain ORT's, and the output
// SQNR of the exported models against float (synthetic inputs). A step that fails or passes the time limit is printed
// as such with its error.
// Env: QL_BENCH_CASES=resnet18,bert (default all), QL_BENCH_TIMEOUT=seconds per step (default 300), QL_THREADS (2).
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliIO } from '../src/cli/context';
import { runCli } from '../src/cli/main';
import { qatModel } from '../src/cli/commands/qat';
import { quantizeModel } from '../src/cli/commands/quantize';
import { effectiveBatchSize } from '../src/core/data/source';
import { syntheticDataSource } from '../src/core/data/synthetic';
import { Graph } from '../src/core/onnx/graph';
import { saveModelFile } from '../src/core/onnx/model-file';
import { decodeModelProto } from '../src/core/onnx/proto';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { ZOO } from '../test/fixtures/zoo';
import { writeBigMlp } from '../test/fixtures/zoo/big-mlp';
import { withMallocTuning } from '../src/shared/malloc-env';

const STEPS = ['ort', 'inspect', 'analyze', 'quantize', 'qat'] as const;
type Step = typeof STEPS[number];
const BATCH = 8, QAT_STEPS = 20, SEQ = 128;
const threads = Number(process.env.QL_THREADS ?? 2);
const synth = ['--synthetic', '--threads', String(threads), '--dim', `sequence=${SEQ}`];

/** What one child reports. */
interface StepResult { ok: boolean; wallS: number; rssMB: number; error?: string; forwardMs?: number; loadS?: number; firstStepS?: number; stepMs?: number; sqnrDb?: number; ptqSqnrDb?: number }

/** A CliIO that keeps the output and timestamps progress lines. */
function recordingIO(): CliIO & { text: () => string; progress: { t: number; line: string }[] } {
  const chunks: string[] = [];
  const progress: { t: number; line: string }[] = [];
  // a TTY-like stream: the progress display then draws every update (at most every 100 ms), so steps can be timed
  const progressStream = Object.assign(new Writable({ write(c, _e, cb) { progress.push({ t: performance.now(), line: String(c) }); cb(); } }), { isTTY: true, columns: 200 });
  return { out: (t) => chunks.push(t), err: (t) => chunks.push(t), progressStream, text: () => chunks.join('\n'), progress };
}

/** Runs one step of one model in this (child) process and prints its result as JSON. */
async function child(step: Step, file: string): Promise<void> {
  const t0 = performance.now();
  const r: Partial<StepResult> = {};
  const io = recordingIO();
  const cli = async (argv: string[]) => { const code = await runCli(argv, io); if (code !== 0) throw new Error(`exit ${code}: ${io.text().slice(-600)}`); };
  if (step === 'ort') {
    // the inputs from the decoded file as is (loadModelFile's aligned copy of the weights would raise this baseline)
    const graph = new Graph(decodeModelProto(fs.readFileSync(file)), file);
    const batch = effectiveBatchSize(graph.inputs, BATCH);
    let feeds;
    for await (const b of syntheticDataSource(graph.inputs, { samples: batch, dims: { sequence: SEQ } }).batches(batch)) { feeds = b.feeds; break; }
    const s = await ortBackend().createSession(file, { threads });
    r.loadS = (performance.now() - t0) / 1000;
    const times: number[] = [];
    for (let k = 0; k < 3; k++) { const t = performance.now(); await s.run(feeds!); times.push(performance.now() - t); }
    r.forwardMs = times.sort((a, b) => a - b)[1];
  } else if (step === 'inspect') await cli(['inspect', file]);
  else if (step === 'analyze') await cli(['analyze', file, ...synth, '-o', path.join(path.dirname(file), 'report.json')]);
  else if (step === 'quantize') {
    const q = await quantizeModel(file, { output: path.join(path.dirname(file), 'q.onnx'), synthetic: true, threads, dim: { sequence: SEQ } }, io);
    r.sqnrDb = Object.values(q.outputSqnrDb)[0];
  } else {
    const q = await qatModel(file, { output: path.join(path.dirname(file), 'qat.onnx'), synthetic: true, samples: 2 * BATCH, steps: QAT_STEPS, batchSize: BATCH, threads, dim: { sequence: SEQ } }, io);
    const steps = io.progress.map((p) => ({ t: p.t, m: /QAT \[[#-]*\] (\d+)\/\d+/.exec(p.line) })).filter((p) => p.m && Number(p.m[1]) >= 1).map((p) => ({ t: p.t, done: Number(p.m![1]) }));
    if (steps.length >= 2) {
      const a = steps[0], b = steps[steps.length - 1];
      r.firstStepS = (a.t - t0) / 1000;
      if (b.done > a.done) r.stepMs = (b.t - a.t) / (b.done - a.done);
    }
    r.sqnrDb = q.versusPtq.qatSqnrDb;
    r.ptqSqnrDb = q.versusPtq.ptqSqnrDb;
  }
  r.wallS = (performance.now() - t0) / 1000;
  process.stdout.write(`\nRESULT ${JSON.stringify({ ...r, ok: true, rssMB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

/** Runs a step in a child process with a time limit; failures and timeouts come back with their error. */
function runStep(step: Step, file: string, limitS: number): Promise<StepResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, ['--import', 'tsx', __filename, '--child', step, file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...withMallocTuning(process.env, process.platform, { hugePages: step === 'qat' }), NODE_OPTIONS: '--max-old-space-size=16384' } });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), limitS * 1000);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = (performance.now() - t0) / 1000;
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line) return resolve(JSON.parse(line.slice(7)) as StepResult);
      const why = signal === 'SIGKILL' && wallS >= limitS ? `timed out after ${limitS} s` : `exit ${code ?? signal}: ${(err || out).trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-3).join(' | ').slice(0, 300)}`;
      resolve({ ok: false, wallS, rssMB: NaN, error: why });
    });
  });
}

/** Writes a case's model into its own folder and returns the path. */
function prepare(name: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  if (name === 'mlp_2.4GB_external') return writeBigMlp(dir, 'model').model;
  const file = path.join(dir, 'model.onnx');
  saveModelFile(file, ZOO.find((z) => z.name === name)!.build({ scale: 'full' }).model);
  return file;
}

const f1 = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));

async function main(): Promise<void> {
  const limitS = Number(process.env.QL_BENCH_TIMEOUT ?? 300);
  const all = [...ZOO.map((z) => z.name), 'mlp_2.4GB_external'];
  const cases = process.env.QL_BENCH_CASES ? process.env.QL_BENCH_CASES.split(',') : all;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-bench-models-'));
  console.log(`bench:models — ${threads} ORT threads, batch ${BATCH} (fixed-batch models: theirs), sequence ${SEQ}, synthetic inputs, ${QAT_STEPS} QAT steps, limit ${limitS} s per step; each step in its own process`);
  const rows: string[][] = [];
  const errors: string[] = [];
  try {
    for (const name of cases) {
      const dir = path.join(root, name);
      const file = prepare(name, dir);
      const res = {} as Record<Step, StepResult>;
      for (const step of STEPS) {
        res[step] = await runStep(step, file, limitS);
        if (!res[step].ok) errors.push(`${name} ${step}: ${res[step].error}`);
        process.stderr.write(`${name} ${step}: ${res[step].ok ? `${f1(res[step].wallS)} s, ${f1(res[step].rssMB, 0)} MB` : res[step].error}\n`);
      }
      const ort = res.ort;
      const cell = (s: Step) => (res[s].ok ? `${f1(res[s].wallS)} s / ${f1(res[s].rssMB / ort.rssMB, 2)}x` : res[s].error!.startsWith('timed out') ? 'TIMEOUT' : 'FAILED');
      rows.push([
        name, ort.ok ? `${f1(ort.loadS)} s, ${ort.forwardMs! < 10 ? f1(ort.forwardMs, 2) : f1(ort.forwardMs, 0)} ms, ${f1(ort.rssMB, 0)} MB` : 'FAILED',
        cell('inspect'), cell('analyze'), cell('quantize'), cell('qat'),
        res.qat.ok ? f1(res.qat.firstStepS) : '-',
        res.qat.ok && ort.ok && res.qat.stepMs ? f1(res.qat.stepMs / ort.forwardMs!, 1) : '-',
        f1(res.quantize.sqnrDb), res.qat.ok ? `${f1(res.qat.sqnrDb)} (PTQ ${f1(res.qat.ptqSqnrDb)})` : '-',
      ]);
      process.stderr.write(`ROW ${rows[rows.length - 1].join(' | ')}\n`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const header = ['model', 'plain ORT: load, fwd, RSS', 'inspect: wall / RSS vs ORT', 'analyze', 'quantize', 'qat (20 steps)', 'QAT 1st step s', 'QAT step / fwd', 'quantize SQNR dB', 'QAT SQNR dB'];
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: string[]) => `| ${r.map((c, k) => c.padEnd(widths[k])).join(' | ')} |`;
  console.log([line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
  if (errors.length) console.log(`\nFailures:\n${errors.map((e) => `- ${e}`).join('\n')}`);
}

if (process.argv[2] === '--child') {
  child(process.argv[3] as Step, process.argv[4]).then(() => process.exit(0), (e) => { console.error(e instanceof Error ? e.stack ?? e.message : String(e)); process.exit(1); });
} else {
  main().catch((e) => { console.error(e); process.exit(1); });
}
