/**
 * `npx tsx bench/ort-output-copy.bench.ts`: what onnxruntime-node costs to hand big outputs back to JavaScript, with
 * ONNX Runtime allocating them and with pre-allocated outputs (`RuntimeSession.run`'s `into`, what the screening's
 * Fisher sums and the split optimizer's values and state use). Ten `Add`s of 10 MB vectors (100 MB out, the size of
 * ResNet-50's Fisher sums in pieces like its weights), measured side by side in one process against the same `Add`s
 * reduced to one value each inside the graph (the same kernels, no big output), and whether ONNX Runtime wrote into
 * the given buffers. With onnxruntime-node 1.30 a pre-allocated output is written in place and still copied into a
 * fresh ArrayBuffer on return (microsoft/onnxruntime#32346 would hand back the given tensor), so state kept in
 * JavaScript pays a copy of its size per run either way. Each allocator setting runs in a child of its own: glibc's
 * defaults, the analysis' (`withMallocTuning`: freed memory kept for reuse) and the `qat` command's (the same with huge
 * pages). Rerun after upgrading onnxruntime-node.
 */
import { spawnSync } from 'node:child_process';
import { GraphBuilder } from '../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../src/core/onnx/proto';
import { Tensor } from '../src/core/onnx/tensor-data';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { withMallocTuning } from '../src/shared/malloc-env';

const N = 2_500_000;
const K = 10;
const ROUNDS = 4;

/** Child: the three kinds of run, ROUNDS rounds, as table rows (median over the rounds after the first). */
async function child(): Promise<void> {
  const b = new GraphBuilder('adds');
  b.input('a', DataType.FLOAT, [N]);
  for (let k = 0; k < K; k++) {
    b.input(`x${k}`, DataType.FLOAT, [N]);
    b.node('Add', [`x${k}`, 'a'], {}, { output: `y${k}` });
    b.output(`y${k}`, DataType.FLOAT, [N]);
    b.node('ReduceMax', [`y${k}`], { keepdims: 0 }, { output: `m${k}` });
    b.output(`m${k}`, DataType.FLOAT, []);
  }
  const session = await ortBackend().createSession(encodeModelProto(b.model(17)), { threads: 2, arena: false });
  const vec = (v: number): Tensor => ({ type: DataType.FLOAT, dims: [N], data: new Float32Array(N).fill(v) });
  const feeds: Record<string, Tensor> = { a: vec(2) };
  const into: Record<string, Tensor> = {};
  for (let k = 0; k < K; k++) { feeds[`x${k}`] = vec(1); into[`y${k}`] = vec(0); }
  const names = (p: string) => Array.from({ length: K }, (_, k) => `${p}${k}`);
  const modes = {
    'reduced in the graph (no big output)': () => session.run(feeds, names('m')),
    'allocated by ORT': () => session.run(feeds, names('y')),
    'pre-allocated (into)': () => session.run(feeds, names('y'), into),
  };
  const times = new Map<string, number[]>(Object.keys(modes).map((m) => [m, []]));
  let written = true;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [mode, run] of Object.entries(modes)) {
      for (const t of Object.values(into)) (t.data as Float32Array).fill(0);
      const t = performance.now();
      await run();
      times.get(mode)!.push(performance.now() - t);
      if (mode.startsWith('pre')) written &&= Object.values(into).every((t) => (t.data as Float32Array)[N - 1] === 3);
    }
  }
  await session.release();
  const median = (v: number[]) => v.slice(1).sort((x, y) => x - y)[Math.floor((v.length - 1) / 2)];
  for (const [mode, v] of times) console.log(`| ${mode} | ${median(v).toFixed(0)} ms | ${v.map((x) => x.toFixed(0)).join(', ')} | ${mode.startsWith('pre') ? String(written) : '-'} |`);
}

/** Parent: one child per allocator setting, one table. */
function main(): void {
  const plain = { ...process.env, GLIBC_TUNABLES: undefined };
  const settings: [string, Record<string, string | undefined>][] = [
    ['glibc defaults', plain],
    ['analysis (`withMallocTuning`)', withMallocTuning(plain)],
    ['qat (with huge pages)', withMallocTuning(plain, process.platform, { hugePages: true })],
  ];
  console.log(`${K} Adds of ${N.toLocaleString('en')} float32 values (${((4 * N * K) / 1e6).toFixed(0)} MB out), 2 threads, no arena; median of rounds 2-${ROUNDS}:`);
  console.log('| allocator | outputs | run | every round | written into the given buffers |');
  console.log('|---|---|---|---|---|');
  for (const [name, env] of settings) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--child'], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`child (${name}) failed: ${r.stderr}`);
    for (const row of r.stdout.trim().split('\n')) console.log(`| ${name} ${row}`);
  }
}

if (process.argv[2] === '--child') void child();
else main();
