// `npx tsx bench/qat-profile.ts` (under `flock /tmp/ql-bench.lock`): where a QAT step of a zoo model spends its time.
// Runs QL_STEPS (default 4) steps of one model (QL_MODEL, default mobilenet_v2; batch 8, 224x224, 2 threads) with
// ONNX Runtime profiling on the step session, then prints the node time of the last run (QL_PROFILE_RUN=k: run k) grouped by op type, with the
// node count and the bytes each op type writes (bool masks write 1 byte a value, floats 4). QL_STEPS_PER_RUN=1 (the
// default here) profiles the plain step graph. QL_KEEP=1 keeps the profiles (one JSON a session) in the printed folder.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Graph } from '../src/core/onnx/graph';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { InferenceBackend } from '../src/core/runtime/backend';
import { syntheticDataSource } from '../src/core/data/synthetic';
import { readAllSamples } from '../src/core/train/batches';
import { prepareForTraining } from '../src/core/train/export';
import { runQat } from '../src/core/train/qat';
import { zooEntry } from '../test/fixtures/zoo';

interface TraceEvent { cat: string; name: string; dur: number; ts: number; args?: { op_name?: string; output_size?: string } }

async function main(): Promise<void> {
  const name = process.env.QL_MODEL ?? 'mobilenet_v2';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-prof-'));
  const model = prepareForTraining(zooEntry(name).build({ scale: 'full', seed: 1 }).model);
  const inputs = (await readAllSamples(syntheticDataSource(new Graph(model).inputs, { samples: 16 }))).inputs;
  let k = 0;
  const inner = ortBackend();
  const backend: InferenceBackend = { version: inner.version, createSession: (m, o) => inner.createSession(m, { ...o, profilePrefix: path.join(dir, `s${k++}`) }) };
  await runQat({
    model, recipe: { defaults: {}, layers: {} }, data: { inputs }, batchSize: 8, steps: Number(process.env.QL_STEPS ?? 4), lr: 1e-4, threads: 2,
    progressEvery: 1, calibrationSamples: 8, stepsPerRun: Number(process.env.QL_STEPS_PER_RUN ?? 1), backend,
  });
  // The step session's profile is the largest file.
  const files = fs.readdirSync(dir).map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size);
  const events = JSON.parse(fs.readFileSync(files[0], 'utf8')) as TraceEvent[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  // QL_PROFILE_RUN=k profiles run k (0 = the first run) instead of the last
  const last = runs[process.env.QL_PROFILE_RUN !== undefined ? Number(process.env.QL_PROFILE_RUN) : runs.length - 1];
  const inLast = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= last.ts && e.ts <= last.ts + last.dur);
  const by = new Map<string, { us: number; n: number; bytes: number }>();
  for (const e of inLast) {
    const op = e.args?.op_name ?? '?';
    const r = by.get(op) ?? { us: 0, n: 0, bytes: 0 };
    r.us += e.dur; r.n++; r.bytes += Number(e.args?.output_size ?? 0);
    by.set(op, r);
  }
  const total = [...by.values()].reduce((a, r) => a + r.us, 0);
  console.log(`${name}: runs ${runs.map((r) => (r.dur / 1000).toFixed(0)).join(', ')} ms; run ${runs.indexOf(last)}: nodes ${(total / 1000).toFixed(0)} ms in ${inLast.length} node runs`);
  for (const [op, r] of [...by].sort((a, b) => b[1].us - a[1].us).slice(0, 30)) {
    console.log(`${op.padEnd(22)} ${(r.us / 1000).toFixed(1).padStart(8)} ms ${((100 * r.us) / total).toFixed(1).padStart(5)}%  ${String(r.n).padStart(5)} nodes  ${(r.bytes / 1e6).toFixed(1).padStart(8)} MB out`);
  }
  if (process.env.QL_PROFILE_TOP) {
    for (const e of inLast.sort((a, b) => b.dur - a.dur).slice(0, Number(process.env.QL_PROFILE_TOP))) console.log(`${(e.dur / 1000).toFixed(1).padStart(7)} ms ${e.args?.op_name} ${e.name}`);
  }
  if (process.env.QL_KEEP) console.log(`profiles kept in ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}

void main();
