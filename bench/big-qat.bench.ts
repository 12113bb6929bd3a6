// `npx tsx bench/big-qat.bench.ts` (under `flock /tmp/ql-bench.lock`): QAT of a model over 2 GiB with external data
// (test/fixtures/zoo/big-mlp.ts: 2.4 GB, written under os.tmpdir() and removed at the end). Peak RSS (each child's
// VmHWM) of `quantlens qat --synthetic --samples 2 --steps N` against a plain ONNX Runtime session loading the model
// from its path and running one forward, and the time to the first training step. The memory budget is 8 GiB, so the
// weights stay frozen whatever the machine (training them with Adam needs about 24 GB).
// QL_STEPS (default 2) steps; QL_STAGE=train measures runQat alone (no export, no comparison with PTQ).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { runCli } from '../src/cli/main';
import { syntheticDataSource } from '../src/core/data/synthetic';
import { Graph } from '../src/core/onnx/graph';
import { loadModelFile } from '../src/core/onnx/model-file';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { readAllSamples } from '../src/core/train/batches';
import { prepareForTraining } from '../src/core/train/export';
import { runQat } from '../src/core/train/qat';
import { trainedScopeMessage } from '../src/core/train/train-scope';
import { writeBigMlp } from '../test/fixtures/zoo/big-mlp';

const STEPS = Number(process.env.QL_STEPS ?? 2);
const BUDGET_MIB = 8192;

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function child(kind: string, model: string, dir: string): Promise<void> {
  const t0 = performance.now();
  if (kind === 'fp32') {
    const s = await ortBackend().createSession(model, { threads: 2 });
    const loadMs = performance.now() - t0;
    const width = Number(loadModelFile(model).graph!.input![0].type!.tensor_type!.shape!.dim![1].dim_value);
    await s.run({ x: { type: 1, dims: [2, width], data: new Float32Array(2 * width).fill(0.5) } });
    console.log(JSON.stringify({ loadMs, totalMs: performance.now() - t0, peakMb: peakRssMb() }));
    return;
  }
  let firstStepMs = NaN;
  if (kind === 'train') {
    const m = prepareForTraining(loadModelFile(model), model);
    const inputs = (await readAllSamples(syntheticDataSource(new Graph(m, model).inputs, { samples: 2 }))).inputs;
    const r = await runQat({
      model: m, file: model, recipe: { defaults: {}, layers: {} }, data: { inputs }, batchSize: 2, steps: STEPS, lr: 1e-4, threads: 2, progressEvery: 1, memoryBudgetBytes: BUDGET_MIB * 1024 * 1024,
      onProgress: (p) => { if (p.step === 1) firstStepMs = performance.now() - t0; },
    });
    console.log(JSON.stringify({ firstStepMs, totalMs: performance.now() - t0, peakMb: peakRssMb(), trained: trainedScopeMessage(r.trained) }));
    return;
  }
  const err: string[] = [], out: string[] = [];
  const progressStream = new Writable({ write(c, _e, cb) { if (Number.isNaN(firstStepMs) && /QAT: 1\//.test(String(c))) firstStepMs = performance.now() - t0; cb(); } });
  const code = await runCli(['qat', model, '--synthetic', '--samples', '2', '--steps', String(STEPS), '--threads', '2', '--memory', String(BUDGET_MIB), '-o', path.join(dir, 'out', 'q.onnx')], { out: (t) => out.push(t), err: (t) => err.push(t), progressStream });
  if (code !== 0) throw new Error(`qat failed (${code}):\n${err.join('\n')}`);
  const files = fs.readdirSync(path.join(dir, 'out')).map((f) => `${f} ${(fs.statSync(path.join(dir, 'out', f)).size / 1e6).toFixed(1)} MB`);
  console.log(JSON.stringify({ firstStepMs, totalMs: performance.now() - t0, peakMb: peakRssMb(), trained: out.find((l) => l.startsWith('Trained:')), files }));
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-big-qat-'));
  try {
    const big = writeBigMlp(dir, 'mlp');
    const run = (kind: string) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', __filename, 'child', kind, big.model, dir], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim().split('\n').pop()!);
    const fp32 = run('fp32');
    const stage = process.env.QL_STAGE === 'train' ? 'train' : 'cli';
    const qat = run(stage);
    console.log(`model: ${(big.dataBytes / 1e9).toFixed(2)} GB of external data, ${big.parameters.toLocaleString('en-US')} parameters; ${STEPS} steps, 2 synthetic samples, 2 threads`);
    console.log(`ORT session load from the path + one forward: peak RSS ${(fp32.peakMb / 1024).toFixed(2)} GB (load ${(fp32.loadMs / 1000).toFixed(1)} s)`);
    console.log(`${stage === 'train' ? 'runQat alone' : 'quantlens qat'}: peak RSS ${(qat.peakMb / 1024).toFixed(2)} GB = ${(qat.peakMb / fp32.peakMb).toFixed(2)}x; first step at ${(qat.firstStepMs / 1000).toFixed(1)} s, done at ${(qat.totalMs / 1000).toFixed(1)} s`);
    console.log(qat.trained);
    if (qat.files) console.log(`output folder: ${qat.files.join(', ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') void child(process.argv[3], process.argv[4], process.argv[5]).catch((e) => { console.error(e); process.exit(1); });
else void main().catch((e) => { console.error(e); process.exit(1); });
