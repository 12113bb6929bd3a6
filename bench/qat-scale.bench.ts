// `npm run bench:qat-scale` (under `flock /tmp/ql-bench.lock`): QAT on ImageNet-size models (the zoo's full-size
// mobilenet_v2, resnet18, vit_b_16; batch 8, 224x224, 2 threads): time to the first step, step time divided by
// one ONNX Runtime FP32 forward of the same batch, and peak RSS against a plain ORT session running that forward.
// Each measurement runs in its own child process (peak RSS = the child's VmHWM), the models side by side in one run.
// QL_MODELS=resnet18,... picks models; QL_STEPS (default 4) steps are timed. The children run with the glibc malloc
// setting the CLI and the engine use (`src/shared/malloc-env.ts`); QUANTLENS_MALLOC=system runs them without it.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { Graph } from '../src/core/onnx/graph';
import { encodeModelProto } from '../src/core/onnx/proto';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { syntheticDataSource } from '../src/core/data/synthetic';
import { feedRows, readAllSamples } from '../src/core/train/batches';
import { prepareForTraining } from '../src/core/train/export';
import { runQat } from '../src/core/train/qat';
import { zooEntry } from '../test/fixtures/zoo';
import { withMallocTuning } from '../src/shared/malloc-env';

const BATCH = 8, THREADS = 2;
const STEPS = Number(process.env.QL_STEPS ?? 4);
const MODELS = (process.env.QL_MODELS ?? 'mobilenet_v2,resnet18,vit_b_16').split(',');

/** CPU time of this process (all threads, user + system), ms: a proxy for work that machine load does not inflate. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function child(kind: string, name: string): Promise<void> {
  const model = prepareForTraining(zooEntry(name).build({ scale: 'full', seed: 1 }).model);
  const inputs = (await readAllSamples(syntheticDataSource(new Graph(model).inputs, { samples: 2 * BATCH }))).inputs;
  const base = peakRssMb();
  if (kind === 'fp32') {
    const s = await ortBackend().createSession(encodeModelProto(model), { threads: THREADS });
    const feeds = feedRows(inputs, Array.from({ length: BATCH }, (_, i) => i));
    await s.run(feeds);
    const times: number[] = [], cpus: number[] = [];
    for (let i = 0; i < 5; i++) { const t = performance.now(), c = cpuMs(); await s.run(feeds); times.push(performance.now() - t); cpus.push(cpuMs() - c); }
    times.sort((a, b) => a - b);
    cpus.sort((a, b) => a - b);
    console.log(JSON.stringify({ forwardMs: times[2], forwardCpuMs: cpus[2], peakMb: peakRssMb(), baseMb: base }));
    return;
  }
  const t0 = performance.now(), c0 = cpuMs();
  const at: number[] = [], cpuAt: number[] = [];
  await runQat({
    model, recipe: { defaults: {}, layers: {} }, data: { inputs }, batchSize: BATCH, steps: STEPS, lr: 1e-4, threads: THREADS,
    progressEvery: 1, calibrationSamples: BATCH, stepsPerRun: process.env.QL_STEPS_PER_RUN ? Number(process.env.QL_STEPS_PER_RUN) : undefined, onProgress: () => { at.push(performance.now() - t0); cpuAt.push(cpuMs() - c0); },
  });
  const stepMs = (at[at.length - 1] - at[0]) / (at.length - 1);
  const stepCpuMs = (cpuAt[cpuAt.length - 1] - cpuAt[0]) / (cpuAt.length - 1);
  console.log(JSON.stringify({ firstStepMs: at[0], firstStepCpuMs: cpuAt[0], stepMs, stepCpuMs, peakMb: peakRssMb(), baseMb: base }));
}

async function main(): Promise<void> {
  const rows: string[] = [];
  rows.push('| model | time to first step (wall, CPU) | step / FP32 forward, wall | step / FP32 forward, CPU time | peak RSS QAT / ORT FP32 session |');
  rows.push('|---|---|---|---|---|');
  for (const name of MODELS) {
    const run = (kind: string) => {
      try {
        const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child', kind, name], { encoding: 'utf8', maxBuffer: 1 << 20, env: withMallocTuning(process.env, process.platform, { hugePages: kind === 'qat' }) });
        return JSON.parse(out.trim().split('\n').pop()!);
      } catch (e) {
        return { error: (e as Error).message.split('\n').slice(0, 3).join(' ') };
      }
    };
    const f = run('fp32');
    const q = run('qat');
    if (q.error || f.error) { rows.push(`| ${name} | failed: ${q.error ?? f.error} | | | |`); continue; }
    const s = (ms: number) => `${(ms / 1000).toFixed(ms < 1000 ? 3 : 1)} s`;
    rows.push(`| ${name} | ${s(q.firstStepMs)}, ${s(q.firstStepCpuMs)} | ${s(q.stepMs)} / ${s(f.forwardMs)} = ${(q.stepMs / f.forwardMs).toFixed(1)}x | ${s(q.stepCpuMs)} / ${s(f.forwardCpuMs)} = ${(q.stepCpuMs / f.forwardCpuMs).toFixed(1)}x | ${(q.peakMb / 1024).toFixed(2)} GB / ${(f.peakMb / 1024).toFixed(2)} GB = ${(q.peakMb / f.peakMb).toFixed(1)}x |`);
    console.error(rows[rows.length - 1]);
  }
  console.log(`QAT at batch ${BATCH}, 224x224, ${THREADS} threads, ${STEPS} steps (W8 per-channel / A8, Adam, distillation; synthetic data). CPU time = all threads of the process (load-independent). GLIBC_TUNABLES of the QAT child (as the \`qat\` command): ${withMallocTuning(process.env, process.platform, { hugePages: true }).GLIBC_TUNABLES ?? '(none)'}; of the ORT child: ${withMallocTuning(process.env).GLIBC_TUNABLES ?? '(none)'}.`);
  console.log(rows.join('\n'));
}

const i = process.argv.indexOf('--child');
if (i >= 0) void child(process.argv[i + 1], process.argv[i + 2]);
else void main();
